// vjp, jvp, jacobian, hessian and hvp against central differences.
#include "helpers.hpp"

using namespace ag;

namespace {

// (f(x + eps u) - f(x - eps u)) / 2 eps, for float64 inputs.
Tensor numeric_directional(const UnaryFn& f, const Tensor& x, const Tensor& u, double eps = 1e-6) {
  Tensor hi = f(x + u * eps).detach(), lo = f(x - u * eps).detach();
  return (hi - lo) / (2 * eps);
}

void check_close(const Tensor& a, const Tensor& b, double tol = 1e-6) {
  REQUIRE(a.numel() == b.numel());
  for (int64_t i = 0; i < a.numel(); ++i) {
    INFO("flat index " << i);
    CHECK(a.value_at(i) == doctest::Approx(b.value_at(i)).epsilon(tol).scale(1.0));
  }
}

}  // namespace

TEST_SUITE("functional") {

TEST_CASE("vjp equals v^T J from central differences") {
  Generator gen(1);
  Tensor x = randn({3, 4}, gen, DType::float64), W = randn({4, 2}, gen, DType::float64);
  Tensor v = randn({3, 2}, gen, DType::float64);
  TensorFn f = [](std::span<const Tensor> in) { return tanh(matmul(in[0], in[1])); };
  Tensor in[2] = {x, W};
  VjpResult r = vjp(f, in, v);
  check_close(r.output, tanh(matmul(x, W)));
  // <v, J u> = <J^T v, u> for random directions u of W
  for (int k = 0; k < 3; ++k) {
    Tensor u = randn({4, 2}, gen, DType::float64);
    UnaryFn fw = [&](const Tensor& w) { return tanh(matmul(x, w)); };
    double numeric = sum(v * numeric_directional(fw, W, u)).item<double>();
    CHECK(sum(r.grads[1] * u).item<double>() == doctest::Approx(numeric).epsilon(1e-6));
  }
}

TEST_CASE("jvp equals the directional derivative") {
  Generator gen(2);
  Tensor x = randn({5}, gen, DType::float64), u = randn({5}, gen, DType::float64);
  UnaryFn g = [](const Tensor& z) { return softmax(z * z, 0); };
  TensorFn f = [&](std::span<const Tensor> in) { return g(in[0]); };
  Tensor in[1] = {x};
  Tensor dirs[1] = {u};
  JvpResult r = jvp(f, in, dirs);
  check_close(r.tangent, numeric_directional(g, x, u));
}

TEST_CASE("jvp of a function that ignores its input is zero") {
  TensorFn f = [](std::span<const Tensor> in) { return in[0].detach() * 2.0; };
  Tensor in[1] = {ones({3}, DType::float64)};
  Tensor dirs[1] = {ones({3}, DType::float64)};
  check_values(jvp(f, in, dirs).tangent, {0, 0, 0});
}

TEST_CASE("jacobian of softmax: diag(y) - y y^T") {
  Tensor x = tensor({0.5, -1, 2}, {3}, DType::float64);
  Tensor J = jacobian([](const Tensor& z) { return softmax(z, 0); }, x);
  CHECK(J.shape() == Shape{3, 3});
  Tensor y = softmax(x, 0);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      double yi = y.value_at(i), yj = y.value_at(j);
      CHECK(J.at<double>({i, j}) == doctest::Approx((i == j ? yi : 0.0) - yi * yj));
    }
}

TEST_CASE("jacobian keeps the shapes: (2,) output of a (2, 2) input gives (2, 2, 2)") {
  Tensor x = tensor({1, 2, 3, 4}, {2, 2}, DType::float64);
  Tensor J = jacobian([](const Tensor& z) { return sum(z * z, {1}); }, x);
  CHECK(J.shape() == Shape{2, 2, 2});
  check_values(J, {2, 4, 0, 0, 0, 0, 6, 8});
}

TEST_CASE("hessian of a small MLP loss matches central differences of its gradient, and is symmetric") {
  Generator gen(3);
  Tensor xb = randn({4, 3}, gen, DType::float64);
  Tensor t = randint({4}, 0, 2, gen);
  Tensor W2 = randn({2, 2}, gen, DType::float64);
  UnaryFn loss = [&](const Tensor& w) {
    return softmax_cross_entropy(matmul(sigmoid(matmul(xb, reshape(w, {3, 2}))), W2), t);
  };
  Tensor w = randn({6}, gen, DType::float64);
  Tensor H = hessian(loss, w);
  CHECK(H.shape() == Shape{6, 6});
  UnaryFn gradient = [&](const Tensor& z) {
    Tensor leaf = z.detach().requires_grad_();
    Tensor y[1] = {loss(leaf)};
    Tensor ins[1] = {leaf};
    return grad(y, ins)[0];
  };
  for (int64_t j = 0; j < 6; ++j) {
    std::vector<double> e(6, 0.0);
    e[static_cast<size_t>(j)] = 1.0;
    Tensor col = numeric_directional(gradient, w, from_vector(e, {6}, DType::float64), 1e-5);
    for (int64_t i = 0; i < 6; ++i) {
      CHECK(H.at<double>({i, j}) == doctest::Approx(col.value_at(i)).epsilon(1e-5).scale(1.0));
      CHECK(H.at<double>({i, j}) == doctest::Approx(H.at<double>({j, i})));
    }
  }
}

TEST_CASE("hvp equals the Hessian times v") {
  Generator gen(4);
  Tensor x = randn({4}, gen, DType::float64), v = randn({4}, gen, DType::float64);
  UnaryFn g = [](const Tensor& z) { return sum(tanh(z) * z * z) + sum(z) * sum(z * z); };
  Tensor H = hessian(g, x);
  Tensor expected = matmul(H, reshape(v, {4, 1}));
  check_close(hvp(g, x, v), expected, 1e-10);
}

TEST_CASE("transforms report bad shapes") {
  UnaryFn sq = [](const Tensor& z) { return z * z; };
  CHECK(error_of([&] { hessian(sq, ones({2}, DType::float64)); }).find("[hessian] f must return a scalar") == 0);
  CHECK(error_of([&] { hvp([](const Tensor& z) { return sum(z); }, ones({2}, DType::float64), ones({3}, DType::float64)); })
            .find("[hvp] v has shape (3,)") == 0);
}

}  // TEST_SUITE
