// medit engine: the CPU thread pool every kernel shares (src/core/thread-pool.cpp).
//
// parallel_for(n, grain, body) splits [0, n) into chunks of `grain` items that the calling
// thread and the pool's workers claim one at a time from a shared counter, so a thread the OS
// preempts (a busy machine) delays only the chunk it holds and the others take the rest; there
// are no barriers inside a job. Small work (one chunk), nested calls and calls made while
// another thread's job holds the pool run on the calling thread, so libuv workers (async
// jobs) and the JS thread can both call kernels at any time.
//
// Thread count: MEDIT_NUM_THREADS, else the CPUs this process may run on (sched_getaffinity).
#pragma once

#include <cstdint>
#include <type_traits>

namespace medit {

/// Threads kernels use (the calling thread included).
int num_threads();
/// Sets the thread count (>= 1); waits for a running job. Also sets OpenBLAS's count when linked.
void set_num_threads(int n);

/// True on a pool worker, or on a caller while its job runs (a parallel_for there runs inline).
bool in_parallel_job();

/// A chunk grain so that each chunk holds at least `min_items` items and there are about
/// `chunks_per_thread` chunks per thread (so preempted threads can be covered by the others).
int64_t parallel_grain(int64_t n, int64_t min_items, int chunks_per_thread = 8);

/// Counters of the pool's use since start (tests and benchmarks).
struct PoolStats {
  int64_t jobs;           // parallel_for calls that used the workers
  int64_t inline_calls;   // calls run on the calling thread alone
  int64_t busy_fallbacks; // of those, calls made while another thread's job held the pool
  int64_t solo_periods;   // times the pool found its workers not running and went inline for a while
};
PoolStats pool_stats();

using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);
void parallel_for_impl(int64_t n, int64_t grain, RangeFn fn, void* ctx);

/// Runs body(begin, end) over [0, n) in chunks of `grain` (the last may be shorter), on the pool.
/// An exception thrown by `body` is rethrown on the caller once the job's other chunks are done.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& body) {
  using Body = std::remove_reference_t<F>;
  parallel_for_impl(
      n, grain, [](void* ctx, int64_t b, int64_t e) { (*static_cast<Body*>(ctx))(b, e); },
      const_cast<void*>(static_cast<const void*>(&body)));
}

}  // namespace medit
