// Feeding a Dataset to a training loop: seeded shuffled mini-batches, subsets
// and a train/validation split.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "../autograd/tensor.hpp"
#include "datasets.hpp"

namespace nn {

// One mini-batch: rows of a Dataset's x and t.
using Batch = Dataset;

// Throws unless d.x and d.t are defined, on the CPU, with the same first axis n.
void check_dataset(const Dataset& d, std::string_view op);

// The examples at `index` (int64 (k,) tensor or list of row numbers), in that order.
Dataset subset(const Dataset& d, const ag::Tensor& index);
Dataset subset(const Dataset& d, const std::vector<int64_t>& index);

// 0, 1, ..., n-1 in an order drawn from gen (Fisher-Yates).
std::vector<int64_t> permutation(int64_t n, ag::Generator& gen);

// A seeded shuffled split into (train, validation), the validation part holding
// round(fraction * n) examples; fraction in (0, 1), both parts non-empty.
std::pair<Dataset, Dataset> train_val_split(const Dataset& d, double val_fraction, uint64_t seed = 0);

// Which examples of a data set each rank of a data-parallel job reads
// (DataLoaderOptions::sampler; docs/distributed.md). Every rank draws the same
// order of the n examples (the loader's seed, a new order each epoch when
// shuffling), makes its length a multiple of the world size w (by default
// repeating examples from its start, at most w - 1 of them; with drop_last by
// dropping the last n mod w), and rank r takes positions r, r + w, r + 2w, ...:
// disjoint shards of equal size, so every rank takes the same number of steps.
struct DistributedSampler {
  int num_replicas = 1;
  int rank = 0;
  bool drop_last = false;
  // For this process: ag::dist::world_size() and rank() (nn/dist.hpp; calls ag::dist::init()).
  static DistributedSampler world(bool drop_last = false);
  // This rank's shard of one epoch's order.
  std::vector<int64_t> shard(const std::vector<int64_t>& order) const;
};

struct DataLoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;     // a new seeded order at the start of every epoch
  bool drop_last = false;  // drop the last batch when it is smaller than batch_size
  uint64_t seed = 0;
  // Applied to each batch's inputs as the batch is drawn: augmentation for a
  // training loader, e.g. [aug](const ag::Tensor& x) { return (*aug)(x); } with
  // a shared nn::Compose (nn/augment.hpp). Empty: the inputs as stored.
  std::function<ag::Tensor(const ag::Tensor&)> transform{};
  // Data-parallel training: each epoch reads only this rank's shard (size() counts its batches).
  std::optional<DistributedSampler> sampler{};
  // Note [Prefetching batches]: while the training step of batch i runs, a
  // background thread of the loader gathers the rows of batch i + 1, when more
  // than one thread is set (ag::set_num_threads) and the pool is not the
  // OpenMP team (Note [Worker pool] in autograd/parallel.cpp). At one thread
  // everything stays on the calling thread; with the OpenMP team, which
  // already has one thread per core spinning between loops, a third thread
  // that wakes for every batch preempts a team member and the next parallel
  // loop waits for it: mnist_epoch at 2 threads took 0.152-0.207 s (median
  // 0.171) with it and 0.146-0.164 s (median 0.157) without, in 7 alternated
  // rounds, so there the rows are gathered on the calling thread. The
  // transform always runs on the calling thread, when the iterator hands the
  // batch out, so it may share state (a Generator) with the model, and its
  // calls, their order and the batches are the same with and without
  // prefetching, even when a loop leaves an epoch early (a gathered batch that
  // is never used costs no random draws).
  bool prefetch = true;
};

namespace detail {
class Prefetcher;
}

// Mini-batches of a Dataset, for range-for: each `for (const Batch& b : loader)`
// is one epoch. With shuffle, every epoch draws a new order from the loader's
// own generator, so a seed reproduces the whole sequence of epochs.
//
//   nn::DataLoader loader(data, {.batch_size = 64, .seed = 1});
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const nn::Batch& b : loader) step(b.x, b.t);
class DataLoader {
 public:
  DataLoader(Dataset data, const DataLoaderOptions& opts = {});
  DataLoader(Dataset data, int64_t batch_size, bool shuffle = true, uint64_t seed = 0, bool drop_last = false)
      : DataLoader(std::move(data), DataLoaderOptions{batch_size, shuffle, drop_last, seed}) {}

  // The number of batches in one epoch (of this rank's shard with a sampler).
  int64_t size() const;
  // The number of examples in the data set.
  int64_t num_examples() const { return data_.size(); }
  int64_t batch_size() const { return opts_.batch_size; }
  const Dataset& dataset() const { return data_; }
  // Row numbers of the current epoch, in order.
  const std::vector<int64_t>& order() const { return order_; }

  // Starts an epoch (reshuffles when shuffling) and returns its first batch.
  class Iterator;
  Iterator begin();
  Iterator end();
  // Batch i (0 <= i < size()) of the current epoch.
  Batch batch(int64_t i) const;
  // The shuffling generator's state (Generator::state), for checkpoints: a
  // loader restored to it shuffles the next epochs as the saved one would have.
  std::string rng_state() const { return gen_.state(); }
  void set_rng_state(const std::string& state) { gen_.set_state(state); }

  class Iterator {
   public:
    Iterator(const DataLoader* loader, int64_t i);
    const Batch& operator*();
    const Batch* operator->() { return &**this; }
    Iterator& operator++() {
      ++i_;
      cached_ = false;
      return *this;
    }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }
    // Whether this epoch gathers its batches ahead (Note [Prefetching batches]).
    bool prefetching() const { return prefetch_ != nullptr; }

   private:
    const DataLoader* loader_;
    int64_t i_;
    bool cached_ = false;
    Batch batch_;
    // The epoch's prefetch thread (Note [Prefetching batches]); null at one thread or without prefetch.
    std::shared_ptr<detail::Prefetcher> prefetch_;
  };

 private:
  friend class detail::Prefetcher;
  // batch(i) is transformed(gather(i)): the rows, then the transform.
  Batch gather(int64_t i) const;
  Batch transformed(Batch batch) const;

  Dataset data_;
  DataLoaderOptions opts_;
  ag::Generator gen_;
  std::vector<int64_t> order_;
};

}  // namespace nn

#endif  // TAPEGRAD_CXX20
