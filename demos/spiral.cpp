// The spiral demo: a two-layer net (2 -> 10 sigmoid -> 3) learns to tell the
// three arms of a spiral apart, trained with softmax cross entropy and plain
// SGD in mini-batches. Every line of the model is ordinary C++; each op records
// a node on the tape, and backward() walks the tape in reverse.
//
//   spiral [--epochs N] [--lr X] [--batch N] [--seed N] [--check]
//
// --check exits with status 1 unless the final training accuracy is >= 95%.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "autograd/tapegrad.hpp"
#include "nn/datasets.hpp"

using ag::Tensor;

namespace {

struct Options {
  int epochs = 1000;
  double lr = 1.0;
  int64_t batch = 30;
  uint64_t seed = 0;
  bool check = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) ag::fail("spiral", "option {} needs a value", a);
      return argv[++i];
    };
    if (a == "--epochs") o.epochs = std::stoi(value());
    else if (a == "--lr") o.lr = std::stod(value());
    else if (a == "--batch") o.batch = std::stoll(value());
    else if (a == "--seed") o.seed = std::stoull(value());
    else if (a == "--check") o.check = true;
    else ag::fail("spiral", "unknown option '{}' (options: --epochs N --lr X --batch N --seed N --check)", a);
  }
  return o;
}

// Accuracy of argmax(logits) against the labels.
double accuracy(const Tensor& logits, const Tensor& labels) {
  Tensor pred = ag::argmax(logits, 1);
  int64_t hits = 0;
  for (int64_t i = 0; i < labels.numel(); ++i) hits += pred.data<int64_t>()[i] == labels.data<int64_t>()[i];
  return static_cast<double>(hits) / static_cast<double>(labels.numel());
}

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  nn::Dataset data = nn::spiral(100, 3, opt.seed);
  const int64_t n = data.x.shape()[0];

  // Parameters: W ~ N(0, 1/fan_in) (Xavier), b = 0.
  ag::Generator gen(opt.seed);
  Tensor W1 = ag::randn({2, 10}, gen, ag::DType::float32, 0.0, std::sqrt(1.0 / 2)).requires_grad_().set_name("W1");
  Tensor b1 = ag::zeros({10}).requires_grad_().set_name("b1");
  Tensor W2 = ag::randn({10, 3}, gen, ag::DType::float32, 0.0, std::sqrt(1.0 / 10)).requires_grad_().set_name("W2");
  Tensor b2 = ag::zeros({3}).requires_grad_().set_name("b2");
  std::vector<Tensor> params = {W1, b1, W2, b2};

  auto predict = [&](const Tensor& x) {
    Tensor h = ag::sigmoid(ag::matmul(x, W1) + b1);
    return ag::matmul(h, W2) + b2;
  };

  fmt::print("spiral: {} points, 3 classes; 2-10-3 net, sigmoid, softmax cross entropy, SGD lr {} batch {}\n", n,
             opt.lr, opt.batch);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  for (int epoch = 1; epoch <= opt.epochs; ++epoch) {
    // A seeded shuffle, then mini-batches.
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[static_cast<size_t>(gen.randint(0, static_cast<int64_t>(i)))]);
    double total = 0;
    for (int64_t start = 0; start < n; start += opt.batch) {
      const int64_t len = std::min(opt.batch, n - start);
      Tensor idx = ag::from_vector(std::vector<int64_t>(order.begin() + start, order.begin() + start + len), {len});
      Tensor x = ag::index_select(data.x, idx);
      Tensor t = ag::index_select(data.t, idx);

      Tensor loss = ag::softmax_cross_entropy(predict(x), t);  // forward: records the tape
      for (Tensor& p : params) p.zero_grad();
      loss.backward();  // backward: walks it in reverse
      {
        ag::NoGradGuard no_grad;
        for (Tensor& p : params) p.add_(p.grad(), -opt.lr);  // SGD step
      }
      total += loss.item<float>() * static_cast<double>(len);
    }
    if (epoch % 10 == 0 || epoch == 1) fmt::print("epoch {:4d}  loss {:.4f}\n", epoch, total / static_cast<double>(n));
  }

  ag::NoGradGuard no_grad;
  const double acc = accuracy(predict(data.x), data.t);
  fmt::print("training accuracy: {:.1f}%\n", 100.0 * acc);
  if (opt.check && acc < 0.95) {
    fmt::print(stderr, "spiral: accuracy {:.1f}% is below 95%\n", 100.0 * acc);
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
