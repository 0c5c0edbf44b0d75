// Convolution and pooling the book's way ("Deep Learning from Scratch" ch. 7):
// im2col unfolds every kernel window of an NCHW image into one row of a
// matrix, col2im folds such a matrix back (its adjoint), and conv2d and the
// pools are composites of them (Note [Composite ops] in ops/op.hpp), so a
// traced convolution shows the unfolding as an im2col node.
//
// Note [im2col geometry in the attributes]
// im2col and col2im carry their window geometry in Attrs::axes as
// {KH, KW, SH, SW, PH, PW, DH, DW} (kernel, stride, padding, dilation), which
// the CUDA kernels receive as KAttrs::axes; Attrs::shape holds the image's
// (N, C, H, W) shape for the builders and rules (the kernels read it from the
// image itself: im2col's input, col2im's output); im2col's pad value is
// Attrs::scalar.
#include <cmath>
#include <limits>

#include "autograd/ops/builder.hpp"

namespace ag {

using detail::run;

namespace {

// The window geometry of one im2col / col2im call.
struct Geometry {
  Size2 kernel, stride, padding, dilation;
};

Axes pack(const Geometry& g) {
  return {g.kernel.h, g.kernel.w, g.stride.h, g.stride.w, g.padding.h, g.padding.w, g.dilation.h, g.dilation.w};
}

Geometry unpack(const Axes& a) { return {{a[0], a[1]}, {a[2], a[3]}, {a[4], a[5]}, {a[6], a[7]}}; }

// Output positions along one axis: (in + 2p − d(k − 1) − 1) / s + 1.
int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

// Checks the geometry against an (N, C, H, W) shape for op `op`; returns {OH, OW}.
Size2 checked_out(std::string_view op, const Shape& x, const Geometry& g) {
  if (x.size() != 4) fail(op, "needs an (N, C, H, W) input, got shape {}", x);
  if (g.kernel.h < 1 || g.kernel.w < 1)
    fail(op, "kernel {}x{} must be at least 1x1 (input {})", g.kernel.h, g.kernel.w, x);
  if (g.stride.h < 1 || g.stride.w < 1)
    fail(op, "stride {}x{} must be at least 1 (input {})", g.stride.h, g.stride.w, x);
  if (g.dilation.h < 1 || g.dilation.w < 1)
    fail(op, "dilation {}x{} must be at least 1 (input {})", g.dilation.h, g.dilation.w, x);
  if (g.padding.h < 0 || g.padding.w < 0)
    fail(op, "padding {}x{} must not be negative (input {})", g.padding.h, g.padding.w, x);
  const int64_t eh = g.dilation.h * (g.kernel.h - 1) + 1, ew = g.dilation.w * (g.kernel.w - 1) + 1;
  const int64_t ph = x[2] + 2 * g.padding.h, pw = x[3] + 2 * g.padding.w;
  if (eh > ph || ew > pw)
    fail(op,
         "kernel {}x{} (dilation {}x{}: spans {}x{}) is larger than the padded input {}x{} of shape {} "
         "(padding {}x{})",
         g.kernel.h, g.kernel.w, g.dilation.h, g.dilation.w, eh, ew, ph, pw, x, g.padding.h, g.padding.w);
  return {out_size(x[2], g.kernel.h, g.stride.h, g.padding.h, g.dilation.h),
          out_size(x[3], g.kernel.w, g.stride.w, g.padding.w, g.dilation.w)};
}

// The col matrix's shape for image shape x: (N·OH·OW, C·KH·KW).
Shape col_shape(const Shape& x, const Size2& o, const Geometry& g) {
  return {x[0] * o.h * o.w, x[1] * g.kernel.h * g.kernel.w};
}

// (N, C, H, W) input of a pool: floating, 4-D.
void check_image(Op op, const Tensor& x) {
  detail::check_float(op, x);
  if (x.dim() != 4) fail(op_name(op), "needs an (N, C, H, W) input, got shape {}", x.shape());
}

}  // namespace

// ---- im2col and col2im: kernels of their own ------------------------------------------

Tensor im2col(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation, double pad_value) {
  detail::check_float(Op::im2col, x);
  const Geometry g{kernel, stride, padding, dilation};
  const Size2 o = checked_out("im2col", x.shape(), g);
  Attrs attrs;
  attrs.axes = pack(g);
  attrs.shape = x.shape();
  attrs.scalar = pad_value;
  return run<1>(Op::im2col, {x}, col_shape(x.shape(), o, g), x.dtype(), attrs).first;
}
// im2col is linear (each col cell copies one pixel or is the constant pad):
// dx = col2im(dy), each pixel gets the sum of its copies' gradients
AG_BACKWARD(im2col) {
  const Attrs& a = ctx.attrs();
  const Geometry g = unpack(a.axes);
  gx[0] = col2im(gy, a.shape, g.kernel, g.stride, g.padding, g.dilation);
}
AG_SAMPLE(im2col) {
  if (x[0].shape()[0] == 1) return im2col(x[0], 2);
  return im2col(x[0], {2, 3}, {2, 1}, 1, {1, 2}, 0.5);
}

Tensor col2im(const Tensor& col, const Shape& x_shape, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation) {
  detail::check_float(Op::col2im, col);
  const Geometry g{kernel, stride, padding, dilation};
  const Size2 o = checked_out("col2im", x_shape, g);
  const Shape expect = col_shape(x_shape, o, g);
  if (col.shape() != expect)
    fail("col2im", "col of shape {} does not match image shape {} with kernel {}x{}: expected {}", col.shape(), x_shape,
         kernel.h, kernel.w, expect);
  Attrs attrs;
  attrs.axes = pack(g);
  attrs.shape = x_shape;
  return run<1>(Op::col2im, {col}, x_shape, col.dtype(), attrs).first;
}
// col2im is linear, the adjoint of im2col: dcol = im2col(dy) (padded cells had no pixel: 0)
AG_BACKWARD(col2im) {
  const Attrs& a = ctx.attrs();
  const Geometry g = unpack(a.axes);
  gx[0] = im2col(gy, g.kernel, g.stride, g.padding, g.dilation, 0.0);
}
AG_SAMPLE(col2im) {
  if (x[0].shape()[0] == 9) return col2im(x[0], {1, 2, 4, 4}, 2);
  return col2im(x[0], {2, 2, 5, 4}, {2, 3}, {2, 1}, 1, {1, 2});
}

// ---- Composites (Note [Composite ops] in ops/op.hpp) ------------------------------

// im2col, then one matrix product with the filters as columns (affine with a
// bias), reshaped (N, OH, OW, FN) and permuted to (N, FN, OH, OW); groups
// convolve channel slices apart and concatenate the results.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, Size2 stride, Size2 padding, Size2 dilation,
              int64_t groups) {
  detail::check_float(Op::conv2d, x);
  detail::check_float(Op::conv2d, w, "weight");
  if (x.dim() != 4) fail("conv2d", "needs an (N, C, H, W) input, got shape {}", x.shape());
  if (w.dim() != 4)
    fail("conv2d", "needs a weight (FN, C/groups, KH, KW), got shape {} (input {})", w.shape(), x.shape());
  detail::check_pair(Op::conv2d, x, w);
  if (groups < 1) fail("conv2d", "groups must be at least 1, got {}", groups);
  const int64_t n = x.shape()[0], c = x.shape()[1], fn = w.shape()[0];
  if (c % groups != 0)
    fail("conv2d", "{} input channels (input {}) are not divisible by groups {}", c, x.shape(), groups);
  if (fn % groups != 0)
    fail("conv2d", "{} filters (weight {}) are not divisible by groups {}", fn, w.shape(), groups);
  const int64_t cg = c / groups, fg = fn / groups;
  if (w.shape()[1] != cg)
    fail("conv2d", "weight of shape {} needs {} input channels per filter: input {} has {} channels in {} group(s)",
         w.shape(), cg, x.shape(), c, groups);
  if (b.defined()) {
    detail::check_pair(Op::conv2d, x, b);
    if (b.dim() != 1 || b.shape()[0] != fn)
      fail("conv2d", "bias of shape {} does not match the weight's {} filters (weight {})", b.shape(), fn, w.shape());
  }
  const Size2 kernel{w.shape()[2], w.shape()[3]};
  const Geometry g{kernel, stride, padding, dilation};
  const Size2 o = checked_out("conv2d", x.shape(), g);
  const int64_t kk = cg * kernel.h * kernel.w;
  Tensor y;  // (N·OH·OW, FN)
  if (groups == 1) {
    Tensor col = im2col(x, kernel, stride, padding, dilation);
    Tensor wcol = transpose(reshape(w, {fn, kk}));  // (C·KH·KW, FN): the filters as columns
    y = b.defined() ? affine(col, wcol, b) : matmul(col, wcol);
  } else {
    std::vector<Tensor> parts;
    for (int64_t k = 0; k < groups; ++k) {
      Tensor col = im2col(slice(x, 1, k * cg, (k + 1) * cg), kernel, stride, padding, dilation);
      parts.push_back(matmul(col, transpose(reshape(slice(w, 0, k * fg, (k + 1) * fg), {fg, kk}))));
    }
    y = concat(parts, 1);
    if (b.defined()) y = y + b;
  }
  return permute(reshape(y, {n, o.h, o.w, fn}), {0, 3, 1, 2});
}
AG_SAMPLE(conv2d) {
  if (x[0].shape()[1] == 2) return conv2d(x[0], x[1], x[2]);
  return conv2d(x[0], x[1], x[2], {2, 1}, 1, {1, 2}, 2);
}

