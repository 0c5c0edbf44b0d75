// Weight initialisation and the distribution of activations (kAbout, which
// --help prints).
#include <algorithm>
#include <filesystem>
#include <vector>

#include "cli.hpp"
#include "nn/init.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(init_compare: weight initialisation and the distribution of activations. A
5-layer net of 100 units per layer on 1000 random inputs, its activations per
layer as histograms, for small Gaussian (std 0.01), std 1, Xavier and He
initial weights, with sigmoid and with ReLU (as "Deep Learning from Scratch"
chapter 6 draws them). std 1 saturates sigmoid at 0 and 1 (vanishing
gradients), std 0.01 collapses everything towards one value, Xavier keeps
sigmoid layers spread, He keeps ReLU layers spread.

It prints the mode of each layer's histogram and draws the histograms
(init_compare.png) in the --out folder.
)";

constexpr int kLayers = 5, kUnits = 100, kBins = 30;

// Each layer's activations (ReLU's zeros left out, as the book draws them).
std::vector<std::vector<double>> activations(const std::string& act, const std::string& init, ag::Generator& gen,
                                             const ag::Tensor& x) {
  std::vector<std::vector<double>> out(kLayers);
  ag::NoGradGuard off;
  ag::Tensor a = x;
  for (int l = 0; l < kLayers; ++l) {
    ag::Tensor w = ag::zeros({kUnits, kUnits});
    if (init == "std 0.01") nn::init::normal_(w, gen, 0.01);
    else if (init == "std 1") nn::init::normal_(w, gen, 1.0);
    else if (init == "Xavier") nn::init::normal_(w, gen, std::sqrt(1.0 / kUnits));  // the book's 1/sqrt(n)
    else nn::init::he_normal_(w, gen);
    ag::Tensor z = ag::matmul(a, w);
    a = act == "sigmoid" ? ag::sigmoid(z) : ag::relu(z);
    for (double v : a.to_vector<float>())
      if (act == "sigmoid" || v > 0) out[static_cast<size_t>(l)].push_back(v);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string dir;
  demo::Cli cli("init_compare", kAbout);
  cli.out(dir);
  cli.parse(argc, argv);
  std::filesystem::create_directories(dir);
  ag::Generator gen(0);
  ag::Tensor x = ag::randn({1000, kUnits}, gen);
  const std::vector<std::pair<std::string, std::string>> configs = {
      {"sigmoid", "std 1"}, {"sigmoid", "std 0.01"}, {"sigmoid", "Xavier"},
      {"relu", "std 0.01"}, {"relu", "Xavier"},     {"relu", "He"}};
  std::string script = fmt::format(
      "set terminal pngcairo size 1500,1350 noenhanced font ',9'\nset output '{}/init_compare.png'\n"
      "set multiplot layout {},{} title 'Activations of each layer (5 layers of 100 units, 1000 inputs), by activation "
      "and initial weights: the share of the activations in each bin (ReLU: of the non-zero ones)' font ',12'\n"
      "set style fill solid 0.8\nset yrange [0:*]\nset boxwidth 0.9 relative\nset format y '%.2f'\n",
      dir, configs.size(), kLayers);
  for (size_t c = 0; c < configs.size(); ++c) {
    const auto& [act, init] = configs[c];
    const auto acts = activations(act, init, gen, x);
    // one x range for the row: sigmoid's [0, 1]; ReLU's from 0 to its largest activation
    double hi = 1.0;
    if (act == "relu") {
      hi = 0;
      for (const auto& layer : acts)
        for (double v : layer) hi = std::max(hi, v);
      hi = hi > 0 ? hi : 1.0;
    }
    std::vector<std::vector<double>> h(kLayers, std::vector<double>(kBins, 0.0));
    double ymax = 0;
    for (int l = 0; l < kLayers; ++l) {
      const auto& layer = acts[static_cast<size_t>(l)];
      for (double v : layer) h[static_cast<size_t>(l)][static_cast<size_t>(std::min(kBins - 1, static_cast<int>(v / hi * kBins)))] += 1;
      for (double& b : h[static_cast<size_t>(l)]) {
        b /= std::max<double>(1, static_cast<double>(layer.size()));
        ymax = std::max(ymax, b);
      }
    }
    std::string data;
    for (int b = 0; b < kBins; ++b) {
      data += fmt::format("{:.6g}", (b + 0.5) / kBins * hi);
      for (int l = 0; l < kLayers; ++l) data += fmt::format(" {:.6g}", h[static_cast<size_t>(l)][static_cast<size_t>(b)]);
      data += "\n";
    }
    const std::string file = fmt::format("{}/{}_{}.dat", dir, act, c);
    ag::write_file(file, data);
    fmt::print("{:<8} {:<9}", act, init);
    for (int l = 0; l < kLayers; ++l) {
      const auto& row = h[static_cast<size_t>(l)];
      const int peak = static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
      fmt::print("  layer {}: mode {:.2f}", l + 1, (peak + 0.5) / kBins * hi);
    }
    fmt::print("\n");
    // the same axes across the row, so layers compare at a glance
    script += fmt::format("set xrange [0:{0:.4g}]\nset xtics {1:.3g} format '%.3g'\nset yrange [0:{2:.4g}]\n"
                          "set xlabel '{3} output' offset 0,0.6\n", hi,
                          hi / 2, std::min(1.0, ymax * 1.1), act);
    for (int l = 0; l < kLayers; ++l)
      script += fmt::format("set title '{}, {}: layer {}'\nset ylabel '{}'\nplot '{}' using 1:{} with boxes lc rgb "
                            "'#4c72b0' notitle\n",
                            act, init, l + 1, l == 0 ? "share" : "", file, l + 2);
  }
  script += "unset multiplot\n";
  demo::plot(dir + "/init_compare.gp", script, dir + "/init_compare.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
