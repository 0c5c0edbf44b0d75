// Shape ops: broadcasting (through Repeat, whose backward is Sum), reshape
// and views, permutations, slices, gathers and concatenation.
#include <algorithm>
#include <numeric>

#include "autograd/ops/builder.hpp"

namespace ag {

using detail::run;

// ---- Broadcasting ------------------------------------------------------------------

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  const size_t n = std::max(a.size(), b.size());
  Shape s(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(op, "shapes {} and {} cannot broadcast: sizes {} and {} at axis {} differ and neither is 1", a, b, da, db,
           i);
    s[i] = da == 1 ? db : da;
  }
  return s;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  // Already that shape: a view node all the same (Note [No aliases from differentiable ops]).
  if (x.shape() == shape) return reshape(x, shape);
  if (x.shape().size() > shape.size()) fail("broadcast_to", "cannot broadcast shape {} to {}", x.shape(), shape);
  Tensor y = x;
  if (x.shape().size() < shape.size()) {
    Shape s(shape.size() - x.shape().size(), 1);
    s.insert(s.end(), x.shape().begin(), x.shape().end());
    y = reshape(x, s);
  }
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = y.shape()[i];
    if (d == shape[i]) continue;
    if (d != 1) fail("broadcast_to", "cannot broadcast shape {} to {}: axis {} has size {}", x.shape(), shape, i, d);
    y = repeat(y, static_cast<int64_t>(i), shape[i]);
  }
  return y;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const Shape& gs = g.shape();
  if (gs.size() < shape.size()) fail("sum_to", "cannot reduce shape {} to {}", gs, shape);
  const size_t lead = gs.size() - shape.size();
  Axes axes;
  for (size_t i = 0; i < gs.size(); ++i) {
    if (i < lead) {
      axes.push_back(static_cast<int64_t>(i));
    } else if (shape[i - lead] != gs[i]) {
      if (shape[i - lead] != 1) fail("sum_to", "cannot reduce shape {} to {}", gs, shape);
      axes.push_back(static_cast<int64_t>(i));
    }
  }
  Tensor s = axes.empty() ? g : sum(g, axes, true);
  return s.shape() == shape ? s : reshape(s, shape);
}

// ---- Repeat ------------------------------------------------------------------------

Tensor repeat(const Tensor& x, int64_t axis, int64_t n) {
  const int64_t a = normalize_axis(axis, x.dim(), "repeat");
  if (x.shape()[static_cast<size_t>(a)] != 1)
    fail("repeat", "copies an axis of size 1, but axis {} of shape {} has size {}", axis, x.shape(),
         x.shape()[static_cast<size_t>(a)]);
  if (n < 0) fail("repeat", "needs a count >= 0, got {}", n);
  Attrs attrs;
  attrs.axis = a;
  Shape s = x.shape();
  s[static_cast<size_t>(a)] = n;
  checked_bytes(s, x.dtype(), "repeat");  // Note [Checked sizes]
  return run<1>(Op::repeat, {x}, s, x.dtype(), attrs).first;
}
// Repeat's backward is Sum over the repeated axis: dx = sum(gy, axis, keepdims)
AG_BACKWARD(repeat) { gx[0] = sum(gy, {ctx.attrs().axis}, true); }
AG_SAMPLE(repeat) { return repeat(x[0], x[0].dim() == 3 ? 1 : 0, 3); }

