// Batch normalisation, as the textbook shows it (chapter 6.3): the same deep
// MLP trained with and without batch norm at 16 initial weight scales (the
// book's Figure 6-19), and the activations of each layer with and without it.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli.hpp"
#include "nn/mnist.hpp"
#include "nn/nn.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(batchnorm: what batch normalisation does to learning ("Deep Learning from Scratch" 6.3).

The book's experiment: 1,000 MNIST training images, a net of five hidden
layers of 100 ReLU units (784-100-100-100-100-100-10), weights drawn from
N(0, s^2) for 16 scales s from 1 down to 0.0001, SGD lr 0.01, batch 100,
20 epochs. Each scale trains twice from the same weights, with a batch norm
layer after every hidden affine layer and without. It prints the train
accuracy per scale and writes into --out:
  batchnorm.png    train accuracy per epoch, one panel per scale (Figure 6-19)
  activations.png  histograms of each hidden layer's output at initialisation,
                   with and without batch norm (weights s = 0.01)
)";

struct Options {
  std::string data, out;
  int epochs = 20;
  int64_t train_size = 1000;
};

Options parse(int argc, char** argv) {
  Options o;
  demo::Cli cli("batchnorm", kAbout);
  cli.data(o.data, "the folder with the four MNIST files");
  cli.option("--epochs", o.epochs, "passes over the training images")->check(demo::at_least(1));
  cli.option("--train-size", o.train_size, "training images (the book: 1,000)")->check(demo::at_least(100));
  cli.out(o.out);
  cli.parse(argc, argv);
  return o;
}

constexpr int kHidden = 5;

// 784-100x5-10 with weights N(0, scale^2) and zero biases; with batch norm
// after each hidden affine layer when `bn`. The same generator seed gives both
// variants the same weights.
std::shared_ptr<nn::Sequential> make_net(double scale, bool bn, uint64_t seed) {
  ag::Generator gen(seed);
  auto net = std::make_shared<nn::Sequential>();
  int64_t in = 784;
  for (int i = 0; i <= kHidden; ++i) {
    const int64_t out = i < kHidden ? 100 : 10;
    auto fc = std::make_shared<nn::Linear>(in, out, gen);
    nn::init::normal_(fc->weight, gen, scale);
    nn::init::zeros_(fc->bias);
    net->add(fc);
    if (i < kHidden) {
      if (bn) net->add(std::make_shared<nn::BatchNorm1d>(100));
      net->add(nn::ReLU());
    }
    in = out;
  }
  return net;
}

// Train accuracy (in evaluation mode) after each epoch.
std::vector<double> train(nn::Sequential& net, const nn::Dataset& data, int epochs) {
  nn::SGD opt(net.parameters(), 0.01);
  nn::DataLoader loader(data, {.batch_size = 100, .seed = 1});
  std::vector<double> acc;
  for (int e = 0; e < epochs; ++e) {
    net.train();
    for (const nn::Batch& b : loader) {
      opt.zero_grad();
      ag::Tensor loss = ag::softmax_cross_entropy(net(b.x), b.t);
      loss.backward();
      opt.step();
    }
    net.eval();
    ag::NoGradGuard no_grad;
    acc.push_back(nn::accuracy(net(data.x), data.t));
  }
  return acc;
}

// The outputs of each hidden layer's ReLU for `x`, in training mode (batch statistics).
std::vector<std::vector<double>> activations(nn::Sequential& net, const ag::Tensor& x) {
  ag::NoGradGuard no_grad;
  net.train();
  std::vector<std::vector<double>> out;
  ag::Tensor h = x;
  for (size_t i = 0; i < net.size(); ++i) {
    h = net[i](h);
    if (net[i].type() == "ReLU") out.push_back(ag::cast(h, ag::DType::float64).to_vector<double>());
  }
  return out;
}

