// CUDA kernels of the shape family: each is a gather (or scatter) through an
// index functor that maps an output position to an input position, so the
// index arithmetic is the kernel. Axis-wise ops view a tensor as
// (outer, axis, inner) blocks, row-major, as the CPU kernels do.
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"

namespace ag::AG_KNS {

namespace {

template <class F> auto index_map(F f) { return thrust::make_transform_iterator(Index(0), f); }

// out[o, r, i] = x[o, 0, i]
struct RepeatIndex {
  int64_t n, inner;
  AG_HD int64_t operator()(int64_t k) const { return (k / (n * inner)) * inner + k % inner; }
};

// out axis d is input axis perm[d]: stride[d] is that axis's input stride
struct PermuteIndex {
  int nd;
  int64_t size[kernels::kMaxDims], stride[kernels::kMaxDims];
  AG_HD int64_t operator()(int64_t k) const {
    int64_t off = 0;
    for (int d = nd - 1; d >= 0; --d) {
      off += (k % size[d]) * stride[d];
      k /= size[d];
    }
    return off;
  }
};

// out[o, j, i] = x[o, start + j*step, i]
struct SliceIndex {
  int64_t n, d, inner, start, step;
  AG_HD int64_t operator()(int64_t k) const {
    const int64_t i = k % inner, j = (k / inner) % n, o = k / (inner * n);
    return (o * d + start + j * step) * inner + i;
  }
};

// out[o, p, i] = g[o, j, i] where p = start + j*step, else 0
template <class T> struct UnsliceValue {
  const T* g;
  int64_t n, d, inner, start, step;
  AG_HD T operator()(int64_t k) const {
    const int64_t i = k % inner, p = (k / inner) % d, o = k / (inner * d);
    const int64_t q = p - start;
    if (q < 0 || q % step != 0 || q / step >= n) return T(0.0f);
    return g[(o * n + q / step) * inner + i];
  }
};

// out[o, j, i] = x[o, index[j], i]; an index outside [0, d) reads nothing and
// is reported (Note [Checks on the device] in kernels.hpp)
template <class T> struct SelectValue {
  const T* x;
  const int64_t* index;
  int64_t n, d, inner;
  kernels::DeviceCheck* check;
  AG_HD T operator()(int64_t k) const {
    const int64_t i = k % inner, j = (k / inner) % n, o = k / (inner * n);
    if (index[j] < 0 || index[j] >= d) {
      report_bad_value(check, KOp::index_select, j, static_cast<double>(index[j]), d);
      return T(0);
    }
    return x[(o * d + index[j]) * inner + i];
  }
};

// out[o, p, i] = sum over j with index[j] == p of src[o, j, i] (a gather, so no atomics)
template <class T> struct IndexAddValue {
  const T* src;
  const int64_t* index;
  int64_t n, d, inner;
  kernels::DeviceCheck* check;
  AG_HD T operator()(int64_t k) const {
    const int64_t i = k % inner, p = (k / inner) % d, o = k / (inner * d);
    compute_t<T> s = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (index[j] == p) s += static_cast<compute_t<T>>(src[(o * n + j) * inner + i]);
      else if (k == 0 && (index[j] < 0 || index[j] >= d))  // one work item reports
        report_bad_value(check, KOp::index_add, j, static_cast<double>(index[j]), d);
    }
    return static_cast<T>(s);
  }
};

// Gather, scatter_add
// out[p] = x[p with its axis coordinate replaced by index[p]] over the index's
// positions p; an index outside [0, d) reads nothing (0) and is reported
// (Note [Checks on the device] in kernels.hpp)
template <class T> struct GatherValue {
  const T* x;
  const int64_t* index;
  int nd, axis;
  int64_t d;  // x's size along the axis
  int64_t ishape[kernels::kMaxDims], xstride[kernels::kMaxDims];
  kernels::DeviceCheck* check;
  AG_HD T operator()(int64_t k) const {
    const int64_t at = index[k];
    if (at < 0 || at >= d) {
      report_bad_value(check, KOp::gather, k, static_cast<double>(at), d);
      return T(0.0f);
    }
    int64_t off = 0, r = k;
    for (int dd = nd - 1; dd >= 0; --dd) {
      const int64_t c = r % ishape[dd];
      r /= ishape[dd];
      off += (dd == axis ? at : c) * xstride[dd];
    }
    return x[off];
  }
};

// out[q] = x[q] + the sum of src[p] over the index positions p on q's line
// along the axis with index[p] == q's axis coordinate (a gather, so no
// atomics); the work items at axis coordinate 0 report an index outside [0, d)
template <class T> struct ScatterAddValue {
  const T* x;
  const int64_t* index;
  const T* src;
  int nd, axis;
  int64_t xshape[kernels::kMaxDims], ishape[kernels::kMaxDims], istride[kernels::kMaxDims];
  kernels::DeviceCheck* check;
  AG_HD T operator()(int64_t q) const {
    int64_t r = q, base = 0, p = 0;
    bool inside = true;  // q's other coordinates lie within the index's shape
    for (int dd = nd - 1; dd >= 0; --dd) {
      const int64_t c = r % xshape[dd];
      r /= xshape[dd];
      if (dd == axis) p = c;
      else if (c >= ishape[dd]) inside = false;
      else base += c * istride[dd];
    }
    if (!inside) return x[q];
    compute_t<T> s = static_cast<compute_t<T>>(x[q]);
    for (int64_t j = 0; j < ishape[axis]; ++j) {
      const int64_t at = base + j * istride[axis], v = index[at];
      if (v == p) s += static_cast<compute_t<T>>(src[at]);
      else if (p == 0 && (v < 0 || v >= xshape[axis]))
        report_bad_value(check, KOp::scatter_add, at, static_cast<double>(v), xshape[axis]);
    }
    return static_cast<T>(s);
  }
};

// element k of one concat input (o, j, i) lands at out[o, offset + j, i]
struct ConcatIndex {
  int64_t n, d, inner, offset;
  AG_HD int64_t operator()(int64_t k) const {
    const int64_t i = k % inner, j = (k / inner) % n, o = k / (inner * n);
    return (o * d + offset + j) * inner + i;
  }
};

// out[r, c] = 1 where labels[r] == c
template <class U> struct OneHotValue {
  const int64_t* labels;
  int64_t classes;
  kernels::DeviceCheck* check;
  AG_HD U operator()(int64_t k) const {
    const int64_t r = k / classes, l = labels[r];
    if (k % classes == 0 && (l < 0 || l >= classes)) report_bad_value(check, KOp::one_hot, r, static_cast<double>(l), classes);
    return l == k % classes ? U(1.0f) : U(0.0f);
  }
};

template <class T> void run(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name) {
  const View& x = in[0];
  T* y = out.ptr<T>();
  switch (op) {
    case KOp::reshape: thrust::copy(AG_POLICY, x.ptr<T>(), x.ptr<T>() + out.numel, y); return;
    case KOp::repeat: {
      const Blocks b = blocks(out, a.axis);
      thrust::gather(AG_POLICY, index_map(RepeatIndex{b.n, b.inner}), index_map(RepeatIndex{b.n, b.inner}) + out.numel, x.ptr<T>(), y);
      return;
    }
    case KOp::permute: {
      PermuteIndex f{};
      f.nd = x.ndim;
      int64_t xstride[kernels::kMaxDims];
      int64_t st = 1;
      for (int d = x.ndim - 1; d >= 0; --d) {
        xstride[d] = st;
        st *= x.shape[d];
      }
      for (int d = 0; d < x.ndim; ++d) {
        f.size[d] = x.shape[a.axes[d]];
        f.stride[d] = xstride[a.axes[d]];
      }
      thrust::gather(AG_POLICY, index_map(f), index_map(f) + out.numel, x.ptr<T>(), y);
      return;
    }
    case KOp::slice: {
      const Blocks b = blocks(out, a.axis);
      const SliceIndex f{b.n, x.shape[a.axis], b.inner, a.start, a.step};
      thrust::gather(AG_POLICY, index_map(f), index_map(f) + out.numel, x.ptr<T>(), y);
      return;
    }
    case KOp::unslice: {
      const Blocks b = blocks(out, a.axis);
      thrust::transform(AG_POLICY, Index(0), Index(out.numel), y,
                        UnsliceValue<T>{x.ptr<T>(), x.shape[a.axis], b.n, b.inner, a.start, a.step});
      return;
    }
    case KOp::index_select: {
      const Blocks b = blocks(out, a.axis);
      thrust::transform(AG_POLICY, Index(0), Index(out.numel), y,
                        SelectValue<T>{x.ptr<T>(), in[1].ptr<int64_t>(), b.n, x.shape[a.axis], b.inner, a.check});
      return;
    }
    case KOp::index_add: {
      const Blocks b = blocks(out, a.axis);
      thrust::transform(AG_POLICY, Index(0), Index(out.numel), y,
                        IndexAddValue<T>{x.ptr<T>(), in[1].ptr<int64_t>(), in[1].numel, b.n, b.inner, a.check});
      return;
    }
    case KOp::gather: {
      GatherValue<T> f{};
      f.x = x.ptr<T>();
      f.index = in[1].ptr<int64_t>();
      f.nd = x.ndim;
      f.axis = static_cast<int>(a.axis);
      f.d = x.shape[a.axis];
      f.check = a.check;
      int64_t st = 1;
      for (int d = x.ndim - 1; d >= 0; --d) {
        f.xstride[d] = st;
        st *= x.shape[d];
        f.ishape[d] = in[1].shape[d];
      }
      thrust::transform(AG_POLICY, Index(0), Index(out.numel), y, f);
      return;
    }
    case KOp::scatter_add: {
      ScatterAddValue<T> f{};
      f.x = x.ptr<T>();
      f.index = in[1].ptr<int64_t>();
      f.src = in[2].ptr<T>();
      f.nd = x.ndim;
      f.axis = static_cast<int>(a.axis);
      f.check = a.check;
      int64_t st = 1;
      for (int d = x.ndim - 1; d >= 0; --d) {
        f.xshape[d] = x.shape[d];
        f.ishape[d] = in[1].shape[d];
        f.istride[d] = st;
        st *= in[1].shape[d];
      }
      thrust::transform(AG_POLICY, Index(0), Index(out.numel), y, f);
      return;
    }
    case KOp::concat: {
      const Blocks b = blocks(out, a.axis);
      int64_t offset = 0;
      for (int k = 0; k < nin; ++k) {
        const int64_t n = in[k].shape[a.axis];
        const ConcatIndex f{n, b.n, b.inner, offset};
        thrust::scatter(AG_POLICY, in[k].ptr<T>(), in[k].ptr<T>() + in[k].numel, index_map(f), y);
        offset += n;
      }
      return;
    }
    default: break;
  }
  throw std::logic_error(std::string(name) + ": not a shape kernel");
}

template <class U> void one_hot(const View& labels, const View& out, kernels::DeviceCheck* check) {
  const int64_t classes = out.shape[out.ndim - 1];
  thrust::transform(AG_POLICY, Index(0), Index(out.numel), out.ptr<U>(),
                    OneHotValue<U>{labels.ptr<int64_t>(), classes, check});
}

}  // namespace

void shape(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name) {
  if (op == KOp::one_hot) {
    if (out.dtype == kernels::KType::int64) return one_hot<int64_t>(in[0], out, a.check);
    return for_float(out.dtype, [&](auto z) { one_hot<decltype(z)>(in[0], out, a.check); });
  }
  if (in[0].dtype == kernels::KType::int64) return run<int64_t>(op, in, nin, out, a, name);
  for_float(in[0].dtype, [&](auto x) { run<decltype(x)>(op, in, nin, out, a, name); });
}

}  // namespace ag::AG_KNS
