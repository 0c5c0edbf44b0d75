// CPU kernels of the elementwise family. Inputs have equal shapes (builders
// record broadcasting as explicit repeat nodes), so every kernel is a flat loop.
#include <algorithm>
#include <cstring>

#include "autograd/cpu/scalar_ops.hpp"
#include "autograd/ops/op.hpp"
#include "autograd/parallel.hpp"

namespace ag::cpu {

namespace {

// Note [Vectorised exp]: the loops are compiled twice, for x86-64-v3 (AVX2 +
// FMA) and for the baseline, and the loader picks one for the running CPU.
// Their bodies are functors from scalar_ops.hpp with no libm calls on float32
// paths that matter (sigmoid), so GCC vectorises them; large tensors are split
// across the thread pool (parallel.hpp). Clang cannot multiversion templates,
// and under ThreadSanitizer the loader would run the instrumented ifunc
// resolver before the runtime starts (a crash at load): those builds (the
// fuzzers and the TSan run, docs/fuzzing.md) get the baseline loop only.
#if defined(__clang__) || defined(__SANITIZE_THREAD__)
#define AG_LOOP_CLONES
#else
#define AG_LOOP_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
template <class T, class F>
AG_LOOP_CLONES void loop1(const T* __restrict x, T* __restrict y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <class T, class F>
AG_LOOP_CLONES void loop2(const T* __restrict a, const T* __restrict b, T* __restrict y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}

template <class T, class F>
void map1(std::span<const Tensor> in, Tensor& out, F f) {
  const T* x = in[0].impl()->data<T>();
  T* y = out.impl()->data<T>();
  parallel_for(out.numel(), kElementwiseGrain, [&](int64_t b, int64_t e) { loop1(x + b, y + b, e - b, f); });
}

template <class T, class F>
void map2(std::span<const Tensor> in, Tensor& out, F f) {
  const T* a = in[0].impl()->data<T>();
  const T* b = in[1].impl()->data<T>();
  T* y = out.impl()->data<T>();
  parallel_for(out.numel(), kElementwiseGrain, [&](int64_t s, int64_t e) { loop2(a + s, b + s, y + s, e - s, f); });
}

}  // namespace

template <class T> void add(std::span<const Tensor> in, Tensor& out, const Attrs&) { map2<T>(in, out, scalar_ops::Add{}); }
template <class T> void sub(std::span<const Tensor> in, Tensor& out, const Attrs&) { map2<T>(in, out, scalar_ops::Sub{}); }
template <class T> void mul(std::span<const Tensor> in, Tensor& out, const Attrs&) { map2<T>(in, out, scalar_ops::Mul{}); }
template <class T> void div(std::span<const Tensor> in, Tensor& out, const Attrs&) { map2<T>(in, out, scalar_ops::Div{}); }
template <class T> void eq(std::span<const Tensor> in, Tensor& out, const Attrs&) { map2<T>(in, out, scalar_ops::Eq{}); }
template <class T> void neg(std::span<const Tensor> in, Tensor& out, const Attrs&) { map1<T>(in, out, scalar_ops::Neg{}); }
template <class T> void exp(std::span<const Tensor> in, Tensor& out, const Attrs&) { map1<T>(in, out, scalar_ops::Exp{}); }
template <class T> void log(std::span<const Tensor> in, Tensor& out, const Attrs&) { map1<T>(in, out, scalar_ops::Log{}); }
template <class T> void sqrt(std::span<const Tensor> in, Tensor& out, const Attrs&) { map1<T>(in, out, scalar_ops::Sqrt{}); }
template <class T> void abs(std::span<const Tensor> in, Tensor& out, const Attrs&) { map1<T>(in, out, scalar_ops::Abs{}); }
template <class T> void tanh(std::span<const Tensor> in, Tensor& out, const Attrs&) { map1<T>(in, out, scalar_ops::Tanh{}); }
template <class T> void relu(std::span<const Tensor> in, Tensor& out, const Attrs&) { map1<T>(in, out, scalar_ops::Relu{}); }
template <class T> void sigmoid(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  map1<T>(in, out, scalar_ops::Sigmoid{});
}
template <class T> void sigmoid_backward(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  map2<T>(in, out, scalar_ops::SigmoidBackward{});
}
template <class T> void tanh_backward(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  map2<T>(in, out, scalar_ops::TanhBackward{});
}
template <class T> void relu_backward(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  map2<T>(in, out, scalar_ops::ReluBackward{});
}
template <class T> void heaviside(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  map1<T>(in, out, scalar_ops::Heaviside{});
}
template <class T> void sign(std::span<const Tensor> in, Tensor& out, const Attrs&) { map1<T>(in, out, scalar_ops::Sign{}); }
template <class T> void clone(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  std::memcpy(out.impl()->data<T>(), in[0].impl()->data<T>(), static_cast<size_t>(out.numel()) * sizeof(T));
}
template <class T> void add_scalar(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  map1<T>(in, out, scalar_ops::AddScalar{a.a});
}
template <class T> void mul_scalar(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  map1<T>(in, out, scalar_ops::MulScalar{a.a});
}
template <class T> void pow(std::span<const Tensor> in, Tensor& out, const Attrs& a) { map1<T>(in, out, scalar_ops::Pow{a.a}); }
template <class T> void leaky_relu(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  map1<T>(in, out, scalar_ops::LeakyRelu{a.a});
}
template <class T> void elu(std::span<const Tensor> in, Tensor& out, const Attrs& a) { map1<T>(in, out, scalar_ops::Elu{a.a}); }
template <class T> void clip(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  map1<T>(in, out, scalar_ops::Clip{a.a, a.b});
}
template <class T> void where(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  const T* m = in[0].impl()->data<T>();
  const T* a = in[1].impl()->data<T>();
  const T* b = in[2].impl()->data<T>();
  T* y = out.impl()->data<T>();
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) y[i] = scalar_ops::Where{}(m[i], a[i], b[i]);
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
  switch (a.dtype) {
    case DType::float32: convert(out.impl()->data<float>()); break;
    case DType::float64: convert(out.impl()->data<double>()); break;
    case DType::int64: convert(out.impl()->data<int64_t>()); break;
    case DType::float16: convert(out.impl()->data<Half>()); break;
    case DType::bfloat16: convert(out.impl()->data<BFloat16>()); break;
  }
}

AG_CPU_KERNEL(add, add);
AG_CPU_KERNEL(sub, sub);
AG_CPU_KERNEL(mul, mul);
AG_CPU_KERNEL(div, div);
AG_CPU_KERNEL(eq, eq);
AG_CPU_KERNEL(neg, neg);
AG_CPU_KERNEL(add_scalar, add_scalar);
AG_CPU_KERNEL(mul_scalar, mul_scalar);
AG_CPU_KERNEL(pow, pow);
AG_CPU_KERNEL(exp, exp);
AG_CPU_KERNEL(log, log);
AG_CPU_KERNEL(sqrt, sqrt);
AG_CPU_KERNEL(abs, abs);
AG_CPU_KERNEL(sigmoid, sigmoid);
AG_CPU_KERNEL(sigmoid_backward, sigmoid_backward);
AG_CPU_KERNEL(tanh_backward, tanh_backward);
AG_CPU_KERNEL(relu_backward, relu_backward);
AG_CPU_KERNEL(tanh, tanh);
AG_CPU_KERNEL(relu, relu);
AG_CPU_KERNEL(leaky_relu, leaky_relu);
AG_CPU_KERNEL(elu, elu);
AG_CPU_KERNEL(clip, clip);
AG_CPU_KERNEL(clone, clone);
AG_CPU_KERNEL(cast, cast);
AG_CPU_KERNEL(where, where);
AG_CPU_KERNEL(heaviside, heaviside);
AG_CPU_KERNEL(sign, sign);
static const detail::KernelRegistrar cpu_i64_cast(Op::cast, Device::Kind::cpu, DType::int64, cast<int64_t>);
static const detail::KernelRegistrar cpu_i64_clone(Op::clone, Device::Kind::cpu, DType::int64, clone<int64_t>);
// float16/bfloat16 on the cpu: storage only, so just the conversions and copies
// (Note [16-bit storage, float32 arithmetic] in half.hpp).
static const detail::KernelRegistrar cpu_f16_cast(Op::cast, Device::Kind::cpu, DType::float16, cast<Half>);
static const detail::KernelRegistrar cpu_f16_clone(Op::clone, Device::Kind::cpu, DType::float16, clone<Half>);
static const detail::KernelRegistrar cpu_bf16_cast(Op::cast, Device::Kind::cpu, DType::bfloat16, cast<BFloat16>);
static const detail::KernelRegistrar cpu_bf16_clone(Op::clone, Device::Kind::cpu, DType::bfloat16, clone<BFloat16>);

}  // namespace ag::cpu
