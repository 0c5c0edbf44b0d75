// Fused losses. Each returns a scalar (mean or sum over the batch) and has a
// short backward rule; Softmax-with-Loss's is simply (softmax(x) - t) / N.
#include "autograd/ops/builder.hpp"

namespace ag {

using detail::run;

namespace {

double divisor(Reduction r, int64_t n) { return r == Reduction::mean ? static_cast<double>(std::max<int64_t>(n, 1)) : 1.0; }

// Labels (n,) in [0, classes), or a dense (n, classes) target of the logits' dtype.
void check_target(Op op, const Tensor& x, const Tensor& t, bool allow_dense) {
  if (x.dim() != 2) fail(op_name(op), "needs (batch, classes) inputs, got shape {}", x.shape());
  const int64_t n = x.shape()[0], c = x.shape()[1];
  if (t.dtype() == DType::int64) {
    if (t.shape() != Shape{n})
      fail(op_name(op), "labels must have shape ({},) for inputs of shape {}, got {}", n, x.shape(), t.shape());
    detail::check_devices(op, x, t);
    // on a device the kernel checks them, without a copy to the host (Note [Checks on the device])
    if (!t.device().is_cpu()) return;
    const int64_t* p = t.impl()->data<int64_t>();
    for (int64_t i = 0; i < n; ++i)
      if (p[i] < 0 || p[i] >= c) fail(op_name(op), "label {} at row {} is out of range [0, {})", p[i], i, c);
    return;
  }
  // A 1-d target can only be labels; float ones are a common slip (tensor({0, 2, 1}, {3}) is float32).
  if (t.dim() == 1)
    fail(op_name(op),
         "labels must be int64 class indices: got {} of shape {}; pass tensor(..., DType::int64) or "
         "cast(t, DType::int64)",
         t.dtype(), t.shape());
  if (!allow_dense) fail(op_name(op), "needs int64 labels of shape ({},), got {} {}", n, t.dtype(), t.shape());
  detail::check_pair(op, x, t);
  if (t.shape() != x.shape())
    fail(op_name(op), "a dense target must have the logits' shape {}, got {}", x.shape(), t.shape());
}

void check_same_shape(Op op, const Tensor& a, const Tensor& b) {
  detail::check_pair(op, a, b);
  detail::check_float(op, a);
  if (a.shape() != b.shape())
    fail(op_name(op), "prediction and target shapes differ: {} and {}; reshape one so they match", a.shape(),
         b.shape());
}

Attrs loss_attrs(Reduction r, double n) {
  Attrs a;
  a.reduction = r;
  a.divisor = n;
  return a;
}

// The scalar upstream gradient divided by the loss's divisor.
Tensor scaled(const Tensor& gy, const BackwardCtx& ctx) { return mul_scalar(gy, 1.0 / ctx.attrs().divisor); }

}  // namespace

// Note [Saved intermediates]
// Softmax-with-Loss keeps softmax(x) for its backward, dx = (softmax(x) - t) / N,
// as the textbook's SoftmaxWithLoss layer keeps self.y and PyTorch's cross
// entropy keeps its log_softmax. It is an intermediate of the one fused node,
// not a node of its own: nothing differentiates through it (the rule uses it
// as a constant), so recording it would only add a node to every graph that
// backward never visits. It is computed by the softmax op's own kernel through
// detail::compute (ops/builder.hpp), the documented way to run a kernel
// without recording, so every device and dtype has it from the same kernel
// table, and saved on the node, where lifetime_report counts its bytes. Only a
// recording forward pays for it (a NoGradGuard evaluation does not), and
// with create_graph the rule recomputes softmax(x) as a recorded op instead,
// so second derivatives flow through x.
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& target, Reduction r) {
  detail::check_float(Op::softmax_cross_entropy, logits, "logits");
  check_target(Op::softmax_cross_entropy, logits, target, true);
  auto [y, n] = run<2>(Op::softmax_cross_entropy, {logits, target}, {}, logits.dtype(),
                       loss_attrs(r, divisor(r, logits.shape()[0])));
  if (n) {
    n->save(logits);
    n->save(target);
    Attrs row;
    row.axis = 1;
    // saved, not recorded: Note [Saved intermediates]
    n->save(detail::compute<1>(Op::softmax, {logits}, logits.shape(), logits.dtype(), row));
  }
  return y;
}
// dx = (softmax(x) - t) gy / N (t one-hot, or rows summing to one); dt = -log_softmax(x) gy / N
AG_BACKWARD(softmax_cross_entropy) {
  Tensor x = ctx.saved(0), t = ctx.saved(1);
  Tensor s = scaled(gy, ctx);
  // With create_graph the softmax is recomputed so that the rule is differentiable in x (Note [Saved intermediates]).
  Tensor p = grad_mode_enabled() ? softmax(x, 1) : ctx.saved(2);
  if (ctx.needs_grad(0)) {
    // a dense target whose rows do not sum to one scales the softmax by the row sum
    gx[0] = t.dtype() == DType::int64 ? (p - one_hot(t, x.shape()[1], x.dtype())) * s
                                      : (p * sum(t, {1}, true) - t) * s;
  }
  if (ctx.needs_grad(1)) gx[1] = -log_softmax(x, 1) * s;
}
AG_SAMPLE(softmax_cross_entropy) { return softmax_cross_entropy(x[0], x[1]); }

