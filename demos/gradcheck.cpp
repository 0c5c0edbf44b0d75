// The per-node gradient check of the textbook's two-layer net (kAbout, which
// --help prints).
#include <chrono>
#include <filesystem>
#include <string>

#include <fmt/core.h>

#include "autograd/tapegrad.hpp"
#include "cli.hpp"
#include "device.hpp"

using namespace ag;

namespace {

constexpr const char* kAbout = R"(gradcheck: the gradient check of the textbook's two-layer net (784-50-10,
sigmoid, Softmax-with-Loss) on a mini-batch, node by node: every node on the
tape is checked in isolation against central differences, and printed as a
table (also written to node_check.txt in the --out folder). Exit status 0 when
every node passes, 1 otherwise, so a user's CI can run it on their own model.

--device builds the net on cuda or cuda_host: each node's rule runs there,
against the same float64 reference on the cpu. --compare cpu,cuda_host builds
it on each listed device from the same values and prints one table side by
side: per device the errors against the reference, and per node the largest
difference between the devices' analytic gradients.

--broken swaps the sigmoid for a user-defined node whose backward is wrong
(y(1 - y)^2 instead of y(1 - y)): the table names that node as FAIL (on every
device with --compare).
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

// The devices of --compare: names separated by commas.
std::vector<Device> parse_devices(const std::string& list) {
  std::vector<Device> devices;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    devices.push_back(demo::parse_device(list.substr(start, end - start), "gradcheck"));
    start = end + 1;
  }
  return devices;
}

}  // namespace

int main(int argc, char** argv) try {
  bool broken = false;
  int64_t batch = 100, hidden = 50;
  std::string dtype_arg = "float32", device_name = "cpu", compare, out;
  demo::Cli cli("gradcheck", kAbout);
  cli.flag("--broken", broken, "use a sigmoid node with a wrong backward rule (the check then fails)");
  cli.option("--batch", batch, "images in the mini-batch")->check(demo::at_least(1));
  cli.option("--hidden", hidden, "units in the hidden layer")->check(demo::at_least(1));
  cli.choice("--dtype", dtype_arg, {"float32", "float64"}, "the precision of the net and its check");
  CLI::Option* device_opt = demo::device_option(cli, device_name, "the net and each node's rule");
  cli.option("--compare", compare,
             "check the net on each of these devices side by side, e.g. cpu,cuda_host (default: only --device)")
      ->type_name("DEVICES");
  cli.out(out);
  cli.parse(argc, argv);
  if (!compare.empty() && device_opt->count() > 0)
    fail("gradcheck", "--device and --compare exclude each other: --compare lists every device to check");
  const DType dtype = dtype_arg == "float64" ? DType::float64 : DType::float32;
  const std::vector<Device> devices =
      compare.empty() ? std::vector<Device>{demo::parse_device(device_name, "gradcheck")} : parse_devices(compare);

  // The values, made once on the cpu; each device gets a copy.
  Generator gen(0);
  Tensor x = rand({batch, 784}, gen, dtype);  // a mini-batch of "images" in [0, 1)
  Tensor t = randint({batch}, 0, 10, gen);
  Tensor W1 = randn({784, hidden}, gen, dtype, 0.0, 0.01);
  Tensor b1 = zeros({hidden}, dtype);
  Tensor W2 = randn({hidden, 10}, gen, dtype, 0.0, 0.01);
  Tensor b2 = zeros({10}, dtype);
  auto parameter = [](const Tensor& p, Device d, const char* name) {
    return p.to(d).clone().requires_grad_().set_name(name);
  };

  auto loss = [&](Device d) {
    Tensor xd = x.to(d), td = t.to(d);
    Tensor w1 = parameter(W1, d, "W1"), c1 = parameter(b1, d, "b1");
    Tensor w2 = parameter(W2, d, "W2"), c2 = parameter(b2, d, "b2");
    Tensor a1;
    {
      NameScope layer("affine1");
      a1 = matmul(xd, w1) + c1;
    }
    Tensor z1 = broken ? apply(std::make_shared<BrokenSigmoid>(), {a1}) : sigmoid(a1);
    NameScope layer("affine2");
    Tensor a2 = matmul(z1, w2) + c2;
    return softmax_cross_entropy(a2, td);
  };

  std::string where = fmt::format("{}", devices[0]);
  for (size_t i = 1; i < devices.size(); ++i)
    where += (i + 1 == devices.size() ? " and " : ", ") + fmt::format("{}", devices[i]);
  const std::string title = fmt::format("per-node gradient check: two-layer net 784-{}-10, batch {}, {} on {}{}\n\n",
                                        hidden, batch, dtype, where, broken ? ", with a broken sigmoid" : "");
  fmt::print("{}", title);
  auto start = std::chrono::steady_clock::now();
  std::string table;
  bool ok = false;
  if (compare.empty()) {
    NodeCheckReport report = check_nodes([&] { return loss(devices[0]); });
    table = report.table();
    ok = report.ok;
  } else {
    NodeCompareReport report = check_nodes_compare(loss, devices);
    table = report.table();
    ok = report.ok;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{}", table);
  fmt::print("checked in {:.2f} s\n", seconds);
  std::filesystem::create_directories(out);
  ag::write_file(out + "/node_check.txt", title + table);
  fmt::print("wrote {}/node_check.txt\n", out);
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