// A histogram of `v` over [0, hi) in `bins` bins, as fractions of the values.
std::vector<double> histogram(const std::vector<double>& v, double hi, int bins) {
  std::vector<double> h(static_cast<size_t>(bins), 0.0);
  for (double x : v) h[static_cast<size_t>(std::clamp(static_cast<int>(x / hi * bins), 0, bins - 1))] += 1.0;
  for (double& c : h) c /= static_cast<double>(v.size());
  return h;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  nn::Dataset data = nn::load_mnist_split(opt.data, "train", {.limit = opt.train_size});
  fmt::print("{} MNIST training images; 784-100x5-10, SGD lr 0.01, batch 100, {} epochs\n", data.size(), opt.epochs);
  std::filesystem::create_directories(opt.out);

  // Figure 6-19: 16 weight scales from 1 to 1e-4, with and without batch norm
  constexpr int kScales = 16;
  std::string curves, plot;
  int ahead = 0;
  fmt::print("{:>10}  {:>16}  {:>16}\n", "scale", "with batch norm", "without");
  for (int k = 0; k < kScales; ++k) {
    const double scale = std::pow(10.0, -4.0 * k / (kScales - 1));
    auto with = make_net(scale, true, 100 + k), without = make_net(scale, false, 100 + k);
    const std::vector<double> a = train(*with, data, opt.epochs), b = train(*without, data, opt.epochs);
    double area_a = 0, area_b = 0;  // the mean accuracy over the epochs: which learns faster
    for (int e = 0; e < opt.epochs; ++e) {
      area_a += a[static_cast<size_t>(e)];
      area_b += b[static_cast<size_t>(e)];
      curves += fmt::format("{} {} {}\n", e + 1, a[static_cast<size_t>(e)], b[static_cast<size_t>(e)]);
    }
    curves += "\n\n";
    if (area_a > area_b) ++ahead;
    fmt::print("{:>10.5f}  {:>15.1f}%  {:>15.1f}%\n", scale, 100 * a.back(), 100 * b.back());
    plot += fmt::format("set title 'weights N(0, {:.2g}²)'\nplot '{}/batchnorm.dat' index {} using 1:2 with lines lw 2 lc "
                        "rgb '#1f77b4' title 'batch norm', '' index {} using 1:3 with lines lw 2 dt 2 lc rgb '#d62728' "
                        "title 'without'\n",
                        scale, opt.out, k, k);
  }
  fmt::print("batch norm learns faster (higher mean train accuracy over the epochs) at {} of {} weight scales\n",
             ahead, kScales);
  ag::write_file(opt.out + "/batchnorm.dat", curves);
  fmt::print("wrote:\n  {}/batchnorm.dat\n", opt.out);
  demo::plot(opt.out + "/batchnorm.gp",
             fmt::format("set terminal pngcairo size 1400,1100 font ',9'\nset output '{}/batchnorm.png'\n"
                         "set multiplot layout 4,4 title 'train accuracy per epoch, with batch norm (solid) and "
                         "without (dashed), by initial weight scale' font ',12'\n"
                         "set yrange [0:1]\nset xrange [1:{}]\nset xlabel 'epoch'\nset ylabel 'accuracy'\n"
                         "unset key\n{}unset multiplot\n",
                         opt.out, opt.epochs, plot),
             opt.out + "/batchnorm.png");

  // Activations at initialisation (weights 0.01): without batch norm they shrink
  // towards 0 layer by layer; with it every layer keeps a spread.
  const ag::Tensor& x = data.x;
  constexpr int kBins = 30;
  std::string hist;
  for (bool bn : {false, true}) {
    auto net = make_net(0.01, bn, 7);
    const auto acts = activations(*net, x);
    double hi = 0;
    for (const auto& layer : acts) hi = std::max(hi, *std::max_element(layer.begin(), layer.end()));
    if (!bn) hi = std::max(hi, 1e-12);
    for (const auto& layer : acts) {
      const std::vector<double> h = histogram(layer, bn ? 3.0 : hi, kBins);
      for (int i = 0; i < kBins; ++i)
        hist += fmt::format("{} {}\n", (i + 0.5) * (bn ? 3.0 : hi) / kBins, h[static_cast<size_t>(i)]);
      hist += "\n\n";
    }
  }
  ag::write_file(opt.out + "/activations.dat", hist);
  std::string panels;
  for (int bn = 0; bn < 2; ++bn) {
    panels += bn ? "set xtics 1\n" : "set xtics autofreq\nset xtics rotate by -45\n";
    for (int l = 0; l < kHidden; ++l)
      panels += fmt::format("set title '{}layer {}'\nplot '{}/activations.dat' index {} using 1:2 with boxes fs solid "
                            "0.6 lc rgb '{}' notitle\n",
                            bn ? "batch norm, " : "no batch norm, ", l + 1, opt.out, bn * kHidden + l,
                            bn ? "#1f77b4" : "#d62728");
    if (!bn) panels += "set xtics norotate\n";
  }
  fmt::print("  {}/activations.dat\n", opt.out);
  demo::plot(opt.out + "/activations.gp",
             fmt::format("set terminal pngcairo size 1500,600 font ',9'\nset output '{}/activations.png'\n"
                         "set multiplot layout 2,5 title 'each hidden layer''s ReLU output at initialisation "
                         "(weights N(0, 0.01²)), without and with batch norm; the spike at 0 is ReLU''s zeros' font ',12'\n"
                         "set xlabel 'activation'\nset ylabel 'fraction'\nset boxwidth 0.9 relative\n{}unset multiplot\n",
                         opt.out, panels),
             opt.out + "/activations.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
