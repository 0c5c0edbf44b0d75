#include "autograd/parallel.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "autograd/cpu/gemm.hpp"
#include "autograd/error.hpp"

// Note [Worker pool], its first paragraph: the pool is the OpenMP team where there is one.
#if defined(_OPENMP) && !defined(__SANITIZE_THREAD__)
#include <omp.h>
#define AG_POOL_OPENMP 1
#endif

namespace ag {

namespace {

// Note [Worker pool]: one set of worker threads for everything that runs in
// parallel. Where the build has OpenMP (it comes with oneDNN, Note [GEMM
// backend] in cpu/gemm.cpp), the pool is the calling thread's OpenMP team, the
// very threads oneDNN multiplies on: before, our own workers and oneDNN's team
// were two sets of threads on the same cores, and a team member spinning after
// a product (libgomp waits actively for a while before it sleeps) shared its
// core with our worker's chunk. One team also wakes fast: its members are
// still spinning when the next loop comes, where a worker asleep on a
// condition variable took tens of microseconds to wake; that is what makes
// splitting a product over the pool pay (Note [Splitting a product] in
// cpu/gemm.cpp). Measured with bench_gemm and bench_tapegrad at 2 threads
// (docs/performance.md, "One pool").
//
// Without OpenMP (clang without libomp-dev), and under ThreadSanitizer (which
// cannot see libgomp's synchronisation, not being built with it, and would
// report its barriers as races), the pool is ours: the caller publishes a job
// (a range split into chunks) as one Job object under the mutex and bumps the
// generation; workers wake, take a reference to that Job under the same mutex,
// and claim chunks with its atomic counter; the last chunk to finish wakes the
// caller, which claims chunks too. Everything a worker reads belongs to the
// Job it took, which stays alive while any worker holds it: a worker still
// inside an old job's claim() finds it exhausted and can never take or count a
// chunk of the next job. Workers sleep on a condition variable between jobs.
#ifndef AG_POOL_OPENMP
class Pool {
 public:
  ~Pool() { resize(0); }

  void resize(int workers) {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_work_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    stop_ = false;
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }

  int workers() const { return static_cast<int>(threads_.size()); }

  void run(int64_t n, int64_t chunks, void* ctx, detail::RangeFn fn) {
    // const fields are set before the Job is published, under the mutex
    auto job = std::make_shared<Job>(n, chunks, ctx, fn);
    {
      std::lock_guard lock(m_);
      job_ = job;
      ++generation_;
    }
    cv_work_.notify_all();
    claim(*job);
    std::unique_lock lock(m_);
    cv_done_.wait(lock, [&] { return job->pending.load(std::memory_order_acquire) == 0; });
    job_.reset();
  }

 private:
  struct Job {
    Job(int64_t n_, int64_t chunks_, void* ctx_, detail::RangeFn fn_)
        : n(n_), chunks(chunks_), ctx(ctx_), fn(fn_), pending(chunks_) {}
    const int64_t n, chunks;
    void* const ctx;
    const detail::RangeFn fn;
    std::atomic<int64_t> next{0}, pending;
  };

  void claim(Job& job) {
    for (;;) {
      const int64_t c = job.next.fetch_add(1, std::memory_order_relaxed);
      if (c >= job.chunks) return;
      job.fn(job.ctx, job.n * c / job.chunks, job.n * (c + 1) / job.chunks);
      if (job.pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(m_);
        cv_done_.notify_one();
      }
    }
  }

  void work() {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(m_);
        cv_work_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      if (job) claim(*job);
    }
  }

  std::mutex m_;
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  std::shared_ptr<Job> job_;  // the job being run, guarded by m_
};

Pool& pool() {
  static Pool p;
  return p;
}
#endif

int default_threads() {
  if (const char* env = std::getenv("TAPEGRAD_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

std::atomic<int> g_threads{0};
thread_local bool tl_in_parallel = false;

std::mutex g_pool_mutex;  // one parallel job at a time, from whichever thread

}  // namespace

void set_num_threads(int n) {
  if (n < 1) fail("set_num_threads", "needs at least 1 thread, got {}", n);
  g_threads.store(n);
  cpu::gemm_set_num_threads(n);
#ifndef AG_POOL_OPENMP
  std::lock_guard lock(g_pool_mutex);
  if (pool().workers() != n - 1) pool().resize(n - 1);
#endif
}

int num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = default_threads();
    g_threads.store(n);
  }
  return n;
}

namespace detail {

void parallel_for_impl(int64_t n, int64_t grain, void* ctx, RangeFn fn) {
  std::unique_lock lock(g_pool_mutex, std::try_to_lock);
  // Nested, or another thread's job is running: this loop runs serially.
  if (tl_in_parallel || !lock.owns_lock()) return fn(ctx, 0, n);
  const int threads = num_threads();
  const int64_t chunks = std::min<int64_t>(threads, n / grain);
  tl_in_parallel = true;
#ifdef AG_POOL_OPENMP
  // chunk c on team member c; a smaller team than asked (OMP_THREAD_LIMIT) takes several
#pragma omp parallel num_threads(static_cast<int>(chunks))
  {
    const int64_t team = omp_get_num_threads();
    for (int64_t c = omp_get_thread_num(); c < chunks; c += team) fn(ctx, n * c / chunks, n * (c + 1) / chunks);
  }
#else
  if (pool().workers() != threads - 1) pool().resize(threads - 1);
  pool().run(n, chunks, ctx, fn);
#endif
  tl_in_parallel = false;
}

bool pool_is_openmp() {
#ifdef AG_POOL_OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace detail

}  // namespace ag
