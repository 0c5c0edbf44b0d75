// The single-layer perceptron learns AND, OR and NAND but not XOR, whose two
// classes no line separates; a two-layer net learns XOR. Exit status 0 when
// all of that holds, so the test suite can run it.
//
//   xor [--device cpu|cuda|cuda_host]
//
// --device trains on GPU 0 (cuda) or on the host emulation of the CUDA backend (cuda_host).
#include <string>

#include "device.hpp"
#include "nn/nn.hpp"
#include "plot.hpp"

namespace {

// Training accuracy of a perceptron (Linear + sigmoid, binary cross entropy) on one truth table.
double perceptron_accuracy(const ag::Tensor& x, const std::vector<double>& truth, uint64_t seed) {
  ag::Generator gen(seed);
  nn::Perceptron p(2, gen);
  p.to(x.device());
  ag::Tensor t = ag::tensor({truth[0], truth[1], truth[2], truth[3]}, {4, 1}).to(x.device());
  nn::SGD opt(p.parameters(), 1.0);
  for (int i = 0; i < 2000; ++i) {
    opt.zero_grad();
    ag::bce(p(x), t).backward();
    opt.step();
  }
  ag::NoGradGuard off;
  const ag::Tensor y = p(x).to(ag::Device::cpu());
  int hits = 0;
  for (int i = 0; i < 4; ++i) hits += (y.value_at(i) > 0.5) == (truth[static_cast<size_t>(i)] > 0.5);
  return hits / 4.0;
}

// The device --device names (cpu when absent).
ag::Device parse(int argc, char** argv) {
  ag::Device device = ag::Device::cpu();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a != "--device") ag::fail("xor", "unknown option '{}' (options: --device cpu|cuda|cuda_host)", a);
    if (i + 1 >= argc) ag::fail("xor", "option --device needs a value");
    device = demo::parse_device(argv[++i], "xor");
  }
  return device;
}

}  // namespace

int main(int argc, char** argv) try {
  const ag::Device device = parse(argc, argv);
  const ag::Tensor x = ag::tensor({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2}).to(device);
  bool ok = true;
  for (const auto& [name, truth] : std::vector<std::pair<std::string, std::vector<double>>>{
           {"AND", {0, 0, 0, 1}}, {"OR", {0, 1, 1, 1}}, {"NAND", {1, 1, 1, 0}}, {"XOR", {0, 1, 1, 0}}}) {
    double acc = 0;
    for (uint64_t seed = 0; seed < 5; ++seed) acc = std::max(acc, perceptron_accuracy(x, truth, seed));
    fmt::print("perceptron on {:<4}: best accuracy over 5 seeds {:.0f}%\n", name, 100 * acc);
    ok = ok && (name == "XOR" ? acc < 1.0 : acc == 1.0);
  }
  ag::Generator gen(0);
  nn::MLP net({2, 4, 1}, gen, "tanh", nn::Init::xavier);
  net.to(device);
  const ag::Tensor t = ag::tensor({0, 1, 1, 0}, {4, 1});
  const ag::Tensor t_dev = t.to(device);
  nn::Adam opt(net.parameters(), 0.05);
  for (int i = 0; i < 500; ++i) {
    opt.zero_grad();
    ag::bce_with_logits(net(x), t_dev).backward();
    opt.step();
  }
  ag::NoGradGuard off;
  const ag::Tensor y = ag::sigmoid(net(x)).to(ag::Device::cpu());
  int hits = 0;
  for (int i = 0; i < 4; ++i) hits += (y.value_at(i) > 0.5) == (t.value_at(i) > 0.5);
  fmt::print("two-layer net (2-4-1, tanh) on XOR, on {}: accuracy {:.0f}%, outputs {:.3f} {:.3f} {:.3f} {:.3f}\n",
             device, 25.0 * hits, y.value_at(0), y.value_at(1), y.value_at(2), y.value_at(3));
  ok = ok && hits == 4;
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