// ---- Reshape -----------------------------------------------------------------------

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) fail("reshape", "only one size may be -1, got {}", shape);
      infer = static_cast<int64_t>(i);
    } else if (s[i] < 0) {
      fail("reshape", "negative size in {}", shape);
    } else if (__builtin_mul_overflow(known, s[i], &known)) {
      fail("reshape", "shape {} has more elements than int64 can count; use smaller sizes", shape);
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      fail("reshape", "cannot reshape {} ({} elements) to {}", x.shape(), x.numel(), shape);
    s[static_cast<size_t>(infer)] = x.numel() / known;
  }
  if (checked_numel(s, "reshape") != x.numel())
    fail("reshape", "cannot reshape {} ({} elements) to {} ({} elements)", x.shape(), x.numel(), s, shape_numel(s));
  // A view: same storage, new shape (and a version counter shared with x), even when the
  // shape is x's own (Note [No aliases from differentiable ops]).
  Attrs attrs;
  attrs.shape = x.shape();
  return detail::view(Op::reshape, x, s, attrs);
}
// d reshape(x)/dx: the gradient reshaped back to x's shape
AG_BACKWARD(reshape) { gx[0] = reshape(gy, ctx.attrs().shape); }
AG_SAMPLE(reshape) { return reshape(x[0], {2, -1, 3}); }

Tensor squeeze(const Tensor& x, int64_t axis) {
  const auto a = static_cast<size_t>(normalize_axis(axis, x.dim(), "squeeze"));
  if (x.shape()[a] != 1) fail("squeeze", "axis {} of shape {} has size {}, not 1", axis, x.shape(), x.shape()[a]);
  Shape s = x.shape();
  s.erase(s.begin() + static_cast<ptrdiff_t>(a));
  return reshape(x, s);
}

Tensor unsqueeze(const Tensor& x, int64_t axis) {
  const auto a = static_cast<size_t>(normalize_axis(axis, x.dim() + 1, "unsqueeze"));
  Shape s = x.shape();
  s.insert(s.begin() + static_cast<ptrdiff_t>(a), 1);
  return reshape(x, s);
}

Tensor flatten(const Tensor& x) {
  if (x.dim() < 1) fail("flatten", "needs at least one axis, got a scalar");
  return reshape(x, {x.shape()[0], -1});
}

// ---- Permute -----------------------------------------------------------------------

Tensor permute(const Tensor& x, const Axes& perm) {
  if (static_cast<int64_t>(perm.size()) != x.dim())
    fail("permute", "needs one entry per axis: shape {} and permutation {}", x.shape(), perm);
  Axes p(perm.size());
  std::vector<bool> seen(perm.size());
  Shape s(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    p[i] = normalize_axis(perm[i], x.dim(), "permute");
    if (seen[static_cast<size_t>(p[i])]) fail("permute", "{} is not a permutation", perm);
    seen[static_cast<size_t>(p[i])] = true;
    s[i] = x.shape()[static_cast<size_t>(p[i])];
  }
  Attrs attrs;
  attrs.axes = p;
  return run<1>(Op::permute, {x}, s, x.dtype(), attrs).first;
}
// the gradient goes through the inverse permutation
AG_BACKWARD(permute) {
  const Axes& p = ctx.attrs().axes;
  Axes inv(p.size());
  for (size_t i = 0; i < p.size(); ++i) inv[static_cast<size_t>(p[i])] = static_cast<int64_t>(i);
  gx[0] = permute(gy, inv);
}
AG_SAMPLE(permute) { return permute(x[0], {2, 0, 1}); }

Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1) {
  if (x.dim() < 2) fail("transpose", "needs at least 2 axes, got shape {}", x.shape());
  Axes p(static_cast<size_t>(x.dim()));
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[static_cast<size_t>(normalize_axis(axis0, x.dim(), "transpose"))],
            p[static_cast<size_t>(normalize_axis(axis1, x.dim(), "transpose"))]);
  return permute(x, p);
}

// ---- Slice -------------------------------------------------------------------------

