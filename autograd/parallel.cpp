#include "autograd/parallel.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "autograd/error.hpp"

extern "C" void openblas_set_num_threads(int);

namespace ag {

namespace {

// Note [Worker pool]: the caller publishes a job (a range split into chunks)
// under the mutex and bumps the generation; workers wake, claim chunks with an
// atomic counter, and the last one to finish wakes the caller, which claims
// chunks too. Workers sleep on a condition variable between jobs, so an idle
// pool costs nothing while OpenBLAS runs its own threads.
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
    {
      std::lock_guard lock(m_);
      n_ = n;
      chunks_ = chunks;
      ctx_ = ctx;
      fn_ = fn;
      next_.store(0, std::memory_order_relaxed);
      pending_.store(chunks, std::memory_order_relaxed);
      ++generation_;
    }
    cv_work_.notify_all();
    claim();
    std::unique_lock lock(m_);
    cv_done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  }

 private:
  void claim() {
    for (;;) {
      const int64_t c = next_.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks_) return;
      fn_(ctx_, n_ * c / chunks_, n_ * (c + 1) / chunks_);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(m_);
        cv_done_.notify_one();
      }
    }
  }

  void work() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(m_);
        cv_work_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      claim();
    }
  }

  std::mutex m_;
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  int64_t n_ = 0, chunks_ = 0;
  void* ctx_ = nullptr;
  detail::RangeFn fn_ = nullptr;
  std::atomic<int64_t> next_{0}, pending_{0};
};

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

Pool& pool() {
  static Pool p;
  return p;
}

std::mutex g_pool_mutex;  // one parallel job at a time, from whichever thread

}  // namespace

void set_num_threads(int n) {
  if (n < 1) fail("set_num_threads", "needs at least 1 thread, got {}", n);
  g_threads.store(n);
  openblas_set_num_threads(n);
  std::lock_guard lock(g_pool_mutex);
  if (pool().workers() != n - 1) pool().resize(n - 1);
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
  if (pool().workers() != threads - 1) pool().resize(threads - 1);
  const int64_t chunks = std::min<int64_t>(threads, n / grain);
  tl_in_parallel = true;
  pool().run(n, chunks, ctx, fn);
  tl_in_parallel = false;
}

}  // namespace detail

}  // namespace ag