namespace {

// The shared part of the pools: im2col, a reduction over each window, back to (N, C, OH, OW).
Tensor pool(Op op, const Tensor& x, Size2 kernel, Size2 stride, Size2 padding, bool is_max) {
  check_image(op, x);
  const Geometry g{kernel, stride, padding, 1};
  const Size2 o = checked_out(op_name(op), x.shape(), g);
  if (is_max && (2 * padding.h > kernel.h || 2 * padding.w > kernel.w))
    fail(op_name(op), "padding {}x{} is more than half the kernel {}x{} (input {})", padding.h, padding.w, kernel.h,
         kernel.w, x.shape());
  const int64_t n = x.shape()[0], c = x.shape()[1];
  const double pad = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
  Tensor col = reshape(im2col(x, kernel, stride, padding, 1, pad), {n * o.h * o.w * c, kernel.h * kernel.w});
  Tensor r = is_max ? max(col, {1}) : mean(col, {1});
  return permute(reshape(r, {n, o.h, o.w, c}), {0, 3, 1, 2});
}

}  // namespace

Tensor max_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride, Size2 padding) {
  return pool(Op::max_pool2d, x, kernel, stride.value_or(kernel), padding, true);
}
AG_SAMPLE(max_pool2d) {
  if (x[0].shape()[0] == 1) return max_pool2d(x[0], 2);
  return max_pool2d(x[0], 3, Size2{2}, 1);
}

