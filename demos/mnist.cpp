// MNIST with the textbook's TwoLayerNet, and a stronger configuration (kAbout,
// which --help prints).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/core.h>

#include "cli.hpp"
#include "device.hpp"
#include "nn/mnist.hpp"
#include "nn/nn.hpp"
#include "nn/trainer.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(mnist: handwritten digits with the textbook's TwoLayerNet, and a stronger net.

  book:   the TwoLayerNet of "Deep Learning from Scratch" chapter 5, trained by
          backpropagation: 784-50-10, ReLU, weights N(0, 0.01^2), SGD lr 0.1,
          batch 100, 10,000 iterations (about 17 epochs).
  book-sigmoid: the same with chapter 4's sigmoid hidden layer (it learns more
          slowly: about 95% after the same 10,000 iterations).
  strong: 784-256-128-10, ReLU, He initialisation, Adam 1e-3 with cosine
          annealing after a one-epoch warm-up, batch 100, 10 epochs.

It prints the train and test accuracy at the end of each epoch (both measured
then, on the whole sets, as the book does), and writes the loss and accuracy
curves into the --out folder. The data folder holds the four MNIST
files (gzipped or not); the README says where to get them. --device trains on
GPU 0 (cuda) or on the host emulation of the CUDA backend (cuda_host): the
model and each batch move there, and the optimiser updates the parameters there.

--distributed trains data-parallel on the processes mpirun started
(docs/distributed.md): each of the w ranks reads its shard of every epoch and
a batch of 100 / w images, so the global batch and the number of steps stay
those of one process; rank 0 prints, and at the end measures the scaling
efficiency (one process's step on 100 images against the data-parallel step).
  mpirun -np 2 build/demos/mnist --data DIR --distributed
)";

struct Options {
  std::string data, config = "book", out;
  int epochs = 0;      // 0: the configuration's own
  int64_t limit = -1;  // all images
  double min_accuracy = 0;
  ag::Device device = ag::Device::cpu();
  bool distributed = false;
};

Options parse(int argc, char** argv) {
  Options o;
  std::string device = "cpu";
  demo::Cli cli("mnist", kAbout);
  cli.data(o.data, "the folder with the four MNIST files");
  cli.choice("--config", o.config, {"book", "book-sigmoid", "strong"}, "the net and its training, as above");
  cli.option("--epochs", o.epochs, "passes over the training images (default: book 10,000 iterations, strong 10)")
      ->check(demo::at_least(1))
      ->default_str("");
  cli.option("--limit", o.limit, "read only this many training images and this many test images")
      ->check(demo::at_least(1))
      ->default_str("all");
  cli.out(o.out);
  cli.option("--min-accuracy", o.min_accuracy, "exit with status 1 when the final test accuracy is below this")
      ->check(demo::between(0, 1));
  demo::device_option(cli, device, "the training");
  cli.flag("--distributed", o.distributed, "train data-parallel on the processes mpirun started (see above)");
  cli.parse(argc, argv);
  o.device = demo::parse_device(device, "mnist");
  return o;
}

// Seconds per optimiser step over `steps` batches of `loader` (forward, backward, step).
double seconds_per_step(nn::Module& model, nn::Optimizer& opt, nn::DataLoader& loader, int steps) {
  auto it = loader.begin();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i, ++it) {
    if (it == loader.end()) it = loader.begin();
    opt.zero_grad();
    ag::softmax_cross_entropy(model(it->x), it->t).backward();
    opt.step();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / steps;
}

