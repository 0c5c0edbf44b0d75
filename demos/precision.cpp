// Bit precision (kAbout, which --help prints).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "cli.hpp"
#include "cuda/cuda.hpp"
#include "device.hpp"
#include "nn/nn.hpp"
#include "plot.hpp"

using namespace ag;

namespace {

constexpr const char* kAbout = R"(precision: bit precision (the textbook's section 1.5.1). What float64, float32,
float16 and bfloat16 hold; why 16 bits are enough to store trained weights; why
float16 gradients underflow; and training with float16 arithmetic, float32
master weights and loss scaling (nn::LossScaler).

It prints each format's epsilon, range and 0.1 as stored, the accuracy of a
trained net with its weights stored in each format, and the spiral net trained
in 16-bit arithmetic on --device (16-bit arithmetic needs a device: cuda, or
cuda_host, its host emulation). With --data (MNIST), it also trains the MNIST
net for --epochs in float32 and under bfloat16 autocast (ag::AutocastGuard:
products in bfloat16, everything else and the weights in float32) and compares
accuracy and time. It writes into the --out folder precision.png
(the gap between neighbouring values, relative to the value, for each format)
and the trained weights in each format (weights_*.safetensors).
)";

struct Format {
  const char* name;
  DType dtype;
  int bits;
};
const Format kFormats[] = {{"float64", DType::float64, 64},
                           {"float32", DType::float32, 32},
                           {"float16", DType::float16, 16},
                           {"bfloat16", DType::bfloat16, 16}};

// x as the format stores it.
double stored(double x, DType dtype) { return cast(tensor({x}, {1}, DType::float64), dtype).value_at(0); }

// The next value of the format above a positive x, through the bit patterns.
double next_up(double x, DType dtype) {
  switch (dtype) {
    case DType::float16: return static_cast<float>(Half::from_bits(static_cast<uint16_t>(Half(static_cast<float>(x)).bits + 1)));
    case DType::bfloat16:
      return static_cast<float>(BFloat16::from_bits(static_cast<uint16_t>(BFloat16(static_cast<float>(x)).bits + 1)));
    case DType::float32: return std::nextafter(static_cast<float>(x), std::numeric_limits<float>::infinity());
    default: return std::nextafter(x, std::numeric_limits<double>::infinity());
  }
}

double largest(DType dtype) {
  switch (dtype) {
    case DType::float16: return static_cast<float>(Half::from_bits(0x7bff));
    case DType::bfloat16: return static_cast<float>(BFloat16::from_bits(0x7f7f));
    case DType::float32: return std::numeric_limits<float>::max();
    default: return std::numeric_limits<double>::max();
  }
}

double smallest_normal(DType dtype) {
  switch (dtype) {
    case DType::float16: return static_cast<float>(Half::from_bits(0x0400));
    case DType::bfloat16: return static_cast<float>(BFloat16::from_bits(0x0080));
    case DType::float32: return std::numeric_limits<float>::min();
    default: return std::numeric_limits<double>::min();
  }
}

// Accuracy of the trained spiral net with its weights rounded to `dtype` and back.
double accuracy_stored_as(nn::TwoLayerNet& net, const Tensor& x, const Tensor& t, DType dtype) {
  NoGradGuard off;
  std::vector<Tensor> saved;
  for (Tensor* p : {&net.W1, &net.b1, &net.W2, &net.b2}) {
    saved.push_back(p->detach().clone());
    p->copy_(cast(cast(*p, dtype), DType::float32));
  }
  const double acc = net.accuracy(x, t);
  size_t i = 0;
  for (Tensor* p : {&net.W1, &net.b1, &net.W2, &net.b2}) p->copy_(saved[i++]);
  return acc;
}

struct Run {
  double loss = 0, accuracy = 0;
  int64_t skipped = 0;
  double final_scale = 0;
};

