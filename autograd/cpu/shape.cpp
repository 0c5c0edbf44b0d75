// CPU kernels of the shape family. Axis-wise ops view a tensor as
// (outer, axis, inner) blocks, row-major.
#include <algorithm>
#include <cstring>

#include "autograd/ops/op.hpp"
#include "autograd/parallel.hpp"

namespace ag::cpu {

namespace {
struct Blocks {
  int64_t outer = 1, inner = 1;
};
Blocks blocks(const Shape& s, int64_t axis) {
  Blocks b;
  for (int64_t i = 0; i < axis; ++i) b.outer *= s[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(axis) + 1; i < s.size(); ++i) b.inner *= s[i];
  return b;
}
}  // namespace

// The data unchanged (the reshape builder makes a view; this copy serves checkers and replays).
template <class T> void reshape(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  std::copy_n(in[0].impl()->data<T>(), out.numel(), out.impl()->data<T>());
}

// out[o, r, i] = x[o, 0, i]. Short rows are copied by a loop, not a memmove
// call per row: a max or max pool's backward repeats single values (inner 1)
// over millions of rows.
template <class T> void repeat(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  T* y = out.impl()->data<T>();
  const Blocks b = blocks(out.shape(), a.axis);
  const int64_t n = out.shape()[static_cast<size_t>(a.axis)];
  const int64_t per_outer = std::max<int64_t>(1, n * b.inner);
  parallel_for(b.outer, std::max<int64_t>(1, elementwise_grain() / per_outer), [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      const T* src = x + o * b.inner;
      T* dst = y + o * n * b.inner;
      if (b.inner == 1) {
        std::fill_n(dst, n, *src);
      } else if (b.inner < 16) {
        for (int64_t r = 0; r < n; ++r)
          for (int64_t i = 0; i < b.inner; ++i) dst[r * b.inner + i] = src[i];
      } else {
        for (int64_t r = 0; r < n; ++r) std::copy_n(src, b.inner, dst + r * b.inner);
      }
    }
  });
}

// out axis i is input axis perm[i]. Output axes that are adjacent in the input
// too are merged and axes of size 1 dropped, then each output row (the last
// merged axis) is one copy, or one strided gather, so the per-element work is
// a load and a store and the index bookkeeping is per row.
template <class T> void permute(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  T* y = out.impl()->data<T>();
  const Shape& xs = in[0].shape();
  const size_t nd = xs.size();
  const int64_t n = out.numel();
  if (n == 0) return;
  Shape xstride(nd, 1);
  for (size_t i = nd; i-- > 1;) xstride[i - 1] = xstride[i] * xs[i];
  Shape stride, size;  // of the merged output axes
  for (size_t i = 0; i < nd; ++i) {
    const int64_t len = xs[static_cast<size_t>(a.axes[i])], st = xstride[static_cast<size_t>(a.axes[i])];
    if (len == 1) continue;
    if (!size.empty() && stride.back() == st * len) {
      size.back() *= len;
      stride.back() = st;
    } else {
      size.push_back(len);
      stride.push_back(st);
    }
  }
  if (size.empty()) {
    y[0] = x[0];
    return;
  }
  const size_t md = size.size();
  const int64_t row = size[md - 1], step = stride[md - 1];
  // rows [begin, end), each task starting its own odometer over the outer axes
  parallel_for(n / row, std::max<int64_t>(1, elementwise_grain() / row), [&](int64_t begin, int64_t end) {
    Shape idx(md, 0);
    int64_t off = 0;
    for (size_t d = md - 1, rest = static_cast<size_t>(begin); d-- > 0;) {
      idx[d] = static_cast<int64_t>(rest % static_cast<size_t>(size[d]));
      rest /= static_cast<size_t>(size[d]);
      off += idx[d] * stride[d];
    }
    for (int64_t k = begin * row; k < end * row; k += row) {
      const T* src = x + off;
      if (step == 1) {
        std::copy_n(src, row, y + k);
      } else {
        for (int64_t j = 0; j < row; ++j) y[k + j] = src[j * step];
      }
      for (size_t d = md - 1; d-- > 0;) {
        off += stride[d];
        if (++idx[d] < size[d]) break;
        off -= stride[d] * size[d];
        idx[d] = 0;
      }
    }
  });
}

