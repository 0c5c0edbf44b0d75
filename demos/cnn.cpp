// Convolutional nets on MNIST (or Fashion-MNIST): the textbook's SimpleConvNet
// (chapter 7) and a deeper net in the style of chapter 8, with the first
// layer's filters drawn before and after training (the book's Figure 7-24).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli.hpp"
#include "device.hpp"
#include "nn/mnist.hpp"
#include "nn/nn.hpp"
#include "nn/trainer.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(cnn: convolutional nets on handwritten digits (or clothes).

  simple: the SimpleConvNet of "Deep Learning from Scratch" chapter 7:
          conv 30 filters 5x5 - ReLU - max pool 2x2 - affine 100 - ReLU -
          affine 10, Softmax-with-Loss, Adam 1e-3 with cosine annealing,
          batch 100, 10 epochs (the book: weights N(0, 0.01^2) and 20
          epochs; PyTorch's initialisation learns faster).
  deep:   chapter 8's deeper net with batch normalisation: three blocks of
          two 3x3 convs (16, 32, 64 filters, each conv - batch norm - ReLU)
          and a 2x2 max pool, then affine 100 - ReLU - dropout 0.5 - affine 10;
          PyTorch's initialisation, Adam 1e-3 with cosine
          annealing, batch 100, 3 epochs.

Each conv is im2col + GEMM, as the book explains it (docs/cnn.md): a traced
step shows the im2col node that unfolds the image. The demo prints the train
and test accuracy per epoch and a final line "test accuracy X%", and writes into
--out the loss and accuracy curves and the first layer's filters before and
after training as an image grid. --data takes the folder with the four MNIST
files (gzipped or not); Fashion-MNIST has the same four files, so
--data ../shared/data/fashion-mnist trains on it with the same loader.
)";

struct Options {
  std::string data, config = "simple", out;
  int epochs = 0;      // 0: the configuration's own
  int64_t limit = -1;  // all images
  double min_accuracy = 0;
  ag::Device device = ag::Device::cpu();
};

Options parse(int argc, char** argv) {
  Options o;
  std::string device = "cpu";
  demo::Cli cli("cnn", kAbout);
  cli.data(o.data, "the folder with the four MNIST (or Fashion-MNIST) files");
  cli.choice("--config", o.config, {"simple", "deep"}, "the net and its training, as above");
  cli.option("--epochs", o.epochs, "passes over the training images (default: simple 10, deep 3)")
      ->check(demo::at_least(1))
      ->default_str("");
  cli.option("--limit", o.limit, "read only this many training images and this many test images")
      ->check(demo::at_least(1))
      ->default_str("all");
  cli.out(o.out);
  cli.option("--min-accuracy", o.min_accuracy, "exit with status 1 when the final test accuracy is below this")
      ->check(demo::between(0, 1));
  demo::device_option(cli, device, "the training");
  cli.parse(argc, argv);
  o.device = demo::parse_device(device, "cnn");
  return o;
}

// conv - batch norm - ReLU, the deep net's unit (no conv bias: batch norm's beta is one)
void conv_bn_relu(nn::Sequential& net, int64_t in, int64_t out, ag::Generator& gen) {
  net.add(std::make_shared<nn::Conv2d>(in, out, 3, gen, /*stride=*/1, /*padding=*/1, /*dilation=*/1, /*groups=*/1,
                                       /*bias=*/false));
  net.add(std::make_shared<nn::BatchNorm2d>(out));
  net.add(nn::ReLU());
}

std::shared_ptr<nn::Sequential> make_net(const std::string& config, ag::Generator& gen) {
  auto net = std::make_shared<nn::Sequential>();
  if (config == "simple") {
    // PyTorch's initialisation (uniform in ±1/sqrt(fan_in)): the book's N(0, 0.01²) learns
    // the same net more slowly (98.45% after 6 epochs; the book trains 20)
    net->add(std::make_shared<nn::Conv2d>(1, 30, 5, gen));  // (N, 30, 24, 24)
    net->add(nn::ReLU());
    net->add(std::make_shared<nn::MaxPool2d>(2));  // (N, 30, 12, 12)
    net->add(std::make_shared<nn::Flatten>());     // (N, 4320)
    net->add(std::make_shared<nn::Linear>(30 * 12 * 12, 100, gen));
    net->add(nn::ReLU());
    net->add(std::make_shared<nn::Linear>(100, 10, gen));
    return net;
  }
  conv_bn_relu(*net, 1, 16, gen);
  conv_bn_relu(*net, 16, 16, gen);
  net->add(std::make_shared<nn::MaxPool2d>(2));  // (N, 16, 14, 14)
  conv_bn_relu(*net, 16, 32, gen);
  conv_bn_relu(*net, 32, 32, gen);
  net->add(std::make_shared<nn::MaxPool2d>(2));  // (N, 32, 7, 7)
  conv_bn_relu(*net, 32, 64, gen);
  conv_bn_relu(*net, 64, 64, gen);
  net->add(std::make_shared<nn::MaxPool2d>(2));  // (N, 64, 3, 3)
  net->add(std::make_shared<nn::Flatten>());
  net->add(std::make_shared<nn::Linear>(64 * 3 * 3, 100, gen));
  net->add(nn::ReLU());
  net->add(std::make_shared<nn::Dropout>(0.5, 7));
  net->add(std::make_shared<nn::Linear>(100, 10, gen));
  return net;
}

