// CUDA kernels of the reduce family. Sum/Mean/Max/Min read the input in
// "reduced axes innermost" order (segment o holds the R elements that reduce
// into output o), so any set of axes is one segmented reduction (Note
// [Segmented reductions with plain transforms] in common.cuh). Argmax and the softmax family walk one
// (outer, inner) row per work item.
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"

namespace ag::AG_KNS {

namespace {

// Maps position j of the segmented order to the input's flat offset:
// j = o * R + k, o over the kept axes and k over the reduced ones.
struct SegmentedOffset {
  int nk = 0, nr = 0;
  int64_t ksize[kernels::kMaxDims] = {}, kstride[kernels::kMaxDims] = {};
  int64_t rsize[kernels::kMaxDims] = {}, rstride[kernels::kMaxDims] = {};
  int64_t r = 1;
  bool contiguous = false;  // the innermost axis is reduced: neighbouring k are neighbours in memory
  AG_HD int64_t operator()(int64_t o, int64_t k) const {
    int64_t off = 0;
    for (int d = nr - 1; d >= 0; --d) {
      off += (k % rsize[d]) * rstride[d];
      k /= rsize[d];
    }
    for (int d = nk - 1; d >= 0; --d) {
      off += (o % ksize[d]) * kstride[d];
      o /= ksize[d];
    }
    return off;
  }
};

SegmentedOffset segmented(const View& x, const KAttrs& a) {
  SegmentedOffset s;
  int64_t stride = 1;
  int64_t strides[kernels::kMaxDims];
  for (int d = x.ndim - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= x.shape[d];
  }
  for (int d = 0; d < x.ndim; ++d) {
    bool reduced = false;
    for (int i = 0; i < a.naxes; ++i) reduced = reduced || a.axes[i] == d;
    if (reduced) {
      s.rsize[s.nr] = x.shape[d];
      s.rstride[s.nr++] = strides[d];
      s.r *= x.shape[d];
      s.contiguous = s.contiguous || d == x.ndim - 1;
    } else {
      s.ksize[s.nk] = x.shape[d];
      s.kstride[s.nk++] = strides[d];
    }
  }
  return s;
}

struct MaxOp {
  template <class T> AG_HD T operator()(T u, T v) const { return v > u || v != v ? v : u; }
};
struct MinOp {
  template <class T> AG_HD T operator()(T u, T v) const { return v < u || v != v ? v : u; }
};

// Element k of segment o, as A.
template <class T, class A> struct SegmentValue {
  const T* x;
  SegmentedOffset s;
  AG_HD A operator()(int64_t o, int64_t k) const { return static_cast<A>(static_cast<compute_t<T>>(x[s(o, k)])); }
};
// y[o] = v * scale, rounded to T once.
template <class T, class A> struct StoreScaled {
  T* y;
  double scale;
  AG_HD void operator()(int64_t o, A v) const {
    y[o] = static_cast<T>(static_cast<compute_t<T>>(scale == 1.0 ? v : static_cast<A>(v * scale)));
  }
};

// Each output is the reduction of its segment times `scale`, accumulated in A
// and rounded to T once. Sums and means accumulate in double for every dtype
// (Note [float32 sums in double] in autograd/cpu/reduce.cpp: the same result
// as the cpu's); max and min in compute_t<T>, where nothing rounds.
template <class T, class A, class C> void reduce_axes(const View& x, const View& out, const KAttrs& a, A init, C combine,
                                                      double scale = 1.0) {
  const SegmentedOffset s = segmented(x, a);
  segmented_reduce<A>(out.numel, s.r, SegmentValue<T, A>{x.ptr<T>(), s}, init, combine,
                      StoreScaled<T, A>{out.ptr<T>(), scale}, s.contiguous);
}

// Row o * inner + i of an (outer, r, inner) block: the first index of its largest
// value (Smallest: of its smallest).
template <class T, bool Smallest> struct ArgExtremumRow {
  const T* x;
  int64_t r, inner;
  AG_HD int64_t operator()(int64_t row) const {
    const T* p = x + (row / inner) * r * inner + row % inner;
    int64_t best = 0;
    for (int64_t k = 1; k < r; ++k)
      if (Smallest ? p[k * inner] < p[best * inner] : p[k * inner] > p[best * inner]) best = k;
    return best;
  }
};

// y = e^(x - max) / sum e^(x - max) along the row (log: x - max - log sum).
// The row's max and sum are kept in A = compute_t<T>; the normalised values
// are recomputed from x rather than read back, so a 16-bit T rounds once.
template <class T, bool Log> struct SoftmaxRow {
  const T* x;
  T* y;
  int64_t r, inner;
  AG_HD void operator()(int64_t row) const {
    using A = compute_t<T>;
    const int64_t base = (row / inner) * r * inner + row % inner;
    const T* p = x + base;
    T* q = y + base;
    A m = -INFINITY;
    for (int64_t k = 0; k < r; ++k) {
      const A v = static_cast<A>(p[k * inner]);
      m = v > m ? v : m;
    }
    A s = 0;
    for (int64_t k = 0; k < r; ++k) s += std::exp(static_cast<A>(p[k * inner]) - m);
    if (Log) {
      const A lse = m + std::log(s);
      for (int64_t k = 0; k < r; ++k) q[k * inner] = static_cast<T>(static_cast<A>(p[k * inner]) - lse);
    } else {
      const A inv = A(1) / s;
      for (int64_t k = 0; k < r; ++k) q[k * inner] = static_cast<T>(std::exp(static_cast<A>(p[k * inner]) - m) * inv);
    }
  }
};

template <class T> void run(KOp op, const View& x, const View& out, const KAttrs& a, const char* name) {
  using A = compute_t<T>;
  switch (op) {
    case KOp::sum: return reduce_axes<T>(x, out, a, 0.0, thrust::plus<double>());
    case KOp::mean:
      return reduce_axes<T>(x, out, a, 0.0, thrust::plus<double>(), 1.0 / static_cast<double>(segmented(x, a).r));
    case KOp::max: return reduce_axes<T>(x, out, a, -std::numeric_limits<A>::infinity(), MaxOp{});
    case KOp::min: return reduce_axes<T>(x, out, a, std::numeric_limits<A>::infinity(), MinOp{});
    case KOp::argmax:
    case KOp::argmin: {
      const Blocks b = blocks(x, a.axis);
      if (op == KOp::argmax)
        thrust::transform(AG_POLICY, Index(0), Index(b.outer * b.inner), out.ptr<int64_t>(),
                          ArgExtremumRow<T, false>{x.ptr<T>(), b.n, b.inner});
      else
        thrust::transform(AG_POLICY, Index(0), Index(b.outer * b.inner), out.ptr<int64_t>(),
                          ArgExtremumRow<T, true>{x.ptr<T>(), b.n, b.inner});
      return;
    }
    case KOp::softmax:
    case KOp::log_softmax: {
      const Blocks b = blocks(x, a.axis);
      if (op == KOp::softmax)
        thrust::for_each(AG_POLICY, Index(0), Index(b.outer * b.inner), SoftmaxRow<T, false>{x.ptr<T>(), out.ptr<T>(), b.n, b.inner});
      else
        thrust::for_each(AG_POLICY, Index(0), Index(b.outer * b.inner), SoftmaxRow<T, true>{x.ptr<T>(), out.ptr<T>(), b.n, b.inner});
      return;
    }
    default: break;
  }
  throw std::logic_error(std::string(name) + ": not a reduce kernel");
}

}  // namespace

void reduce(KOp op, const View* in, int, const View& out, const KAttrs& a, const char* name) {
  for_float(in[0].dtype, [&](auto x) { run<decltype(x)>(op, in[0], out, a, name); });
}

}  // namespace ag::AG_KNS
