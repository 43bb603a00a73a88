// The caching allocator (include/medit/allocator.h): free lists per size class under one
// mutex, bounded by MEDIT_CACHE_MB. Buffers come from malloc (16-byte aligned, all the
// kernels need; GEMM packs its own 64-byte aligned panels).
//
// Not done: per-thread caches (one mutex is cheap next to the kernels that allocate), returning
// memory on a timer, device (CUDA) memory.
#include "medit/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "medit/tensor.h"

namespace medit {

namespace {

size_t size_class(size_t bytes) {
  if (bytes <= 512) return bytes <= 64 ? 64 : (bytes + 63) / 64 * 64;
  const int top = 63 - __builtin_clzll(bytes);  // 2^top <= bytes < 2^(top+1)
  const size_t step = size_t{1} << (top - 2);   // four classes per power of two
  return (bytes + step - 1) / step * step;
}

// MEDIT_CACHE_MB (a bound on the cached bytes), or -1: the default bound, which keeps cached
// plus in-use bytes within the larger of 2 GiB and the most memory this process has had in use
// at once (a loop that once needed X bytes keeps them for its next step, so a step of a large
// model does not page-fault its temporaries in again, and the process never holds more than
// its own high-water mark).
int64_t cache_limit_bytes() {
  const char* env = std::getenv("MEDIT_CACHE_MB");
  if (env == nullptr || *env == '\0') return -1;
  char* end = nullptr;
  const long long mb = std::strtoll(env, &end, 10);
  MEDIT_THROW_IF(*end != '\0' || mb < 0, ARG, std::string("MEDIT_CACHE_MB: expected a number of megabytes but received \"") + env + "\"");
  return static_cast<int64_t>(mb) << 20;
}

struct Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_lists;  // by size class; ordered so eviction takes the largest
  int64_t cached_bytes = 0, cached_buffers = 0, system_allocs = 0, reuses = 0;
  int64_t in_use = 0, in_use_peak = 0;  // bytes handed out (size classes) and their high-water mark
  const int64_t explicit_limit = cache_limit_bytes();
  // Bytes by which caching `incoming` more would exceed the bound (in_use already excludes it).
  int64_t excess(int64_t incoming) const {
    if (explicit_limit >= 0) return cached_bytes + incoming - explicit_limit;
    return cached_bytes + in_use + incoming - std::max(int64_t{2048} << 20, in_use_peak);
  }
  void hand_out(size_t cls) {
    in_use += static_cast<int64_t>(cls);
    in_use_peak = std::max(in_use_peak, in_use);
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: storages may be freed during exit
  return *c;
}

}  // namespace

void* pool_alloc(size_t bytes, size_t* capacity) {
  const size_t cls = size_class(bytes);
  *capacity = cls;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_lists.find(cls);
    if (it != c.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached_bytes -= static_cast<int64_t>(cls);
      c.cached_buffers -= 1;
      c.reuses += 1;
      c.hand_out(cls);
      return p;
    }
    c.system_allocs += 1;
    c.hand_out(cls);
  }
  void* p = std::malloc(cls);
  if (p == nullptr) {
    std::lock_guard<std::mutex> lock(c.mu);
    c.in_use -= static_cast<int64_t>(cls);
  }
  MEDIT_THROW_IF(p == nullptr, OOM, "out of memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}

void pool_free(void* data, size_t capacity) {
  if (data == nullptr) return;
  Cache& c = cache();
  std::vector<void*> evicted;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.in_use -= static_cast<int64_t>(capacity);
    if (c.excess(static_cast<int64_t>(capacity)) > c.cached_bytes) {  // more than the whole cache could free
      evicted.push_back(data);
    } else {
      // Make room by dropping the largest cached buffers.
      while (c.excess(static_cast<int64_t>(capacity)) > 0) {
        auto it = std::prev(c.free_lists.end());
        if (it->second.empty()) {  // lists emptied by pool_alloc stay in the map until here
          c.free_lists.erase(it);
          continue;
        }
        evicted.push_back(it->second.back());
        it->second.pop_back();
        c.cached_bytes -= static_cast<int64_t>(it->first);
        c.cached_buffers -= 1;
        if (it->second.empty()) c.free_lists.erase(it);
      }
      c.free_lists[capacity].push_back(data);
      c.cached_bytes += static_cast<int64_t>(capacity);
      c.cached_buffers += 1;
    }
  }
  for (void* p : evicted) std::free(p);
}

PoolMemoryStats pool_memory_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.cached_bytes, c.cached_buffers, c.system_allocs, c.reuses};
}

void pool_release_cached() {
  Cache& c = cache();
  std::map<size_t, std::vector<void*>> lists;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    lists.swap(c.free_lists);
    c.cached_bytes = 0;
    c.cached_buffers = 0;
  }
  for (auto& entry : lists)
    for (void* p : entry.second) std::free(p);
}

}  // namespace medit
