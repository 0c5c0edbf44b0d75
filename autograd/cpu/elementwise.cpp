// CPU kernels of the elementwise family. Inputs have equal shapes (builders
// record broadcasting as explicit repeat nodes), so every kernel is a flat loop.
#include <algorithm>
#include <cstring>

#include "autograd/cpu/clones.hpp"
#include "autograd/cpu/scalar_ops.hpp"
#include "autograd/ops/op.hpp"
#include "autograd/parallel.hpp"

namespace ag::cpu {

namespace {

// Note [Vectorised exp]: the loops are compiled for several instruction sets
// (AG_LOOP_CLONES, Note [Loop clones] in clones.hpp). Their bodies are
// functors from scalar_ops.hpp with no libm calls on float32 paths that
// matter (sigmoid), so GCC vectorises them; large tensors are split across the
// thread pool (parallel.hpp).
template <class T, class F>
AG_LOOP_CLONES void loop1(const T* __restrict x, T* __restrict y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <class T, class F>
AG_LOOP_CLONES void loop2(const T* __restrict a, const T* __restrict b, T* __restrict y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}

template <class T, class F>
AG_LOOP_CLONES void loop3(const T* __restrict m, const T* __restrict a, const T* __restrict b, T* __restrict y, int64_t n,
                          F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(m[i], a[i], b[i]);
}

// The kernel of a map-style row: its functor applied elementwise to its `arity`
// inputs, split across the thread pool.
template <class T, class F, int arity>
void map(std::span<const Tensor> in, Tensor& out, const Attrs& attrs) {
  const F f = scalar_ops::make<F>(attrs);
  const T* x[3] = {};
  for (int k = 0; k < arity; ++k) x[k] = in[static_cast<size_t>(k)].impl()->data<T>();
  T* y = out.impl()->data<T>();
  parallel_for(out.numel(), elementwise_grain(), [&](int64_t s, int64_t e) {
    if constexpr (arity == 1) loop1(x[0] + s, y + s, e - s, f);
    else if constexpr (arity == 2) loop2(x[0] + s, x[1] + s, y + s, e - s, f);
    else loop3(x[0] + s, x[1] + s, x[2] + s, y + s, e - s, f);
  });
}

// Registers the kernels of every row with a functor, for the dtypes its cpu column declares.
template <Op op, class F>
bool register_map() {
  if constexpr (scalar_ops::is_functor<F>) {
    constexpr int arity = op_kernels(op).arity;
    static_assert(arity >= 1 && arity <= 3, "a map-style op takes 1 to 3 inputs");
    detail::register_kernels<op_kernels(op).cpu>(
        op, Device::Kind::cpu, []<class T>(std::type_identity<T>) -> Kernel { return &map<T, F, arity>; });
  }
  return true;
}

const bool maps_registered = [] {
#define AG_OP(name, arity, family, grad, cpu, cuda, checks, functor, ...) register_map<Op::name, scalar_ops::functor>();
#include "autograd/ops/ops.def"
#undef AG_OP
  return true;
}();

}  // namespace

// Kernels of the rows without a functor.

template <class T> void clone(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  std::memcpy(out.impl()->data<T>(), in[0].impl()->data<T>(), static_cast<size_t>(out.numel()) * sizeof(T));
}

// Converts from the input's dtype T to attrs.dtype.
template <class T> void cast(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  const int64_t n = out.numel();
  auto convert = [&](auto* y) {
    using U = std::remove_pointer_t<decltype(y)>;
    if constexpr (std::is_same_v<U, int64_t> && !std::is_same_v<T, int64_t>) {
      // float -> int64 is undefined for NaN, inf and out-of-range values: check each
      for (int64_t i = 0; i < n; ++i) {
        double v;
        if constexpr (std::is_floating_point_v<T>) v = x[i];
        else v = static_cast<float>(x[i]);
        if (!fits_int64(v))
          fail("cast", "element {} is {}, which int64 cannot hold (NaN, infinite or outside [-2^63, 2^63)); "
               "clip or clean the values first",
               i, v);
        y[i] = static_cast<int64_t>(v);
      }
    } else {
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<U>(x[i]);
    }
  };
  visit_dtype(a.dtype, [&](auto u) { convert(out.impl()->data<decltype(u)>()); });
}

// x / (1 - p) where the counter-based mask keeps element i (u(seed, i) >= p), else 0;
// the same mask as on CUDA (scalar_ops::Dropout).
template <class T> void dropout(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const scalar_ops::Dropout f = scalar_ops::Dropout::from(a);
  const T* x = in[0].impl()->data<T>();
  T* y = out.impl()->data<T>();
  parallel_for(out.numel(), elementwise_grain(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) y[i] = f(x[i], static_cast<uint64_t>(i));
  });
}

AG_CPU_KERNEL(clone, clone);
AG_CPU_KERNEL(cast, cast);
AG_CPU_KERNEL(dropout, dropout);

}  // namespace ag::cpu
