// Normalisation and embedding, all composites (Note [Composite ops] in ops/op.hpp):
// batch_norm and layer_norm record the book's computational graph (mean, sub,
// mul, div, sqrt), embedding records index_select. Dropout, which has kernels
// of its own, is in ops/elementwise.cpp.
#include "autograd/ops/builder.hpp"

namespace ag {

namespace {

// A per-channel parameter or statistic: undefined, or (C,) with x's dtype and device.
void check_channel(const Tensor& t, const char* op, const char* role, const Tensor& x, const Shape& want) {
  if (!t.defined()) return;
  if (t.shape() != want)
    fail(op, "{} must have shape {} for an input of shape {}, got {}", role, want, x.shape(), t.shape());
  if (t.dtype() != x.dtype())
    fail(op, "{} has dtype {} but the input {} has {}", role, t.dtype(), x.shape(), x.dtype());
  if (t.device() != x.device())
    fail(op, "{} is on {} but the input is on {}; move one with .to()", role, t.device(), x.device());
}

// xhat · gamma + beta, each when defined, gamma and beta reshaped to `shape` to broadcast.
Tensor scale_shift(Tensor y, const Tensor& gamma, const Tensor& beta, const Shape& shape) {
  if (gamma.defined()) y = y * reshape(gamma, shape);
  if (beta.defined()) y = y + reshape(beta, shape);
  return y;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  detail::check_float(Op::batch_norm, x);
  if (x.dim() != 2 && x.dim() != 4)
    fail("batch_norm", "needs an input of shape (N, C) or (N, C, H, W), got {}", x.shape());
  const int64_t c = x.shape()[1];
  const Shape cshape{c};
  check_channel(gamma, "batch_norm", "gamma", x, cshape);
  check_channel(beta, "batch_norm", "beta", x, cshape);
  check_channel(running_mean, "batch_norm", "running_mean", x, cshape);
  check_channel(running_var, "batch_norm", "running_var", x, cshape);
  if (running_mean.defined() != running_var.defined())
    fail("batch_norm", "needs both running_mean and running_var or neither (input shape {})", x.shape());
  if (!(eps >= 0.0)) fail("batch_norm", "needs eps >= 0, got {}", eps);
  if (!(momentum >= 0.0 && momentum <= 1.0)) fail("batch_norm", "needs momentum in [0, 1], got {}", momentum);
  const Axes axes = x.dim() == 2 ? Axes{0} : Axes{0, 2, 3};
  const Shape bshape = x.dim() == 2 ? Shape{1, c} : Shape{1, c, 1, 1};  // a channel vector that broadcasts
  if (!training) {
    if (!running_mean.defined())
      fail("batch_norm", "evaluation needs running_mean and running_var (input shape {})", x.shape());
    Tensor xhat = (x - reshape(running_mean, bshape)) / sqrt(reshape(running_var, bshape) + eps);
    return scale_shift(xhat, gamma, beta, bshape);
  }
  const int64_t n = c == 0 ? 0 : x.numel() / c;  // values per channel
  if (n <= 1)
    fail("batch_norm", "training needs more than 1 value per channel to compute a variance, got an input of shape {}",
         x.shape());
  Tensor mu = mean(x, axes, true);
  Tensor d = x - mu;
  Tensor v = mean(d * d, axes, true);  // the biased variance normalises
  Tensor xhat = d / sqrt(v + eps);
  if (running_mean.defined()) {
    NoGradGuard no_grad;
    Tensor rm = running_mean, rv = running_var;
    rm.mul_(1.0 - momentum).add_(reshape(mu.detach(), cshape), momentum);
    // the running variance is the unbiased one: n / (n - 1) times the biased
    rv.mul_(1.0 - momentum)
        .add_(reshape(v.detach(), cshape), momentum * static_cast<double>(n) / static_cast<double>(n - 1));
  }
  return scale_shift(xhat, gamma, beta, bshape);
}
// Cases: (N, C) and (N, C, H, W) in training; the 5-row case in evaluation, with fixed running stats.
AG_SAMPLE(batch_norm) {
  const int64_t c = x[0].shape()[1];
  const bool eval = x[0].shape()[0] == 5;
  Tensor rm = full({c}, eval ? 0.25 : 0.0, x[0].dtype(), x[0].device());
  Tensor rv = full({c}, eval ? 1.5 : 1.0, x[0].dtype(), x[0].device());
  return batch_norm(x[0], x[1], x[2], rm, rv, !eval);
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& gamma, const Tensor& beta,
                  double eps) {
  detail::check_float(Op::layer_norm, x);
  const auto k = static_cast<int64_t>(normalized_shape.size());
  if (k == 0) fail("layer_norm", "needs a non-empty normalized_shape (input shape {})", x.shape());
  const Shape tail = k <= x.dim() ? Shape(x.shape().end() - k, x.shape().end()) : Shape{};
  if (k > x.dim() || tail != normalized_shape)
    fail("layer_norm", "the input's last axes must be normalized_shape {}, got an input of shape {}", normalized_shape,
         x.shape());
  check_channel(gamma, "layer_norm", "gamma", x, normalized_shape);
  check_channel(beta, "layer_norm", "beta", x, normalized_shape);
  if (!(eps >= 0.0)) fail("layer_norm", "needs eps >= 0, got {}", eps);
  Axes axes;
  for (int64_t a = x.dim() - k; a < x.dim(); ++a) axes.push_back(a);
  Tensor d = x - mean(x, axes, true);
  Tensor v = mean(d * d, axes, true);
  Tensor y = d / sqrt(v + eps);
  if (gamma.defined()) y = y * gamma;  // broadcast over the leading axes
  if (beta.defined()) y = y + beta;
  return y;
}
AG_SAMPLE(layer_norm) { return layer_norm(x[0], x[1].shape(), x[1], x[2]); }

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  detail::check_float(Op::embedding, weight, "weight");
  detail::check_int(Op::embedding, indices, "indices");
  detail::check_devices(Op::embedding, weight, indices);
  if (weight.dim() != 2) fail("embedding", "needs a weight of shape (num, dim), got {}", weight.shape());
  const int64_t num = weight.shape()[0], dim = weight.shape()[1];
  if (padding_idx) {
    if (*padding_idx < -num || *padding_idx >= num)
      fail("embedding", "padding_idx {} is out of range for a table of {} rows", *padding_idx, num);
    if (*padding_idx < 0) *padding_idx += num;
  }
  const std::vector<int64_t> idx = indices.to_vector<int64_t>();  // checked on the host
  for (size_t i = 0; i < idx.size(); ++i)
    if (idx[i] < 0 || idx[i] >= num)
      fail("embedding", "index {} (at flat position {} of indices {}) is out of range for a table of {} rows", idx[i],
           i, indices.shape(), num);
  const auto n = static_cast<int64_t>(idx.size());
  Tensor rows = index_select(weight, reshape(indices, {n}), 0);
  if (padding_idx) {
    // the same values, but the padding row's entries come from a detached copy: no gradient
    std::vector<double> keep(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) keep[i] = idx[i] == *padding_idx ? 0.0 : 1.0;
    Tensor mask = from_vector(keep, {n, 1}, DType::float32).to(weight.device());
    if (weight.dtype() != DType::float32) mask = cast(mask, weight.dtype());
    rows = where(broadcast_to(mask, {n, dim}), rows, rows.detach());
  }
  Shape out = indices.shape();
  out.push_back(dim);
  return reshape(rows, out);
}
// No padding_idx here: its row's value reaches the output but gets no gradient, which a
// numerical check would flag (tests/test_norm.cpp checks the padding row).
AG_SAMPLE(embedding) { return embedding(x[0], x[1]); }

}  // namespace ag