namespace {
// Python-style bounds, clamped; returns the number of elements taken.
int64_t slice_bounds(std::string_view op, const Shape& shape, int64_t axis, int64_t& start, int64_t& stop,
                     int64_t step) {
  const int64_t d = shape[static_cast<size_t>(axis)];
  if (step <= 0) fail(op, "needs a positive step, got {}", step);
  if (start < 0) start += d;
  if (stop < 0) stop += d;
  start = std::clamp<int64_t>(start, 0, d);
  stop = std::clamp<int64_t>(stop, 0, d);
  // 1 + (stop - start - 1) / step: (stop - start + step - 1) would overflow for a huge step
  return stop > start ? 1 + (stop - start - 1) / step : 0;
}
}  // namespace

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t stop, int64_t step) {
  Attrs attrs;
  attrs.axis = normalize_axis(axis, x.dim(), "slice");
  const int64_t n = slice_bounds("slice", x.shape(), attrs.axis, start, stop, step);
  attrs.start = start;
  attrs.stop = stop;
  attrs.step = step;
  attrs.shape = x.shape();
  Shape s = x.shape();
  s[static_cast<size_t>(attrs.axis)] = n;
  return run<1>(Op::slice, {x}, s, x.dtype(), attrs).first;
}
// the gradient is placed back at the sliced positions: unslice
AG_BACKWARD(slice) {
  const Attrs& a = ctx.attrs();
  gx[0] = unslice(gy, a.shape, a.axis, a.start, a.stop, a.step);
}
AG_SAMPLE(slice) { return x[0].shape()[0] == 7 ? slice(x[0], 0, 1, -1, 2) : slice(x[0], 1, 2, 5); }

Tensor unslice(const Tensor& g, const Shape& shape, int64_t axis, int64_t start, int64_t stop, int64_t step) {
  Attrs attrs;
  attrs.axis = normalize_axis(axis, static_cast<int64_t>(shape.size()), "unslice");
  const int64_t n = slice_bounds("unslice", shape, attrs.axis, start, stop, step);
  Shape expect = shape;
  expect[static_cast<size_t>(attrs.axis)] = n;
  if (g.shape() != expect)
    fail("unslice", "gradient of shape {} does not match slice [{}:{}:{}] of axis {} of {} (shape {})", g.shape(),
         start, stop, step, attrs.axis, shape, expect);
  attrs.start = start;
  attrs.stop = stop;
  attrs.step = step;
  return run<1>(Op::unslice, {g}, shape, g.dtype(), attrs).first;
}
// unslice's backward is the slice
AG_BACKWARD(unslice) {
  const Attrs& a = ctx.attrs();
  gx[0] = slice(gy, a.axis, a.start, a.stop, a.step);
}
AG_SAMPLE(unslice) { return unslice(x[0], {3, 8}, 1, 1, 8, 3); }

// ---- Gather and scatter --------------------------------------------------------------

namespace {
void check_index(Op op, const Tensor& index, int64_t size) {
  detail::check_int(op, index, "indices");
  if (index.dim() != 1) fail(op_name(op), "needs a 1-D index tensor, got shape {}", index.shape());
  if (!index.device().is_cpu()) return;  // the kernel checks (Note [Checks on the device])
  const int64_t* p = index.impl()->data<int64_t>();
  for (int64_t i = 0; i < index.numel(); ++i)
    if (p[i] < 0 || p[i] >= size)
      fail(op_name(op), "index {} at position {} is out of range [0, {})", p[i], i, size);
}
}  // namespace

Tensor index_select(const Tensor& x, const Tensor& index, int64_t axis) {
  Attrs attrs;
  attrs.axis = normalize_axis(axis, x.dim(), "index_select");
  check_index(Op::index_select, index, x.shape()[static_cast<size_t>(attrs.axis)]);
  Shape s = x.shape();
  s[static_cast<size_t>(attrs.axis)] = index.numel();
  attrs.stop = x.shape()[static_cast<size_t>(attrs.axis)];  // for the backward's index_add
  auto [y, n] = run<2>(Op::index_select, {x, index}, s, x.dtype(), attrs);
  if (n) n->save(index);
  return y;
}
// the gradient of a gather is a scatter-add into zeros: index_add
AG_BACKWARD(index_select) { gx[0] = index_add(gy, ctx.saved(0), ctx.attrs().stop, ctx.attrs().axis); }
AG_SAMPLE(index_select) { return index_select(x[0], x[1]); }

