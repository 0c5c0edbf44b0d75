// CUDA kernels of the fused losses: a per-row or per-element term in double,
// summed straight into the device scalar (no host round trip) by
// sum_to_scalar (Note [Segmented reductions with plain transforms] in
// common.cuh). Softmax-with-Loss is fused: each row's logsumexp and target
// term in one pass.
#include <cmath>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"

namespace ag::AG_KNS {

namespace {

// Row i: logsumexp(x_i) - x_i[t_i] (labels) or sum_c t_ic (lse - x_ic) (dense targets).
template <class T> struct SoftmaxCrossEntropyRow {
  const T* x;
  const int64_t* labels;
  const T* dense;
  int64_t c;
  kernels::DeviceCheck* check;
  AG_HD double operator()(int64_t i) const {
    const T* row = x + i * c;
    if (labels && (labels[i] < 0 || labels[i] >= c)) {
      report_bad_value(check, KOp::softmax_cross_entropy, i, static_cast<double>(labels[i]), c);
      return NAN;
    }
    double m = -INFINITY;
    for (int64_t j = 0; j < c; ++j) m = static_cast<double>(row[j]) > m ? static_cast<double>(row[j]) : m;
    double s = 0;
    for (int64_t j = 0; j < c; ++j) s += std::exp(static_cast<double>(row[j]) - m);
    const double lse = m + std::log(s);
    if (labels) return lse - static_cast<double>(row[labels[i]]);
    double total = 0;
    for (int64_t j = 0; j < c; ++j) total += static_cast<double>(dense[i * c + j]) * (lse - static_cast<double>(row[j]));
    return total;
  }
};

// -logp[i, t_i]
template <class T> struct NllRow {
  const T* x;
  const int64_t* labels;
  int64_t c;
  kernels::DeviceCheck* check;
  AG_HD double operator()(int64_t i) const {
    if (labels[i] < 0 || labels[i] >= c) {
      report_bad_value(check, KOp::nll, i, static_cast<double>(labels[i]), c);
      return NAN;
    }
    return -static_cast<double>(x[i * c + labels[i]]);
  }
};

// (p - t)^2
template <class T> struct SquaredError {
  const T *p, *t;
  AG_HD double operator()(int64_t i) const {
    const double d = static_cast<double>(p[i]) - static_cast<double>(t[i]);
    return d * d;
  }
};

// -(t log p + (1 - t) log(1 - p)), each log clamped at -100 as on the cpu
template <class T> struct BinaryCrossEntropy {
  const T *p, *t;
  kernels::DeviceCheck* check;
  AG_HD double operator()(int64_t i) const {
    const double pi = p[i], ti = t[i];
    if (!(pi >= 0.0 && pi <= 1.0)) report_bad_value(check, KOp::bce, i, pi, 1);
    const double lp = std::log(pi), lq = std::log1p(-pi);
    return -(ti * (lp > -100.0 ? lp : -100.0) + (1.0 - ti) * (lq > -100.0 ? lq : -100.0));
  }
};

// max(x, 0) - x t + log(1 + e^-|x|)
template <class T> struct BinaryCrossEntropyWithLogits {
  const T *x, *t;
  AG_HD double operator()(int64_t i) const {
    const double xi = x[i];
    return (xi > 0.0 ? xi : 0.0) - xi * static_cast<double>(t[i]) + std::log1p(std::exp(-std::fabs(xi)));
  }
};

template <class T> void run(KOp op, const View* in, const View& out, const KAttrs& a, const char* name) {
  const View& x = in[0];
  T* y = out.ptr<T>();
  switch (op) {
    case KOp::softmax_cross_entropy: {
      const bool labels = in[1].dtype == kernels::KType::int64;
      const SoftmaxCrossEntropyRow<T> f{x.ptr<T>(), labels ? in[1].ptr<int64_t>() : nullptr,
                                        labels ? nullptr : in[1].ptr<T>(), x.shape[1], a.check};
      return sum_to_scalar(f, x.shape[0], y, a.divisor);
    }
    case KOp::nll: return sum_to_scalar(NllRow<T>{x.ptr<T>(), in[1].ptr<int64_t>(), x.shape[1], a.check}, x.shape[0], y, a.divisor);
    case KOp::mse: return sum_to_scalar(SquaredError<T>{x.ptr<T>(), in[1].ptr<T>()}, x.numel, y, a.divisor);
    case KOp::bce: return sum_to_scalar(BinaryCrossEntropy<T>{x.ptr<T>(), in[1].ptr<T>(), a.check}, x.numel, y, a.divisor);
    case KOp::bce_with_logits:
      return sum_to_scalar(BinaryCrossEntropyWithLogits<T>{x.ptr<T>(), in[1].ptr<T>()}, x.numel, y, a.divisor);
    default: break;
  }
  throw std::logic_error(std::string(name) + ": not a loss kernel");
}

}  // namespace

void loss(KOp op, const View* in, int, const View& out, const KAttrs& a, const char* name) {
  for_float(in[0].dtype, [&](auto x) { run<decltype(x)>(op, in, out, a, name); });
}

}  // namespace ag::AG_KNS
