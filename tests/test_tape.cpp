#include <functional>
#include <thread>

#include "helpers.hpp"

using namespace ag;

TEST_SUITE("tape") {

TEST_CASE("backward: y = x*x + 3x gives dy/dx = 2x + 3") {
  Tensor x = tensor({1, -2, 0.5}, {3}, DType::float64).requires_grad_();
  Tensor y = sum(x * x + 3.0 * x);
  y.backward();
  check_values(x.grad(), {5, -1, 4});
}

TEST_CASE("a tensor used twice gets the sum of both gradients (the branch rule)") {
  Tensor x = scalar(3.0, DType::float64).requires_grad_();
  Tensor a = x * 2.0;  // da/dx = 2
  Tensor y = a * a + a;  // a used three times: dy/da = 2a + 1 = 13
  y.backward();
  CHECK(x.grad().item<double>() == doctest::Approx(26.0));
}

TEST_CASE("one node per recorded op; nothing without a tensor that requires grad") {
  Tensor c = ones({2, 2});
  Tensor d = sigmoid(c * c);
  CHECK(tape_stats().nodes == 0);
  CHECK_FALSE(d.requires_grad());

  Tensor w = ones({2, 2}).requires_grad_();
  Tensor y = sigmoid(c * w);
  CHECK(tape_stats().nodes == 2);
  CHECK(count_nodes(Op::mul) == 1);
  CHECK(count_nodes(Op::sigmoid) == 1);
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
}

TEST_CASE("NoGradGuard turns recording off for its scope") {
  Tensor w = ones({3}).requires_grad_();
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_mode_enabled());
    Tensor y = w * w;
    CHECK_FALSE(y.requires_grad());
    CHECK(tape_stats().nodes == 0);
  }
  CHECK(grad_mode_enabled());
  Tensor y = w * w;
  CHECK(y.requires_grad());
}

TEST_CASE("backward releases the tape; a second backward says to use retain_graph") {
  Tensor x = scalar(2.0).requires_grad_();
  Tensor y = x * x;
  y.backward();
  CHECK(tape_stats().nodes == 0);
  std::string msg = error_of([&] { y.backward(); });
  CHECK(msg.find("[backward]") == 0);
  CHECK(msg.find("retain_graph") != std::string::npos);
}

