// The per-node gradient check of the textbook's two-layer net (784-50-10,
// sigmoid, Softmax-with-Loss) on a mini-batch: every node on the tape is
// checked in isolation and printed as a table. Exit status 0 when every node
// passes, 1 otherwise, so a user's CI can run it on their own model.
//
//   gradcheck [--broken] [--batch N] [--hidden N] [--dtype float32|float64]
//
// --broken swaps the sigmoid for a user-defined node whose backward is wrong
// (y(1 - y)^2 instead of y(1 - y)): the table names that node as FAIL.
#include <chrono>
#include <string>

#include <fmt/core.h>

#include "autograd/tapegrad.hpp"

using namespace ag;

namespace {

// A user-defined sigmoid with a deliberately wrong backward rule.
struct BrokenSigmoid : Function {
  std::string_view name() const override { return "broken_sigmoid"; }
  Tensor forward(FunctionCtx& ctx, std::span<const Tensor> x) override {
    Tensor y = sigmoid(x[0]);
    ctx.save(y);
    return y;
  }
  // the slip: y (1 - y)^2 where y (1 - y) is right
  void backward(FunctionCtx& ctx, const Tensor& gy, Grads& gx) override {
    Tensor y = ctx.saved(0);
    gx[0] = gy * y * (1.0 - y) * (1.0 - y);
  }
};

}  // namespace

int main(int argc, char** argv) try {
  bool broken = false;
  int64_t batch = 100, hidden = 50;
  DType dtype = DType::float32;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail("gradcheck", "option {} needs a value", a);
      return argv[++i];
    };
    if (a == "--broken") broken = true;
    else if (a == "--batch") batch = std::stoll(value());
    else if (a == "--hidden") hidden = std::stoll(value());
    else if (a == "--dtype") {
      std::string d = value();
      if (d != "float32" && d != "float64") fail("gradcheck", "--dtype takes float32 or float64, got '{}'", d);
      dtype = d == "float32" ? DType::float32 : DType::float64;
    } else fail("gradcheck", "unknown option '{}' (options: --broken --batch N --hidden N --dtype T)", a);
  }

  Generator gen(0);
  Tensor x = rand({batch, 784}, gen, dtype);  // a mini-batch of "images" in [0, 1)
  Tensor t = randint({batch}, 0, 10, gen);
  Tensor W1 = randn({784, hidden}, gen, dtype, 0.0, 0.01).requires_grad_().set_name("W1");
  Tensor b1 = zeros({hidden}, dtype).requires_grad_().set_name("b1");
  Tensor W2 = randn({hidden, 10}, gen, dtype, 0.0, 0.01).requires_grad_().set_name("W2");
  Tensor b2 = zeros({10}, dtype).requires_grad_().set_name("b2");

  auto loss = [&] {
    Tensor a1;
    {
      NameScope layer("affine1");
      a1 = matmul(x, W1) + b1;
    }
    Tensor z1 = broken ? apply(std::make_shared<BrokenSigmoid>(), {a1}) : sigmoid(a1);
    NameScope layer("affine2");
    Tensor a2 = matmul(z1, W2) + b2;
    return softmax_cross_entropy(a2, t);
  };

  fmt::print("per-node gradient check: two-layer net 784-{}-10, batch {}, {}{}\n\n", hidden, batch, dtype,
             broken ? ", with a broken sigmoid" : "");
  auto start = std::chrono::steady_clock::now();
  NodeCheckReport report = check_nodes(loss);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{}", report.table());
  fmt::print("checked in {:.2f} s\n", seconds);
  return report.ok ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
