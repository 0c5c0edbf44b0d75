// Every differentiable op, as a function. Each records one node on the tape
// (see tape.hpp) when recording is on and an input requires grad. Binary ops
// broadcast NumPy-style, recorded as explicit reshape and repeat nodes.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <optional>
#include <span>
#include <vector>

#include "tensor.hpp"

namespace ag {

// ---- Elementwise (ops/elementwise.cpp) ------------------------------------------

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
// x + c
Tensor add_scalar(const Tensor& x, double c);
// x * c
Tensor mul_scalar(const Tensor& x, double c);
// x ^ p for a scalar exponent p
Tensor pow(const Tensor& x, double p);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
// 1 / (1 + e^-x)
Tensor sigmoid(const Tensor& x);
// Sigmoid's backward in one pass: gy * y * (1 - y), from the sigmoid's output y.
Tensor sigmoid_backward(const Tensor& y, const Tensor& gy);
Tensor tanh(const Tensor& x);
// Tanh's backward in one pass: gy * (1 - y^2), from the tanh's output y.
Tensor tanh_backward(const Tensor& y, const Tensor& gy);
// max(x, 0)
Tensor relu(const Tensor& x);
// ReLU's backward in one pass: gy where y > 0, else 0, from the ReLU's output y.
Tensor relu_backward(const Tensor& y, const Tensor& gy);
// x if x > 0 else slope * x
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
// x if x > 0 else alpha * (e^x - 1)
Tensor elu(const Tensor& x, double alpha = 1.0);
// log(1 + e^x), a smooth relu; never overflows
Tensor softplus(const Tensor& x);
// min(max(x, lo), hi)
Tensor clip(const Tensor& x, double lo, double hi);
// The larger of a and b elementwise (broadcasting); NaN if either is NaN
Tensor maximum(const Tensor& a, const Tensor& b);
// More elementwise ops
// The smaller of a and b elementwise (broadcasting); NaN if either is NaN; a tie splits the gradient in halves
Tensor minimum(const Tensor& a, const Tensor& b);
// sin(x), elementwise
Tensor sin(const Tensor& x);
// cos(x), elementwise
Tensor cos(const Tensor& x);
// The error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt, elementwise
Tensor erf(const Tensor& x);
// The exact GELU, x · Φ(x) with Φ the standard normal CDF (torch's default, approximate='none')
Tensor gelu(const Tensor& x);
// SiLU (swish): x · sigmoid(x)
Tensor silu(const Tensor& x);
// mask * a + (1 - mask) * b for a 0/1 mask (differentiable in a and b)
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b);
// Explicit dtype conversion, recorded (its backward casts back); to x's own dtype, a view of x
// with its own node (Note [No aliases from differentiable ops], ops/builder.hpp).
Tensor cast(const Tensor& x, DType dtype);
// Not differentiable: 1 where x > 0 else 0; the sign of x; 1 where a == b else 0.
Tensor heaviside(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor eq(const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(const Tensor& a, double b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);
Tensor operator/(double a, const Tensor& b);

// ---- Broadcasting -------------------------------------------------------------------

// The NumPy broadcast of two shapes; `op` names the caller in the error.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);
// x expanded to `shape`: leading axes by reshape, size-1 axes by repeat nodes; x's own shape
// gives a reshape view node, never x itself.
Tensor broadcast_to(const Tensor& x, const Shape& shape);
// The adjoint of broadcast_to: sums g over the broadcast axes down to `shape`.
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- Reductions (ops/reduce.cpp) ---------------------------------------------------
// Empty axes mean all axes. keepdims keeps reduced axes with size 1.

Tensor sum(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
Tensor mean(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
Tensor max(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
Tensor min(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
// Variance over axes: sum((x - mean)²) / (n - correction), as torch.var (correction 1: the unbiased estimate).
Tensor var(const Tensor& x, const Axes& axes = {}, int64_t correction = 1, bool keepdims = false);
// Standard deviation: sqrt(var(x, axes, correction, keepdims)).
Tensor std(const Tensor& x, const Axes& axes = {}, int64_t correction = 1, bool keepdims = false);
// Index of the largest value along one axis (int64, not differentiable).
Tensor argmax(const Tensor& x, int64_t axis = -1, bool keepdims = false);
// More reductions
// log(sum(e^x)) over axes (empty: all), computed stably around the (unrecorded) max; its gradient is softmax(x).
Tensor logsumexp(const Tensor& x, const Axes& axes = {}, bool keepdims = false);
// Index of the smallest value along one axis, the first of ties (int64, not differentiable).
Tensor argmin(const Tensor& x, int64_t axis = -1, bool keepdims = false);
// e^x / sum(e^x) along an axis, computed stably.
Tensor softmax(const Tensor& x, int64_t axis = -1);
// x - logsumexp(x) along an axis.
Tensor log_softmax(const Tensor& x, int64_t axis = -1);

// ---- Shape (ops/shape.cpp) ------------------------------------------------------

// A size-1 axis copied n times: (.., 1, ..) -> (.., n, ..). Backward sums it.
Tensor repeat(const Tensor& x, int64_t axis, int64_t n);
// Same data, new shape; one size may be -1 (inferred). Always a new handle, a view of x with its
// own node, even for x's own shape (Note [No aliases from differentiable ops], ops/builder.hpp).
Tensor reshape(const Tensor& x, const Shape& shape);
// Removes a size-1 axis / inserts one.
Tensor squeeze(const Tensor& x, int64_t axis);
Tensor unsqueeze(const Tensor& x, int64_t axis);
// All axes after the first merged: (n, ...) -> (n, rest).
Tensor flatten(const Tensor& x);
// Axes reordered: output axis i is input axis perm[i].
Tensor permute(const Tensor& x, const Axes& perm);
// Two axes swapped (the last two by default).
Tensor transpose(const Tensor& x, int64_t axis0 = -2, int64_t axis1 = -1);
// Elements start, start+step, ... below stop along an axis (negative start/stop count from the end).
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t stop, int64_t step = 1);
// The adjoint of slice: g placed into zeros of `shape` at the sliced positions.
Tensor unslice(const Tensor& g, const Shape& shape, int64_t axis, int64_t start, int64_t stop, int64_t step = 1);
// Entries of x at int64 `index` along an axis (rows by default): gather.
Tensor index_select(const Tensor& x, const Tensor& index, int64_t axis = 0);
// The adjoint of index_select: zeros of size `size` along the axis, with
// src's slices added at `index` (repeated indices add up).
Tensor index_add(const Tensor& src, const Tensor& index, int64_t size, int64_t axis = 0);
// Tensors joined along an axis.
Tensor concat(std::span<const Tensor> xs, int64_t axis = 0);
Tensor concat(std::initializer_list<Tensor> xs, int64_t axis = 0);
// int64 labels (n,) -> (n, classes) 0/1 rows. Not differentiable.
Tensor one_hot(const Tensor& labels, int64_t classes, DType dtype = DType::float32);

// More shape ops (torch names and semantics)
// Equal-shape tensors joined along a new axis (torch.stack).
Tensor stack(std::span<const Tensor> xs, int64_t axis = 0);
Tensor stack(std::initializer_list<Tensor> xs, int64_t axis = 0);
// x cut along an axis into pieces of the given sizes, which must sum to the axis' size (torch.split).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis = 0);
// x cut along an axis into pieces of `size` (the last one may be smaller) (torch.split with an int).
std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t axis = 0);
// x cut into at most n pieces of ceil(d / n) along an axis (torch.chunk).
std::vector<Tensor> chunk(const Tensor& x, int64_t n, int64_t axis = 0);
// x repeated reps[i] times along axis i; short reps get 1s in front, long ones add leading axes (torch.tile).
Tensor tile(const Tensor& x, const Shape& reps);
// x with the order of the given axes reversed (torch.flip).
Tensor flip(const Tensor& x, const Axes& axes);
// Constant padding (torch.nn.functional.pad): {left, right} of the last axis, then the one before...; negative crops.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);
// out[..., j, ...] = x[..., index[..., j, ...], ...] along `axis`, with an int64 index of x's rank (torch.gather).
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index);
// x plus src[p] added at p's axis coordinate index[p] (torch.scatter_add); index and src share one shape.
Tensor scatter_add(const Tensor& x, int64_t axis, const Tensor& index, const Tensor& src);

// ---- Matrix products (ops/matmul.cpp) ------------------------------------------------

// (m, k) @ (k, n); batched (..., m, k) @ (..., k, n) with equal batch axes;
// (..., m, k) @ (k, n) shares the right factor across the batch.
Tensor matmul(const Tensor& a, const Tensor& b);
// x (n, in) W (in, out) + b (out,) as one node and one GEMM (the bias is the
// GEMM's starting value): the textbook's Affine layer, fused. nn::Linear uses it.
Tensor affine(const Tensor& x, const Tensor& w, const Tensor& b);

// ---- Convolution and pooling (ops/conv.cpp) ---------------------------------------
// The book's way ("Deep Learning from Scratch" ch. 7): im2col unfolds every
// window of an NCHW image into a row, so a convolution is one matrix product
// and a pooling a max or mean over each row's window.

// A per-axis (height, width) pair: a kernel size, stride, padding or dilation; one number sets both.
struct Size2 {
  int64_t h = 0, w = 0;
  constexpr Size2() = default;
  // Both axes the same.
  constexpr Size2(int64_t v) : h(v), w(v) {}  // NOLINT(google-explicit-constructor): 3 means {3, 3}
  // Height and width apart.
  constexpr Size2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
  bool operator==(const Size2&) const = default;
};

// The geometry of conv2d beyond its kernel: per-axis stride, padding and dilation, and channel groups
// (nn::Conv2d keeps one; conv2d takes them as arguments).
struct Conv2dOptions {
  Size2 stride = 1, padding = 0, dilation = 1;
  int64_t groups = 1;
};

// (N, C, H, W) -> the col matrix (N·OH·OW, C·KH·KW): row (n, oh, ow) holds the
// window under output pixel (oh, ow), channel-major then (kh, kw); cells in
// the padding read pad_value (0 for convolution and average pooling, -inf for
// max pooling). OH = (H + 2·PH − DH·(KH − 1) − 1) / SH + 1, likewise OW.
Tensor im2col(const Tensor& x, Size2 kernel, Size2 stride = 1, Size2 padding = 0, Size2 dilation = 1,
              double pad_value = 0.0);
// im2col's adjoint: a col matrix (N·OH·OW, C·KH·KW) -> (N, C, H, W) of x_shape,
// each cell added into the pixel it was read from (overlaps sum; padding is dropped).
Tensor col2im(const Tensor& col, const Shape& x_shape, Size2 kernel, Size2 stride = 1, Size2 padding = 0,
              Size2 dilation = 1);
// 2-D convolution (cross-correlation, as torch): x (N, C, H, W), w (FN, C/groups, KH, KW),
// optional bias b (FN,) -> (N, FN, OH, OW); recorded as im2col, matmul (affine), reshape, permute.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, Size2 stride = 1, Size2 padding = 0,
              Size2 dilation = 1, int64_t groups = 1);
// Max over each kernel window of (N, C, H, W) (stride defaults to the kernel;
// padding, at most half the kernel, never wins): im2col with -inf padding, max, reshape.
Tensor max_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride = std::nullopt, Size2 padding = 0);
// Mean over each kernel window of (N, C, H, W), padded cells counted as zeros
// (torch's count_include_pad=true); stride defaults to the kernel.
Tensor avg_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride = std::nullopt, Size2 padding = 0);
// (N, C, H, W) -> (N, C, OH, OW) averaging equal blocks: OH, OW must divide H, W
// ({1, 1}: the global average pool, a mean over H and W).
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size = 1);