Tensor index_add(const Tensor& src, const Tensor& index, int64_t size, int64_t axis) {
  Attrs attrs;
  attrs.axis = normalize_axis(axis, src.dim(), "index_add");
  check_index(Op::index_add, index, size);
  if (index.numel() != src.shape()[static_cast<size_t>(attrs.axis)])
    fail("index_add", "{} indices for axis {} of src shape {}", index.numel(), attrs.axis, src.shape());
  Shape s = src.shape();
  s[static_cast<size_t>(attrs.axis)] = size;
  auto [y, n] = run<2>(Op::index_add, {src, index}, s, src.dtype(), attrs);
  if (n) n->save(index);
  return y;
}
// the gradient of a scatter-add is the gather: index_select
AG_BACKWARD(index_add) { gx[0] = index_select(gy, ctx.saved(0), ctx.attrs().axis); }
AG_SAMPLE(index_add) { return index_add(x[0], x[1], 5); }

// ---- Concat ------------------------------------------------------------------------

Tensor concat(std::span<const Tensor> xs, int64_t axis) {
  if (xs.empty()) fail("concat", "needs at least one tensor");
  const Tensor& first = xs[0];
  Attrs attrs;
  attrs.axis = normalize_axis(axis, first.dim(), "concat");
  const auto a = static_cast<size_t>(attrs.axis);
  Shape s = first.shape();
  s[a] = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    detail::check_pair(Op::concat, first, xs[k]);
    Shape want = first.shape(), have = xs[k].shape();
    if (have.size() == want.size()) want[a] = have[a];
    if (have != want)
      fail("concat", "tensor {} has shape {}, but tensor 0 has shape {}; all axes but {} must agree", k, have,
           first.shape(), attrs.axis);
    attrs.shape.push_back(have[a]);
    s[a] = checked_add(s[a], have[a], "concat");
  }
  checked_bytes(s, first.dtype(), "concat");  // Note [Checked sizes]
  Tensor y = empty(s, first.dtype(), first.device());
  dispatch(Op::concat, xs, y, attrs);
  record(Op::concat, xs, y, attrs);
  return y;
}
Tensor concat(std::initializer_list<Tensor> xs, int64_t axis) {
  return concat(std::span<const Tensor>(xs.begin(), xs.size()), axis);
}
// each input gets its slice of the gradient back
AG_BACKWARD(concat) {
  const Attrs& a = ctx.attrs();
  int64_t offset = 0;
  for (int k = 0; k < ctx.num_inputs(); ++k) {
    const int64_t len = a.shape[static_cast<size_t>(k)];
    if (ctx.needs_grad(k)) gx[static_cast<size_t>(k)] = slice(gy, a.axis, offset, offset + len);
    offset += len;
  }
}
AG_SAMPLE(concat) { return concat(x, 0); }

Tensor one_hot(const Tensor& labels, int64_t classes, DType dtype) {
  detail::check_int(Op::one_hot, labels, "labels");
  if (classes <= 0) fail("one_hot", "needs a positive class count, got {}", classes);
  // on a device the kernel checks (Note [Checks on the device])
  const int64_t* p = labels.device().is_cpu() ? labels.impl()->data<int64_t>() : nullptr;
  for (int64_t i = 0; p && i < labels.numel(); ++i)
    if (p[i] < 0 || p[i] >= classes)
      fail("one_hot", "label {} at position {} is out of range [0, {})", p[i], i, classes);
  Attrs attrs;
  attrs.dtype = dtype;
  Shape s = labels.shape();
  s.push_back(classes);
  checked_bytes(s, dtype, "one_hot");
  return run<1>(Op::one_hot, {labels}, s, dtype, attrs).first;
}
AG_SAMPLE(one_hot) { return one_hot(x[0], 3, DType::float64); }

// Stack, split, chunk, tile, flip, pad (composites), gather, scatter_add