// Strong scaling: one process's step on the global batch of 100 (rank 0, the
// others waiting) against the data-parallel step on 100 / w per rank.
void print_scaling(nn::Module& model, nn::Optimizer& opt, nn::DataLoader& loader, const nn::Dataset& train) {
  const int w = ag::dist::world_size();
  const int steps = 50;
  seconds_per_step(model, opt, loader, 5);  // warm-up
  ag::dist::barrier();
  const double tw = seconds_per_step(model, opt, loader, steps);
  ag::dist::barrier();
  if (ag::dist::rank() == 0) {
    ag::Generator gen(0);
    nn::TwoLayerNet alone(784, 50, 10, gen, 0.01);  // not the DataParallel's model: not averaged
    nn::SGD sgd(alone.parameters(), 0.1);
    nn::DataLoader whole(train, {.batch_size = 100, .seed = 1});
    seconds_per_step(alone, sgd, whole, 5);
    const double t1 = seconds_per_step(alone, sgd, whole, steps);
    fmt::print("scaling: a step on 100 images takes {:.2f} ms on 1 process, {:.2f} ms on {} processes: speedup {:.2f}, "
               "efficiency {:.0f}%\n",
               1e3 * t1, 1e3 * tw, w, t1 / tw, 100 * t1 / (w * tw));
  }
  ag::dist::barrier();
}

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  if (opt.distributed) ag::dist::init();
  const int world = ag::dist::world_size();
  const bool lead = ag::dist::rank() == 0;  // prints and writes
  nn::Mnist data = nn::load_mnist(opt.data, {.limit = opt.limit});
  if (lead)
    fmt::print("MNIST: {} training and {} test images from {}\n", data.train.size(), data.test.size(), opt.data);
  ag::Generator gen(0);
  nn::DataLoaderOptions lopts{.batch_size = 100, .seed = 1};
  if (opt.distributed) {
    if (100 % world != 0) {
      fmt::print(stderr, "mnist: --distributed splits a batch of 100 over the processes; {} does not divide it\n", world);
      return 2;
    }
    lopts.batch_size = 100 / world;
    lopts.sampler = nn::DistributedSampler::world();
  }
  nn::DataLoader loader(data.train, lopts);

  std::shared_ptr<nn::Module> model;
  std::unique_ptr<nn::Optimizer> optimizer;
  nn::TrainerOptions topts;
  topts.device = opt.device;
  topts.distributed = opt.distributed;
  // the held-out set is MNIST's test set; both sets are measured at the end of each epoch, as the book does
  topts.validation_name = "test";
  topts.evaluate_train = true;
  topts.title = fmt::format("MNIST, {} configuration", opt.config);
  if (opt.config != "strong") {
    model = std::make_shared<nn::TwoLayerNet>(784, 50, 10, gen, 0.01, ag::DType::float32,
                                              opt.config == "book" ? "relu" : "sigmoid");
    optimizer = std::make_unique<nn::SGD>(model->parameters(), 0.1);
    // 10,000 iterations of batch 100
    topts.epochs = opt.epochs > 0 ? opt.epochs : static_cast<int>((10000 + loader.size() - 1) / loader.size());
  } else {
    model = std::make_shared<nn::MLP>(std::vector<int64_t>{784, 256, 128, 10}, gen, "relu", nn::Init::he);
    optimizer = std::make_unique<nn::Adam>(model->parameters(), 1e-3);
    topts.epochs = opt.epochs > 0 ? opt.epochs : 10;
    const int64_t steps = loader.size() * topts.epochs;
    topts.schedule = std::make_shared<nn::Warmup>(loader.size(),
                                                  std::make_shared<nn::CosineAnnealing>(1e-3, steps - loader.size()), 0.1);
    topts.schedule_per_iteration = true;
  }
  if (lead)
    fmt::print("{} configuration: {} parameters, {} epochs of {} batches, on {}{}\n", opt.config,
               model->num_parameters(), topts.epochs, loader.size(), opt.device,
               opt.distributed ? fmt::format(", data-parallel on {} processes (batches of {} each)", world,
                                             lopts.batch_size)
                               : "");
  nn::Trainer trainer(*model, *optimizer, topts);
  trainer.fit(loader, &data.test);
  const auto [train_loss, train_acc] = trainer.evaluate(data.train);
  const auto [test_loss, test_acc] = trainer.evaluate(data.test);
  if (lead)
    fmt::print("final: train accuracy {:.2f}%, test accuracy {:.2f}% (train loss {:.4f}, test loss {:.4f})\n",
               100 * train_acc, 100 * test_acc, train_loss, test_loss);
  if (opt.distributed && opt.config != "strong") print_scaling(*model, *optimizer, loader, data.train);
  if (!lead) return 0;

  std::filesystem::create_directories(opt.out);
  trainer.write_history_csv(opt.out + "/history_" + opt.config + ".csv");
  fmt::print("wrote:\n  {}/history_{}.csv\n", opt.out, opt.config);
  const std::string png = fmt::format("{}/curves_{}.png", opt.out, opt.config);
  std::string why;
  if (trainer.plot_history(png, &why)) fmt::print("  {}\n", png);
  else if (demo::have_gnuplot()) fmt::print("  {}\n", why);
  else fmt::print("  {}.gp\n", png);
  if (test_acc < opt.min_accuracy) {
    fmt::print(stderr, "mnist: test accuracy {:.2f}% is below {:.2f}%\n", 100 * test_acc, 100 * opt.min_accuracy);
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
