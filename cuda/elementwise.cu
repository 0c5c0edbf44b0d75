// CUDA kernels of the elementwise family: one thrust::transform over the
// scalar_ops functors the CPU kernels use. Inputs have equal shapes (builders
// record broadcasting as repeat nodes), so every kernel is flat.
#include <type_traits>

#include "cuda/common.cuh"

namespace ag::AG_KNS {

namespace {

// The math runs in T's compute type (float for the 16-bit types).
template <class T, class F> void map1(const View* in, const View& out, F f) {
  const T* x = in[0].ptr<T>();
  thrust::transform(AG_POLICY, x, x + out.numel, out.ptr<T>(), through<T>(f));
}

template <class T, class F> void map2(const View* in, const View& out, F f) {
  const T* a = in[0].ptr<T>();
  thrust::transform(AG_POLICY, a, a + out.numel, in[1].ptr<T>(), out.ptr<T>(), through<T>(f));
}

// Three inputs zipped into one tuple (where's mask, a and b).
template <class T, class F> struct Through3 {
  F f;
  template <class Tuple> AG_HD T operator()(const Tuple& t) const {
    using C = compute_t<T>;
    return static_cast<T>(
        f(static_cast<C>(thrust::get<0>(t)), static_cast<C>(thrust::get<1>(t)), static_cast<C>(thrust::get<2>(t))));
  }
};

template <class T, class F> void map3(const View* in, const View& out, F f) {
  auto first = thrust::make_zip_iterator(thrust::make_tuple(in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>()));
  thrust::transform(AG_POLICY, first, first + out.numel, out.ptr<T>(), Through3<T, F>{f});
}

// Through T's compute type, so 16-bit values convert with one rounding.
template <class U> struct Convert {
  template <class T> AG_HD U operator()(T x) const { return static_cast<U>(static_cast<compute_t<T>>(x)); }
};

// Element i of a float tensor as int64: a value int64 cannot hold (NaN, infinite,
// outside [-2^63, 2^63)) becomes 0 and is reported (Note [Checks on the device]),
// as the cpu kernel raises it; static_cast alone would be undefined there.
template <class T> struct ToInt64 {
  const T* x;
  kernels::DeviceCheck* check;
  AG_HD int64_t operator()(int64_t i) const {
    const double v = static_cast<double>(static_cast<compute_t<T>>(x[i]));
    if (!fits_int64(v)) {
      report_bad_value(check, KOp::cast, i, v, 0);
      return 0;
    }
    return static_cast<int64_t>(v);
  }
};

template <class T> void cast(const View* in, const View& out, const KAttrs& a) {
  const T* x = in[0].ptr<T>();
  auto to = [&](auto u) {
    using U = decltype(u);
    thrust::transform(AG_POLICY, x, x + out.numel, out.ptr<U>(), Convert<U>{});
  };
  if (a.dtype != kernels::KType::int64) return for_float(a.dtype, to);
  if constexpr (std::is_same_v<T, int64_t>) to(int64_t{});
  else thrust::transform(AG_POLICY, Index(0), Index(out.numel), out.ptr<int64_t>(), ToInt64<T>{x, a.check});
}

// Dropout of element i through T's compute type: the counter-based mask of
// scalar_ops::Dropout, the same as the cpu kernel's for the same seed.
template <class T> struct DropoutAt {
  const T* x;
  scalar_ops::Dropout f;
  AG_HD T operator()(int64_t i) const {
    return static_cast<T>(f(static_cast<compute_t<T>>(x[i]), static_cast<uint64_t>(i)));
  }
};

template <class T> void dropout(const View* in, const View& out, const KAttrs& a) {
  thrust::transform(AG_POLICY, Index(0), Index(out.numel), out.ptr<T>(),
                    DropoutAt<T>{in[0].ptr<T>(), scalar_ops::Dropout::from(a)});
}

// The kernel of a map-style row (ops.def's functor column), over T's compute type.
template <class T, class F, int arity> void map(const View* in, const View& out, const KAttrs& a) {
  const F f = scalar_ops::make<F>(a);
  if constexpr (arity == 1) map1<T>(in, out, f);
  else if constexpr (arity == 2) map2<T>(in, out, f);
  else map3<T>(in, out, f);
}

// Every row with a functor is a case, generated from ops.def.
template <class T> void run(KOp op, const View* in, const View& out, const KAttrs& a, const char* name) {
  switch (op) {
#define AG_OP(name, arity, family, grad, cpu, cuda, checks, functor, ...)                \
  case KOp::name:                                                                          \
    if constexpr (scalar_ops::is_functor<scalar_ops::functor>) return map<T, scalar_ops::functor, arity>(in, out, a); \
    break;
#include "autograd/ops/ops.def"
#undef AG_OP
  }
  throw std::logic_error(std::string(name) + ": its ops.def row names no functor and cuda/elementwise.cu has no kernel for it");
}

}  // namespace

void elementwise(KOp op, const View* in, int, const View& out, const KAttrs& a, const char* name) {
  const kernels::KType t = in[0].dtype;
  if (op == KOp::clone) {
    const auto* src = static_cast<const unsigned char*>(in[0].data);
    const int64_t bytes = out.numel * kernels::ktype_size(t);
    thrust::copy(AG_POLICY, src, src + bytes, static_cast<unsigned char*>(out.data));
    return;
  }
  if (op == KOp::dropout) return for_float(t, [&](auto x) { dropout<decltype(x)>(in, out, a); });
  if (op == KOp::cast) {
    if (t == kernels::KType::int64) return cast<int64_t>(in, out, a);
    return for_float(t, [&](auto x) { cast<decltype(x)>(in, out, a); });
  }
  for_float(t, [&](auto x) { run<decltype(x)>(op, in, out, a, name); });
}

}  // namespace ag::AG_KNS
