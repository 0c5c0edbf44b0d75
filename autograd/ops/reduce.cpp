// Reductions over axes (Sum, whose backward is Repeat; Mean; Max/Min), argmax,
// and the softmax family along one axis.
#include <algorithm>

#include "autograd/ops/builder.hpp"

namespace ag {

using detail::run;

namespace {

// Sorted, unique, non-negative axes; empty means all axes.
Axes normalize_axes(const Tensor& x, const Axes& axes, std::string_view op) {
  Axes a;
  if (axes.empty()) {
    for (int64_t i = 0; i < x.dim(); ++i) a.push_back(i);
    return a;
  }
  for (int64_t ax : axes) a.push_back(normalize_axis(ax, x.dim(), op));
  std::sort(a.begin(), a.end());
  if (std::adjacent_find(a.begin(), a.end()) != a.end()) fail(op, "axis listed twice in {}", axes);
  return a;
}

// x's shape with the reduced axes set to 1 (keepdims) or removed.
Shape reduced_shape(const Shape& s, const Axes& axes, bool keepdims) {
  Shape out;
  for (size_t i = 0, k = 0; i < s.size(); ++i) {
    bool reduced = k < axes.size() && axes[k] == static_cast<int64_t>(i);
    if (reduced) ++k;
    if (!reduced) out.push_back(s[i]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

int64_t reduced_count(const Shape& s, const Axes& axes) {
  int64_t n = 1;
  for (int64_t a : axes) n *= s[static_cast<size_t>(a)];
  return n;
}

Tensor reduce(Op op, const Tensor& x, const Axes& axes, bool keepdims, bool save) {
  detail::check_float(op, x);
  Attrs attrs;
  attrs.axes = normalize_axes(x, axes, op_name(op));
  attrs.keepdims = keepdims;
  attrs.shape = x.shape();
  if (op == Op::max || op == Op::min)
    for (int64_t a : attrs.axes)
      if (x.shape()[static_cast<size_t>(a)] == 0) fail(op_name(op), "cannot reduce an empty axis {} of shape {}", a, x.shape());
  auto [y, n] = run<1>(op, {x}, reduced_shape(x.shape(), attrs.axes, keepdims), x.dtype(), attrs);
  if (n && save) {
    n->save(x);
    n->save(y);
  }
  return y;
}

// gy brought back to the input's shape: reshaped to keepdims, then repeated.
Tensor expand_back(const Tensor& gy, const Attrs& a) {
  const Shape kept = reduced_shape(a.shape, a.axes, true);
  return detail::broadcast_operand(gy.shape() == kept ? gy : reshape(gy, kept), a.shape);
}

}  // namespace

Tensor sum(const Tensor& x, const Axes& axes, bool keepdims) { return reduce(Op::sum, x, axes, keepdims, false); }
// Sum's backward is Repeat: the gradient is copied along the summed axes
AG_BACKWARD(sum) { gx[0] = expand_back(gy, ctx.attrs()); }
AG_SAMPLE(sum) { return x[0].dim() == 3 ? sum(x[0], {0, 2}) : sum(x[0]); }

Tensor mean(const Tensor& x, const Axes& axes, bool keepdims) { return reduce(Op::mean, x, axes, keepdims, false); }
// d mean/dx = 1/n, repeated along the reduced axes
AG_BACKWARD(mean) {
  const Attrs& a = ctx.attrs();
  gx[0] = mul_scalar(expand_back(gy, a), 1.0 / static_cast<double>(reduced_count(a.shape, a.axes)));
}
AG_SAMPLE(mean) { return x[0].dim() == 3 ? mean(x[0], {1}, true) : mean(x[0]); }

Tensor max(const Tensor& x, const Axes& axes, bool keepdims) { return reduce(Op::max, x, axes, keepdims, true); }
Tensor min(const Tensor& x, const Axes& axes, bool keepdims) { return reduce(Op::min, x, axes, keepdims, true); }

// d max/dx = 1 at the maximum (shared equally between ties), else 0; min alike
static void backward_extremum(BackwardCtx& ctx, const Tensor& gy, Grads& gx) {
  const Attrs& a = ctx.attrs();
  Tensor x = ctx.saved(0);
  Tensor mask = eq(x, expand_back(ctx.saved(1), a));
  gx[0] = mask * expand_back(gy, a) / detail::broadcast_operand(sum(mask, a.axes, true), a.shape);
}
AG_BACKWARD(max) { backward_extremum(ctx, gy, gx); }
AG_BACKWARD(min) { backward_extremum(ctx, gy, gx); }
AG_SAMPLE(max) { return x[0].dim() == 3 ? max(x[0], {0, 2}) : max(x[0], {1}); }
AG_SAMPLE(min) { return x[0].dim() == 3 ? min(x[0], {1}, true) : min(x[0], {0}); }

// ---- Composites (Note [Composite ops] in ops/op.hpp) ------------------------------

// sum((x - mean)²) / (n - correction), recorded as its parts
Tensor var(const Tensor& x, const Axes& axes, int64_t correction, bool keepdims) {
  detail::check_float(Op::var, x);
  const Axes a = normalize_axes(x, axes, "var");
  const int64_t n = reduced_count(x.shape(), a);
  if (correction < 0) fail("var", "needs a correction >= 0, got {}", correction);
  if (n - correction <= 0)
    fail("var", "reduces {} values of shape {} over axes {}, which is not more than the correction {}", n, x.shape(),
         a, correction);
  Tensor d = x - mean(x, a, true);
  return mul_scalar(sum(d * d, a, keepdims), 1.0 / static_cast<double>(n - correction));
}
AG_SAMPLE(var) { return x[0].dim() == 3 ? var(x[0], {0, 2}) : var(x[0], {}, 0); }

Tensor std(const Tensor& x, const Axes& axes, int64_t correction, bool keepdims) {
  detail::check_float(Op::std, x);
  return sqrt(var(x, axes, correction, keepdims));
}
AG_SAMPLE(std) { return x[0].dim() == 3 ? std(x[0], {1}, 1, true) : std(x[0]); }

Tensor argmax(const Tensor& x, int64_t axis, bool keepdims) {
  detail::check_float(Op::argmax, x);
  Attrs attrs;
  attrs.axis = normalize_axis(axis, x.dim(), "argmax");
  if (x.shape()[static_cast<size_t>(attrs.axis)] == 0) fail("argmax", "axis {} of shape {} is empty", axis, x.shape());
  return run<1>(Op::argmax, {x}, reduced_shape(x.shape(), {attrs.axis}, keepdims), DType::int64, attrs).first;
}
AG_SAMPLE(argmax) { return argmax(x[0], 1); }

// Logsumexp (a composite) and argmin

// m + log(sum(e^(x - m))) with m = max(x) over the axes (0 where that is not finite), recorded as its parts.
// m is computed without recording: its gradient would cancel (dm · (1 - Σ softmax) = 0),
// so the recorded parts still give dx = dy · softmax(x), to any order.
Tensor logsumexp(const Tensor& x, const Axes& axes, bool keepdims) {
  detail::check_float(Op::logsumexp, x);
  const Axes a = normalize_axes(x, axes, "logsumexp");
  for (int64_t ax : a)
    if (x.shape()[static_cast<size_t>(ax)] == 0)
      fail("logsumexp", "cannot reduce an empty axis {} of shape {}", ax, x.shape());
  Tensor m;
  {
    NoGradGuard no_grad;
    m = max(x, a, true);
    // an infinite (or NaN) max is replaced by 0, as torch does: all -inf gives -inf, a +inf gives +inf
    const Tensor finite = eq(m - m, zeros_like(m));  // inf - inf and NaN - NaN are NaN
    m = where(finite, m, zeros_like(m));
  }
  Tensor lse = log(sum(exp(x - m), a, keepdims));
  return lse + (keepdims ? m : reshape(m, reduced_shape(x.shape(), a, false)));
}
AG_SAMPLE(logsumexp) { return x[0].dim() == 3 ? logsumexp(x[0] * 3.0, {0, 2}) : logsumexp(x[0] * 3.0, {}, true); }

Tensor argmin(const Tensor& x, int64_t axis, bool keepdims) {
  detail::check_float(Op::argmin, x);
  Attrs attrs;
  attrs.axis = normalize_axis(axis, x.dim(), "argmin");
  if (x.shape()[static_cast<size_t>(attrs.axis)] == 0) fail("argmin", "axis {} of shape {} is empty", axis, x.shape());
  return run<1>(Op::argmin, {x}, reduced_shape(x.shape(), {attrs.axis}, keepdims), DType::int64, attrs).first;
}
AG_SAMPLE(argmin) { return argmin(x[0], 1); }


Tensor softmax(const Tensor& x, int64_t axis) {
  detail::check_float(Op::softmax, x);
  Attrs attrs;
  attrs.axis = normalize_axis(axis, x.dim(), "softmax");
  auto [y, n] = run<1>(Op::softmax, {x}, x.shape(), x.dtype(), attrs);
  if (n) n->save(y);
  return y;
}
// dx = y * (gy - sum(gy * y, axis))
AG_BACKWARD(softmax) {
  Tensor y = ctx.saved(0);
  gx[0] = y * (gy - sum(gy * y, {ctx.attrs().axis}, true));
}
AG_SAMPLE(softmax) { return softmax(x[0], x[0].dim() == 3 ? 1 : -1); }

Tensor log_softmax(const Tensor& x, int64_t axis) {
  detail::check_float(Op::log_softmax, x);
  Attrs attrs;
  attrs.axis = normalize_axis(axis, x.dim(), "log_softmax");
  auto [y, n] = run<1>(Op::log_softmax, {x}, x.shape(), x.dtype(), attrs);
  if (n) n->save(y);
  return y;
}
// dx = gy - softmax(x) * sum(gy, axis), with softmax(x) = e^y
AG_BACKWARD(log_softmax) {
  gx[0] = gy - exp(ctx.saved(0)) * sum(gy, {ctx.attrs().axis}, true);
}
AG_SAMPLE(log_softmax) { return log_softmax(x[0], x[0].dim() == 3 ? 1 : -1); }

}  // namespace ag
