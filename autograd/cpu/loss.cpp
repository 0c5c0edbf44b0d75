// CPU kernels of the fused losses; sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/ops/op.hpp"

namespace ag::cpu {

namespace {
template <class T> void store(Tensor& out, double total, const Attrs& a) { out.impl()->data<T>()[0] = static_cast<T>(total / a.divisor); }
}  // namespace

// mean over rows of logsumexp(x_i) - x_i[t_i] (labels) or -sum_c t_ic log_softmax(x_i)_c (dense)
template <class T> void softmax_cross_entropy(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  const int64_t n = in[0].shape()[0], c = in[0].shape()[1];
  const bool labels = in[1].dtype() == DType::int64;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T* row = x + i * c;
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < c; ++j) m = std::max(m, static_cast<double>(row[j]));
    double s = 0;
    for (int64_t j = 0; j < c; ++j) s += std::exp(static_cast<double>(row[j]) - m);
    const double lse = m + std::log(s);
    if (labels) {
      total += lse - static_cast<double>(row[in[1].impl()->data<int64_t>()[i]]);
    } else {
      const T* t = in[1].impl()->data<T>() + i * c;
      for (int64_t j = 0; j < c; ++j) total += static_cast<double>(t[j]) * (lse - static_cast<double>(row[j]));
    }
  }
  store<T>(out, total, a);
}

// -sum_i logp[i, t_i]
template <class T> void nll(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  const int64_t* t = in[1].impl()->data<int64_t>();
  const int64_t n = in[0].shape()[0], c = in[0].shape()[1];
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total -= static_cast<double>(x[i * c + t[i]]);
  store<T>(out, total, a);
}

// sum (p - t)^2
template <class T> void mse(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* p = in[0].impl()->data<T>();
  const T* t = in[1].impl()->data<T>();
  double total = 0;
  for (int64_t i = 0; i < in[0].numel(); ++i) {
    double d = static_cast<double>(p[i]) - static_cast<double>(t[i]);
    total += d * d;
  }
  store<T>(out, total, a);
}

// -sum t log p + (1 - t) log(1 - p), each log clamped at -100 as PyTorch does
template <class T> void bce(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* p = in[0].impl()->data<T>();
  const T* t = in[1].impl()->data<T>();
  double total = 0;
  for (int64_t i = 0; i < in[0].numel(); ++i) {
    const double pi = p[i], ti = t[i];
    total -= ti * std::max(std::log(pi), -100.0) + (1.0 - ti) * std::max(std::log1p(-pi), -100.0);
  }
  store<T>(out, total, a);
}

// sum max(x, 0) - x t + log(1 + e^-|x|)
template <class T> void bce_with_logits(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  const T* x = in[0].impl()->data<T>();
  const T* t = in[1].impl()->data<T>();
  double total = 0;
  for (int64_t i = 0; i < in[0].numel(); ++i) {
    const double xi = x[i];
    total += std::max(xi, 0.0) - xi * static_cast<double>(t[i]) + std::log1p(std::exp(-std::abs(xi)));
  }
  store<T>(out, total, a);
}

AG_CPU_KERNEL(softmax_cross_entropy, softmax_cross_entropy);
AG_CPU_KERNEL(nll, nll);
AG_CPU_KERNEL(mse, mse);
AG_CPU_KERNEL(bce, bce);
AG_CPU_KERNEL(bce_with_logits, bce_with_logits);

}  // namespace ag::cpu
