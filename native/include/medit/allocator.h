// medit engine: the caching allocator behind every Storage and kernel scratch buffer
// (src/core/allocator.cpp).
//
// A freed buffer is kept in a free list of its size class (64-byte steps up to 512 bytes,
// then four classes per power of two, so at most 25% slack) and handed to the next request
// of that class, so the loop of an editor — the same shapes step after step — stops calling
// malloc (and stops page-faulting fresh memory) after its first step. The cache is bounded by
// MEDIT_CACHE_MB, by default so that cached plus in-use bytes stay within the larger of 2 GiB
// and the most memory the process has had in use at once: past it, the largest cached buffers
// go back to the system.
// memory() accounting is unchanged: live bytes count what tensors requested, and cached
// buffers are reported separately.
#pragma once

#include <cstddef>
#include <cstdint>

namespace medit {

/// A buffer of at least `bytes` bytes (16-byte aligned); `*capacity` receives its size class,
/// which pool_free must be given back.
void* pool_alloc(size_t bytes, size_t* capacity);
/// Returns a buffer to the cache (or to the system when the cache is full).
void pool_free(void* data, size_t capacity);

struct PoolMemoryStats {
  int64_t cached_bytes;    // held in free lists, ready for reuse
  int64_t cached_buffers;
  int64_t system_allocs;   // requests the cache could not serve (malloc calls) since start
  int64_t reuses;          // requests served from the cache since start
};
PoolMemoryStats pool_memory_stats();
/// Frees every cached buffer.
void pool_release_cached();

/// A scratch array of T for the duration of a kernel, from the cache.
template <typename T>
class ScratchBuffer {
 public:
  explicit ScratchBuffer(size_t n) : data_(static_cast<T*>(pool_alloc(n * sizeof(T), &capacity_))) {}
  ~ScratchBuffer() { pool_free(data_, capacity_); }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  T* data() { return data_; }
  T& operator[](size_t i) { return data_[i]; }

 private:
  size_t capacity_ = 0;
  T* data_;
};

}  // namespace medit
