// Element-wise math written once as functors, used by the CPU kernels and
// (with AG_HD = __host__ __device__) by the CUDA kernels.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define AG_HD __host__ __device__
#else
#define AG_HD
#endif

namespace ag::scalar_ops {

struct Add { template <class T> AG_HD T operator()(T a, T b) const { return a + b; } };
struct Sub { template <class T> AG_HD T operator()(T a, T b) const { return a - b; } };
struct Mul { template <class T> AG_HD T operator()(T a, T b) const { return a * b; } };
struct Div { template <class T> AG_HD T operator()(T a, T b) const { return a / b; } };
struct Eq { template <class T> AG_HD T operator()(T a, T b) const { return a == b ? T(1) : T(0); } };

struct Neg { template <class T> AG_HD T operator()(T x) const { return -x; } };
struct Identity { template <class T> AG_HD T operator()(T x) const { return x; } };
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
// Stable on both sides: never exponentiates a large positive number.
struct Sigmoid {
  template <class T> AG_HD T operator()(T x) const {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    T e = std::exp(x);
    return e / (T(1) + e);
  }
};

struct AddScalar {
  double c;
  template <class T> AG_HD T operator()(T x) const { return x + T(c); }
};
struct MulScalar {
  double c;
  template <class T> AG_HD T operator()(T x) const { return x * T(c); }
};
struct Pow {
  double p;
  template <class T> AG_HD T operator()(T x) const { return std::pow(x, T(p)); }
};
struct LeakyRelu {
  double slope;
  template <class T> AG_HD T operator()(T x) const { return x > T(0) ? x : T(slope) * x; }
};
struct Elu {
  double alpha;
  template <class T> AG_HD T operator()(T x) const { return x > T(0) ? x : T(alpha) * (std::exp(x) - T(1)); }
};
struct Clip {
  double lo, hi;
  template <class T> AG_HD T operator()(T x) const { return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x); }
};
struct Where {
  template <class T> AG_HD T operator()(T m, T a, T b) const { return m != T(0) ? a : b; }
};

}  // namespace ag::scalar_ops
