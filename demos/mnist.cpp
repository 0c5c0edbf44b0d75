// MNIST with the textbook's TwoLayerNet, and a stronger configuration.
//
//   mnist --data DIR [--config book|book-sigmoid|strong] [--epochs N] [--limit N] [--out DIR] [--min-accuracy X] [--skip-missing]
//         [--device cpu|cuda|cuda_host]
//
// book:   the TwoLayerNet of "Deep Learning from Scratch" chapter 5, trained by
//         backpropagation: 784-50-10, ReLU, weights N(0, 0.01^2), SGD lr 0.1,
//         batch 100, 10,000 iterations (about 17 epochs).
// book-sigmoid: the same with chapter 4's sigmoid hidden layer (it learns more
//         slowly: about 95% after the same 10,000 iterations).
// strong: 784-256-128-10, ReLU, He initialisation, Adam 1e-3 with cosine annealing
//         after a one-epoch warm-up, batch 100, 10 epochs.
// Prints train/test accuracy per epoch and writes the curves into DIR (default
// out/mnist). --min-accuracy makes the exit status 1 when the final test
// accuracy is below it. The data directory holds the four MNIST files (gzipped
// or not); the README says where to get them. --device trains on GPU 0 (cuda)
// or on the host emulation of the CUDA backend (cuda_host): the model and each
// batch move there, and the optimiser updates the parameters there.
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/core.h>

#include "device.hpp"
#include "nn/mnist.hpp"
#include "nn/nn.hpp"
#include "nn/trainer.hpp"

namespace {

struct Options {
  std::string data, config = "book", out = "out/mnist";
  int epochs = -1;
  int64_t limit = -1;
  double min_accuracy = 0;
  bool skip_missing = false;  // exit 77 (a skipped test) when the data directory is missing
  ag::Device device = ag::Device::cpu();
};

Options parse(int argc, char** argv) {
  Options o;
  if (const char* env = std::getenv("TAPEGRAD_MNIST_DIR")) o.data = env;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) ag::fail("mnist", "option {} needs a value", a);
      return argv[++i];
    };
    if (a == "--data") o.data = value();
    else if (a == "--config") o.config = value();
    else if (a == "--epochs") o.epochs = std::stoi(value());
    else if (a == "--limit") o.limit = std::stoll(value());
    else if (a == "--out") o.out = value();
    else if (a == "--min-accuracy") o.min_accuracy = std::stod(value());
    else if (a == "--skip-missing") o.skip_missing = true;
    else if (a == "--device") o.device = demo::parse_device(value(), "mnist");
    else ag::fail("mnist", "unknown option '{}' (options: --data DIR --config book|book-sigmoid|strong --epochs N --limit N --out DIR --min-accuracy X --skip-missing --device D)", a);
  }
  if (o.data.empty()) ag::fail("mnist", "no data directory: pass --data DIR or set TAPEGRAD_MNIST_DIR (see the README)");
  if (o.config != "book" && o.config != "book-sigmoid" && o.config != "strong")
    ag::fail("mnist", "--config takes book, book-sigmoid or strong, got '{}'", o.config);
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  if (opt.skip_missing && !std::filesystem::is_directory(opt.data)) {
    fmt::print("SKIPPED: no MNIST directory at {}\n", opt.data);
    return 77;
  }
  nn::Mnist data = nn::load_mnist(opt.data, {.limit = opt.limit});
  fmt::print("MNIST: {} training and {} test images from {}\n", data.train.size(), data.test.size(), opt.data);
  ag::Generator gen(0);
  nn::DataLoader loader(data.train, {.batch_size = 100, .seed = 1});

  std::shared_ptr<nn::Module> model;
  std::unique_ptr<nn::Optimizer> optimizer;
  nn::TrainerOptions topts;
  topts.device = opt.device;
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
  fmt::print("{} configuration: {} parameters, {} epochs of {} batches, on {}\n", opt.config,
             model->num_parameters(), topts.epochs, loader.size(), opt.device);
  nn::Trainer trainer(*model, *optimizer, topts);
  trainer.fit(loader, &data.test);
  const auto [train_loss, train_acc] = trainer.evaluate(data.train);
  const auto [test_loss, test_acc] = trainer.evaluate(data.test);
  fmt::print("final: train accuracy {:.2f}%, test accuracy {:.2f}% (train loss {:.4f}, test loss {:.4f})\n",
             100 * train_acc, 100 * test_acc, train_loss, test_loss);

  std::filesystem::create_directories(opt.out);
  trainer.write_history_csv(opt.out + "/history_" + opt.config + ".csv");
  std::string why;
  if (trainer.plot_history(opt.out + "/curves_" + opt.config + ".png", &why))
    fmt::print("wrote {}/curves_{}.png\n", opt.out, opt.config);
  else
    fmt::print("{}\n", why);
  if (test_acc < opt.min_accuracy) {
    fmt::print(stderr, "mnist: test accuracy {:.2f}% is below {:.2f}%\n", 100 * test_acc, 100 * opt.min_accuracy);
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
