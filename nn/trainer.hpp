// The training loop as a library: epochs of mini-batches (forward, loss,
// backward, optimiser step, schedule step), evaluation on a validation set,
// a history (loss, accuracy, learning rate, time), a progress bar with the
// running loss and an ETA on a terminal (plain lines otherwise), optional
// early stopping, and the history as CSV or as a chart (through gnuplot).
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data.hpp"
#include "module.hpp"
#include "optim.hpp"

namespace nn {

using LossFn = std::function<Tensor(const Tensor& output, const Tensor& target)>;

struct TrainerOptions {
  int epochs = 10;
  LossFn loss{};                        // default: softmax cross entropy
  bool classification = true;           // report accuracy (argmax of the output)
  std::shared_ptr<Schedule> schedule{}; // the learning rate, by epoch (or by iteration, below)
  bool schedule_per_iteration = false;
  int early_stopping_patience = 0;      // stop after this many epochs without a better validation loss (0: never)
  bool progress = true;                 // a progress bar on a terminal, one line per epoch otherwise
  int print_every = 1;                  // print the summary line of every k-th epoch (and of the last)
  std::FILE* out = stdout;
  ag::Device device = ag::Device::cpu();  // the model is moved there, and each batch as it is drawn
  // What the data set passed to fit() as `validation` is called in the printed
  // lines (val_loss, val_acc) and the plot's legend ("val" is drawn as
  // "validation"); "test" when it is the test set, as for MNIST.
  std::string validation_name = "val";
  // Measure the training loss and accuracy at the end of each epoch, over the
  // whole training set in evaluation mode (as the textbook does), instead of as
  // the running mean over the epoch's batches (free, but it mixes the model's
  // states during the epoch and counts dropout's noise).
  bool evaluate_train = false;
  std::string title;  // the plot's title (plot_history); empty: "training history"
  // Where to save a checkpoint at the end of every epoch (empty: nowhere): the
  // model, the optimiser, the history and the data loader's shuffling state,
  // written atomically. Trainer::resume reads it back.
  std::string checkpoint;
  // Products in this 16-bit type during training and evaluation (ag::AutocastGuard,
  // Note [Autocast]); the weights stay float32. Needs a device with 16-bit kernels.
  std::optional<ag::DType> autocast;
  // Data-parallel training on ag::dist's world (docs/distributed.md): the model
  // is wrapped in an nn::DataParallel (gradients averaged across ranks each
  // step); give the training DataLoader a DistributedSampler so that each rank
  // reads its own shard. The epoch's loss and accuracy are reduced over all
  // ranks; validation runs whole on every rank (the replicas are equal); only
  // rank 0 prints, writes checkpoints, the CSV and the plot.
  bool distributed = false;
};

struct EpochStats {
  int epoch = 0;
  double loss = 0, accuracy = 0;          // over the epoch's training batches (evaluate_train: at its end)
  double val_loss = NAN, val_accuracy = NAN;
  double lr = 0, lr_end = 0;              // the learning rate of the epoch's first and last steps
  double seconds = 0;
};

class DataParallel;

class Trainer {
 public:
  Trainer(Module& model, Optimizer& optimizer, TrainerOptions opts = {});
  ~Trainer();
  // Trains for opts.epochs (or until early stopping); returns the history.
  const std::vector<EpochStats>& fit(DataLoader& train, const Dataset* validation = nullptr);
  // Restores a run from the checkpoint opts.checkpoint-style saving wrote at the
  // end of an epoch: the model and optimiser (on opts.device, whatever device
  // they were saved from), the history, the iteration count of per-iteration
  // schedules and `train`'s shuffling state. The next fit() trains the epochs
  // the run had left (up to opts.epochs in all), and ends where the
  // uninterrupted run would have: the same numbers, on the cpu and on devices.
  void resume(const std::string& path, DataLoader& train);
  // Mean loss and accuracy over a data set, in evaluation mode and without recording.
  std::pair<double, double> evaluate(const Dataset& data, int64_t batch_size = 1000);
  const std::vector<EpochStats>& history() const { return history_; }
  // The history as CSV (epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds), written atomically (by rank 0 only
  // when distributed).
  void write_history_csv(const std::string& path) const;
  // Loss and accuracy curves as a PNG or SVG (by extension) through gnuplot;
  // false, with the reason in *why, when gnuplot is not installed (the data and script are still written).
  bool plot_history(const std::string& path, std::string* why = nullptr) const;

 private:
  std::string history_csv(bool exact) const;  // exact: full precision, for checkpoints
  void save(const std::string& path, const DataLoader& train) const;
  Module& model_;
  Optimizer& opt_;
  TrainerOptions opts_;
  std::vector<EpochStats> history_;
  int64_t iteration_ = 0;  // optimiser steps taken by fit() so far (per-iteration schedules)
  bool resumed_ = false;   // the next fit() finishes the run resume() restored
  std::unique_ptr<DataParallel> dp_;  // opts.distributed
  bool lead_ = true;                  // prints and writes files: rank 0
};

}  // namespace nn

#endif  // TAPEGRAD_CXX20
