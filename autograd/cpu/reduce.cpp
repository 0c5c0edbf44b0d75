// CPU kernels of the reduce family.
#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/ops/op.hpp"

namespace ag::cpu {

namespace {

// Reduces x over attrs.axes into out with `combine`, starting from `init`.
template <class T, class C>
void reduce_axes(const Tensor& x, Tensor& out, const Axes& axes, T init, C combine) {
  const Shape& s = x.shape();
  const T* px = x.impl()->data<T>();
  T* py = out.impl()->data<T>();
  std::fill_n(py, out.numel(), init);
  if (x.numel() == 0) return;
  const bool contiguous = axes.empty() || axes.back() - axes.front() + 1 == static_cast<int64_t>(axes.size());
  if (contiguous) {
    // (outer, r, inner) with the reduced axes merged into r
    int64_t outer = 1, r = 1, inner = 1;
    for (size_t i = 0; i < s.size(); ++i) {
      auto a = static_cast<int64_t>(i);
      if (axes.empty() || a < axes.front()) outer *= s[i];
      else if (a > axes.back()) inner *= s[i];
      else r *= s[i];
    }
    if (axes.empty()) std::swap(outer, r);
    for (int64_t o = 0; o < outer; ++o) {
      T* acc = py + o * inner;
      for (int64_t k = 0; k < r; ++k) {
        const T* row = px + (o * r + k) * inner;
        for (int64_t i = 0; i < inner; ++i) acc[i] = combine(acc[i], row[i]);
      }
    }
    return;
  }
  // General case: walk x in order, tracking the output offset (stride 0 on reduced axes).
  const size_t nd = s.size();
  Shape ostride(nd, 0), idx(nd, 0);
  int64_t st = 1;
  for (size_t i = nd; i-- > 0;) {
    if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) == axes.end()) {
      ostride[i] = st;
      st *= s[i];
    }
  }
  int64_t off = 0;
  const int64_t n = x.numel();
  for (int64_t k = 0; k < n; ++k) {
    py[off] = combine(py[off], px[k]);
    for (size_t d = nd; d-- > 0;) {
      off += ostride[d];
      if (++idx[d] < s[d]) break;
      off -= ostride[d] * s[d];
      idx[d] = 0;
    }
  }
}

struct Blocks {
  int64_t outer = 1, r = 1, inner = 1;
};
Blocks blocks(const Shape& s, int64_t axis) {
  Blocks b;
  for (size_t i = 0; i < s.size(); ++i) {
    auto a = static_cast<int64_t>(i);
    if (a < axis) b.outer *= s[i];
    else if (a > axis) b.inner *= s[i];
    else b.r = s[i];
  }
  return b;
}

}  // namespace

template <class T> void sum(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  reduce_axes<T>(in[0], out, a.axes, T(0), [](T u, T v) { return u + v; });
}

template <class T> void mean(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  sum<T>(in, out, a);
  int64_t n = 1;
  for (int64_t ax : a.axes) n *= in[0].shape()[static_cast<size_t>(ax)];
  const T scale = T(1) / static_cast<T>(n);
  T* y = out.impl()->data<T>();
  for (int64_t i = 0; i < out.numel(); ++i) y[i] *= scale;
}

template <class T> void max(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  reduce_axes<T>(in[0], out, a.axes, -std::numeric_limits<T>::infinity(), [](T u, T v) { return v > u || std::isnan(v) ? v : u; });
}

template <class T> void min(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  reduce_axes<T>(in[0], out, a.axes, std::numeric_limits<T>::infinity(), [](T u, T v) { return v < u || std::isnan(v) ? v : u; });
}

// The first index of the largest value along attrs.axis.
template <class T> void argmax(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  int64_t* y = out.impl()->data<int64_t>();
  const Blocks b = blocks(in[0].shape(), a.axis);
  for (int64_t o = 0; o < b.outer; ++o)
    for (int64_t i = 0; i < b.inner; ++i) {
      const T* p = x + o * b.r * b.inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < b.r; ++k)
        if (p[k * b.inner] > p[best * b.inner]) best = k;
      y[o * b.inner + i] = best;
    }
}

// Along attrs.axis: y = e^(x - max) / sum e^(x - max) (log: x - max - log sum).
template <class T, bool Log> void softmax_impl(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  T* y = out.impl()->data<T>();
  const Blocks b = blocks(in[0].shape(), a.axis);
  for (int64_t o = 0; o < b.outer; ++o)
    for (int64_t i = 0; i < b.inner; ++i) {
      const T* p = x + o * b.r * b.inner + i;
      T* q = y + o * b.r * b.inner + i;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t k = 0; k < b.r; ++k) m = std::max(m, p[k * b.inner]);
      T s = 0;
      for (int64_t k = 0; k < b.r; ++k) {
        T e = std::exp(p[k * b.inner] - m);
        if constexpr (!Log) q[k * b.inner] = e;
        s += e;
      }
      if constexpr (Log) {
        const T lse = m + std::log(s);
        for (int64_t k = 0; k < b.r; ++k) q[k * b.inner] = p[k * b.inner] - lse;
      } else {
        const T inv = T(1) / s;
        for (int64_t k = 0; k < b.r; ++k) q[k * b.inner] *= inv;
      }
    }
}
template <class T> void softmax(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  softmax_impl<T, false>(in, out, a);
}
template <class T> void log_softmax(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  softmax_impl<T, true>(in, out, a);
}

AG_CPU_KERNEL(sum, sum);
AG_CPU_KERNEL(mean, mean);
AG_CPU_KERNEL(max, max);
AG_CPU_KERNEL(min, min);
AG_CPU_KERNEL(argmax, argmax);
AG_CPU_KERNEL(softmax, softmax);
AG_CPU_KERNEL(log_softmax, log_softmax);

}  // namespace ag::cpu