Tensor avg_pool2d(const Tensor& x, Size2 kernel, std::optional<Size2> stride, Size2 padding) {
  return pool(Op::avg_pool2d, x, kernel, stride.value_or(kernel), padding, false);
}
AG_SAMPLE(avg_pool2d) {
  if (x[0].shape()[0] == 1) return avg_pool2d(x[0], 2);
  return avg_pool2d(x[0], {3, 2}, Size2{2, 1}, {1, 0});
}

// The mean of equal blocks: (N, C, OH, H/OH, OW, W/OW) averaged over the block axes
// (1x1: a mean over H and W).
Tensor adaptive_avg_pool2d(const Tensor& x, Size2 output_size) {
  check_image(Op::adaptive_avg_pool2d, x);
  const Shape& s = x.shape();
  const Size2 o = output_size;
  if (o.h < 1 || o.w < 1) fail("adaptive_avg_pool2d", "output size {}x{} must be at least 1x1", o.h, o.w);
  if (o.h == 1 && o.w == 1) return mean(x, {2, 3}, true);
  if (s[2] % o.h != 0 || s[3] % o.w != 0)
    fail("adaptive_avg_pool2d",
         "output size {}x{} must divide the input's {}x{} (shape {}); other sizes are not supported",
         o.h, o.w, s[2], s[3], s);
  Tensor blocks = reshape(x, {s[0], s[1], o.h, s[2] / o.h, o.w, s[3] / o.w});
  return mean(blocks, {3, 5});
}
AG_SAMPLE(adaptive_avg_pool2d) {
  if (x[0].shape()[0] == 2) return adaptive_avg_pool2d(x[0]);
  return adaptive_avg_pool2d(x[0], {3, 2});
}

}  // namespace ag
