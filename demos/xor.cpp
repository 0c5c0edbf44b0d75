// The perceptron and XOR (kAbout, which --help prints).
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "cli.hpp"
#include "device.hpp"
#include "nn/nn.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(xor: the single-layer perceptron learns AND, OR and NAND but not XOR, whose two
classes no line separates; a two-layer net learns XOR ("Deep Learning from
Scratch" chapter 2). Exit status 0 when all of that holds, so the test suite
can run it.

It prints the perceptron's best accuracy on each truth table and the two-layer
net's outputs on XOR, and draws both decision boundaries over the plane with
the 4 points (xor.png) in the --out folder. --device trains on GPU 0 (cuda) or
on the host emulation of the CUDA backend (cuda_host).
)";

// A perceptron (Linear + sigmoid, binary cross entropy) trained on one truth table.
std::shared_ptr<nn::Perceptron> train_perceptron(const ag::Tensor& x, const std::vector<double>& truth, uint64_t seed) {
  ag::Generator gen(seed);
  auto p = std::make_shared<nn::Perceptron>(2, gen);
  p->to(x.device());
  ag::Tensor t = ag::tensor({truth[0], truth[1], truth[2], truth[3]}, {4, 1}).to(x.device());
  nn::SGD opt(p->parameters(), 1.0);
  for (int i = 0; i < 2000; ++i) {
    opt.zero_grad();
    ag::bce((*p)(x), t).backward();
    opt.step();
  }
  return p;
}

// The share of the 4 points whose probability is on the side of their truth.
double accuracy(const ag::Tensor& prob, const std::vector<double>& truth) {
  const ag::Tensor y = prob.to(ag::Device::cpu());
  int hits = 0;
  for (int i = 0; i < 4; ++i) hits += (y.value_at(i) > 0.5) == (truth[static_cast<size_t>(i)] > 0.5);
  return hits / 4.0;
}

// "x y p" lines over [-0.5, 1.5]^2, p the probability of class 1 (gnuplot's image format).
std::string grid(const std::function<ag::Tensor(const ag::Tensor&)>& prob, ag::Device device) {
  const int n = 161;
  std::vector<float> xy;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      xy.push_back(-0.5f + 2.0f * static_cast<float>(j) / (n - 1));
      xy.push_back(-0.5f + 2.0f * static_cast<float>(i) / (n - 1));
    }
  ag::NoGradGuard off;
  const ag::Tensor p = prob(ag::from_vector(xy, {n * n, 2}).to(device)).to(ag::Device::cpu());
  std::string out;
  for (int k = 0; k < n * n; ++k) out += fmt::format("{} {} {:.4f}\n", xy[2 * k], xy[2 * k + 1], p.value_at(k));
  return out;
}

// Both decision boundaries side by side, with the 4 points.
void draw(const std::string& dir, const std::string& perceptron_grid, double perceptron_accuracy,
          const std::string& net_grid) {
  ag::write_file(dir + "/perceptron_grid.dat", perceptron_grid);
  ag::write_file(dir + "/net_grid.dat", net_grid);
  ag::write_file(dir + "/points.dat", "0 0 0\n0 1 1\n1 0 1\n1 1 0\n");
  std::string script = fmt::format(
      "set terminal pngcairo size 1150,560 noenhanced\nset output '{0}/xor.png'\n"
      "set multiplot layout 1,2 title 'XOR: the probability of 1 that each model gives over the plane, and the 4 "
      "points of the truth table'\n"
      "set size ratio -1\nset xrange [-0.5:1.5]\nset yrange [-0.5:1.5]\nset xlabel 'x1'\nset ylabel 'x2'\n"
      "set palette defined (0 '#f4a582', 0.5 '#ffffff', 1 '#92c5de')\nset cbrange [0:1]\n"
      "set cblabel 'probability of 1'\nset cbtics 0.5\n"
      "set key below horizontal\n",
      dir);
  const std::string perceptron_title =
      fmt::format("perceptron: {:.0f}% at best, no line separates XOR", 100 * perceptron_accuracy);
  for (const auto& [file, title] : {std::pair<std::string, std::string>{"perceptron_grid", perceptron_title},
                                    {"net_grid", "two-layer net (2-4-1, tanh): all 4 right"}})
    script += fmt::format(
        "set title '{1}'\n"
        "plot '{0}/{2}.dat' using 1:2:3 with image notitle, \\\n"
        "     '{0}/points.dat' using 1:($3 == 0 ? $2 : 1/0) with points pt 7 ps 2.5 lc rgb '#d62728' title 'XOR 0', \\\n"
        "     '' using 1:($3 == 1 ? $2 : 1/0) with points pt 5 ps 2.5 lc rgb '#1f77b4' title 'XOR 1'\n",
        dir, title, file);
  script += "unset multiplot\n";
  demo::plot(dir + "/xor.gp", script, dir + "/xor.png");
}

}  // namespace

int main(int argc, char** argv) try {
  std::string dir, device_name = "cpu";
  demo::Cli cli("xor", kAbout);
  cli.out(dir);
  demo::device_option(cli, device_name, "the training");
  cli.parse(argc, argv);
  const ag::Device device = demo::parse_device(device_name, "xor");

  const ag::Tensor x = ag::tensor({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2}).to(device);
  bool ok = true;
  std::shared_ptr<nn::Perceptron> xor_perceptron;
  double xor_accuracy = 0;
  for (const auto& [name, truth] : std::vector<std::pair<std::string, std::vector<double>>>{
           {"AND", {0, 0, 0, 1}}, {"OR", {0, 1, 1, 1}}, {"NAND", {1, 1, 1, 0}}, {"XOR", {0, 1, 1, 0}}}) {
    double best = -1;
    for (uint64_t seed = 0; seed < 5; ++seed) {
      auto p = train_perceptron(x, truth, seed);
      ag::NoGradGuard off;
      const double acc = accuracy((*p)(x), truth);
      if (acc > best) {
        best = acc;
        if (name == "XOR") {
          xor_perceptron = p;
          xor_accuracy = acc;
        }
      }
    }
    fmt::print("perceptron on {:<4}: best accuracy over 5 seeds {:.0f}%\n", name, 100 * best);
    ok = ok && (name == "XOR" ? best < 1.0 : best == 1.0);
  }
  ag::Generator gen(0);
  nn::MLP net({2, 4, 1}, gen, "tanh", nn::Init::xavier);
  net.to(device);
  const std::vector<double> truth = {0, 1, 1, 0};
  const ag::Tensor t = ag::tensor({0, 1, 1, 0}, {4, 1}).to(device);
  nn::Adam opt(net.parameters(), 0.05);
  for (int i = 0; i < 500; ++i) {
    opt.zero_grad();
    ag::bce_with_logits(net(x), t).backward();
    opt.step();
  }
  const auto net_prob = [&](const ag::Tensor& in) { return ag::sigmoid(net(in)); };
  ag::Tensor y;
  {
    ag::NoGradGuard off;
    y = net_prob(x).to(ag::Device::cpu());
  }
  const double net_acc = accuracy(y, truth);
  fmt::print("two-layer net (2-4-1, tanh) on XOR, on {}: accuracy {:.0f}%, outputs {:.3f} {:.3f} {:.3f} {:.3f}\n",
             device, 100 * net_acc, y.value_at(0), y.value_at(1), y.value_at(2), y.value_at(3));
  ok = ok && net_acc == 1.0;

  std::filesystem::create_directories(dir);
  fmt::print("wrote:\n");
  draw(dir, grid([&](const ag::Tensor& in) { return (*xor_perceptron)(in); }, device), xor_accuracy,
       grid(net_prob, device));
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