// each tensor gets a new size-1 axis, then they are concatenated along it
Tensor stack(std::span<const Tensor> xs, int64_t axis) {
  if (xs.empty()) fail("stack", "needs at least one tensor");
  const Tensor& first = xs[0];
  const int64_t a = normalize_axis(axis, first.dim() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(xs.size());
  for (size_t k = 0; k < xs.size(); ++k) {
    if (xs[k].shape() != first.shape())
      fail("stack", "tensor {} has shape {}, but tensor 0 has shape {}; stack needs equal shapes", k, xs[k].shape(),
           first.shape());
    detail::check_pair(Op::stack, first, xs[k]);
    parts.push_back(unsqueeze(xs[k], a));
  }
  return concat(parts, a);
}
Tensor stack(std::initializer_list<Tensor> xs, int64_t axis) {
  return stack(std::span<const Tensor>(xs.begin(), xs.size()), axis);
}
AG_SAMPLE(stack) { return stack(x, 1) * 2.0 + stack({x[2], x[0], x[1]}, -1); }

// one slice per piece
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis) {
  const Shape shown(sizes.begin(), sizes.end());
  if (x.dim() == 0) fail("split", "cannot split a scalar (shape {})", x.shape());
  const int64_t a = normalize_axis(axis, x.dim(), "split");
  const int64_t d = x.shape()[static_cast<size_t>(a)];
  if (sizes.empty()) fail("split", "needs at least one size, got none for axis {} of shape {}", a, x.shape());
  int64_t total = 0;
  for (int64_t n : sizes) {
    if (n < 0) fail("split", "sizes must be >= 0, got {} for shape {}", shown, x.shape());
    total = checked_add(total, n, "split");
  }
  if (total != d)
    fail("split", "sizes {} sum to {}, but axis {} of shape {} has size {}", shown, total, a, x.shape(), d);
  std::vector<Tensor> pieces;
  pieces.reserve(sizes.size());
  int64_t offset = 0;
  for (int64_t n : sizes) {
    pieces.push_back(slice(x, a, offset, offset + n));
    offset += n;
  }
  return pieces;
}

std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t axis) {
  if (x.dim() == 0) fail("split", "cannot split a scalar (shape {})", x.shape());
  const int64_t a = normalize_axis(axis, x.dim(), "split");
  const int64_t d = x.shape()[static_cast<size_t>(a)];
  if (size <= 0) fail("split", "needs a piece size > 0, got {} for axis {} of shape {}", size, a, x.shape());
  std::vector<int64_t> sizes;
  for (int64_t left = d; left > 0; left -= std::min(left, size)) sizes.push_back(std::min(left, size));
  if (sizes.empty()) sizes.push_back(0);  // an empty axis: one empty piece
  return split(x, sizes, a);
}
AG_SAMPLE(split) {
  if (x[0].shape()[0] == 5) {
    auto p = split(x[0], std::vector<int64_t>{2, 0, 3}, 0);
    return concat({p[2], p[1], p[0] * 2.0}, 0);
  }
  auto p = split(x[0], 4, 1);  // pieces of 4 and 2
  return concat({p[1] * 2.0, p[0]}, 1);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t n, int64_t axis) {
  if (x.dim() == 0) fail("chunk", "cannot chunk a scalar (shape {})", x.shape());
  const int64_t a = normalize_axis(axis, x.dim(), "chunk");
  if (n <= 0) fail("chunk", "needs a number of chunks > 0, got {} for axis {} of shape {}", n, a, x.shape());
  const int64_t d = x.shape()[static_cast<size_t>(a)];
  return d == 0 ? split(x, std::vector<int64_t>{0}, a) : split(x, (d + n - 1) / n, a);
}
AG_SAMPLE(chunk) {
  if (x[0].shape()[0] == 5) {
    auto p = chunk(x[0], 3, 0);  // 2, 2, 1
    return concat({p[2], p[0] * 3.0, p[1]}, 0);
  }
  auto p = chunk(x[0], 4, -1);  // 3 pieces of 2
  return concat({p[2], p[1] * -1.0, p[0]}, 1);
}

