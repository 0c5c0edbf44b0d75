// The gradient-check suite, generated from the op index (ops.def): every
// differentiable op's backward rule is compared with central differences in
// float64, to first and second order, on inputs drawn from its declared domain.
#include "helpers.hpp"

using namespace ag;

TEST_SUITE("gradcheck") {

TEST_CASE("every op in the index has a sampled check, and differentiable ops a rule") {
  CHECK(all_ops().size() == static_cast<size_t>(kNumOps));
  for (const OpInfo& op : all_ops()) {
    INFO("op " << op.name);
    CHECK(static_cast<bool>(op.sample));
    CHECK(static_cast<bool>(op.backward) == op.differentiable);
    CHECK_FALSE(op.shapes.empty());
  }
}

TEST_CASE("first order: every differentiable op matches its numerical gradient") {
  for (const OpInfo& op : all_ops()) {
    if (!op.differentiable) continue;
    Generator gen(11);
    auto cases = op_check_inputs(op, DType::float64, gen);
    for (size_t c = 0; c < cases.size(); ++c) {
      GradcheckOptions o;
      o.eps = op.eps;
      if (op.eps > 1e-6) o.atol = 1e-4;
      GradcheckReport r = gradcheck(op.sample, cases[c], o);
      INFO("op " << op.name << " case " << c << "\n" << r.to_string());
      CHECK(r.ok);
    }
  }
}

TEST_CASE("second order: every differentiable op's backward is itself differentiable") {
  for (const OpInfo& op : all_ops()) {
    if (!op.differentiable) continue;
    Generator gen(12);
    auto cases = op_check_inputs(op, DType::float64, gen);
    for (size_t c = 0; c < cases.size(); ++c) {
      GradcheckOptions o;
      o.eps = std::max(op.eps, 1e-5);
      o.atol = op.eps > 1e-6 ? 1e-3 : 1e-4;
      GradcheckReport r = gradgradcheck(op.sample, cases[c], o);
      INFO("op " << op.name << " case " << c << "\n" << r.to_string());
      CHECK(r.ok);
    }
  }
}

TEST_CASE("non-differentiable ops are never recorded") {
  for (const OpInfo& op : all_ops()) {
    if (op.differentiable) continue;
    Generator gen(13);
    for (auto& in : op_check_inputs(op, DType::float64, gen)) {
      for (auto& t : in)
        if (is_floating(t.dtype())) t.requires_grad_();
      Tensor y = op.sample(in);
      INFO("op " << op.name);
      CHECK_FALSE(y.requires_grad());
    }
  }
}

TEST_CASE("the checker catches a wrong gradient and reports the worst element") {
  // x * detach(x) has derivative 2x, but backward sees only x.
  TensorFn wrong = [](std::span<const Tensor> x) { return x[0] * x[0].detach(); };
  Tensor x = tensor({1, 2, 3}, {}, DType::float64);
  Tensor in[1] = {x};
  GradcheckReport r = gradcheck(wrong, in);
  CHECK_FALSE(r.ok);
  REQUIRE(r.inputs.size() == 1);
  CHECK(r.inputs[0].worst_index == 2);
  CHECK(r.inputs[0].max_abs_error > 0.1);
  std::string text = r.to_string();
  CHECK(text.find("FAIL") != std::string::npos);
  CHECK(text.find("worst at flat index 2") != std::string::npos);

  TensorFn right = [](std::span<const Tensor> x) { return x[0] * x[0]; };
  CHECK(gradcheck(right, in).ok);
}

TEST_CASE("the checker refuses float32 inputs with advice") {
  TensorFn f = [](std::span<const Tensor> x) { return x[0]; };
  Tensor in[1] = {ones({2})};
  CHECK(error_of([&] { gradcheck(f, in); }).find("float64") != std::string::npos);
}

TEST_CASE("a two-layer net with softmax-with-loss passes the gradient check") {
  Generator gen(3);
  Tensor x = randn({5, 4}, gen, DType::float64);
  Tensor labels = randint({5}, 0, 3, gen);
  TensorFn net = [&](std::span<const Tensor> p) {
    Tensor h = sigmoid(matmul(x, p[0]) + p[1]);
    return softmax_cross_entropy(matmul(h, p[2]) + p[3], labels);
  };
  std::vector<Tensor> params = {randn({4, 6}, gen, DType::float64), randn({6}, gen, DType::float64),
                                randn({6, 3}, gen, DType::float64), randn({3}, gen, DType::float64)};
  GradcheckReport r = gradcheck(net, params);
  INFO(r.to_string());
  CHECK(r.ok);
}

}  // TEST_SUITE
