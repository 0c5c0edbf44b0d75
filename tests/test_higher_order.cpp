// Higher-order gradients: with create_graph the backward pass is recorded, so
// the gradient of a gradient is computed by the same engine.
#include "helpers.hpp"

using namespace ag;

namespace {

// d/dx and d2/dx2 of f at each point of x, by backward twice.
std::pair<Tensor, Tensor> first_and_second(Tensor (*f)(const Tensor&), const std::vector<double>& points) {
  Tensor x = from_vector(points, {static_cast<int64_t>(points.size())}, DType::float64).requires_grad_();
  Tensor y = sum(f(x));
  Tensor outs[1] = {y};
  Tensor ins[1] = {x};
  Tensor g = grad(outs, ins, {}, {.create_graph = true})[0];
  Tensor gs[1] = {sum(g)};
  Tensor h = grad(gs, ins)[0];
  return {g.detach(), h};
}

}  // namespace

TEST_SUITE("higher_order") {

TEST_CASE("second derivative of sigmoid: s (1 - s) (1 - 2 s)") {
  std::vector<double> pts = {-2, -0.3, 0, 0.7, 3};
  auto [g, h] = first_and_second([](const Tensor& x) { return sigmoid(x); }, pts);
  for (size_t i = 0; i < pts.size(); ++i) {
    double s = 1 / (1 + std::exp(-pts[i]));
    CHECK(g.value_at(static_cast<int64_t>(i)) == doctest::Approx(s * (1 - s)));
    CHECK(h.value_at(static_cast<int64_t>(i)) == doctest::Approx(s * (1 - s) * (1 - 2 * s)));
  }
}

TEST_CASE("second derivative of tanh: -2 t (1 - t^2)") {
  std::vector<double> pts = {-1.5, -0.2, 0.4, 2};
  auto [g, h] = first_and_second([](const Tensor& x) { return tanh(x); }, pts);
  for (size_t i = 0; i < pts.size(); ++i) {
    double t = std::tanh(pts[i]);
    CHECK(g.value_at(static_cast<int64_t>(i)) == doctest::Approx(1 - t * t));
    CHECK(h.value_at(static_cast<int64_t>(i)) == doctest::Approx(-2 * t * (1 - t * t)));
  }
}

TEST_CASE("x^3: first 3x^2, second 6x, third 6") {
  std::vector<double> pts = {-2, 0.5, 3};
  auto [g, h] = first_and_second([](const Tensor& x) { return x * x * x; }, pts);
  check_values(g, {12, 0.75, 27});
  check_values(h, {-12, 3, 18});
  Tensor x = from_vector(pts, {3}, DType::float64).requires_grad_();
  Tensor ins[1] = {x};
  Tensor y[1] = {sum(pow(x, 3))};
  Tensor g1[1] = {sum(grad(y, ins, {}, {.create_graph = true})[0])};
  Tensor g2[1] = {sum(grad(g1, ins, {}, {.create_graph = true})[0])};
  check_values(grad(g2, ins)[0], {6, 6, 6});
}

TEST_CASE("Hessian-vector product of a small MLP matches finite differences of its gradient") {
  Generator gen(5);
  Tensor x = randn({6, 3}, gen, DType::float64);
  Tensor labels = randint({6}, 0, 2, gen);
  Tensor W1 = randn({3, 4}, gen, DType::float64, 0, 0.7), b1 = randn({4}, gen, DType::float64, 0, 0.1);
  Tensor W2 = randn({4, 2}, gen, DType::float64, 0, 0.7);
  auto loss_of = [&](const Tensor& w1) {
    return softmax_cross_entropy(matmul(tanh(matmul(x, w1) + b1), W2), labels);
  };
  auto gradient = [&](const Tensor& w1, bool create) {
    Tensor w = create ? w1 : w1.detach().requires_grad_();
    Tensor outs[1] = {loss_of(w)};
    Tensor ins[1] = {w};
    return grad(outs, ins, {}, {.create_graph = create})[0];
  };
  Tensor v = randn({3, 4}, gen, DType::float64);
  Tensor w = W1.detach().requires_grad_();
  Tensor g = gradient(w, true);
  Tensor dot[1] = {sum(g * v)};
  Tensor ins[1] = {w};
  Tensor hvp = grad(dot, ins)[0];
  // (grad(w + eps v) - grad(w - eps v)) / 2 eps
  const double eps = 1e-5;
  NoGradGuard* none = nullptr;
  (void)none;
  Tensor gp = gradient(W1 + v * eps, false), gm = gradient(W1 - v * eps, false);
  Tensor numeric = (gp - gm) / (2 * eps);
  REQUIRE(hvp.shape() == numeric.shape());
  for (int64_t i = 0; i < hvp.numel(); ++i)
    CHECK(hvp.value_at(i) == doctest::Approx(numeric.value_at(i)).epsilon(1e-5).scale(1.0));
}

TEST_CASE("a gradient computed with create_graph is itself on the tape") {
  Tensor x = scalar(2.0, DType::float64).requires_grad_();
  Tensor y = x * x * x;
  y.backward({.create_graph = true});
  Tensor g = x.grad();
  CHECK(g.requires_grad());
  CHECK(g.item<double>() == doctest::Approx(12.0));
  Tensor outs[1] = {g};
  Tensor ins[1] = {x};
  CHECK(grad(outs, ins)[0].item<double>() == doctest::Approx(12.0));
}

}  // TEST_SUITE
