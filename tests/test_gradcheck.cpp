// The gradient-check suite, generated from the op index (ops.def): every
// differentiable op's backward rule is compared with central differences in
// float64, in every dtype, to first and second order, on inputs drawn from its
// declared domain. Then the checker itself: reports, fast mode, per-node checks.
#include "autograd/backend.hpp"
#include "autograd/check_doctest.hpp"
#include "helpers.hpp"

using namespace ag;

namespace {

// A node whose backward is deliberately wrong by 10%.
struct BrokenSquare : Function {
  std::string_view name() const override { return "broken_square"; }
  Tensor forward(FunctionCtx& ctx, std::span<const Tensor> x) override {
    ctx.save(x[0]);
    return x[0] * x[0];
  }
  void backward(FunctionCtx& ctx, const Tensor& gy, Grads& gx) override { gx[0] = gy * ctx.saved(0) * 2.2; }
};

// A backward that differs between runs (as unsynchronised GPU atomics may).
struct Jittery : Function {
  int calls = 0;
  std::string_view name() const override { return "jittery"; }
  Tensor forward(FunctionCtx&, std::span<const Tensor> x) override { return x[0] * 1.0; }
  void backward(FunctionCtx&, const Tensor& gy, Grads& gx) override { gx[0] = gy * (1.0 + 1e-9 * ++calls); }
};

Tensor two_layer_loss(const std::vector<Tensor>& p, const Tensor& x, const Tensor& t) {
  Tensor h = sigmoid(matmul(x, p[0]) + p[1]);
  return softmax_cross_entropy(matmul(h, p[2]) + p[3], t);
}

// The two-layer net's values, made once on the cpu; loss(d) builds the net on
// d from copies of them (a `broken` square where the sigmoid was, optionally).
struct TwoLayerNet {
  Tensor x, t;
  std::vector<Tensor> p;
  std::shared_ptr<Function> hidden;  // the hidden layer's activation: sigmoid when null
  explicit TwoLayerNet(uint64_t seed) {
    Generator gen(seed);
    x = randn({8, 5}, gen);
    t = randint({8}, 0, 3, gen);
    p = {randn({5, 6}, gen), zeros({6}), randn({6, 3}, gen), zeros({3})};
  }
  Tensor loss(Device d) const {
    std::vector<Tensor> q;
    for (const Tensor& w : p) q.push_back(w.to(d).clone().requires_grad_());
    Tensor a = matmul(x.to(d), q[0]) + q[1];
    Tensor h = hidden ? apply(hidden, {a}) : sigmoid(a);
    return softmax_cross_entropy(matmul(h, q[2]) + q[3], t.to(d));
  }
};

// A square whose rule is right on the cpu and 10% off on any other device.
struct WrongOffCpu : Function {
  std::string_view name() const override { return "wrong_off_cpu"; }
  Tensor forward(FunctionCtx& ctx, std::span<const Tensor> x) override {
    ctx.save(x[0]);
    return x[0] * x[0];
  }
  void backward(FunctionCtx& ctx, const Tensor& gy, Grads& gx) override {
    gx[0] = gy * ctx.saved(0) * (gy.device().is_cpu() ? 2.0 : 2.2);
  }
};

// Whether this build has the cuda_host emulation (else the test says so and returns).
bool have_cuda_host() {
  if (backend_available(Device::cuda_host())) return true;
  MESSAGE("no cuda_host emulation in this build: skipped");
  return false;
}

}  // namespace