// out[o, j, i] = x[o, start + j*step, i]
template <class T> void slice(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  T* y = out.impl()->data<T>();
  const Blocks b = blocks(out.shape(), a.axis);
  const int64_t n = out.shape()[static_cast<size_t>(a.axis)];
  const int64_t d = in[0].shape()[static_cast<size_t>(a.axis)];
  for (int64_t o = 0; o < b.outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      std::copy_n(x + (o * d + a.start + j * a.step) * b.inner, b.inner, y + (o * n + j) * b.inner);
}

// zeros, then out[o, start + j*step, i] = g[o, j, i]
template <class T> void unslice(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* g = in[0].impl()->data<T>();
  T* y = out.impl()->data<T>();
  std::fill_n(y, out.numel(), T(0));
  const Blocks b = blocks(out.shape(), a.axis);
  const int64_t n = in[0].shape()[static_cast<size_t>(a.axis)];
  const int64_t d = out.shape()[static_cast<size_t>(a.axis)];
  for (int64_t o = 0; o < b.outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      std::copy_n(g + (o * n + j) * b.inner, b.inner, y + (o * d + a.start + j * a.step) * b.inner);
}

// out[o, j, i] = x[o, index[j], i]
template <class T> void index_select(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  const int64_t* idx = in[1].impl()->data<int64_t>();
  T* y = out.impl()->data<T>();
  const Blocks b = blocks(out.shape(), a.axis);
  const int64_t n = in[1].numel();
  const int64_t d = in[0].shape()[static_cast<size_t>(a.axis)];
  for (int64_t o = 0; o < b.outer; ++o)
    for (int64_t j = 0; j < n; ++j) std::copy_n(x + (o * d + idx[j]) * b.inner, b.inner, y + (o * n + j) * b.inner);
}

// zeros, then out[o, index[j], i] += src[o, j, i]
template <class T> void index_add(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* src = in[0].impl()->data<T>();
  const int64_t* idx = in[1].impl()->data<int64_t>();
  T* y = out.impl()->data<T>();
  std::fill_n(y, out.numel(), T(0));
  const Blocks b = blocks(out.shape(), a.axis);
  const int64_t n = in[1].numel();
  const int64_t d = out.shape()[static_cast<size_t>(a.axis)];
  for (int64_t o = 0; o < b.outer; ++o)
    for (int64_t j = 0; j < n; ++j) {
      const T* s = src + (o * n + j) * b.inner;
      T* t = y + (o * d + idx[j]) * b.inner;
      for (int64_t i = 0; i < b.inner; ++i) t[i] += s[i];
    }
}

// inputs side by side along the axis
template <class T> void concat(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  T* y = out.impl()->data<T>();
  const Blocks b = blocks(out.shape(), a.axis);
  const int64_t d = out.shape()[static_cast<size_t>(a.axis)];
  int64_t offset = 0;
  for (const Tensor& t : in) {
    const T* x = t.impl()->data<T>();
    const int64_t n = t.shape()[static_cast<size_t>(a.axis)];
    for (int64_t o = 0; o < b.outer; ++o) std::copy_n(x + o * n * b.inner, n * b.inner, y + (o * d + offset) * b.inner);
    offset += n;
  }
}

// Gather, scatter_add
namespace {
// The offset in a tensor of shape `to` (row-major) of the index tensor's position
// `coord`, with the axis coordinate replaced by `at`.
int64_t offset_along(const Shape& to, const Shape& coord, int64_t axis, int64_t at) {
  int64_t off = 0;
  for (size_t d = 0; d < to.size(); ++d)
    off = off * to[d] + (static_cast<int64_t>(d) == axis ? at : coord[d]);
  return off;
}
// The next position of `coord` in a tensor of shape s, row-major.
void advance(Shape& coord, const Shape& s) {
  for (size_t d = s.size(); d-- > 0;) {
    if (++coord[d] < s[d]) return;
    coord[d] = 0;
  }
}
}  // namespace

// out[p] = x[p with its axis coordinate replaced by index[p]], over the index's positions p
template <class T> void gather(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  const int64_t* idx = in[1].impl()->data<int64_t>();
  T* y = out.impl()->data<T>();
  const Shape& is = in[1].shape();
  Shape coord(is.size(), 0);
  for (int64_t k = 0; k < out.numel(); ++k, advance(coord, is))
    y[k] = x[offset_along(in[0].shape(), coord, a.axis, idx[k])];
}

// out = x, then out[p with its axis coordinate replaced by index[p]] += src[p] over the index's positions p
template <class T> void scatter_add(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* src = in[2].impl()->data<T>();
  const int64_t* idx = in[1].impl()->data<int64_t>();
  T* y = out.impl()->data<T>();
  std::copy_n(in[0].impl()->data<T>(), out.numel(), y);
  const Shape& is = in[1].shape();
  Shape coord(is.size(), 0);
  for (int64_t k = 0; k < in[1].numel(); ++k, advance(coord, is))
    y[offset_along(out.shape(), coord, a.axis, idx[k])] += src[k];
}

// int64 labels -> rows of 0/1 in attrs.dtype
template <class> void one_hot(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const int64_t* l = in[0].impl()->data<int64_t>();
  const int64_t n = in[0].numel(), c = out.shape().back();
  visit_dtype(a.dtype, [&](auto z) {
    using U = decltype(z);
    U* y = out.impl()->data<U>();
    std::fill_n(y, out.numel(), U(0));
    for (int64_t i = 0; i < n; ++i) y[i * c + l[i]] = U(1);
  });
}

AG_CPU_KERNEL(reshape, reshape);
AG_CPU_KERNEL(repeat, repeat);
AG_CPU_KERNEL(permute, permute);
AG_CPU_KERNEL(slice, slice);
AG_CPU_KERNEL(unslice, unslice);
AG_CPU_KERNEL(index_select, index_select);
AG_CPU_KERNEL(index_add, index_add);
AG_CPU_KERNEL(concat, concat);
AG_CPU_KERNEL(one_hot, one_hot);
AG_CPU_KERNEL(gather, gather);          
AG_CPU_KERNEL(scatter_add, scatter_add);

}  // namespace ag::cpu
