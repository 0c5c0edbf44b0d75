// Elementwise ops: builders, each with its backward rule right below it and
// the call the gradient-check suite samples. Binary ops broadcast through
// broadcast_to (explicit reshape/repeat nodes), so rules see equal shapes.
#include "autograd/ops/builder.hpp"

namespace ag {

using detail::run;

namespace {

Tensor unary(Op op, const Tensor& x, const Attrs& attrs = {}, bool save_in = false, bool save_out = false) {
  detail::check_float(op, x);
  auto [y, n] = run<1>(op, {x}, x.shape(), x.dtype(), attrs);
  if (n && save_in) n->save(x);
  if (n && save_out) n->save(y);
  return y;
}

Tensor binary(Op op, const Tensor& a, const Tensor& b, bool save) {
  detail::check_pair(op, a, b);
  detail::check_float(op, a);
  if (a.shape() != b.shape()) {
    Shape s = broadcast_shapes(a.shape(), b.shape(), op_name(op));
    return binary(op, detail::broadcast_operand(a, s), detail::broadcast_operand(b, s), save);
  }
  auto [y, n] = run<2>(op, {a, b}, a.shape(), a.dtype());
  if (n && save) {
    n->save(a);
    n->save(b);
  }
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(Op::add, a, b, false); }
// d(a+b)/da = 1, d(a+b)/db = 1
AG_BACKWARD(add) {
  if (ctx.needs_grad(0)) gx[0] = gy;
  if (ctx.needs_grad(1)) gx[1] = gy;
}
AG_SAMPLE(add) { return x[0] + x[1]; }

Tensor sub(const Tensor& a, const Tensor& b) { return binary(Op::sub, a, b, false); }
// d(a-b)/da = 1, d(a-b)/db = -1
AG_BACKWARD(sub) {
  if (ctx.needs_grad(0)) gx[0] = gy;
  if (ctx.needs_grad(1)) gx[1] = neg(gy);
}
AG_SAMPLE(sub) { return x[0] - x[1]; }

Tensor mul(const Tensor& a, const Tensor& b) { return binary(Op::mul, a, b, true); }
// d(ab)/da = b, d(ab)/db = a: the inputs swap
AG_BACKWARD(mul) {
  if (ctx.needs_grad(0)) gx[0] = gy * ctx.saved(1);
  if (ctx.needs_grad(1)) gx[1] = gy * ctx.saved(0);
}
AG_SAMPLE(mul) { return x[0] * x[1]; }

Tensor div(const Tensor& a, const Tensor& b) { return binary(Op::div, a, b, true); }
// d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
AG_BACKWARD(div) {
  Tensor b = ctx.saved(1);
  if (ctx.needs_grad(0)) gx[0] = gy / b;
  if (ctx.needs_grad(1)) gx[1] = neg(gy * ctx.saved(0) / (b * b));
}
AG_SAMPLE(div) { return x[0] / x[1]; }

Tensor neg(const Tensor& x) { return unary(Op::neg, x); }
// d(-x)/dx = -1
AG_BACKWARD(neg) { gx[0] = neg(gy); }
AG_SAMPLE(neg) { return -x[0]; }

Tensor add_scalar(const Tensor& x, double c) {
  Attrs a;
  a.scalar = c;
  return unary(Op::add_scalar, x, a);
}
// d(x+c)/dx = 1
AG_BACKWARD(add_scalar) { gx[0] = gy; }
AG_SAMPLE(add_scalar) { return x[0] + 2.5; }

Tensor mul_scalar(const Tensor& x, double c) {
  Attrs a;
  a.scalar = c;
  return unary(Op::mul_scalar, x, a);
}
// d(cx)/dx = c
AG_BACKWARD(mul_scalar) { gx[0] = mul_scalar(gy, ctx.attrs().scalar); }
AG_SAMPLE(mul_scalar) { return x[0] * -1.5; }

Tensor pow(const Tensor& x, double p) {
  Attrs a;
  a.scalar = p;
  return unary(Op::pow, x, a, true);
}
// d(x^p)/dx = p x^(p-1)
AG_BACKWARD(pow) {
  double p = ctx.attrs().scalar;
  gx[0] = mul_scalar(gy * pow(ctx.saved(0), p - 1.0), p);
}
AG_SAMPLE(pow) { return pow(x[0], 2.5); }

Tensor exp(const Tensor& x) { return unary(Op::exp, x, {}, false, true); }
// d(e^x)/dx = e^x = y
AG_BACKWARD(exp) { gx[0] = gy * ctx.saved(0); }
AG_SAMPLE(exp) { return exp(x[0]); }

Tensor log(const Tensor& x) { return unary(Op::log, x, {}, true); }
// d(log x)/dx = 1/x
AG_BACKWARD(log) { gx[0] = gy / ctx.saved(0); }
AG_SAMPLE(log) { return log(x[0]); }

Tensor sqrt(const Tensor& x) { return unary(Op::sqrt, x, {}, false, true); }
// d(sqrt x)/dx = 1 / (2 sqrt x) = 0.5 / y
AG_BACKWARD(sqrt) { gx[0] = mul_scalar(gy / ctx.saved(0), 0.5); }
AG_SAMPLE(sqrt) { return sqrt(x[0]); }

Tensor abs(const Tensor& x) { return unary(Op::abs, x, {}, true); }
// d|x|/dx = sign(x)
AG_BACKWARD(abs) { gx[0] = gy * sign(ctx.saved(0)); }
AG_SAMPLE(abs) { return abs(x[0]); }

Tensor sigmoid(const Tensor& x) { return unary(Op::sigmoid, x, {}, false, true); }
// d sigmoid(x)/dx = y (1 - y)
AG_BACKWARD(sigmoid) { gx[0] = sigmoid_backward(ctx.saved(0), gy); }
AG_SAMPLE(sigmoid) { return sigmoid(x[0]); }

// Fused so that sigmoid's backward is one node and one pass, not three.
Tensor sigmoid_backward(const Tensor& y, const Tensor& gy) { return binary(Op::sigmoid_backward, y, gy, true); }
// z = g y (1 - y): dz/dy = g (1 - 2y), dz/dg = y (1 - y)
AG_BACKWARD(sigmoid_backward) {
  Tensor y = ctx.saved(0);
  if (ctx.needs_grad(0)) gx[0] = gy * ctx.saved(1) * (1.0 - 2.0 * y);
  if (ctx.needs_grad(1)) gx[1] = sigmoid_backward(y, gy);
}
AG_SAMPLE(sigmoid_backward) { return sigmoid_backward(x[0], x[1]); }

Tensor tanh(const Tensor& x) { return unary(Op::tanh, x, {}, false, true); }
// d tanh(x)/dx = 1 - y^2
AG_BACKWARD(tanh) { gx[0] = tanh_backward(ctx.saved(0), gy); }
AG_SAMPLE(tanh) { return tanh(x[0]); }

Tensor tanh_backward(const Tensor& y, const Tensor& gy) { return binary(Op::tanh_backward, y, gy, true); }
// z = g (1 - y^2): dz/dy = -2 g y, dz/dg = 1 - y^2
AG_BACKWARD(tanh_backward) {
  Tensor y = ctx.saved(0);
  if (ctx.needs_grad(0)) gx[0] = gy * ctx.saved(1) * y * -2.0;
  if (ctx.needs_grad(1)) gx[1] = tanh_backward(y, gy);
}
AG_SAMPLE(tanh_backward) { return tanh_backward(x[0], x[1]); }

Tensor relu(const Tensor& x) { return unary(Op::relu, x, {}, false, true); }
// d relu(x)/dx = 1 where x > 0 (equivalently y > 0), else 0
AG_BACKWARD(relu) { gx[0] = relu_backward(ctx.saved(0), gy); }
AG_SAMPLE(relu) { return relu(x[0]); }

Tensor relu_backward(const Tensor& y, const Tensor& gy) { return binary(Op::relu_backward, y, gy, true); }
// z = g [y > 0]: dz/dy = 0 (away from the kink), dz/dg = [y > 0]
AG_BACKWARD(relu_backward) {
  Tensor y = ctx.saved(0);
  if (ctx.needs_grad(0)) gx[0] = zeros_like(y);
  if (ctx.needs_grad(1)) gx[1] = relu_backward(y, gy);
}
AG_SAMPLE(relu_backward) { return relu_backward(x[0], x[1]); }

Tensor leaky_relu(const Tensor& x, double slope) {
  Attrs a;
  a.slope = slope;
  return unary(Op::leaky_relu, x, a, true);
}
// d leaky_relu(x)/dx = 1 where x > 0, else slope
AG_BACKWARD(leaky_relu) {
  double s = ctx.attrs().slope;
  gx[0] = gy * add_scalar(mul_scalar(heaviside(ctx.saved(0)), 1.0 - s), s);
}
AG_SAMPLE(leaky_relu) { return leaky_relu(x[0], 0.1); }

Tensor elu(const Tensor& x, double alpha) {
  Attrs a;
  a.alpha = alpha;
  return unary(Op::elu, x, a, true, true);
}
// d elu(x)/dx = 1 where x > 0, else alpha e^x = y + alpha
AG_BACKWARD(elu) {
  Tensor x = ctx.saved(0), y = ctx.saved(1);
  gx[0] = gy * where(heaviside(x), ones_like(gy), add_scalar(y, ctx.attrs().alpha));
}
AG_SAMPLE(elu) { return elu(x[0], 0.7); }

Tensor softplus(const Tensor& x) { return unary(Op::softplus, x, {}, /*save_in=*/true); }
// d softplus(x)/dx = e^x / (1 + e^x) = sigmoid(x)
AG_BACKWARD(softplus) { gx[0] = gy * sigmoid(ctx.saved(0)); }
AG_SAMPLE(softplus) { return softplus(x[0] * 4.0); }

Tensor clip(const Tensor& x, double lo, double hi) {
  if (!(lo <= hi)) fail("clip", "needs lo <= hi, got lo {} and hi {}", lo, hi);
  Attrs a;
  a.lo = lo;
  a.hi = hi;
  return unary(Op::clip, x, a, true);
}
// d clip(x)/dx = 1 where lo < x < hi, else 0
AG_BACKWARD(clip) {
  Tensor x = ctx.saved(0);
  gx[0] = gy * heaviside(add_scalar(x, -ctx.attrs().lo)) * heaviside(add_scalar(neg(x), ctx.attrs().hi));
}
AG_SAMPLE(clip) { return clip(x[0], -0.5, 0.5); }

// The rule of maximum (and, with a and b swapped in the comparison, minimum):
// gy goes to a where a wins, to b where b wins, and in halves where they tie.
static void backward_pick(BackwardCtx& ctx, const Tensor& gy, Grads& gx, bool larger) {
  Tensor a = ctx.saved(0), b = ctx.saved(1);
  Tensor to_a = heaviside(larger ? a - b : b - a) + eq(a, b) * 0.5;
  if (ctx.needs_grad(0)) gx[0] = gy * to_a;
  if (ctx.needs_grad(1)) gx[1] = gy * (1.0 - to_a);
}

Tensor maximum(const Tensor& a, const Tensor& b) { return binary(Op::maximum, a, b, /*save=*/true); }
// d max(a, b)/da = [a > b], d/db = [a < b]; where a == b each gets half
AG_BACKWARD(maximum) { backward_pick(ctx, gy, gx, /*larger=*/true); }
AG_SAMPLE(maximum) { return maximum(x[0], x[1]); }

// Minimum, sin, cos, erf, gelu, silu

Tensor minimum(const Tensor& a, const Tensor& b) { return binary(Op::minimum, a, b, /*save=*/true); }
// d min(a, b)/da = [a < b], d/db = [a > b]; where a == b each gets half
AG_BACKWARD(minimum) { backward_pick(ctx, gy, gx, /*larger=*/false); }
AG_SAMPLE(minimum) { return minimum(x[0], x[1]); }

Tensor sin(const Tensor& x) { return unary(Op::sin, x, {}, /*save_in=*/true); }
// d sin(x)/dx = cos(x)
AG_BACKWARD(sin) { gx[0] = gy * cos(ctx.saved(0)); }
AG_SAMPLE(sin) { return sin(x[0] * 2.0); }

Tensor cos(const Tensor& x) { return unary(Op::cos, x, {}, /*save_in=*/true); }
// d cos(x)/dx = -sin(x)
AG_BACKWARD(cos) { gx[0] = neg(gy * sin(ctx.saved(0))); }
AG_SAMPLE(cos) { return cos(x[0] * 2.0); }

namespace {
constexpr double kTwoOverSqrtPi = 1.12837916709551257390;    // 2 / √π
constexpr double kInvSqrt2 = 0.70710678118654752440;         // 1 / √2
constexpr double kInvSqrt2Pi = 0.39894228040143267794;       // 1 / √(2π)
}  // namespace

Tensor erf(const Tensor& x) { return unary(Op::erf, x, {}, /*save_in=*/true); }
// d erf(x)/dx = 2/√π · e^(-x²)
AG_BACKWARD(erf) {
  Tensor x = ctx.saved(0);
  gx[0] = gy * mul_scalar(exp(neg(x * x)), kTwoOverSqrtPi);
}
AG_SAMPLE(erf) { return erf(x[0]); }

Tensor gelu(const Tensor& x) { return unary(Op::gelu, x, {}, /*save_in=*/true); }
// d (x Φ(x))/dx = Φ(x) + x φ(x), Φ(x) = (1 + erf(x/√2)) / 2, φ(x) = e^(-x²/2) / √(2π)
AG_BACKWARD(gelu) {
  Tensor x = ctx.saved(0);
  Tensor cdf = mul_scalar(add_scalar(erf(mul_scalar(x, kInvSqrt2)), 1.0), 0.5);
  Tensor pdf = mul_scalar(exp(mul_scalar(x * x, -0.5)), kInvSqrt2Pi);
  gx[0] = gy * (cdf + x * pdf);
}
AG_SAMPLE(gelu) { return gelu(x[0] * 1.5); }

Tensor silu(const Tensor& x) { return unary(Op::silu, x, {}, /*save_in=*/true); }
// d (x s(x))/dx = s + x s (1 - s) = s (1 + x (1 - s)), s = sigmoid(x)
AG_BACKWARD(silu) {
  Tensor x = ctx.saved(0);
  Tensor s = sigmoid(x);
  gx[0] = gy * s * (1.0 + x * (1.0 - s));
}
AG_SAMPLE(silu) { return silu(x[0] * 2.0); }


Tensor Tensor::clone() const {
  if (is_floating(dtype())) return unary(Op::clone, *this);
  Tensor y = empty(shape(), dtype(), device());  // labels and indices: a plain copy
  std::array<Tensor, 1> in{*this};
  dispatch(Op::clone, in, y, {});
  return y;
}
// d copy(x)/dx = 1
AG_BACKWARD(clone) { gx[0] = gy; }
AG_SAMPLE(clone) { return x[0].clone(); }

Tensor cast(const Tensor& x, DType dtype) {
  Attrs a;
  a.dtype = dtype;
  a.src_dtype = x.dtype();
  // To its own dtype: a view node (Note [No aliases from differentiable ops]).
  if (x.dtype() == dtype) return detail::view(Op::cast, x, x.shape(), a);
  Tensor y = empty(x.shape(), dtype, x.device());
  std::array<Tensor, 1> in{x};
  dispatch(Op::cast, in, y, a);
  if (is_floating(x.dtype()) && is_floating(dtype)) record(Op::cast, in, y, a);
  return y;
}
// the gradient is cast back to the input's dtype
AG_BACKWARD(cast) { gx[0] = cast(gy, ctx.attrs().src_dtype); }
AG_SAMPLE(cast) {
  const DType other = x[0].dtype() == DType::float64 ? DType::float32 : DType::float64;
  return cast(cast(x[0], other), x[0].dtype());
}

Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b) {
  detail::check_pair(Op::where, mask, a);
  detail::check_pair(Op::where, a, b);
  detail::check_float(Op::where, a);
  if (mask.shape() != a.shape() || a.shape() != b.shape()) {
    Shape s = broadcast_shapes(broadcast_shapes(mask.shape(), a.shape(), "where"), b.shape(), "where");
    return where(detail::broadcast_operand(mask, s), detail::broadcast_operand(a, s), detail::broadcast_operand(b, s));
  }
  auto [y, n] = run<3>(Op::where, {mask, a, b}, a.shape(), a.dtype());
  if (n) n->save(mask);
  return y;
}
// d/da = mask, d/db = 1 - mask; the mask gets no gradient
AG_BACKWARD(where) {
  Tensor m = ctx.saved(0);
  if (ctx.needs_grad(1)) gx[1] = gy * m;
  if (ctx.needs_grad(2)) gx[2] = gy * (1.0 - m);
}
AG_SAMPLE(where) { return where(x[0], x[1], x[2]); }

// Not differentiable: never recorded.
Tensor heaviside(const Tensor& x) { return unary(Op::heaviside, x); }
AG_SAMPLE(heaviside) { return heaviside(x[0]); }
Tensor sign(const Tensor& x) { return unary(Op::sign, x); }
AG_SAMPLE(sign) { return sign(x[0]); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary(Op::eq, a, b, false); }
AG_SAMPLE(eq) { return eq(x[0], x[1]); }

// ---- dropout (normalisation, embedding, dropout section of ops.def) ----------------

Tensor dropout_seeded(const Tensor& x, double p, uint64_t seed) {
  detail::check_float(Op::dropout, x);
  if (!(p >= 0.0 && p < 1.0)) fail("dropout", "needs 0 <= p < 1, got p = {} for an input of shape {}", p, x.shape());
  if (p == 0.0) return x;
  Attrs a;
  a.scalar = p;
  a.seed = seed;
  return unary(Op::dropout, x, a);
}
// y = x · mask / (1 − p) is linear in x: dx = dy · mask / (1 − p), dropout of dy with the same seed
AG_BACKWARD(dropout) { gx[0] = dropout_seeded(gy, ctx.attrs().scalar, ctx.attrs().seed); }
AG_SAMPLE(dropout) { return dropout_seeded(x[0], 0.5, 20261201); }

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  if (!(p >= 0.0 && p < 1.0)) fail("dropout", "needs 0 <= p < 1, got p = {} for an input of shape {}", p, x.shape());
  if (!training || p == 0.0) return x;
  return dropout_seeded(x, p, gen.engine()());
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add_scalar(a, b); }
Tensor operator+(double a, const Tensor& b) { return add_scalar(b, a); }
Tensor operator-(const Tensor& a, double b) { return add_scalar(a, -b); }
Tensor operator-(double a, const Tensor& b) { return add_scalar(neg(b), a); }
Tensor operator*(const Tensor& a, double b) { return mul_scalar(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul_scalar(b, a); }
Tensor operator/(const Tensor& a, double b) { return mul_scalar(a, 1.0 / b); }
Tensor operator/(double a, const Tensor& b) { return mul_scalar(pow(b, -1.0), a); }

}  // namespace ag
