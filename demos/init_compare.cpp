// Weight initialisation and the distribution of activations (kAbout, which
// --help prints).
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

// Histogram counts of each layer's activations over [0, 1].
std::vector<std::vector<int>> histograms(const std::string& act, const std::string& init, ag::Generator& gen,
                                         const ag::Tensor& x) {
  std::vector<std::vector<int>> h(kLayers, std::vector<int>(kBins, 0));
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
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double v = a.value_at(i);
      if (act == "relu" && v <= 0) continue;  // the book leaves ReLU's zeros out of the picture
      const int b = std::min(kBins - 1, static_cast<int>(v * kBins));
      if (v >= 0 && v <= 1) ++h[static_cast<size_t>(l)][static_cast<size_t>(b)];
    }
  }
  return h;
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
  std::string script = fmt::format("set terminal pngcairo size 1200,1300 noenhanced\nset output '{}/init_compare.png'\n"
                                   "set multiplot layout {},{} title 'activations per layer (5 layers of 100 units)'\n"
                                   "set style fill solid 0.8\nset xrange [0:1]\nset yrange [0:*]\nset xtics 0.5\nset boxwidth {}\n",
                                   dir, configs.size(), kLayers, 1.0 / kBins * 0.9);
  for (size_t c = 0; c < configs.size(); ++c) {
    const auto& [act, init] = configs[c];
    auto h = histograms(act, init, gen, x);
    std::string data;
    for (int b = 0; b < kBins; ++b) {
      data += fmt::format("{:.4f}", (b + 0.5) / kBins);
      for (int l = 0; l < kLayers; ++l) data += fmt::format(" {}", h[static_cast<size_t>(l)][static_cast<size_t>(b)]);
      data += "\n";
    }
    const std::string file = fmt::format("{}/{}_{}.dat", dir, act, c);
    ag::write_file(file, data);
    fmt::print("{:<8} {:<9}", act, init);
    for (int l = 0; l < kLayers; ++l) {
      int peak = 0;
      for (int b = 0; b < kBins; ++b)
        if (h[static_cast<size_t>(l)][static_cast<size_t>(b)] > h[static_cast<size_t>(l)][static_cast<size_t>(peak)]) peak = b;
      fmt::print("  layer {}: mode {:.2f}", l + 1, (peak + 0.5) / kBins);
    }
    fmt::print("\n");
    for (int l = 0; l < kLayers; ++l)
      script += fmt::format("set title '{} / {} / layer {}'\nplot '{}' using 1:{} with boxes lc rgb '#4c72b0' notitle\n", act,
                            init, l + 1, file, l + 2);
  }
  script += "unset multiplot\n";
  demo::plot(dir + "/init_compare.gp", script, dir + "/init_compare.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