// for each axis with r copies: (.., d, ..) -> (.., 1, d, ..) -> repeat to r -> (.., r·d, ..)
Tensor tile(const Tensor& x, const Shape& reps) {
  for (int64_t r : reps)
    if (r < 0) fail("tile", "needs repetitions >= 0, got {} for shape {}", reps, x.shape());
  const size_t nd = std::max(static_cast<size_t>(x.dim()), reps.size());
  Shape r(nd - reps.size(), 1);
  r.insert(r.end(), reps.begin(), reps.end());
  Shape s(nd - static_cast<size_t>(x.dim()), 1);
  s.insert(s.end(), x.shape().begin(), x.shape().end());
  Tensor y = reshape(x, s);
  for (size_t i = 0; i < nd; ++i) {
    if (r[i] == 1) continue;
    Shape with_copies = y.shape();
    with_copies.insert(with_copies.begin() + static_cast<ptrdiff_t>(i), 1);
    y = repeat(reshape(y, with_copies), static_cast<int64_t>(i), r[i]);
    s = y.shape();
    s[i] *= s[i + 1];
    s.erase(s.begin() + static_cast<ptrdiff_t>(i) + 1);
    y = reshape(y, s);
  }
  return y;
}
AG_SAMPLE(tile) {
  if (x[0].dim() == 1) return tile(x[0], {2, 1, 2});  // reps longer than the rank: leading axes
  Tensor t = tile(x[0], {2, 3});
  return t * t + tile(tile(x[0], {3}), {2, 1});  // reps shorter than the rank: 1s in front
}

// one index_select per flipped axis, with the indices d-1, ..., 0
Tensor flip(const Tensor& x, const Axes& axes) {
  std::vector<bool> seen(static_cast<size_t>(x.dim()));
  Tensor y = x;
  for (int64_t axis : axes) {
    const int64_t a = normalize_axis(axis, x.dim(), "flip");
    if (seen[static_cast<size_t>(a)]) fail("flip", "axis {} listed twice in {} for shape {}", a, axes, x.shape());
    seen[static_cast<size_t>(a)] = true;
    const int64_t d = x.shape()[static_cast<size_t>(a)];
    if (d <= 1) continue;
    std::vector<int64_t> reversed(static_cast<size_t>(d));
    for (int64_t i = 0; i < d; ++i) reversed[static_cast<size_t>(i)] = d - 1 - i;
    y = index_select(y, from_vector(reversed, {d}).to(x.device()), a);
  }
  return y;
}
AG_SAMPLE(flip) { return x[0].dim() == 2 ? flip(x[0], {1}) * x[0] : flip(x[0], {0, -1}) * 2.0; }

// per axis (last first): crop negative pads with slice, then concat constant blocks on either side
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  const Shape shown(pads.begin(), pads.end());
  if (pads.size() % 2 != 0)
    fail("pad", "needs pairs (left, right) of pads, got {} values {} for shape {}", pads.size(), shown, x.shape());
  if (static_cast<int64_t>(pads.size()) > 2 * x.dim())
    fail("pad", "got {} pads {} for shape {}: at most 2 per axis ({})", pads.size(), shown, x.shape(), 2 * x.dim());
  Tensor y = x;
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int64_t a = x.dim() - 1 - static_cast<int64_t>(k);
    const int64_t lo = pads[2 * k], hi = pads[2 * k + 1];
    const int64_t d = y.shape()[static_cast<size_t>(a)];
    if (d + lo + hi < 0)
      fail("pad", "pads {} and {} of axis {} leave a negative size for shape {}", lo, hi, a, x.shape());
    if (lo < 0 || hi < 0) y = slice(y, a, std::max<int64_t>(-lo, 0), d - std::max<int64_t>(-hi, 0));
    std::vector<Tensor> parts;
    Shape block = y.shape();
    if (lo > 0) {
      block[static_cast<size_t>(a)] = lo;
      parts.push_back(full(block, value, y.dtype(), y.device()));
    }
    parts.push_back(y);
    if (hi > 0) {
      block[static_cast<size_t>(a)] = hi;
      parts.push_back(full(block, value, y.dtype(), y.device()));
    }
    if (parts.size() > 1) y = concat(parts, a);
  }
  return y;
}
AG_SAMPLE(pad) { return x[0].dim() == 2 ? pad(x[0], {1, 2, 0, 1}, 0.5) : pad(x[0], {-1, 1, 2, -1}); }

