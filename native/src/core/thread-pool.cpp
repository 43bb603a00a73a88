// The CPU thread pool behind parallel_for (include/medit/parallel.h).
//
// One job at a time. The job lives in one slot: its body and range, a done counter, and a
// 64-bit state word = generation (32 bits) | chunk count (16) | next chunk (16). Threads claim
// chunks by compare-and-swap on the whole word, so a claim succeeds only for the job a thread
// saw and only while chunks are left: a worker that wakes late (or was preempted for a whole
// job) fails its claim instead of running a chunk of the next job. The slot's other fields
// are read only after a successful claim, and the caller rewrites them only once every chunk
// is done. The caller claims chunks too and then waits only for chunks already claimed, never
// for workers that did not take part, so a descheduled worker costs the job nothing unless
// it holds a chunk.
//
// Chunks shrink as a job runs out of work ("guided" scheduling, Polychronopoulos & Kuck 1987):
// chunk c starts where a share 1/(2T) of what was left has gone to each earlier claim, down to
// the caller's grain, then continues in grain-sized pieces. Early chunks are large (few claims,
// good cache use); the last ones are small, so a thread that joins late or is descheduled near
// the end holds little work that the others must wait for.
//
// The split adapts to the threads that actually run. The caller keeps a window of its jobs'
// (those of 0.2 ms and more) wall time and the CPU time all threads spent running chunks (not
// the caller's wait for the others: spinning is not work); that ratio is the speed-up the
// threads gave. When a window of 20 ms of jobs shows less than 1 — the workers were not
// running beside the caller (another process's threads hold the other cores, or a
// time-sharing scheduler gives this process one core's worth) — jobs run on the caller alone
// for the next 100 ms, then the workers are tried again. So two threads on a busy machine cost
// what one does instead of adding hand-offs and waits.
//
// Idle workers spin for ~50 µs on the state word (editing loops issue kernels back to back),
// then sleep on a condition variable; the publisher notifies only when someone sleeps.
// Whoever finds the pool busy (another thread's job, e.g. an async worker beside the JS
// thread) or is already inside a job runs its loop inline.
//
// Not done: work stealing between separate jobs, NUMA placement, thread pinning.
#include "medit/parallel.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MEDIT_CPU_RELAX() _mm_pause()
#else
#define MEDIT_CPU_RELAX() std::this_thread::yield()
#endif

#include "medit/tensor.h"

#ifdef MEDIT_HAVE_BLAS
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
#endif