Tensor nll(const Tensor& log_probs, const Tensor& labels, Reduction r) {
  detail::check_float(Op::nll, log_probs, "log-probabilities");
  check_target(Op::nll, log_probs, labels, false);
  Attrs attrs = loss_attrs(r, divisor(r, log_probs.shape()[0]));
  attrs.axis = log_probs.shape()[1];  // classes, for the backward's one_hot
  auto [y, n] = run<2>(Op::nll, {log_probs, labels}, {}, log_probs.dtype(), attrs);
  if (n) n->save(labels);
  return y;
}
// d/dlogp[i, c] = -gy / N where c is row i's label, else 0
AG_BACKWARD(nll) {
  Tensor t = ctx.saved(0);
  gx[0] = one_hot(t, ctx.attrs().axis, gy.dtype()) * -scaled(gy, ctx);
}
AG_SAMPLE(nll) { return nll(log_softmax(x[0], 1), x[1]); }

Tensor mse(const Tensor& pred, const Tensor& target, Reduction r) {
  check_same_shape(Op::mse, pred, target);
  auto [y, n] = run<2>(Op::mse, {pred, target}, {}, pred.dtype(), loss_attrs(r, divisor(r, pred.numel())));
  if (n) {
    n->save(pred);
    n->save(target);
  }
  return y;
}
// d/dpred = 2 (pred - target) gy / n, d/dtarget = the negative
AG_BACKWARD(mse) {
  Tensor d = (ctx.saved(0) - ctx.saved(1)) * mul_scalar(scaled(gy, ctx), 2.0);
  if (ctx.needs_grad(0)) gx[0] = d;
  if (ctx.needs_grad(1)) gx[1] = -d;
}
AG_SAMPLE(mse) { return mse(x[0], x[1]); }

Tensor bce(const Tensor& p, const Tensor& target, Reduction r) {
  check_same_shape(Op::bce, p, target);
  // on a device the kernel checks them (Note [Checks on the device])
  for (int64_t i = 0; p.device().is_cpu() && i < p.numel(); ++i) {
    double v = p.value_at(i);
    if (!(v >= 0.0 && v <= 1.0))
      fail("bce", "probabilities must lie in [0, 1], got {} at flat index {}; use bce_with_logits on raw scores", v, i);
  }
  auto [y, n] = run<2>(Op::bce, {p, target}, {}, p.dtype(), loss_attrs(r, divisor(r, p.numel())));
  if (n) {
    n->save(p);
    n->save(target);
  }
  return y;
}
// d/dp = (p - t) / (p (1 - p)) gy / n, d/dt = (log(1 - p) - log p) gy / n
AG_BACKWARD(bce) {
  Tensor p = ctx.saved(0), t = ctx.saved(1), s = scaled(gy, ctx);
  if (ctx.needs_grad(0)) gx[0] = (p - t) / (p * (1.0 - p)) * s;
  if (ctx.needs_grad(1)) gx[1] = (log(1.0 - p) - log(p)) * s;
}
AG_SAMPLE(bce) { return bce(x[0], x[1]); }

Tensor bce_with_logits(const Tensor& logits, const Tensor& target, Reduction r) {
  check_same_shape(Op::bce_with_logits, logits, target);
  auto [y, n] = run<2>(Op::bce_with_logits, {logits, target}, {}, logits.dtype(),
                       loss_attrs(r, divisor(r, logits.numel())));
  if (n) {
    n->save(logits);
    n->save(target);
  }
  return y;
}
// d/dx = (sigmoid(x) - t) gy / n, d/dt = -x gy / n
AG_BACKWARD(bce_with_logits) {
  Tensor x = ctx.saved(0), s = scaled(gy, ctx);
  if (ctx.needs_grad(0)) gx[0] = (sigmoid(x) - ctx.saved(1)) * s;
  if (ctx.needs_grad(1)) gx[1] = -x * s;
}
AG_SAMPLE(bce_with_logits) { return bce_with_logits(x[0], x[1]); }

}  // namespace ag