namespace {
// Checks the index of gather / scatter_add: int64, x's rank and device, no larger than x
// but along the axis, and (on the cpu) its values in range. Returns the normalised axis.
int64_t check_gather_index(Op op, const Tensor& x, int64_t axis, const Tensor& index) {
  const std::string_view name = op_name(op);
  detail::check_int(op, index, "indices");
  detail::check_devices(op, x, index);
  if (x.dim() == 0) fail(name, "needs at least one axis, got x of shape {}", x.shape());
  const int64_t a = normalize_axis(axis, x.dim(), name);
  if (index.dim() != x.dim())
    fail(name, "needs an index of x's rank: x has shape {}, index {}", x.shape(), index.shape());
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != a && index.shape()[static_cast<size_t>(d)] > x.shape()[static_cast<size_t>(d)])
      fail(name, "index of shape {} is larger than x of shape {} at axis {} (only axis {} may be larger)",
           index.shape(), x.shape(), d, a);
  if (!index.device().is_cpu()) return a;  // the kernel checks (Note [Checks on the device])
  const int64_t bound = x.shape()[static_cast<size_t>(a)];
  const int64_t* p = index.impl()->data<int64_t>();
  for (int64_t i = 0; i < index.numel(); ++i)
    if (p[i] < 0 || p[i] >= bound)
      fail(name, "index {} at position {} is out of range [0, {}) of axis {} of x's shape {}", p[i], i, bound, a,
           x.shape());
  return a;
}
}  // namespace

Tensor gather(const Tensor& x, int64_t axis, const Tensor& index) {
  Attrs attrs;
  attrs.axis = check_gather_index(Op::gather, x, axis, index);
  attrs.shape = x.shape();  // for the backward's scatter_add
  auto [y, n] = run<2>(Op::gather, {x, index}, index.shape(), x.dtype(), attrs);
  if (n) n->save(index);
  return y;
}
// the gradient of a gather is a scatter-add into zeros: dx = scatter_add(0, axis, index, dy)
AG_BACKWARD(gather) {
  const Attrs& a = ctx.attrs();
  gx[0] = scatter_add(zeros(a.shape, gy.dtype(), gy.device()), a.axis, ctx.saved(0), gy);
}
AG_SAMPLE(gather) { return x[1].shape()[0] == 5 ? gather(x[0], 0, x[1]) : gather(transpose(x[0]), 1, x[1]); }

Tensor scatter_add(const Tensor& x, int64_t axis, const Tensor& index, const Tensor& src) {
  detail::check_pair(Op::scatter_add, x, src);
  detail::check_float(Op::scatter_add, x);
  Attrs attrs;
  attrs.axis = check_gather_index(Op::scatter_add, x, axis, index);
  if (src.shape() != index.shape())
    fail("scatter_add", "needs src of the index's shape: index {}, src {} (x {})", index.shape(), src.shape(),
         x.shape());
  auto [y, n] = run<3>(Op::scatter_add, {x, index, src}, x.shape(), x.dtype(), attrs);
  if (n) n->save(index);
  return y;
}
// y = x + src scattered: dx = dy, dsrc = dy gathered at the indices; the index gets none
AG_BACKWARD(scatter_add) {
  if (ctx.needs_grad(0)) gx[0] = gy;
  if (ctx.needs_grad(2)) gx[2] = gather(gy, ctx.attrs().axis, ctx.saved(0));
}
AG_SAMPLE(scatter_add) {
  return x[1].shape()[0] == 5 ? scatter_add(x[0], 0, x[1], x[2]) : scatter_add(transpose(x[0]), 1, x[1], x[2]);
}


}  // namespace ag