// The spiral net (2-30-3, ReLU) trained for `epochs` full-batch SGD steps on
// `device`, computing in `compute` (casts recorded on the tape) with float32
// master weights; the loss is scaled when compute is float16.
Run train(const Tensor& x_cpu, const Tensor& t_cpu, Device device, DType compute, int epochs) {
  Generator gen(7);
  Tensor w1 = (randn({2, 30}, gen) * 0.5).to(device).requires_grad_(), b1 = zeros({30}, DType::float32, device).requires_grad_();
  Tensor w2 = (randn({30, 3}, gen) * 0.5).to(device).requires_grad_(), b2 = zeros({3}, DType::float32, device).requires_grad_();
  nn::SGD opt({w1, b1, w2, b2}, 1.0);
  nn::LossScaler scaler(nn::LossScalerOptions{.init_scale = compute == DType::float16 ? 65536.0 : 1.0});
  const Tensor x = cast(x_cpu, DType::float32).to(device), t = t_cpu.to(device);
  auto c = [&](const Tensor& p) { return compute == DType::float32 ? p : cast(p, compute); };
  Run r;
  Tensor scores;
  for (int e = 0; e < epochs; ++e) {
    scores = affine(relu(affine(c(x), c(w1), c(b1))), c(w2), c(b2));
    Tensor loss = softmax_cross_entropy(scores, t);
    opt.zero_grad();
    scaler.scale(loss).backward();
    scaler.step(opt);
    if (e == epochs - 1) r.loss = loss.value_at(0);
  }
  NoGradGuard off;
  const Tensor pred = argmax(scores, 1).to(Device::cpu());
  int64_t right = 0;
  for (int64_t i = 0; i < pred.numel(); ++i) right += pred.value_at(i) == t_cpu.value_at(i);
  r.accuracy = static_cast<double>(right) / static_cast<double>(pred.numel());
  r.skipped = scaler.skipped_steps();
  r.final_scale = scaler.scale_factor();
  return r;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string dir, device_name;
  bool check = false;
  std::vector<std::string> failures;
  demo::Cli cli("precision", kAbout);
  cli.out(dir);
  demo::device_option(cli, device_name, "the training in 16-bit arithmetic")
      ->default_str("cuda when a GPU is usable, else cuda_host");
  std::string mnist_dir;
  if (const char* env = std::getenv("TAPEGRAD_MNIST_DIR")) mnist_dir = env;
  int epochs = 2;
  int64_t limit = -1;
  cli.option("--data", mnist_dir, "the folder with the four MNIST files, for the autocast comparison (part 5)")
      ->type_name("DIR")
      ->default_str(mnist_dir.empty() ? "$TAPEGRAD_MNIST_DIR, else part 5 is skipped" : mnist_dir);
  cli.option("--epochs", epochs, "epochs of the MNIST runs of part 5");
  cli.option("--limit", limit, "use only the first N training and test images in part 5 (-1: all)");
  cli.flag("--check", check,
           "exit with status 1 unless the 16-bit weights lose less than 1% accuracy, every 16-bit training run "
           "reaches 95%, and bfloat16 autocast ends within 0.5 points of float32 on MNIST");
  cli.parse(argc, argv);
  const Device device = !device_name.empty()  ? demo::parse_device(device_name, "precision")
                        : cuda::is_available() ? Device::cuda(0)
                                               : Device::cuda_host(0);
  std::filesystem::create_directories(dir);

  fmt::print("1. The formats\n");
  fmt::print("  {:<9} {:>5} {:>12} {:>12} {:>12}  {}\n", "format", "bytes", "epsilon", "largest", "min normal", "0.1 as stored");
  for (const Format& f : kFormats)
    fmt::print("  {:<9} {:>5} {:>12.5g} {:>12.5g} {:>12.5g}  {:.17g}\n", f.name, f.bits / 8, next_up(1.0, f.dtype) - 1.0,
               largest(f.dtype), smallest_normal(f.dtype), stored(0.1, f.dtype));

  // The picture: the relative gap to the next value, (next(x) - x) / x, on a log-log scale.
  std::string data = "# x float64 float32 float16 bfloat16\n";
  for (double e = -30; e <= 20.001; e += 0.05) {
    const double x = std::pow(2.0, e);
    data += fmt::format("{:.6g}", x);
    for (const Format& f : kFormats) {
      const double s = stored(x, f.dtype);
      const double gap = (std::isinf(s) || s == 0) ? NAN : (next_up(s, f.dtype) - s) / s;
      data += std::isnan(gap) ? " NaN" : fmt::format(" {:.6g}", gap);
    }
    data += "\n";
  }
  write_file(dir + "/precision.dat", data);
  std::string plots;
  for (int k = 0; k < 4; ++k)
    plots += fmt::format("{}'{}/precision.dat' using 1:{} with lines lw 2 title '{}'", k ? ", " : "", dir, k + 2,
                         kFormats[k].name);
  demo::plot(dir + "/precision.gp",
             fmt::format("set terminal pngcairo size 900,480 noenhanced\nset output '{}/precision.png'\nset logscale x 2\nset logscale y 10\n"
                         "set format x '2^%L'\nset format y '1e%L'\nset xrange [2**-30:2**20]\nset yrange [1e-17:3]\n"
                         "set grid\nset key at 2**19,1e-9 right top box opaque  # the empty band between float32 and float64\n"
                         "set xlabel 'x'\nset ylabel 'gap to the next value / x'\n"
                         "set title 'precision (height) and range (width) of each format; float16 ends at 65504'\nplot {}\n",
                         dir, plots),
             dir + "/precision.png");

  fmt::print("\n2. Storing trained weights in 16 bits (the book: train in float32, store in float16)\n");
  nn::Dataset data_set = nn::spiral(100, 3, 0);
  const Tensor x = cast(data_set.x, DType::float32);
  const Tensor t = data_set.t.dtype() == DType::int64 ? data_set.t : argmax(data_set.t, 1);  // labels
  Generator gen(1);
  nn::TwoLayerNet net(2, 30, 3, gen, 0.5, DType::float32, "relu");
  nn::SGD opt(net.parameters(), 1.0);
  for (int e = 0; e < 3000; ++e) {
    opt.zero_grad();
    net.loss(x, t).backward();
    opt.step();
  }
  const double full_accuracy = accuracy_stored_as(net, x, t, DType::float32);
  for (const Format& f : kFormats) {
    nn::SafeTensors st;
    for (const auto& [name, p] : net.named_parameters()) st.tensors.emplace_back(name, cast(p.detach(), f.dtype));
    const std::string path = fmt::format("{}/weights_{}.safetensors", dir, f.name);
    nn::save_safetensors(path, st);
    const double acc = accuracy_stored_as(net, x, t, f.dtype);
    fmt::print("  weights as {:<9} {:>6} bytes on disk, accuracy {:.2f}%\n", f.name, std::filesystem::file_size(path), 100 * acc);
    if (acc < full_accuracy - 0.01) failures.push_back(fmt::format("weights stored as {} lost accuracy", f.name));
  }

  fmt::print("\n3. Small gradients in float16: below 2^-24 = 6e-8 they become 0; scaling the loss lifts them\n");
  for (double g : {1e-4, 1e-7, 1e-8}) {
    fmt::print("  gradient {:g}: float16 holds {:g}; times 65536 then back: {:g}\n", g, stored(g, DType::float16),
               stored(g * 65536, DType::float16) / 65536);
  }

  fmt::print("\n4. Training the spiral net on {} (float32 master weights, 1500 full-batch steps)\n", device);
  for (DType compute : {DType::float32, DType::float16, DType::bfloat16}) {
    if (device.is_cpu() && compute != DType::float32) {
      fmt::print("  {:<9} skipped: 16-bit arithmetic runs on a device (--device cuda or cuda_host)\n", dtype_name(compute));
      continue;
    }
    const Run r = train(x, t, device, compute, 1500);
    fmt::print("  {:<9} loss {:.4f}  accuracy {:.2f}%  skipped steps {}  final loss scale {:g}\n", dtype_name(compute),
               r.loss, 100 * r.accuracy, r.skipped, r.final_scale);
    if (r.accuracy < 0.95) failures.push_back(fmt::format("training in {} reached only {:.2f}%", dtype_name(compute), 100 * r.accuracy));
  }
  fmt::print("\n5. Autocast: the MNIST net with its products in bfloat16 (float32 weights, loss and softmax)\n");
  if (mnist_dir.empty()) {
    fmt::print("  skipped: pass --data DIR (the MNIST files) or set TAPEGRAD_MNIST_DIR\n");
  } else if (!std::filesystem::is_directory(mnist_dir)) {
    fmt::print("  skipped: no MNIST folder at {}\n", mnist_dir);
  } else if (device.is_cpu()) {
    fmt::print("  skipped: the cpu has no 16-bit product kernels (--device cuda or cuda_host)\n");
  } else {
    const nn::Mnist mnist = nn::load_mnist(mnist_dir, {.limit = limit});
    double acc[2] = {0, 0};
    for (int half = 0; half < 2; ++half) {
      Generator init(0);
      nn::TwoLayerNet net(784, 100, 10, init, 0.01, DType::float32, "relu");
      nn::SGD sgd(net.parameters(), 0.1);
      nn::DataLoader loader(mnist.train, {.batch_size = 100, .seed = 1});
      nn::TrainerOptions o{.epochs = epochs, .progress = false, .device = device};
      if (half) o.autocast = DType::bfloat16;
      nn::Trainer trainer(net, sgd, o);
      const auto& h = trainer.fit(loader);
      double seconds = 0;
      for (const nn::EpochStats& e : h) seconds += e.seconds;
      acc[half] = trainer.evaluate(mnist.test).second;
      fmt::print("  {:<17} test accuracy {:.2f}%  final training loss {:.4f}  training {:.1f} s on {}\n",
                 half ? "bfloat16 autocast" : "float32", 100 * acc[half], h.back().loss, seconds, device);
    }
    fmt::print("  difference {:+.2f} points\n", 100 * (acc[1] - acc[0]));
    if (std::abs(acc[1] - acc[0]) > 0.005)
      failures.push_back(fmt::format("bfloat16 autocast ended {:.2f} points from float32", 100 * (acc[1] - acc[0])));
  }

  if (check && !failures.empty()) {
    for (const std::string& f : failures) fmt::print(stderr, "check failed: {}\n", f);
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
