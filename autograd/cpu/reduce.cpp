// CPU kernels of the reduce family.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "autograd/ops/op.hpp"
#include "autograd/parallel.hpp"

namespace ag::cpu {

namespace {

// Reduces x (of T) over attrs.axes into py (out_numel accumulators of A) with
// `combine`, starting from `init`.
template <class T, class A, class C>
void reduce_axes(const Tensor& x, A* py, int64_t out_numel, const Axes& axes, A init, C combine) {
  const Shape& s = x.shape();
  const T* px = x.impl()->data<T>();
  std::fill_n(py, out_numel, init);
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
    if constexpr (!std::is_same_v<T, A>) {
      if (inner == 1) {
        // one long row: kLanes independent accumulators, so the loop vectorises
        constexpr int64_t kLanes = 8;
        for (int64_t o = 0; o < outer; ++o) {
          const T* row = px + o * r;
          A lanes[kLanes];
          std::fill_n(lanes, kLanes, init);
          int64_t k = 0;
          for (; k + kLanes <= r; k += kLanes)
            for (int64_t j = 0; j < kLanes; ++j) lanes[j] = combine(lanes[j], static_cast<A>(row[k + j]));
          A total = init;
          for (int64_t j = 0; j < kLanes; ++j) total = combine(total, lanes[j]);
          for (; k < r; ++k) total = combine(total, static_cast<A>(row[k]));
          py[o] = total;
        }
        return;
      }
    }
    if (inner == 1) {
      // short rows (a pool's windows): the accumulator in a register, not reloaded through py
      const int64_t grain = std::max<int64_t>(1, elementwise_grain() / std::max<int64_t>(1, r));
      parallel_for(outer, grain, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          const T* row = px + o * r;
          A total = init;
          for (int64_t k = 0; k < r; ++k) total = combine(total, static_cast<A>(row[k]));
          py[o] = total;
        }
      });
      return;
    }
    for (int64_t o = 0; o < outer; ++o) {
      A* acc = py + o * inner;
      for (int64_t k = 0; k < r; ++k) {
        const T* row = px + (o * r + k) * inner;
        for (int64_t i = 0; i < inner; ++i) acc[i] = combine(acc[i], static_cast<A>(row[i]));
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
    py[off] = combine(py[off], static_cast<A>(px[k]));
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

// Note [float32 sums in double]: float32 sums and means accumulate in double
// and round once at the end (as NumPy's pairwise sum and PyTorch's are close to
// the exact result); adding n floats in float loses about n/2 ulps.
template <class T> using SumAcc = std::conditional_t<std::is_same_v<T, float>, double, T>;

// The sums over a.axes, scaled by `scale`, rounded to T once.
template <class T> void sum_scaled(const Tensor& x, Tensor& out, const Attrs& a, SumAcc<T> scale) {
  using A = SumAcc<T>;
  T* y = out.impl()->data<T>();
  const int64_t n = out.numel();
  auto add = [](A u, A v) { return u + v; };
  if constexpr (std::is_same_v<A, T>) {
    reduce_axes<T, A>(x, y, n, a.axes, A(0), add);
    if (scale != A(1))
      for (int64_t i = 0; i < n; ++i) y[i] *= scale;
  } else {
    std::vector<A> acc(static_cast<size_t>(n));
    reduce_axes<T, A>(x, acc.data(), n, a.axes, A(0), add);
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(acc[static_cast<size_t>(i)] * scale);
  }
}

template <class T> void sum(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  sum_scaled<T>(in[0], out, a, SumAcc<T>(1));
}

template <class T> void mean(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  int64_t n = 1;
  for (int64_t ax : a.axes) n *= in[0].shape()[static_cast<size_t>(ax)];
  sum_scaled<T>(in[0], out, a, SumAcc<T>(1) / static_cast<SumAcc<T>>(n));
}

template <class T> void max(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  reduce_axes<T, T>(in[0], out.impl()->data<T>(), out.numel(), a.axes, -std::numeric_limits<T>::infinity(),
                    [](T u, T v) { return v > u || std::isnan(v) ? v : u; });
}

template <class T> void min(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  reduce_axes<T, T>(in[0], out.impl()->data<T>(), out.numel(), a.axes, std::numeric_limits<T>::infinity(),
                    [](T u, T v) { return v < u || std::isnan(v) ? v : u; });
}

// The first index of the largest value along attrs.axis (Smallest: of the smallest).
template <class T, bool Smallest> void arg_extremum(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  int64_t* y = out.impl()->data<int64_t>();
  const Blocks b = blocks(in[0].shape(), a.axis);
  for (int64_t o = 0; o < b.outer; ++o)
    for (int64_t i = 0; i < b.inner; ++i) {
      const T* p = x + o * b.r * b.inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < b.r; ++k)
        if (Smallest ? p[k * b.inner] < p[best * b.inner] : p[k * b.inner] > p[best * b.inner]) best = k;
      y[o * b.inner + i] = best;
    }
}
template <class T> void argmax(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  arg_extremum<T, false>(in, out, a);
}
template <class T> void argmin(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  arg_extremum<T, true>(in, out, a);
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
AG_CPU_KERNEL(argmin, argmin);

}  // namespace ag::cpu
