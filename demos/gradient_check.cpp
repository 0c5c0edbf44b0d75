// The textbook's gradient check: backpropagation against the numerical
// gradient of TwoLayerNet (kAbout, which --help prints).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli.hpp"
#include "nn/layers.hpp"
#include "nn/mnist.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(gradient_check: the gradient check of "Deep Learning from Scratch" section
5.7. Backpropagation is fast but easy to get wrong; the numerical gradient
(central differences (f(w + h) - f(w - h)) / 2h, h = 1e-4, two forward passes
per weight) is slow but simple. Both for the chapter 5 TwoLayerNet
(784-50-10, ReLU, float64, seed 0) on the first 3 MNIST training images, or
on seeded random inputs when there is no data folder:

  W1, b1, W2, b2: the average of |numerical - backprop| over the parameter's
  elements (the book gets about 1e-10 to 1e-13)

It prints the differences and draws, per parameter, each element's numerical
gradient against its backprop one (gradient_check.png in the --out folder):
the points lie on the diagonal. Exits 1 when a difference exceeds 1e-6.
)";

}  // namespace

int main(int argc, char** argv) try {
  std::string data, dir, activation = "relu";
  int64_t images = 3, hidden = 50;
  if (const char* env = std::getenv("TAPEGRAD_MNIST_DIR")) data = env;
  demo::Cli cli("gradient_check", kAbout);
  cli.option("--data", data, "the folder with the MNIST files (absent: seeded random inputs)")
      ->type_name("DIR")
      ->default_str(data.empty() ? "$TAPEGRAD_MNIST_DIR" : data);
  cli.option("--images", images, "how many images (the batch)")->check(demo::between(1, 100));
  cli.option("--hidden", hidden, "the hidden layer's width")->check(demo::between(1, 1000));
  cli.choice("--activation", activation, {"relu", "sigmoid"}, "the hidden layer's activation");
  cli.out(dir);
  cli.parse(argc, argv);
  std::filesystem::create_directories(dir);

  ag::Tensor x, t;
  ag::Generator gen(0);
  if (!data.empty() && std::filesystem::is_directory(data)) {
    const nn::Dataset d = nn::load_mnist_split(data, "train", {.limit = images});
    x = ag::cast(d.x, ag::DType::float64);
    t = d.t;
    fmt::print("{} MNIST training images from {}\n", images, data);
  } else {
    x = ag::rand({images, 784}, gen, ag::DType::float64);
    t = ag::randint({images}, 0, 10, gen);
    fmt::print("no MNIST folder{}: {} seeded random inputs in [0, 1) with random labels\n",
               data.empty() ? "" : " at " + data, images);
  }
  nn::TwoLayerNet net(784, hidden, 10, gen, 0.01, ag::DType::float64, activation);
  fmt::print("TwoLayerNet 784-{}-10 ({}), float64, loss {:.6f}\n", hidden, activation, net.loss(x, t).item<double>());
  const nn::NamedTensors backprop = net.gradient(x, t);
  const nn::NamedTensors numerical = net.numerical_gradient(x, t);

  std::string script = fmt::format(
      "set terminal pngcairo size 1500,460 noenhanced font ',10'\nset output '{}/gradient_check.png'\n"
      "set multiplot layout 1,4 title 'Gradient check of TwoLayerNet 784-{}-10 ({}, float64, {} images): each "
      "element of each parameter, numerical gradient against backpropagation' font ',12'\n"
      "set grid\nset size ratio -1\nset xlabel 'backprop gradient'\nset ylabel 'numerical gradient'\n"
      "set format x '%g'\nset format y '%g'\nset key top left box opaque font ',9'\n",
      dir, hidden, activation, images);
  bool ok = true;
  for (size_t k = 0; k < backprop.size(); ++k) {
    const auto& [name, g] = backprop[k];
    const std::vector<double> a = g.to_vector<double>(), n = numerical[k].second.to_vector<double>();
    double diff = 0, lo = 0, hi = 0;
    std::string points;
    for (size_t i = 0; i < a.size(); ++i) {
      diff += std::abs(a[i] - n[i]) / static_cast<double>(a.size());
      lo = std::min({lo, a[i], n[i]}), hi = std::max({hi, a[i], n[i]});
      points += fmt::format("{:.10g} {:.10g}\n", a[i], n[i]);
    }
    ok = ok && diff < 1e-6;
    fmt::print("{:<3} {:>6} elements: average |numerical - backprop| = {:.3g}\n", name, a.size(), diff);
    ag::write_file(fmt::format("{}/{}.dat", dir, name), points);
    const double pad = 0.08 * std::max(hi - lo, 1e-12);
    // about 4 tics: 1, 2 or 5 times a power of 10
    const double raw = (hi - lo + 2 * pad) / 4, mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double tic = (raw / mag < 1.5 ? 1 : raw / mag < 3 ? 2 : raw / mag < 7 ? 5 : 10) * mag;
    script += fmt::format(
        "set title \"{0} ({1} elements)\\naverage |difference| {2:.2g}\"\nset xrange [{3:.6g}:{4:.6g}]\n"
        "set yrange [{3:.6g}:{4:.6g}]\nset xtics {6:.3g}\nset ytics {6:.3g}\n"
        "plot x with lines lc rgb '#bbbbbb' lw 3 title 'the diagonal', '{5}/{0}.dat' using 1:2 with points pt 7 "
        "ps {7} lc rgb '#1f77b4' title 'one element'\n",
        name, a.size(), diff, lo - pad, hi + pad, dir, tic, a.size() > 1000 ? 0.4 : 0.9);
  }
  script += "unset multiplot\n";
  fmt::print("wrote:\n");
  demo::plot(dir + "/gradient_check.gp", script, dir + "/gradient_check.png");
  if (!ok) fmt::print("a difference exceeds 1e-6: backpropagation and the numerical gradient disagree\n");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