TEST_SUITE("gradcheck") {

TEST_CASE("every op in the index has a sampled check, and differentiable ops a rule") {
  CHECK(all_ops().size() == static_cast<size_t>(kNumOps));
  for (const OpInfo& op : all_ops()) {
    INFO("op " << op.name);
    CHECK(static_cast<bool>(op.sample));
    CHECK(static_cast<bool>(op.backward) == (op.differentiable && !op.composite));
    CHECK_FALSE(op.shapes.empty());
  }
}

// The kernels a row declares (its cpu and cuda columns) are exactly the ones
// registered: a declared kernel that is missing fails its op's own subcase,
// naming the op, the device and the dtype, and so does a kernel registered for
// a dtype the row does not declare. Device kinds this build has no kernels for
// (no CUDA, no emulation) are skipped and say so.
TEST_CASE("every kernel an ops.def row declares is registered, and no other") {
  const Device::Kind kinds[] = {Device::Kind::cpu, Device::Kind::cuda_host, Device::Kind::cuda};
  const DType dtypes[] = {DType::float32, DType::float64, DType::int64, DType::float16, DType::bfloat16};
  for (Device::Kind kind : kinds) {
    const Device device{kind, 0};
    bool built = false;
    for (const OpInfo& op : all_ops())
      for (DType t : dtypes) built = built || has_kernel(op.op, device, t);
    if (!built) {
      MESSAGE("no kernels on " << device << " in this build: its declared kernels are not checked");
      continue;
    }
    for (const OpInfo& op : all_ops())
      op_case(fmt::format("{} kernels on {}", op.name, device), [&] {
        for (DType t : dtypes) {
          const bool declared = op.declares_kernel(kind, t), registered = has_kernel(op.op, device, t);
          if (declared && !registered)
            FAIL_CHECK(fmt::format("{}: ops.def declares a {} kernel on {}, but none is registered (AG_CPU_KERNEL in "
                                   "autograd/cpu/{}.cpp or cuda/{}.cu, or a functor in the row)",
                                   op.name, t, device, op.family, op.family));
          if (registered && !declared)
            FAIL_CHECK(fmt::format("{}: a {} kernel is registered on {}, but its ops.def row does not declare that dtype",
                                   op.name, t, device));
          CHECK(declared == registered);
        }
      });
  }
}

// Each op (and dtype) is its own subcase: Note [One subcase per op] in helpers.hpp.
TEST_CASE("first order: every differentiable op, in float64 and float32, on the cpu") {
  for (const OpInfo& op : all_ops()) {
    if (!op.differentiable) continue;
    for (DType dtype : {DType::float64, DType::float32}) {
      op_case(std::string(op.name) + " " + std::string(dtype_name(dtype)), [&] {
        Generator gen(11);
        auto cases = op_check_inputs(op, dtype, gen);
        for (size_t c = 0; c < cases.size(); ++c) {
          GradcheckReport r = gradcheck(op.sample, cases[c], GradcheckOptions::for_op(op, dtype));
          INFO("op " << op.name << " " << dtype_name(dtype) << " case " << c << "\n" << r.to_string());
          CHECK(r.ok);
        }
      });
    }
  }
}

TEST_CASE("second order: every differentiable op's backward is itself differentiable") {
  for (const OpInfo& op : all_ops()) {
    if (!op.differentiable) continue;
    op_case(std::string(op.name) + " float64 second order", [&] {
      Generator gen(12);
      auto cases = op_check_inputs(op, DType::float64, gen);
      for (size_t c = 0; c < cases.size(); ++c) {
        GradcheckReport r = gradgradcheck(op.sample, cases[c], GradcheckOptions::for_op(op, DType::float64, 2));
        INFO("op " << op.name << " case " << c << "\n" << r.to_string());
        CHECK(r.ok);
      }
    });
  }
}

TEST_CASE("fast mode: every differentiable op passes with random directions") {
  for (const OpInfo& op : all_ops()) {
    if (!op.differentiable) continue;
    op_case(std::string(op.name) + " float64 fast mode", [&] {
      Generator gen(14);
      GradcheckOptions o = GradcheckOptions::for_op(op, DType::float64);
      o.mode = CheckMode::fast;
      for (auto& in : op_check_inputs(op, DType::float64, gen)) {
        GradcheckReport r = gradcheck(op.sample, in, o);
        INFO("op " << op.name << "\n" << r.to_string());
        CHECK(r.ok);
      }
    });
  }
}

TEST_CASE("non-differentiable ops are never recorded") {
  for (const OpInfo& op : all_ops()) {
    if (op.differentiable) continue;
    op_case(std::string(op.name) + " float64", [&] {
      Generator gen(13);
      for (auto& in : op_check_inputs(op, DType::float64, gen)) {
        for (auto& t : in)
          if (is_floating(t.dtype())) t.requires_grad_();
        Tensor y = op.sample(in);
        INFO("op " << op.name);
        CHECK_FALSE(y.requires_grad());
      }
    });
  }
}

TEST_CASE("GradcheckOptions::for_op: the row's eps, a larger atol for ops that round, and a larger step to second order") {
  OpInfo plain = op_info(Op::add), rounding = op_info(Op::add);
  plain.eps = 1e-6;
  rounding.eps = 1e-2;  // as cast's row
  for (DType dtype : {DType::float64, DType::float32, DType::float16, DType::bfloat16}) {
    INFO(dtype_name(dtype));
    const GradcheckOptions d = GradcheckOptions::for_dtype(dtype);
    GradcheckOptions o = GradcheckOptions::for_op(plain, dtype);
    CHECK(o.eps == 1e-6);
    CHECK(o.atol == d.atol);
    CHECK(o.rtol == d.rtol);
    o = GradcheckOptions::for_op(plain, dtype, 2);
    CHECK(o.eps == 1e-5);
    CHECK(o.atol == std::max(d.atol, 1e-4));
    o = GradcheckOptions::for_op(rounding, dtype);
    CHECK(o.eps == 1e-2);
    CHECK(o.atol == std::max(d.atol, 1e-4));
    CHECK(o.rtol == d.rtol);
    CHECK(GradcheckOptions::for_op(rounding, dtype, 2).eps == 1e-2);
  }
  CHECK(GradcheckOptions::for_op(plain, DType::float64).atol == 1e-5);
  CHECK(GradcheckOptions::for_op(rounding, DType::float64).atol == 1e-4);
  CHECK(error_of([&] { GradcheckOptions::for_op(plain, DType::float64, 3); }) == "[for_op] order must be 1 or 2, got 3");
}

TEST_CASE("the checker catches a wrong gradient and reports the first and the worst element") {
  // x * detach(x) has derivative 2x, but backward sees only x.
  TensorFn wrong = [](std::span<const Tensor> x) { return x[0] * x[0].detach(); };
  Tensor in[1] = {tensor({1, 2, 3}, {3}, DType::float64)};
  GradcheckReport r = gradcheck(wrong, in);
  CHECK_FALSE(r.ok);
  REQUIRE(r.inputs.size() == 1);
  CHECK(r.inputs[0].first_bad_index == 0);
  CHECK(r.inputs[0].worst_index == 2);
  CHECK(r.inputs[0].analytic == doctest::Approx(3.0));
  CHECK(r.inputs[0].numeric == doctest::Approx(6.0));
  std::string text = r.to_string();
  CHECK(text.find("FAIL") != std::string::npos);
  CHECK(text.find("worst at element 2 (output 2): analytic 3, numerical 6") != std::string::npos);

  TensorFn right = [](std::span<const Tensor> x) { return x[0] * x[0]; };
  CHECK(gradcheck(right, in).ok);
}

TEST_CASE("fast mode catches a wrong gradient and still names the worst element") {
  TensorFn wrong = [](std::span<const Tensor> x) { return sum(x[0] * x[0].detach()); };
  Generator gen(1);
  Tensor in[1] = {rand({40, 30}, gen, DType::float64, 1.0, 2.0)};
  GradcheckOptions o;
  o.mode = CheckMode::fast;
  GradcheckReport r = gradcheck(wrong, in, o);
  CHECK_FALSE(r.ok);
  CHECK(r.inputs[0].worst_index >= 0);
  CHECK(r.inputs[0].numeric == doctest::Approx(2 * r.inputs[0].analytic).epsilon(1e-6));
  TensorFn right = [](std::span<const Tensor> x) { return sum(x[0] * x[0]); };
  CHECK(gradcheck(right, in, o).ok);
}

TEST_CASE("float32 gradients are compared with the float64 reference at float32 tolerances") {
  TensorFn f = [](std::span<const Tensor> x) { return softmax(matmul(x[0], x[1]), 1); };
  Generator gen(2);
  Tensor in[2] = {randn({3, 4}, gen), randn({4, 5}, gen)};
  GradcheckReport r = gradcheck(f, in);
  INFO(r.to_string());
  CHECK(r.ok);
  CHECK(r.inputs[0].max_abs_error > 0);  // float32 rounding is visible, and tolerated
}

TEST_CASE("a backward that is not reentrant is reported, unless nondet_tol allows it") {
  auto jitter = std::make_shared<Jittery>();
  TensorFn f = [&](std::span<const Tensor> x) { return apply(jitter, {x[0]}); };
  Tensor in[1] = {tensor({1, 2}, {2}, DType::float64)};
  GradcheckReport r = gradcheck(f, in);
  CHECK_FALSE(r.ok);
  CHECK(r.failure.find("not reentrant") != std::string::npos);
  GradcheckOptions o;
  o.nondet_tol = 1e-6;
  CHECK(gradcheck(f, in, o).ok);
}

TEST_CASE("CHECK_GRADIENTS: a one-line gradient test for a user's own node") {
  TensorFn cube = [](std::span<const Tensor> x) { return x[0] * x[0] * x[0]; };
  Tensor in[1] = {tensor({0.5, -1.5}, {2}, DType::float64)};
  CHECK_GRADIENTS(cube, in);
}

TEST_CASE("check_nodes: every node of a two-layer net passes, each checked in isolation") {
  Generator gen(3);
  Tensor x = randn({8, 5}, gen), t = randint({8}, 0, 3, gen);
  std::vector<Tensor> p = {randn({5, 6}, gen).requires_grad_(), zeros({6}).requires_grad_(),
                           randn({6, 3}, gen).requires_grad_(), zeros({3}).requires_grad_()};
  NodeCheckReport r = check_nodes([&] { return two_layer_loss(p, x, t); });
  INFO(r.table());
  CHECK(r.ok);
  // matmul, reshape, repeat, add, sigmoid, matmul, reshape, repeat, add, softmax_cross_entropy
  CHECK(r.nodes.size() == 10);
  CHECK(r.nodes[0].op == "matmul");
  CHECK(r.nodes.back().op == "softmax_cross_entropy");
  CHECK(r.table().find("10 of 10 nodes passed") != std::string::npos);
}

TEST_CASE("check_nodes: a broken user-defined node is reported at that node with its worst element") {
  Generator gen(4);
  Tensor x = randn({4, 3}, gen, DType::float64);
  Tensor w = randn({3, 2}, gen, DType::float64).requires_grad_();
  NodeCheckReport r = check_nodes([&] {
    Tensor h = apply(std::make_shared<BrokenSquare>(), {matmul(x, w)});
    return sum(sigmoid(h));
  });
  CHECK_FALSE(r.ok);
  CHECK(r.failures() == 1);
  REQUIRE(r.nodes.size() == 4);
  CHECK(r.nodes[0].ok);  // matmul
  CHECK_FALSE(r.nodes[1].ok);
  CHECK(r.nodes[1].op == "broken_square");
  CHECK(r.nodes[1].worst_input == 0);
  CHECK(r.nodes[1].analytic == doctest::Approx(1.1 * r.nodes[1].numeric).epsilon(1e-6));
  CHECK(r.nodes[2].ok);  // sigmoid
  std::string table = r.table();
  CHECK(table.find("broken_square") != std::string::npos);
  CHECK(table.find("FAIL") != std::string::npos);
  CHECK(table.find("worst: input 0 at (") != std::string::npos);
}

TEST_CASE("check_nodes: an injected bug in a built-in rule is caught at that node, not elsewhere") {
  BackwardFn original = op_info(Op::sigmoid).backward;
  // d sigmoid/dx written as y (1 - y)^2: a plausible slip
  detail::RuleRegistrar inject(Op::sigmoid, [](BackwardCtx& ctx, const Tensor& gy, Grads& gx) {
    Tensor y = ctx.saved(0);
    gx[0] = gy * y * (1.0 - y) * (1.0 - y);
  });
  Generator gen(5);
  Tensor x = randn({6, 4}, gen);
  std::vector<Tensor> p = {randn({4, 5}, gen).requires_grad_(), zeros({5}).requires_grad_(),
                           randn({5, 3}, gen).requires_grad_(), zeros({3}).requires_grad_()};
  Tensor t = randint({6}, 0, 3, gen);
  NodeCheckReport r = check_nodes([&] { return two_layer_loss(p, x, t); });
  detail::RuleRegistrar restore(Op::sigmoid, original);
  CHECK(r.failures() == 1);
  for (const NodeCheck& n : r.nodes) CHECK(n.ok == (n.op != "sigmoid"));
  NodeCheckReport fixed = check_nodes([&] { return two_layer_loss(p, x, t); });
  CHECK(fixed.ok);
}

TEST_CASE("check_nodes: large inputs are checked along random directions and still caught") {
  Generator gen(6);
  Tensor x = randn({50, 40}, gen, DType::float64);
  Tensor w = randn({40, 30}, gen, DType::float64).requires_grad_();
  NodeCheckOptions o;
  o.full_limit = 100;
  NodeCheckReport good = check_nodes([&] { return sum(tanh(matmul(x, w))); }, o);
  INFO(good.table());
  CHECK(good.ok);
  CHECK(good.nodes[0].sampled);
  NodeCheckReport bad = check_nodes([&] { return sum(apply(std::make_shared<BrokenSquare>(), {matmul(x, w)})); }, o);
  CHECK_FALSE(bad.ok);
  CHECK_FALSE(bad.nodes[1].ok);
  CHECK(bad.nodes[1].worst_index >= 0);
}

TEST_CASE("check_nodes: a two-layer net built on cuda_host passes 10 of 10, each rule run there") {
  if (!have_cuda_host()) return;
  const TwoLayerNet net(3);
  NodeCheckReport r = check_nodes([&] { return net.loss(Device::cuda_host()); });
  INFO(r.table());
  CHECK(r.ok);
  CHECK(r.nodes.size() == 10);
  for (const NodeCheck& n : r.nodes) CHECK(n.device == Device::cuda_host());
  CHECK(r.table().find("10 of 10 nodes passed") != std::string::npos);
}

TEST_CASE("check_nodes_compare: every node of the net on cpu and cuda_host, with the devices' largest difference") {
  if (!have_cuda_host()) return;
  const TwoLayerNet net(3);
  const std::vector<Device> both = {Device::cpu(), Device::cuda_host()};
  NodeCompareReport r = check_nodes_compare([&](Device d) { return net.loss(d); }, both);
  const std::string table = r.table();
  INFO(table);
  CHECK(r.ok);
  REQUIRE(r.nodes.size() == 10);
  CHECK(r.nodes[4].op == "sigmoid");
  for (const NodeCompare& n : r.nodes) {
    REQUIRE(n.devices.size() == 2);
    CHECK(n.devices[0].device == Device::cpu());
    CHECK(n.devices[1].device == Device::cuda_host());
    CHECK(n.devices_agree);
    CHECK(n.max_device_diff < 1e-4);  // float32 on both: rounding, at most
    // its row: step, op, and the cross-device columns
    CHECK(table.find(fmt::format("\n{:>4}  {}", n.step, n.op)) != std::string::npos);
  }
  CHECK(table.find("cuda_host:0 vs cpu") != std::string::npos);
  CHECK(table.find("max diff") != std::string::npos);
  CHECK(table.find("10 of 10 nodes passed (cpu 10 of 10, cuda_host:0 10 of 10)") != std::string::npos);
  // deterministic: the same table twice
  CHECK(check_nodes_compare([&](Device d) { return net.loss(d); }, both).table() == table);
}

TEST_CASE("check_nodes_compare: a broken node fails on every device, and a device-only bug is where they differ") {
  if (!have_cuda_host()) return;
  TwoLayerNet net(4);
  net.hidden = std::make_shared<BrokenSquare>();
  const std::vector<Device> both = {Device::cpu(), Device::cuda_host()};
  NodeCompareReport r = check_nodes_compare([&](Device d) { return net.loss(d); }, both);
  INFO(r.table());
  CHECK_FALSE(r.ok);
  CHECK(r.failures() == 1);
  REQUIRE(r.nodes.size() == 10);
  CHECK(r.nodes[4].op == "broken_square");
  CHECK_FALSE(r.nodes[4].devices[0].ok);
  CHECK_FALSE(r.nodes[4].devices[1].ok);
  CHECK(r.nodes[4].devices_agree);  // the same wrong rule on both
  CHECK(r.table().find("cpu: worst: input 0 at (") != std::string::npos);
  CHECK(r.table().find("cuda_host:0: worst: input 0 at (") != std::string::npos);

  net.hidden = std::make_shared<WrongOffCpu>();
  NodeCompareReport d = check_nodes_compare([&](Device dev) { return net.loss(dev); }, both);
  INFO(d.table());
  CHECK(d.failures() == 1);
  CHECK(d.nodes[4].devices[0].ok);
  CHECK_FALSE(d.nodes[4].devices[1].ok);
  CHECK_FALSE(d.nodes[4].devices_agree);
  CHECK(d.nodes[4].worst.input == 0);
  CHECK(d.nodes[4].worst.other == doctest::Approx(1.1 * d.nodes[4].worst.first).epsilon(1e-5));
  CHECK(d.nodes[4].max_device_diff == doctest::Approx(std::abs(d.nodes[4].largest.other - d.nodes[4].largest.first)));
  CHECK(d.table().find("the devices differ: input 0 at (") != std::string::npos);
}

TEST_CASE("check_nodes_compare: no devices, or a different graph on two devices, is an error naming what differs") {
  const TwoLayerNet net(3);
  CHECK(error_of([&] { check_nodes_compare([&](Device d) { return net.loss(d); }, {}); })
            .find("[check_nodes_compare] no devices") == 0);
  CHECK(error_of([&] {
          check_nodes_compare([&](Device d) { return net.loss(d); }, {Device::cpu(), Device::cpu()});
        }).find("listed twice") != std::string::npos);
  if (!have_cuda_host()) return;
  const std::vector<Device> both = {Device::cpu(), Device::cuda_host()};
  std::string more = error_of([&] {
    check_nodes_compare([&](Device d) { return d.is_cpu() ? net.loss(d) : net.loss(d) * 1.0; }, both);
  });
  CHECK(more.find("[check_nodes_compare] the model records 10 nodes on cpu but ") == 0);
  CHECK(more.find("on cuda_host:0: build_loss must build the same graph on every device") != std::string::npos);
  TwoLayerNet other(3);
  other.hidden = std::make_shared<BrokenSquare>();
  std::string op = error_of([&] {
    check_nodes_compare([&](Device d) { return d.is_cpu() ? net.loss(d) : other.loss(d); }, both);
  });
  CHECK(op.find("node 4 is sigmoid on cpu but broken_square on cuda_host:0") != std::string::npos);
  std::string where = error_of([&] { check_nodes_compare([&](Device) { return net.loss(Device::cpu()); }, both); });
  CHECK(where.find("build_loss(cuda_host:0) returned a loss on cpu") != std::string::npos);
}

TEST_CASE("check_nodes needs a function that records something") {
  CHECK(error_of([] { check_nodes([] { return ones({2}); }); }).find("[check_nodes]") == 0);
}

}  // TEST_SUITE
