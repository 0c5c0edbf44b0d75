#include "nn/data.hpp"

#include <cmath>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>

#include "autograd/ops.hpp"
#include "autograd/parallel.hpp"
#include "autograd/tape.hpp"

namespace nn {

void check_dataset(const Dataset& d, std::string_view op) {
  if (!d.x.defined() || !d.t.defined()) ag::fail(op, "the data set has no {}", d.x.defined() ? "targets t" : "inputs x");
  if (d.x.dim() < 1 || d.t.dim() < 1)
    ag::fail(op, "x and t need a first axis of examples, got x {} and t {}", d.x.shape(), d.t.shape());
  if (d.x.size(0) != d.t.size(0))
    ag::fail(op, "x has {} examples but t has {} (x {}, t {})", d.x.size(0), d.t.size(0), d.x.shape(), d.t.shape());
  if (!d.x.device().is_cpu() || !d.t.device().is_cpu())
    ag::fail(op, "needs a data set on the CPU, got x on {} and t on {}", d.x.device(), d.t.device());
}

Dataset subset(const Dataset& d, const ag::Tensor& index) {
  check_dataset(d, "subset");
  ag::NoGradGuard no_grad;
  return {ag::index_select(d.x, index), ag::index_select(d.t, index)};
}

Dataset subset(const Dataset& d, const std::vector<int64_t>& index) {
  return subset(d, ag::from_vector(index, {static_cast<int64_t>(index.size())}));
}

std::vector<int64_t> permutation(int64_t n, ag::Generator& gen) {
  if (n < 0) ag::fail("permutation", "needs n >= 0, got {}", n);
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(gen.randint(0, i + 1))]);
  return p;
}

std::pair<Dataset, Dataset> train_val_split(const Dataset& d, double val_fraction, uint64_t seed) {
  check_dataset(d, "train_val_split");
  if (!(val_fraction > 0.0 && val_fraction < 1.0))
    ag::fail("train_val_split", "needs a validation fraction in (0, 1), got {}", val_fraction);
  const int64_t n = d.size();
  const auto n_val = static_cast<int64_t>(std::llround(val_fraction * static_cast<double>(n)));
  if (n_val == 0 || n_val == n)
    ag::fail("train_val_split", "a fraction of {} of {} examples leaves {} for validation and {} for training; "
             "both parts need at least one", val_fraction, n, n_val, n - n_val);
  ag::Generator gen(seed);
  std::vector<int64_t> p = permutation(n, gen);
  std::vector<int64_t> val(p.begin(), p.begin() + n_val), train(p.begin() + n_val, p.end());
  return {subset(d, train), subset(d, val)};
}

DataLoader::DataLoader(Dataset data, const DataLoaderOptions& opts)
    : data_(std::move(data)), opts_(opts), gen_(opts.seed) {
  check_dataset(data_, "DataLoader");
  if (opts_.batch_size <= 0) ag::fail("DataLoader", "needs a positive batch size, got {}", opts_.batch_size);
  order_.resize(static_cast<size_t>(data_.size()));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (opts_.sampler) order_ = opts_.sampler->shard(order_);
}

int64_t DataLoader::size() const {
  const auto n = static_cast<int64_t>(order_.size());  // the data set, or this rank's shard
  const int64_t b = opts_.batch_size;
  return opts_.drop_last ? n / b : (n + b - 1) / b;
}

namespace detail {

// Note [Prefetching batches] (data.hpp): one background thread per epoch (per
// iterator from begin()) and one batch in flight. request(i) hands the gather
// of batch i to the thread; take(i) waits for it (or, when i is not the batch
// in flight, gathers i here). The iterator then applies the transform on its
// own thread, so every batch is DataLoader::batch's, and the transform is
// called exactly as without prefetching. The thread ends with the epoch's
// iterator, before the next begin() reshuffles the order it reads.
class Prefetcher {
 public:
  explicit Prefetcher(const DataLoader* loader) : loader_(loader), thread_([this] { work(); }) {}
  ~Prefetcher() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void request(int64_t i) {
    {
      std::lock_guard lock(m_);
      wanted_ = i;
      done_ = false;
      error_ = nullptr;
    }
    cv_.notify_all();
  }

  Batch take(int64_t i) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return wanted_ < 0 || done_; });
    const bool hit = wanted_ == i;
    wanted_ = -1;
    if (!hit) {
      lock.unlock();
      return loader_->gather(i);
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return std::move(ready_);
  }

 private:
  void work() {
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || (wanted_ >= 0 && !done_); });
      if (stop_) return;
      const int64_t i = wanted_;
      lock.unlock();
      Batch b;
      std::exception_ptr error;
      try {
        b = loader_->gather(i);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      ready_ = std::move(b);
      error_ = error;
      done_ = true;
      cv_.notify_all();
    }
  }

  const DataLoader* loader_;
  std::mutex m_;
  std::condition_variable cv_;
  int64_t wanted_ = -1;  // the batch in flight or ready; -1: none
  bool done_ = false, stop_ = false;
  Batch ready_;
  std::exception_ptr error_;
  std::thread thread_;  // last: started once the fields above exist
};

}  // namespace detail

DataLoader::Iterator DataLoader::begin() {
  if (opts_.shuffle) order_ = permutation(data_.size(), gen_);
  if (opts_.shuffle && opts_.sampler) order_ = opts_.sampler->shard(order_);
  return Iterator(this, 0);
}

DataLoader::Iterator DataLoader::end() { return Iterator(this, size()); }

Batch DataLoader::batch(int64_t i) const { return transformed(gather(i)); }

Batch DataLoader::gather(int64_t i) const {
  if (i < 0 || i >= size()) ag::fail("DataLoader", "batch {} does not exist; an epoch has {} batches", i, size());
  const int64_t b = opts_.batch_size;
  const int64_t start = i * b, stop = std::min(start + b, static_cast<int64_t>(order_.size()));
  std::vector<int64_t> index(order_.begin() + start, order_.begin() + stop);
  return subset(data_, index);
}

Batch DataLoader::transformed(Batch batch) const {
  if (opts_.transform) {
    batch.x = opts_.transform(batch.x);
    if (!batch.x.defined() || batch.x.size(0) != batch.t.size(0))
      ag::fail("DataLoader", "the transform must return one input per example: {} examples, got {}", batch.t.size(0),
               batch.x.defined() ? fmt::format("{}", batch.x.shape()) : "an undefined tensor");
  }
  return batch;
}

DataLoader::Iterator::Iterator(const DataLoader* loader, int64_t i) : loader_(loader), i_(i) {
  // Note [Prefetching batches]: only where a background thread pays
  if (loader->opts_.prefetch && ag::num_threads() > 1 && !ag::detail::pool_is_openmp() && i < loader->size())
    prefetch_ = std::make_shared<detail::Prefetcher>(loader);
}

const Batch& DataLoader::Iterator::operator*() {
  if (!cached_) {
    if (prefetch_) {
      Batch rows = prefetch_->take(i_);
      if (i_ + 1 < loader_->size()) prefetch_->request(i_ + 1);
      batch_ = loader_->transformed(std::move(rows));
    } else {
      batch_ = loader_->batch(i_);
    }
    cached_ = true;
  }
  return batch_;
}

}  // namespace nn
