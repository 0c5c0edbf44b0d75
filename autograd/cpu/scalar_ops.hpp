// Element-wise math written once as functors, used by the CPU kernels and
// (with AG_HD = __host__ __device__) by the CUDA kernels. An ops.def row names
// its functor; both devices' kernels are then generated from the row. A
// functor with parameters reads them from the node's attributes in from().
#pragma once

#include "../config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define AG_HD __host__ __device__
#else
#define AG_HD
#endif

namespace ag::scalar_ops {

// e^x in float32 without a libm call, so that loops over it vectorise (Note
// [Vectorised exp]): x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, ln2 split in
// two), e^r by Cephes' expf polynomial, times 2^n built in the exponent bits.
// Relative error below 2e-7 (about 1 ulp); x is clamped to [-87.3, 88.3], so
// the result stays finite and normal (sigmoid needs no more).
AG_HD inline float exp_clamped(float x) {
#if defined(__CUDA_ARCH__)
  return expf(fminf(fmaxf(x, -87.3f), 88.3f));
#else
  x = std::min(std::max(x, -87.3f), 88.3f);
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln2)
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
#endif
}

// The functor column of a row whose kernels its family's files write.
struct None {};
// The functor column of a composite row: an op built from other ops, with no
// kernels of its own (Note [Composite ops] in autograd/ops/op.hpp).
struct Composite {};
// Whether F is a real functor (kernels are generated from it).
template <class F> inline constexpr bool is_functor = !std::is_same_v<F, None> && !std::is_same_v<F, Composite>;

// The functor of a row, with its parameters from the node's attributes (Attrs or the kernels' KAttrs).
template <class F, class A> AG_HD F make(const A& attrs) {
  if constexpr (requires { F::from(attrs); }) return F::from(attrs);
  else return F{};
}

struct Add { template <class T> AG_HD T operator()(T a, T b) const { return a + b; } };
struct Sub { template <class T> AG_HD T operator()(T a, T b) const { return a - b; } };
struct Mul { template <class T> AG_HD T operator()(T a, T b) const { return a * b; } };
struct Div { template <class T> AG_HD T operator()(T a, T b) const { return a / b; } };
struct Eq { template <class T> AG_HD T operator()(T a, T b) const { return a == b ? T(1) : T(0); } };
// NaN in either operand gives NaN, as in NumPy and PyTorch.
struct Maximum {
  template <class T> AG_HD T operator()(T a, T b) const { return (a > b || a != a) ? a : b; }
};

struct Neg { template <class T> AG_HD T operator()(T x) const { return -x; } };
struct Exp { template <class T> AG_HD T operator()(T x) const { return std::exp(x); } };
struct Log { template <class T> AG_HD T operator()(T x) const { return std::log(x); } };
struct Sqrt { template <class T> AG_HD T operator()(T x) const { return std::sqrt(x); } };
struct Abs { template <class T> AG_HD T operator()(T x) const { return std::abs(x); } };
struct Tanh { template <class T> AG_HD T operator()(T x) const { return std::tanh(x); } };
struct Relu { template <class T> AG_HD T operator()(T x) const { return x > T(0) ? x : T(0); } };
struct Heaviside { template <class T> AG_HD T operator()(T x) const { return x > T(0) ? T(1) : T(0); } };
struct Sign {
  template <class T> AG_HD T operator()(T x) const { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }
};
// Stable on both sides: never exponentiates a large positive number. float32
// takes the branch-free vectorisable form (e^-x is clamped, so never inf).
struct Sigmoid {
  template <class T> AG_HD T operator()(T x) const {
    if constexpr (std::is_same_v<T, float>) {
      return 1.0f / (1.0f + exp_clamped(-x));
    } else {
      if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
      T e = std::exp(x);
      return e / (T(1) + e);
    }
  }
};