TEST_CASE("retain_graph: two backward calls accumulate exactly twice") {
  Tensor x = scalar(2.0, DType::float64).requires_grad_();
  Tensor y = x * x * x;  // dy/dx = 3x^2 = 12
  y.backward({.retain_graph = true});
  CHECK(x.grad().item<double>() == doctest::Approx(12.0));
  CHECK(tape_stats().nodes == 2);
  y.backward({.retain_graph = true});
  CHECK(x.grad().item<double>() == doctest::Approx(24.0));
  y.backward();
  CHECK(x.grad().item<double>() == doctest::Approx(36.0));
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("a non-scalar output needs an explicit upstream gradient") {
  Tensor x = ones({2, 3}).requires_grad_();
  Tensor y = x * 2.0;
  std::string msg = error_of([&] { y.backward(); });
  CHECK(msg.find("shape (2, 3)") != std::string::npos);
  CHECK(msg.find("scalar") != std::string::npos);
  y.backward(full({2, 3}, 0.5));
  check_values(x.grad(), {1, 1, 1, 1, 1, 1});
}

TEST_CASE("a weight updated between forward and backward is reported with both versions") {
  Tensor w = ones({2, 2}).requires_grad_().set_name("W");
  Tensor x = ones({1, 2});
  Tensor loss = sum(matmul(x, w) * matmul(x, w));
  {
    NoGradGuard guard;
    w.add_(ones({2, 2}), -0.1);  // the classic bug: an optimiser step before backward
  }
  std::string msg = error_of([&] { loss.backward(); });
  CHECK(msg.find("[backward]") == 0);
  CHECK(msg.find("matmul") != std::string::npos);
  CHECK(msg.find("'W'") != std::string::npos);
  CHECK(msg.find("version 0 when saved, now 1") != std::string::npos);
}

TEST_CASE("detach stops the gradient") {
  Tensor x = scalar(3.0, DType::float64).requires_grad_();
  Tensor y = x * x.detach();  // only the first factor is differentiated
  y.backward();
  CHECK(x.grad().item<double>() == doctest::Approx(3.0));
}

TEST_CASE("ag::grad returns gradients without touching .grad()") {
  Tensor x = tensor({1, 2}, {2}, DType::float64).requires_grad_();
  Tensor y = sum(x * x);
  Tensor outs[1] = {y};
  Tensor ins[1] = {x};
  auto g = grad(outs, ins);
  check_values(g[0], {2, 4});
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("retain_grad keeps a non-leaf's gradient") {
  Tensor x = tensor({1, 2}, {2}, DType::float64).requires_grad_();
  Tensor h = x * 3.0;
  h.retain_grad();
  Tensor y = sum(h * h);
  y.backward();
  check_values(h.grad(), {6, 12});  // dy/dh = 2h
  check_values(x.grad(), {18, 36});
}

TEST_CASE("a loop that forgets NoGradGuard does not grow the tape") {
  Tensor w = ones({4, 4}).requires_grad_();
  Tensor x = ones({1, 4});
  for (int i = 0; i < 100; ++i) {
    Tensor y = sigmoid(matmul(x, w));
    (void)y;
  }
  CHECK(tape_stats().nodes <= 2);
}

TEST_CASE("a deep chain backpropagates without overflowing the stack") {
  Tensor x = scalar(0.5, DType::float64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0;
  y.backward();
  CHECK(x.grad().item<double>() == doctest::Approx(1.0));
  CHECK(tape_stats().nodes == 0);
}

TEST_CASE("anomaly mode names the op that produced NaN in the forward") {
  AnomalyGuard anomaly;
  Tensor x = tensor({1, -1}).requires_grad_();
  std::string msg = error_of([&] { log(x); });
  CHECK(msg.find("[log] anomaly") == 0);
  CHECK(msg.find("index (1,)") != std::string::npos);
}

TEST_CASE("anomaly mode names the rule that produced Inf in the backward") {
  Tensor x = tensor({0, 1}).requires_grad_();
  Tensor y = sum(sqrt(x));  // finite forward, infinite gradient at 0
  AnomalyGuard anomaly;
  std::string msg = error_of([&] { y.backward(); });
  CHECK(msg.find("anomaly") != std::string::npos);
  CHECK(msg.find("sqrt") != std::string::npos);
}

TEST_CASE("without anomaly mode a NaN passes silently") {
  Tensor x = tensor({-1}).requires_grad_();
  Tensor y = log(x);
  CHECK(std::isnan(y.item<float>()));
}

TEST_CASE("each thread records its own tape") {
  auto train = [](double start, double* out) {
    Tensor w = scalar(start, DType::float64).requires_grad_();
    for (int i = 0; i < 200; ++i) {
      Tensor loss = (w - 3.0) * (w - 3.0);
      w.zero_grad();
      loss.backward();
      NoGradGuard g;
      w.add_(w.grad(), -0.1);
    }
    *out = w.item<double>();
  };
  double a = 0, b = 0;
  std::thread t1(train, 0.0, &a), t2(train, 10.0, &b);
  t1.join();
  t2.join();
  CHECK(a == doctest::Approx(3.0));
  CHECK(b == doctest::Approx(3.0));
}

TEST_CASE("a tensor recorded on another thread cannot join this thread's graph") {
  Tensor w = ones({2}).requires_grad_();
  Tensor y = w * 2.0;
  std::string msg;
  std::thread t([&] {
    Tensor z = ones({2}).requires_grad_();
    msg = error_of([&] { (void)(y * z); });
  });
  t.join();
  CHECK(msg.find("another thread") != std::string::npos);
}

TEST_CASE("backward with a leaf as the output seeds its own gradient") {
  Tensor x = scalar(2.0).requires_grad_();
  x.backward();
  CHECK(x.grad().item<float>() == 1.0f);
}

}  // TEST_SUITE

TEST_SUITE("trace") {

TEST_CASE("a Trace sees every recorded node, its values and, after backward, its gradients") {
  Trace trace;
  Tensor x = tensor({1, 2}, {2}, DType::float64).set_name("x");
  Tensor w = tensor({3, 4}, {2}, DType::float64).requires_grad_().set_name("w");
  Tensor y = x * w;
  y.set_name("y");
  Tensor loss = sum(sigmoid(y));
  REQUIRE(trace.steps().size() == 3);
  CHECK(trace.steps()[0].op == Op::mul);
  CHECK(trace.steps()[1].op == Op::sigmoid);
  CHECK(trace.steps()[2].op == Op::sum);
  const auto& v = trace.values();
  CHECK(v[static_cast<size_t>(trace.steps()[0].inputs[0])].name() == "x");
  CHECK(v[static_cast<size_t>(trace.steps()[0].inputs[1])].name() == "w");
  CHECK(v[static_cast<size_t>(trace.steps()[0].output)].name() == "y");
  check_values(v[static_cast<size_t>(trace.steps()[0].output)].data, {3, 8});
  loss.backward();
  CHECK(trace.backward_order() == std::vector<int>{2, 1, 0});
  const auto& mul = trace.steps()[0];
  // upstream x local = downstream: d/dw (x * w) = x
  check_values(mul.downstream[1], {mul.upstream.value_at(0) * 1, mul.upstream.value_at(1) * 2});
  CHECK_FALSE(mul.downstream[0].defined());  // x needs no gradient
  check_values(v[static_cast<size_t>(mul.inputs[1])].grad, w.grad().to_vector<double>());
}

TEST_CASE("NameScope labels the steps recorded inside it") {
  Trace trace;
  Tensor w = ones({2}).requires_grad_();
  {
    NameScope net("net");
    NameScope fc("fc1");
    CHECK(NameScope::current() == "net/fc1");
    (void)(w * 2.0);
  }
  CHECK(NameScope::current().empty());
  (void)(w * 3.0);
  REQUIRE(trace.steps().size() == 2);
  CHECK(trace.steps()[0].scope == "net/fc1");
  CHECK(trace.steps()[1].scope.empty());
}

}  // TEST_SUITE

TEST_SUITE("tape") {

TEST_CASE("a retained gradient accumulates like a leaf's; ag::grad leaves it alone") {
  Tensor x = tensor({1, 2}, {2}, DType::float64).requires_grad_();
  Tensor h = x * 3.0;
  h.retain_grad();
  Tensor y = sum(h * h);
  y.backward({.retain_graph = true});
  y.backward({.retain_graph = true});
  check_values(h.grad(), {12, 24});
  Tensor outs[1] = {y};
  Tensor ins[1] = {x};
  (void)grad(outs, ins);
  check_values(h.grad(), {12, 24});
}

TEST_CASE("tensor({v}) has shape (1,); scalar(v) is 0-d") {
  CHECK(tensor({5}).shape() == Shape{1});
  CHECK(scalar(5).shape() == Shape{});
  CHECK(from_vector(std::vector<float>{1, 2, 3}, {3}).shape() == Shape{3});
  CHECK(from_vector(std::vector<double>{7}, {}).shape() == Shape{});
  CHECK(error_of([] { from_vector(std::vector<float>{1, 2, 3}, {}); }).find("3 values do not fill shape ()") !=
        std::string::npos);
}

TEST_CASE("a second loss on a released tape: the error explains the whole tape was released") {
  Tensor w = ones({2}).requires_grad_();
  Tensor l1 = sum(w * w), l2 = sum(w * 3.0);
  l1.backward();
  std::string msg = error_of([&] { l2.backward(); });
  CHECK(msg.find("whole tape") != std::string::npos);
  CHECK(msg.find("Sum the losses") != std::string::npos);
}

// Returns its input; its backward returns a gradient of another shape, or on another device.
struct BadGrad : Function {
  Device device;
  explicit BadGrad(Device d) : device(d) {}
  std::string_view name() const override { return "bad_grad"; }
  Tensor forward(FunctionCtx&, std::span<const Tensor> x) override { return x[0] * 1.0; }
  void backward(FunctionCtx&, const Tensor& gy, Grads& gx) override {
    gx[0] = device.is_cpu() ? sum(gy) : gy.to(device);
  }
};

TEST_CASE("a rule's gradient must have its input's shape, dtype and device; the error names both") {
  Tensor x = tensor({1, 2}).requires_grad_();
  std::string msg = error_of([&] { sum(apply(std::make_shared<BadGrad>(Device::cpu()), {x})).backward(); });
  CHECK(msg.find("[backward] the custom rule returned a gradient of shape () and dtype float32 for input 0, which "
                 "has shape (2,) and dtype float32") == 0);

  // A second device: the host emulation of CUDA, or a GPU.
  Device other = Device::cpu();
  for (Device d : {Device::cuda_host(), Device::cuda()}) {
    if (!other.is_cpu()) break;
    try {
      (void)zeros({1}, DType::float32, d);
      other = d;
    } catch (const Error&) {
    }
  }
  if (other.is_cpu()) {
    MESSAGE("the device check is skipped: this build has no second device");
    return;
  }
  msg = error_of([&] { sum(apply(std::make_shared<BadGrad>(other), {x})).backward(); });
  CHECK(msg.find(fmt::format("[backward] the custom rule returned a gradient on device {} for input 0, which is on "
                             "device cpu",
                             other)) == 0);
}

// Note [No aliases from differentiable ops]: PyTorch's torch.reshape(x, x.shape) and x.expand(x.shape)
// give y.grad == c and x.grad == c + d here, through y's own use and x's.
TEST_CASE("reshape, broadcast_to and cast to the same shape or dtype give a new handle with its own gradient") {
  const std::vector<double> c{1, 2, 3, 4, 5, 6}, d{10, 20, 30, 40, 50, 60};
  const std::vector<double> cd{11, 22, 33, 44, 55, 66};
  const std::function<Tensor(const Tensor&)> same[] = {
      [](const Tensor& x) { return reshape(x, {2, 3}); },
      [](const Tensor& x) { return reshape(x, {-1, 3}); },
      [](const Tensor& x) { return broadcast_to(x, {2, 3}); },
      [](const Tensor& x) { return cast(x, DType::float64); },
  };
  for (const auto& f : same) {
    Tensor x = from_vector(c, {2, 3}, DType::float64).requires_grad_();
    Tensor y = f(x);
    CHECK(y.impl() != x.impl());
    CHECK(y.impl()->storage == x.impl()->storage);  // a view: no copy
    CHECK(y.shape() == x.shape());
    y.retain_grad();
    Tensor cs = from_vector(c, {2, 3}, DType::float64), ds = from_vector(d, {2, 3}, DType::float64);
    (sum(y * cs) + sum(x * ds)).backward();
    check_values(y.grad(), c);
    check_values(x.grad(), cd);
  }
}

TEST_CASE("dropout in evaluation or with p = 0 returns its input itself, as PyTorch's does") {
  Tensor x = ones({2, 3}).requires_grad_();
  Generator gen(1);
  CHECK(dropout(x, 0.5, false, gen).impl() == x.impl());
  CHECK(dropout(x, 0.0, true, gen).impl() == x.impl());
}

TEST_CASE("backward hooks: each leaf is reported once, after its last gradient, and the pass's end after all") {
  // a feeds two nodes (recorded 1st and 3rd), b one (2nd): b is final before a
  Tensor a = tensor({1, 2}, {2}, DType::float64).requires_grad_();
  Tensor b = tensor({3, 4}, {2}, DType::float64).requires_grad_();
  struct Log : ag::BackwardHook {
    std::vector<std::string> seen;
    Tensor a;
    void leaf_ready(ag::TensorImpl* leaf, bool received) override {
      // the value is final: a's gradient is already the sum of both branches
      seen.push_back(fmt::format("{}:{}", leaf == a.impl() ? "a" : "b", received));
      if (leaf == a.impl()) seen.back() += fmt::format(":{}", Tensor(leaf->grad).value_at(0));
    }
    void backward_done(bool ok) override { seen.push_back(ok ? "done" : "failed"); }
  } log;
  log.a = a;
  ag::add_backward_hook(&log);
  Tensor u = ag::mul_scalar(a, 2.0);
  Tensor v = ag::mul(u, b);
  Tensor y = ag::sum(ag::add(v, a));
  y.backward();
  ag::remove_backward_hook(&log);
  // dy/da = 2b + 1 = 7 at a[0]
  CHECK(log.seen == std::vector<std::string>{"b:true", "a:true:7", "done"});
  // without the hook nothing is reported
  ag::sum(ag::mul(a, b)).backward();
  CHECK(log.seen.size() == 3);
}

TEST_CASE("backward hooks: a leaf on a branch the loss does not use is reported as not received; ag::grad reports nothing") {
  Tensor a = tensor({1, 2}, {2}, DType::float64).requires_grad_();
  Tensor b = tensor({3, 4}, {2}, DType::float64).requires_grad_();
  struct Log : ag::BackwardHook {
    std::vector<std::pair<ag::TensorImpl*, bool>> seen;
    int done = 0;
    void leaf_ready(ag::TensorImpl* leaf, bool received) override { seen.emplace_back(leaf, received); }
    void backward_done(bool) override { ++done; }
  } log;
  ag::add_backward_hook(&log);
  Tensor unused = ag::mul_scalar(b, 2.0);  // recorded first, but the loss does not depend on it
  Tensor y = ag::sum(ag::mul(a, a));
  y.backward();
  CHECK(log.seen.size() == 2);
  for (auto& [leaf, received] : log.seen) CHECK(received == (leaf == a.impl()));
  CHECK(log.done == 1);
  Tensor z = ag::sum(ag::mul(a, a));
  Tensor x[1] = {a};
  ag::grad({&z, 1}, x);
  CHECK(log.seen.size() == 2);
  CHECK(log.done == 1);
  ag::remove_backward_hook(&log);
  (void)unused;
}

}  // TEST_SUITE
