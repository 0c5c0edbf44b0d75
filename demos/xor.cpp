// The single-layer perceptron learns AND, OR and NAND but not XOR, whose two
// classes no line separates; a two-layer net learns XOR. Exit status 0 when
// all of that holds, so the test suite can run it.
//
//   xor
#include "nn/nn.hpp"
#include "plot.hpp"

namespace {

// Training accuracy of a perceptron (Linear + sigmoid, binary cross entropy) on one truth table.
double perceptron_accuracy(const ag::Tensor& x, const std::vector<double>& truth, uint64_t seed) {
  ag::Generator gen(seed);
  nn::Perceptron p(2, gen);
  ag::Tensor t = ag::tensor({truth[0], truth[1], truth[2], truth[3]}, {4, 1});
  nn::SGD opt(p.parameters(), 1.0);
  for (int i = 0; i < 2000; ++i) {
    opt.zero_grad();
    ag::bce(p(x), t).backward();
    opt.step();
  }
  ag::NoGradGuard off;
  ag::Tensor y = p(x);
  int hits = 0;
  for (int i = 0; i < 4; ++i) hits += (y.value_at(i) > 0.5) == (truth[static_cast<size_t>(i)] > 0.5);
  return hits / 4.0;
}

}  // namespace

int main() try {
  ag::Tensor x = ag::tensor({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
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
  ag::Tensor t = ag::tensor({0, 1, 1, 0}, {4, 1});
  nn::Adam opt(net.parameters(), 0.05);
  for (int i = 0; i < 500; ++i) {
    opt.zero_grad();
    ag::bce_with_logits(net(x), t).backward();
    opt.step();
  }
  ag::NoGradGuard off;
  ag::Tensor y = ag::sigmoid(net(x));
  int hits = 0;
  for (int i = 0; i < 4; ++i) hits += (y.value_at(i) > 0.5) == (t.value_at(i) > 0.5);
  fmt::print("two-layer net (2-4-1, tanh) on XOR: accuracy {:.0f}%, outputs {:.3f} {:.3f} {:.3f} {:.3f}\n",
             25.0 * hits, y.value_at(0), y.value_at(1), y.value_at(2), y.value_at(3));
  ok = ok && hits == 4;
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
