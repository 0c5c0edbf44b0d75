// The per-node gradient check of the textbook's two-layer net (kAbout, which
// --help prints).
#include <chrono>
#include <filesystem>
#include <string>

#include <fmt/core.h>

#include "autograd/tapegrad.hpp"
#include "cli.hpp"

using namespace ag;

namespace {

constexpr const char* kAbout = R"(gradcheck: the gradient check of the textbook's two-layer net (784-50-10,
sigmoid, Softmax-with-Loss) on a mini-batch, node by node: every node on the
tape is checked in isolation against central differences, and printed as a
table (also written to node_check.txt in the --out folder). Exit status 0 when
every node passes, 1 otherwise, so a user's CI can run it on their own model.

--broken swaps the sigmoid for a user-defined node whose backward is wrong
(y(1 - y)^2 instead of y(1 - y)): the table names that node as FAIL.
)";

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
  std::string dtype_arg = "float32", out;
  demo::Cli cli("gradcheck", kAbout);
  cli.flag("--broken", broken, "use a sigmoid node with a wrong backward rule (the check then fails)");
  cli.option("--batch", batch, "images in the mini-batch")->check(demo::at_least(1));
  cli.option("--hidden", hidden, "units in the hidden layer")->check(demo::at_least(1));
  cli.choice("--dtype", dtype_arg, {"float32", "float64"}, "the precision of the net and its check");
  cli.out(out);
  cli.parse(argc, argv);
  const DType dtype = dtype_arg == "float64" ? DType::float64 : DType::float32;

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

  const std::string title = fmt::format("per-node gradient check: two-layer net 784-{}-10, batch {}, {}{}\n\n", hidden,
                                        batch, dtype, broken ? ", with a broken sigmoid" : "");
  fmt::print("{}", title);
  auto start = std::chrono::steady_clock::now();
  NodeCheckReport report = check_nodes(loss);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{}", report.table());
  fmt::print("checked in {:.2f} s\n", seconds);
  std::filesystem::create_directories(out);
  ag::write_file(out + "/node_check.txt", title + report.table());
  fmt::print("wrote {}/node_check.txt\n", out);
  return report.ok ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