// log(1 + e^x), written so that e^x never overflows: x + log(1 + e^-x) above 0.
struct Softplus {
  template <class T> AG_HD T operator()(T x) const {
    return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
};

// Sin, cos, minimum, erf, gelu, silu
// NaN in either operand gives NaN, as in NumPy and PyTorch.
struct Minimum {
  template <class T> AG_HD T operator()(T a, T b) const { return (a < b || a != a) ? a : b; }
};
struct Sin { template <class T> AG_HD T operator()(T x) const { return std::sin(x); } };
struct Cos { template <class T> AG_HD T operator()(T x) const { return std::cos(x); } };
struct Erf { template <class T> AG_HD T operator()(T x) const { return std::erf(x); } };
// The exact GELU, torch's default: x · Φ(x) = x · (1 + erf(x / √2)) / 2.
struct Gelu {
  template <class T> AG_HD T operator()(T x) const {
    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  }
};
// SiLU (swish): x · sigmoid(x), through the stable Sigmoid.
struct Silu { template <class T> AG_HD T operator()(T x) const { return x * Sigmoid{}(x); } };

// Sigmoid's backward from its output y and the upstream gradient g.
struct SigmoidBackward { template <class T> AG_HD T operator()(T y, T g) const { return g * y * (T(1) - y); } };

// Tanh's backward from its output y; ReLU's from its output y (or input: same sign).
struct TanhBackward { template <class T> AG_HD T operator()(T y, T g) const { return g * (T(1) - y * y); } };
struct ReluBackward { template <class T> AG_HD T operator()(T y, T g) const { return y > T(0) ? g : T(0); } };

// from() names its type in the braces: nvcc's host pass rejects a bare
// `return {...}` in a static member template of the class being returned.
struct AddScalar {
  double c;
  template <class A> static AG_HD AddScalar from(const A& a) { return AddScalar{a.scalar}; }
  template <class T> AG_HD T operator()(T x) const { return x + T(c); }
};
struct MulScalar {
  double c;
  template <class A> static AG_HD MulScalar from(const A& a) { return MulScalar{a.scalar}; }
  template <class T> AG_HD T operator()(T x) const { return x * T(c); }
};
struct Pow {
  double p;
  template <class A> static AG_HD Pow from(const A& a) { return Pow{a.scalar}; }
  template <class T> AG_HD T operator()(T x) const { return std::pow(x, T(p)); }
};
struct LeakyRelu {
  double slope;
  template <class A> static AG_HD LeakyRelu from(const A& a) { return LeakyRelu{a.slope}; }
  template <class T> AG_HD T operator()(T x) const { return x > T(0) ? x : T(slope) * x; }
};
struct Elu {
  double alpha;
  template <class A> static AG_HD Elu from(const A& a) { return Elu{a.alpha}; }
  template <class T> AG_HD T operator()(T x) const { return x > T(0) ? x : T(alpha) * (std::exp(x) - T(1)); }
};
struct Clip {
  double lo, hi;
  template <class A> static AG_HD Clip from(const A& a) { return Clip{a.lo, a.hi}; }
  template <class T> AG_HD T operator()(T x) const { return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x); }
};
struct Where {
  template <class T> AG_HD T operator()(T m, T a, T b) const { return m != T(0) ? a : b; }
};

// ---- dropout's counter-based mask (ops.def row dropout; kernels in cpu/elementwise.cpp, cuda/elementwise.cu) ----

// splitmix64's finaliser: a bijection of 64-bit words whose output bits look independent.
AG_HD inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// u(seed, i) in [0, 1): a stateless hash of (seed, i), the same on every device (53 random bits).
AG_HD inline double dropout_uniform(uint64_t seed, uint64_t i) {
  return static_cast<double>(mix64(seed ^ mix64(i + 0x9E3779B97F4A7C15ull)) >> 11) * 0x1.0p-53;
}
// Dropout of element i: x / (1 - p) where u(seed, i) >= p, else 0.
struct Dropout {
  double p;
  uint64_t seed;
  template <class A> static AG_HD Dropout from(const A& a) { return Dropout{a.scalar, a.seed}; }
  template <class T> AG_HD T operator()(T x, uint64_t i) const {
    return dropout_uniform(seed, i) >= p ? static_cast<T>(static_cast<double>(x) / (1.0 - p)) : T(0);
  }
};

}  // namespace ag::scalar_ops

#endif  // TAPEGRAD_CXX20