// The first conv's filters (F, C, KH, KW), channel 0 of each, tiled into a grid
// with a one-pixel gap, each filter scaled to [0, 1] on its own (as the book's
// Figure 7-24 draws them): rows of the returned text are rows of pixels.
std::string filter_grid(const ag::Tensor& w, int64_t& width, int64_t& height) {
  const std::vector<double> values = ag::cast(w.detach(), ag::DType::float64).to_vector<double>();
  const int64_t f = w.shape()[0], per_filter = w.shape()[1] * w.shape()[2] * w.shape()[3];
  const int64_t kh = w.shape()[2], kw = w.shape()[3];
  const int64_t cols = std::min<int64_t>(f, 10), rows = (f + cols - 1) / cols;
  width = cols * (kw + 1) - 1;
  height = rows * (kh + 1) - 1;
  std::vector<double> px(static_cast<size_t>(width * height), 1.0);  // gaps are white
  const double* v = values.data();
  for (int64_t k = 0; k < f; ++k) {
    const double* p = v + k * per_filter;
    const auto [lo, hi] = std::minmax_element(p, p + kh * kw);
    const double span = *hi - *lo > 0 ? *hi - *lo : 1.0;
    const int64_t r0 = (k / cols) * (kh + 1), c0 = (k % cols) * (kw + 1);
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j)
        px[static_cast<size_t>((r0 + i) * width + c0 + j)] = (p[i * kw + j] - *lo) / span;
  }
  std::string text;
  for (int64_t r = 0; r < height; ++r) {
    for (int64_t c = 0; c < width; ++c) text += fmt::format("{:.4f} ", px[static_cast<size_t>(r * width + c)]);
    text += '\n';
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  nn::Mnist data = nn::load_mnist(opt.data, {.flatten = false, .limit = opt.limit});  // images (n, 1, 28, 28)
  fmt::print("{} training and {} test images of {} from {}\n", data.train.size(), data.test.size(),
             fmt::join(data.train.x.shape(), "x"), opt.data);
  ag::Generator gen(0);
  nn::DataLoader loader(data.train, {.batch_size = 100, .seed = 1});
  auto model = make_net(opt.config, gen);
  nn::Adam optimizer(model->parameters(), 1e-3);
  nn::TrainerOptions topts;
  topts.device = opt.device;
  topts.validation_name = "test";
  topts.title = fmt::format("{} convolutional net on {}", opt.config, std::filesystem::path(opt.data).filename().string());
  topts.epochs = opt.epochs > 0 ? opt.epochs : opt.config == "simple" ? 10 : 3;
  // the rate decays to 0 along a cosine over the run: the last epochs settle instead of jittering
  topts.schedule = std::make_shared<nn::CosineAnnealing>(1e-3, loader.size() * topts.epochs);
  topts.schedule_per_iteration = true;
  fmt::print("{} configuration: {} parameters, {} epochs of {} batches, on {}\n", opt.config,
             model->num_parameters(), topts.epochs, loader.size(), opt.device);

  std::filesystem::create_directories(opt.out);
  auto& first = dynamic_cast<nn::Conv2d&>((*model)[0]);
  int64_t gw = 0, gh = 0;
  ag::write_file(opt.out + "/filters_before.dat", filter_grid(first.weight, gw, gh));

  nn::Trainer trainer(*model, optimizer, topts);
  trainer.fit(loader, &data.test);
  double seconds = 0;
  for (const nn::EpochStats& e : trainer.history()) seconds += e.seconds;
  const auto [test_loss, test_acc] = trainer.evaluate(data.test);
  fmt::print("{:.1f} s per epoch on {} ({} thread{})\n", seconds / static_cast<double>(trainer.history().size()),
             opt.device, ag::num_threads(), ag::num_threads() == 1 ? "" : "s");
  fmt::print("test accuracy {:.2f}% (test loss {:.4f})\n", 100 * test_acc, test_loss);

  ag::write_file(opt.out + "/filters_after.dat", filter_grid(first.weight, gw, gh));
  trainer.write_history_csv(opt.out + "/history_" + opt.config + ".csv");
  fmt::print("wrote:\n  {}/history_{}.csv\n", opt.out, opt.config);
  const std::string png = fmt::format("{}/curves_{}.png", opt.out, opt.config);
  std::string why;
  if (trainer.plot_history(png, &why)) fmt::print("  {}\n", png);
  else if (demo::have_gnuplot()) fmt::print("  {}\n", why);
  else fmt::print("  {}.gp\n", png);
  // Figure 7-24: the filters before (random) and after training (edge and blob detectors)
  const std::string filters = opt.out + "/filters_" + opt.config + ".png";
  demo::plot(opt.out + "/filters.gp",
             fmt::format("set terminal pngcairo size 900,{} font ',11'\nset output '{}'\n"
                         "set multiplot layout 1,2\nset palette gray\nunset colorbox\nunset key\nunset tics\n"
                         "set size ratio -1\nset yrange [{}:-0.5]\nset xrange [-0.5:{}]\n"
                         "set title 'first-layer filters before training'\n"
                         "plot '{}/filters_before.dat' matrix with image\n"
                         "set title 'after training'\n"
                         "plot '{}/filters_after.dat' matrix with image\nunset multiplot\n",
                         std::max<int64_t>(300, 900 * gh / std::max<int64_t>(1, 2 * gw) + 80), filters, gh - 0.5,
                         gw - 0.5, opt.out, opt.out),
             filters);
  if (test_acc < opt.min_accuracy) {
    fmt::print(stderr, "cnn: test accuracy {:.2f}% is below {:.2f}%\n", 100 * test_acc, 100 * opt.min_accuracy);
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