namespace medit {

namespace {

int available_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// MEDIT_NUM_THREADS, else OMP_NUM_THREADS (its first entry; scripts of the OpenMP era set it),
// else the CPUs this process may run on.
int initial_threads() {
  const char* name = "MEDIT_NUM_THREADS";
  const char* env = std::getenv(name);
  if (env == nullptr || *env == '\0') {
    name = "OMP_NUM_THREADS";
    env = std::getenv(name);
  }
  if (env == nullptr || *env == '\0') return available_cpus();
  char* end = nullptr;
  const long n = std::strtol(env, &end, 10);
  const bool omp_list = *end == ',' && std::strcmp(name, "OMP_NUM_THREADS") == 0;
  MEDIT_THROW_IF((*end != '\0' && !omp_list) || n < 1 || n > 1024, ARG,
                 std::string(name) + ": expected an integer from 1 to 1024 but received \"" + env + "\"");
  return static_cast<int>(n);
}

thread_local bool t_in_job = false;
std::atomic<int64_t> g_jobs{0}, g_inline{0}, g_busy{0}, g_solo{0};

// Chunk boundaries of a guided job over [0, n) on T threads (see the file header).
struct Guide {
  Guide() = default;
  Guide(int64_t n_, int64_t grain_, int threads) : n(n_), grain(grain_) {
    q = 1.0 - 1.0 / (2.0 * threads);
    const double floor_items = 2.0 * threads * static_cast<double>(grain);
    geometric = n > floor_items ? static_cast<int64_t>(std::ceil(std::log(floor_items / n) / std::log(q))) : 0;
    const int64_t tail_start = start_geometric(geometric);
    chunks = geometric + (n - tail_start + grain - 1) / grain;
  }
  int64_t start(int64_t c) const {
    if (c <= geometric) return start_geometric(c);
    return std::min(n, start_geometric(geometric) + (c - geometric) * grain);
  }
  int64_t start_geometric(int64_t c) const {
    return c == 0 ? 0 : n - static_cast<int64_t>(std::floor(static_cast<double>(n) * std::pow(q, static_cast<double>(c))));
  }
  int64_t n = 0, grain = 1, geometric = 0, chunks = 0;
  double q = 0.5;
};

constexpr int kSpinIterations = 1 << 12;  // ~50 µs of pause instructions before sleeping

int64_t clock_ns(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
int64_t now_ns() { return clock_ns(CLOCK_MONOTONIC); }
int64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

// The parallelism check: which jobs count (shorter ones end before a sleeping worker could
// join, on any machine), window length, threshold, and how long jobs stay inline after a miss.
constexpr int64_t kMinJobNs = 200000;
constexpr int64_t kWindowNs = 20000000;
constexpr double kMinParallelism = 1.0;
constexpr int64_t kInlineNs = 100000000;

class ThreadPool {
 public:
  explicit ThreadPool(int threads) : threads_(threads) {
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(sleep_mu_);
      stop_.store(true);
    }
    sleep_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int threads() const { return threads_; }

  // Runs the job with the workers; false when another thread's job holds the pool.
  bool try_run(int64_t n, int64_t grain, RangeFn fn, void* ctx) {
    std::unique_lock<std::mutex> submit(submit_mu_, std::try_to_lock);
    if (!submit.owns_lock()) return false;
    fn_ = fn;
    ctx_ = ctx;
    guide_ = Guide(n, grain, threads_);
    const uint64_t chunks = static_cast<uint64_t>(guide_.chunks);
    done_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    const uint64_t gen = ++generation_;
    state_.store(gen << 32 | chunks << 16, std::memory_order_seq_cst);  // publishes the fields above
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(sleep_mu_); }
      sleep_cv_.notify_all();
    }
    const int64_t wall0 = now_ns(), cpu0 = thread_cpu_ns();
    t_in_job = true;
    work(gen, false);
    t_in_job = false;
    const int64_t caller_cpu = thread_cpu_ns() - cpu0;
    // Wait for the chunks other threads hold; yield now and then so that a worker preempted on
    // this core gets to finish its chunk.
    for (int spin = 0; done_.load(std::memory_order_acquire) < chunks; ++spin) {
      if (spin < kSpinIterations) MEDIT_CPU_RELAX();
      else std::this_thread::yield();
    }
    observe(now_ns() - wall0, caller_cpu);
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  // Until when jobs run inline because the workers were not running beside the caller.
  int64_t inline_until_ns() const { return inline_until_.load(std::memory_order_relaxed); }

  static constexpr int64_t kMaxChunks = 0xffff;

 private:
  // Adds one job to the parallelism window (caller only, under the submit lock). Workers report
  // each chunk's CPU time before counting it done, so a job's reports are in when it ends.
  void observe(int64_t wall, int64_t caller_cpu) {
    if (wall < kMinJobNs) return;
    window_wall_ += wall;
    window_cpu_ += caller_cpu;
    if (window_wall_ < kWindowNs) return;
    const int64_t workers = worker_cpu_.load(std::memory_order_relaxed);
    const double parallelism = static_cast<double>(window_cpu_ + workers - window_workers0_) / window_wall_;
    window_wall_ = window_cpu_ = 0;
    window_workers0_ = workers;
    if (parallelism < kMinParallelism) {
      inline_until_.store(now_ns() + kInlineNs, std::memory_order_relaxed);
      g_solo.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // Claims and runs chunks of generation `gen` until none is left; a worker reports the CPU
  // time of each chunk.
  void work(uint64_t gen, bool worker) {
    uint64_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      const uint64_t chunks = (s >> 16) & 0xffff, next = s & 0xffff;
      if ((s >> 32) != gen || next >= chunks) break;
      if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      const int64_t cpu0 = worker ? thread_cpu_ns() : 0;
      const int64_t b = guide_.start(static_cast<int64_t>(next)), e = guide_.start(static_cast<int64_t>(next) + 1);
      try {
        if (e > b) fn_(ctx_, b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu_);
        if (!error_) error_ = std::current_exception();
      }
      if (worker) worker_cpu_.fetch_add(thread_cpu_ns() - cpu0, std::memory_order_relaxed);
      done_.fetch_add(1, std::memory_order_acq_rel);
      s = state_.load(std::memory_order_acquire);
    }
  }

  void worker_loop() {
    t_in_job = true;  // kernels a worker runs never fork again
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen = state_.load(std::memory_order_acquire) >> 32;
      for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
        MEDIT_CPU_RELAX();
        gen = state_.load(std::memory_order_acquire) >> 32;
      }
      if (gen == seen) {
        std::unique_lock<std::mutex> lock(sleep_mu_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        sleep_cv_.wait(lock, [&] { return stop_.load() || (state_.load(std::memory_order_seq_cst) >> 32) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        if (stop_.load()) return;
        gen = state_.load(std::memory_order_acquire) >> 32;
      }
      seen = gen;
      work(gen, true);
    }
  }

  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex submit_mu_;
  // the job slot
  RangeFn fn_ = nullptr;
  void* ctx_ = nullptr;
  Guide guide_;
  uint64_t generation_ = 0;  // written by the submitter only
  std::atomic<uint64_t> state_{0};
  std::atomic<uint64_t> done_{0};
  std::mutex error_mu_;
  std::exception_ptr error_;
  // sleeping
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  // the parallelism window
  std::atomic<int64_t> worker_cpu_{0};
  int64_t window_wall_ = 0, window_cpu_ = 0, window_workers0_ = 0;
  std::atomic<int64_t> inline_until_{0};
};

std::mutex g_pool_mu;  // guards creating / replacing the pool
std::atomic<ThreadPool*> g_pool{nullptr};

void set_blas_threads(int n) {
#ifdef MEDIT_HAVE_BLAS
  if (openblas_set_num_threads) openblas_set_num_threads(n);
#endif
}

ThreadPool* pool() {
  ThreadPool* p = g_pool.load(std::memory_order_acquire);
  if (p) return p;
  std::lock_guard<std::mutex> lock(g_pool_mu);
  p = g_pool.load();
  if (!p) {
    // Never deleted: workers blocked on the condition variable at exit are harmless, joining
    // them from a static destructor is not.
    p = new ThreadPool(initial_threads());
    set_blas_threads(p->threads());
    g_pool.store(p, std::memory_order_release);
  }
  return p;
}

}  // namespace

int num_threads() { return pool()->threads(); }

void set_num_threads(int n) {
  MEDIT_THROW_IF(n < 1 || n > 1024, ARG, "set_num_threads: expected 1 to 1024 threads but received " + std::to_string(n));
  std::lock_guard<std::mutex> lock(g_pool_mu);
  ThreadPool* old = g_pool.load();
  if (old && old->threads() == n) return;
  // The old pool is retired, not deleted: a thread may still be inside one of its jobs.
  // Its workers park on their condition variable for good (one set per change: tests only).
  g_pool.store(new ThreadPool(n), std::memory_order_release);
  set_blas_threads(n);
}

int64_t parallel_grain(int64_t n, int64_t min_items, int chunks_per_thread) {
  const int64_t per = (n + static_cast<int64_t>(num_threads()) * chunks_per_thread - 1) /
                      (static_cast<int64_t>(num_threads()) * chunks_per_thread);
  return std::max<int64_t>({per, min_items, 1});
}

bool in_parallel_job() { return t_in_job; }

PoolStats pool_stats() { return {g_jobs.load(), g_inline.load(), g_busy.load(), g_solo.load()}; }

void parallel_for_impl(int64_t n, int64_t grain, RangeFn fn, void* ctx) {
  if (n <= 0) return;
  // (guided chunks number about 2T·ln(n / (2T·grain)) + 2T; this bound keeps them in 16 bits)
  grain = std::max<int64_t>({grain, 1, (n + ThreadPool::kMaxChunks / 2 - 1) / (ThreadPool::kMaxChunks / 2)});
  ThreadPool* p = n > grain && !t_in_job ? pool() : nullptr;
  if (p && p->threads() > 1 && now_ns() >= p->inline_until_ns()) {
    if (p->try_run(n, grain, fn, ctx)) {
      g_jobs.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    g_busy.fetch_add(1, std::memory_order_relaxed);
  }
  g_inline.fetch_add(1, std::memory_order_relaxed);
  for (int64_t b = 0; b < n; b += grain) fn(ctx, b, std::min(n, b + grain));
}

}  // namespace medit
