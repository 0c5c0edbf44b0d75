// Data-parallel training (docs/distributed.md): every rank holds a replica of
// the model and trains on its own shard of each batch; DataParallel averages
// the gradients across ranks during backward, so every replica takes the same
// optimiser step. DistributedSampler gives each rank its shard of the data.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "../autograd/dist/dist.hpp"
#include "../autograd/tape.hpp"
#include "data.hpp"
#include "module.hpp"

namespace nn {

struct DataParallelOptions {
  // Gradients are averaged in buckets of about this many MiB, filled in
  // reverse order of registration (the order backward finishes them).
  double bucket_mb = 25;
  // A parameter that gets no gradient in a backward pass is an error naming
  // it, unless this is on: then it counts as a zero gradient on this rank.
  bool find_unused_parameters = false;
  // Record when each gradient becomes final and each bucket starts and ends (events()).
  bool record_events = false;
};

// Attaches to a module for data-parallel training on ag::dist's world (call
// ag::dist::init() first). The constructor copies rank 0's parameters and
// buffers to every rank. During each backward() on this thread it copies each
// bucket of gradients into one buffer as soon as all of them are final (Note
// [Backward hooks] in tape.hpp) and starts a non-blocking allreduce, so
// communication overlaps the rest of backward; at the end of backward it waits
// for every bucket and writes the averages back into the parameters' .grad, so
// the optimiser step that follows sees the averaged gradients. The module is
// used as before (it keeps its parameter names, so checkpoints load into a
// plain model); destroy the DataParallel to stop averaging.
//
//   ag::dist::init();
//   nn::DataParallel dp(model);
//   loss = ce(model(x_shard), t_shard); loss.backward(); opt.step();
class DataParallel : ag::BackwardHook {
 public:
  explicit DataParallel(Module& module, const DataParallelOptions& opts = {});
  ~DataParallel() override;
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  Module& module() { return module_; }
  // Skips averaging in its scope: gradients accumulate locally (gradient
  // accumulation); the first backward after it averages what accumulated.
  class NoSync {
   public:
    explicit NoSync(DataParallel& dp) : dp_(dp), prev_(dp.sync_) { dp.sync_ = false; }
    ~NoSync() { dp_.sync_ = prev_; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DataParallel& dp_;
    bool prev_;
  };
  NoSync no_sync() { return NoSync(*this); }

  // The buckets: parameter names, in the order their allreduce starts.
  std::vector<std::vector<std::string>> buckets() const;
  struct Event {
    enum Kind { ready, start, done } kind;
    int bucket = -1;
    std::string param;  // for ready
    double seconds = 0; // since the DataParallel was made
  };
  const std::vector<Event>& events() const { return events_; }
  void clear_events() { events_.clear(); }
  // Seconds spent waiting for allreduces at the end of backward (the part not hidden behind it), summed.
  double wait_seconds() const { return wait_seconds_; }

 private:
  struct Bucket {
    std::vector<size_t> params;   // indices into params_
    std::vector<int64_t> offset;  // of each in flat
    ag::Tensor flat;              // cpu, float32 or float64
    size_t ready = 0;
    bool started = false;
    ag::dist::Work work;
  };
  void leaf_ready(ag::TensorImpl* leaf, bool received) override;
  void backward_done(bool ok) override;
  void mark(size_t p, bool received);
  void start_ready_buckets();
  void start(Bucket& b);
  void finish(Bucket& b);
  void reset_pass();
  void event(Event::Kind k, int bucket, const std::string& param = {});

  Module& module_;
  DataParallelOptions opts_;
  NamedTensors params_;
  std::unordered_map<ag::TensorImpl*, size_t> index_;
  std::vector<size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  std::vector<char> marked_, received_;
  size_t next_start_ = 0;  // buckets start in order on every rank
  bool touched_ = false;   // a parameter of ours was on this pass's graph
  bool sync_ = true;
  std::vector<Event> events_;
  double wait_seconds_ = 0;
  double t0_ = 0;
};

}  // namespace nn

#endif  // TAPEGRAD_CXX20