// ---- Losses (ops/loss.cpp) -------------------------------------------------------

// Softmax-with-Loss over the last axis of (n, classes) logits, against int64
// labels (n,) or probability/one-hot targets (n, classes).
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& target, Reduction r = Reduction::mean);
// Negative log-likelihood of int64 labels (n,) under log-probabilities (n, classes).
Tensor nll(const Tensor& log_probs, const Tensor& labels, Reduction r = Reduction::mean);
// Mean (or sum) of squared differences.
Tensor mse(const Tensor& pred, const Tensor& target, Reduction r = Reduction::mean);
// Binary cross entropy of probabilities p in (0, 1) against targets t in [0, 1].
Tensor bce(const Tensor& p, const Tensor& target, Reduction r = Reduction::mean);
// Binary cross entropy of sigmoid(logits), computed stably from the logits.
Tensor bce_with_logits(const Tensor& logits, const Tensor& target, Reduction r = Reduction::mean);

// ---- Normalisation, embedding, dropout (ops/norm.cpp; dropout in ops/elementwise.cpp) ----------

// Batch normalisation of x (N, C) or (N, C, H, W) per channel (axis 1), over every other axis:
// (x - mean) / sqrt(var + eps) * gamma + beta (gamma, beta (C,) optional: undefined = none).
// Training: the batch mean and biased variance, recorded as ops; the running stats (C,), when
// defined, are updated in place without recording: r = (1 - momentum) r + momentum s, with the
// unbiased variance (torch's convention). Eval: the running stats.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// Layer normalisation over the last axes of x, which must equal normalized_shape: (x - mean) /
// sqrt(var + eps) * gamma + beta, biased variance; gamma, beta (normalized_shape) optional.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& gamma = {}, const Tensor& beta = {},
                  double eps = 1e-5);
// Rows of weight (num, D) at int64 indices of any shape: indices.shape + (D); the padding row
// (padding_idx, negative counts from the end) gets no gradient. Index out of range: an ag::Error.
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = std::nullopt);
// Inverted dropout: in training, each element kept iff u(seed, i) >= p (a stateless hash, the same
// mask on every device), then scaled by 1 / (1 - p); the seed is drawn from gen. x itself (the
// same handle, as PyTorch's dropout returns its input) when p == 0 or not training; p outside
// [0, 1) is an error.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
// Dropout with the mask of a given seed (what dropout() draws; its backward reuses it).
Tensor dropout_seeded(const Tensor& x, double p, uint64_t seed);

// ---- In-place updates (ops/inplace.cpp) -----------------------------------------
// Not recorded: call them inside a NoGradGuard scope. Tensor::fill_, add_ and
// mul_ are the others.

// One optimiser update of parameter p in place, from `grad_and_state`: its
// gradient, then its state buffers (optim_ops::nstate(params.kind) of them,
// updated too), all with p's shape, dtype (float32 or float64) and device; one
// fused pass.
void optim_step(Tensor& p, std::span<const Tensor> grad_and_state, const OptimParams& params);

}  // namespace ag

#endif  // TAPEGRAD_CXX20
