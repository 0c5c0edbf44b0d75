// What every cuda/<family>.cu shares: the Thrust execution policy of the build
// (CUDA on the device, CPP for the cuda_host emulation; Note [Kernels written
// once, compiled twice] in kernels.hpp) and index helpers for row-major views.
#pragma once

#include <cstdint>

#include <thrust/copy.h>
#include <thrust/fill.h>
#include <thrust/for_each.h>
#include <thrust/functional.h>
#include <thrust/gather.h>
#include <thrust/iterator/constant_iterator.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/discard_iterator.h>
#include <thrust/iterator/permutation_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/iterator/transform_output_iterator.h>
#include <thrust/iterator/zip_iterator.h>
#include <thrust/reduce.h>
#include <thrust/scatter.h>
#include <thrust/transform.h>

#include "autograd/cpu/scalar_ops.hpp"
#include "autograd/half.hpp"
#include "cuda/kernels.hpp"

#if defined(AG_CUDA_HOST)
#include <thrust/system/cpp/execution_policy.h>
#define AG_POLICY thrust::cpp::par
#else
#include <thrust/system/cuda/execution_policy.h>
#include "cuda/runtime.hpp"
#define AG_POLICY thrust::cuda::par_nosync.on(static_cast<cudaStream_t>(::ag::cuda::rt::current_stream()))
#endif

namespace ag::AG_KNS {

using Index = thrust::counting_iterator<int64_t>;

// Calls f(T{}) with T the C++ type of a floating KType: float, double, Half or
// BFloat16 (storage types whose arithmetic is float: compute_t<T>; Note
// [16-bit storage, float32 arithmetic] in autograd/half.hpp).
template <class F> void for_float(kernels::KType t, F&& f) {
  switch (t) {
    case kernels::KType::float32: f(float{}); break;
    case kernels::KType::float16: f(Half{}); break;
    case kernels::KType::bfloat16: f(BFloat16{}); break;
    default: f(double{}); break;
  }
}

// f over T's compute type: loads each argument as compute_t<T>, stores the
// result as T (for float and double, f itself).
template <class T, class F> struct Through {
  F f;
  template <class... X> AG_HD T operator()(X... x) const { return static_cast<T>(f(static_cast<compute_t<T>>(x)...)); }
};
template <class T, class F> Through<T, F> through(F f) { return {f}; }

// Reads T as its compute type / stores a compute value as T.
template <class T> struct Load {
  AG_HD compute_t<T> operator()(T x) const { return static_cast<compute_t<T>>(x); }
};
template <class T> struct Store {
  AG_HD T operator()(compute_t<T> x) const { return static_cast<T>(x); }
};

// Records a bad value in the device's check record, unless one is there
// already (Note [Checks on the device] in kernels.hpp).
AG_HD inline void report_bad_value(kernels::DeviceCheck* c, KOp op, int64_t position, double value, int64_t bound) {
  if (!c) return;
#if defined(__CUDA_ARCH__)
  if (atomicCAS(&c->flag, 0, 1) != 0) return;
#else
  if (c->flag) return;
  c->flag = 1;
#endif
  c->op = static_cast<int32_t>(op);
  c->position = position;
  c->value = value;
  c->bound = bound;
}

// An (outer, axis, inner) split of a row-major shape around one axis.
struct Blocks {
  int64_t outer = 1, n = 1, inner = 1;
};
inline Blocks blocks(const View& v, int64_t axis) {
  const int a = static_cast<int>(axis);
  return {v.span(0, a), v.shape[a], v.span(a + 1, v.ndim)};
}

// Sum of a floating sequence of doubles into one device scalar y[0] = total / divisor, as T.
template <class T> struct StoreMean {
  double divisor;
  AG_HD T operator()(double total) const { return static_cast<T>(total / divisor); }
};
template <class T, class It> void sum_to_scalar(It values, int64_t n, T* y, double divisor) {
  if (n == 0) {
    thrust::fill(AG_POLICY, y, y + 1, T(0));
    return;
  }
  // the sum is a double (named: the default would add in the output's type, which may be 16 bits)
  thrust::reduce_by_key(AG_POLICY, thrust::make_constant_iterator(0), thrust::make_constant_iterator(0) + n, values,
                        thrust::make_discard_iterator(),
                        thrust::make_transform_output_iterator(y, StoreMean<T>{divisor}), thrust::equal_to<int>(),
                        thrust::plus<double>());
}

}  // namespace ag::AG_KNS
