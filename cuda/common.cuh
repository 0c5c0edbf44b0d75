// What every cuda/<family>.cu shares: the Thrust execution policy of the build
// (CUDA on the device, CPP for the cuda_host emulation; Note [Kernels written
// once, compiled twice] in kernels.hpp) and index helpers for row-major views.
#pragma once

#include <algorithm>
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

// Note [Segmented reductions with plain transforms]
// Every reduction of the CUDA kernels (sum/mean/max/min over axes, the losses'
// totals) is a segmented reduction: nseg outputs, output o combining the r
// values value(o, 0..r). It runs as rounds of thrust::for_each over plain
// functors rather than CUB's reduce_by_key, for three reasons: reduce_by_key
// instantiated per dtype x combine made reduce.cu and loss.cu take most of the
// CUDA build (tens of minutes of nvcc/ptxas, docs/cuda.md); the summation
// order is fixed, so a sum is the same on every run and on cuda and cuda_host;
// and the scratch memory comes from the caching allocator, not cudaMalloc.
//   - Many segments (nseg >= kReduceThreads) or short ones: one thread per
//     segment combines its r values in order.
//   - Few, long segments: `parts` threads per segment; thread (o, c) combines
//     values c, c + parts, c + 2 parts, ... into partial[o * parts + c], and
//     the partials are reduced the same way (a segment of `parts` values).
//     Threads are numbered so that neighbours read neighbouring memory: by
//     segment when the segment's values are contiguous, by output otherwise.
inline constexpr int64_t kReduceThreads = int64_t(1) << 16;  // threads worth splitting a segment for
inline constexpr int64_t kReducePerThread = 32;              // fewest values a partial combines

// Memory for n values of A on the build's device, for the duration of one call.
template <class A> class Scratch {
 public:
  explicit Scratch(int64_t n) : bytes_(static_cast<size_t>(n) * sizeof(A)) {
#if defined(AG_CUDA_HOST)
    p_ = new A[static_cast<size_t>(n)];
#else
    p_ = static_cast<A*>(::ag::cuda::rt::scratch_alloc(bytes_, "reduce"));
#endif
  }
  ~Scratch() {
#if defined(AG_CUDA_HOST)
    delete[] p_;
#else
    ::ag::cuda::rt::scratch_free(p_, bytes_);
#endif
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  A* get() const { return p_; }

 private:
  size_t bytes_;
  A* p_ = nullptr;
};

template <class A, class Value, class Combine> struct CombinePartial {
  Value value;
  Combine combine;
  A init;
  int64_t nseg, r, parts;
  bool by_segment;
  A* partial;
  AG_HD void operator()(int64_t t) const {
    const int64_t o = by_segment ? t / parts : t % nseg, c = by_segment ? t % parts : t / nseg;
    A acc = init;
    for (int64_t k = c; k < r; k += parts) acc = combine(acc, value(o, k));
    partial[o * parts + c] = acc;
  }
};
template <class A, class Value, class Combine, class Out> struct CombineSegment {
  Value value;
  Combine combine;
  A init;
  int64_t r;
  Out out;
  AG_HD void operator()(int64_t o) const {
    A acc = init;
    for (int64_t k = 0; k < r; ++k) acc = combine(acc, value(o, k));
    out(o, acc);
  }
};
// Value k of segment o of a partials buffer.
template <class A> struct PartialAt {
  const A* p;
  int64_t parts;
  AG_HD A operator()(int64_t o, int64_t k) const { return p[o * parts + k]; }
};

// out(o, v) for each of nseg segments, v = init combined with value(o, k) for
// k = 0..r in a fixed order (Note [Segmented reductions with plain transforms]).
// contiguous: value(o, k) and value(o, k + 1) are neighbours in memory.
template <class A, class Value, class Combine, class Out>
void segmented_reduce(int64_t nseg, int64_t r, Value value, A init, Combine combine, Out out, bool contiguous) {
  if (nseg == 0) return;
  int64_t parts = std::min((kReduceThreads + nseg - 1) / nseg, r / kReducePerThread);
  if (parts <= 1) {
    thrust::for_each(AG_POLICY, Index(0), Index(nseg), CombineSegment<A, Value, Combine, Out>{value, combine, init, r, out});
    return;
  }
  Scratch<A> partial(nseg * parts);
  thrust::for_each(AG_POLICY, Index(0), Index(nseg * parts),
                   CombinePartial<A, Value, Combine>{value, combine, init, nseg, r, parts, contiguous, partial.get()});
  segmented_reduce<A>(nseg, parts, PartialAt<A>{partial.get(), parts}, init, combine, out, true);
}

// Sum of n doubles term(i) into one device scalar y[0] = total / divisor, as T.
template <class Term> struct TermAt {
  Term term;
  AG_HD double operator()(int64_t, int64_t i) const { return term(i); }
};
template <class T> struct StoreMean {
  T* y;
  double divisor;
  AG_HD void operator()(int64_t, double total) const { y[0] = static_cast<T>(total / divisor); }
};
template <class T, class Term> void sum_to_scalar(Term term, int64_t n, T* y, double divisor) {
  if (n == 0) {
    thrust::fill(AG_POLICY, y, y + 1, T(0));
    return;
  }
  // the sum is a double (named: adding in the output's type would round to 16 bits)
  segmented_reduce<double>(1, n, TermAt<Term>{term}, 0.0, thrust::plus<double>(), StoreMean<T>{y, divisor}, true);
}

}  // namespace ag::AG_KNS
