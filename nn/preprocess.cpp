#include "nn/preprocess.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>

namespace nn {

namespace {

// x as an n x D row-major matrix of doubles (D: the product of the axes after the first).
struct Rows {
  int64_t n = 0, d = 0;
  std::vector<double> v;
};

Rows rows_of(const ag::Tensor& x, std::string_view op) {
  if (!x.defined()) ag::fail(op, "needs a defined tensor");
  if (!ag::is_floating(x.dtype())) ag::fail(op, "needs float32 or float64 data, got {}", x.dtype());
  if (!x.device().is_cpu()) ag::fail(op, "needs data on the CPU, got {}", x.device());
  if (x.dim() < 1) ag::fail(op, "needs data (n, ...) with a first axis of examples, got shape {}", x.shape());
  Rows r;
  r.n = x.size(0);
  r.d = r.n ? x.numel() / r.n : 0;
  r.v.resize(static_cast<size_t>(x.numel()));
  if (x.dtype() == ag::DType::float32) std::copy_n(x.data<float>(), x.numel(), r.v.begin());
  else std::copy_n(x.data<double>(), x.numel(), r.v.begin());
  return r;
}

ag::Tensor tensor_of(const std::vector<double>& v, const ag::Shape& shape, ag::DType dtype) {
  return ag::from_vector(v, shape, dtype);
}

void check_fit(std::string_view op, const Rows& r, int64_t min_rows) {
  if (r.n < min_rows) ag::fail(op, "fit needs at least {} examples, got {}", min_rows, r.n);
  if (r.d == 0) ag::fail(op, "fit needs at least one feature");
}

// Checks that transform comes after fit and that x has the fitted number of features.
void check_transform(std::string_view op, bool fitted, const Rows& r, size_t d) {
  if (!fitted) ag::fail(op, "transform called before fit: call fit(x_train) first");
  if (r.d != static_cast<int64_t>(d))
    ag::fail(op, "fitted on {} features, got {} per example", d, r.d);
}

std::vector<double> column_means(const Rows& r) {
  std::vector<double> m(static_cast<size_t>(r.d), 0.0);
  for (int64_t i = 0; i < r.n; ++i)
    for (int64_t j = 0; j < r.d; ++j) m[static_cast<size_t>(j)] += r.v[static_cast<size_t>(i * r.d + j)];
  for (auto& x : m) x /= static_cast<double>(r.n);
  return m;
}

// y[i, j] = (x[i, j] - shift[j]) * scale[j] + offset, in place.
void affine_columns(Rows& r, const std::vector<double>& shift, const std::vector<double>& scale, double offset) {
  for (int64_t i = 0; i < r.n; ++i)
    for (int64_t j = 0; j < r.d; ++j) {
      double& x = r.v[static_cast<size_t>(i * r.d + j)];
      x = (x - shift[static_cast<size_t>(j)]) * scale[static_cast<size_t>(j)] + offset;
    }
}

}  // namespace

// ---- Centerer ------------------------------------------------------------------------

Centerer& Centerer::fit(const ag::Tensor& x) {
  Rows r = rows_of(x, "center");
  check_fit("center", r, 1);
  mean_ = column_means(r);
  return *this;
}

ag::Tensor Centerer::transform(const ag::Tensor& x) const {
  Rows r = rows_of(x, "center");
  check_transform("center", fitted(), r, mean_.size());
  affine_columns(r, mean_, std::vector<double>(mean_.size(), 1.0), 0.0);
  return tensor_of(r.v, x.shape(), x.dtype());
}

ag::Tensor Centerer::inverse_transform(const ag::Tensor& z) const {
  Rows r = rows_of(z, "center");
  check_transform("center", fitted(), r, mean_.size());
  std::vector<double> neg(mean_.size());
  for (size_t j = 0; j < neg.size(); ++j) neg[j] = -mean_[j];
  affine_columns(r, neg, std::vector<double>(mean_.size(), 1.0), 0.0);
  return tensor_of(r.v, z.shape(), z.dtype());
}

// ---- Standardizer ---------------------------------------------------------------------

Standardizer& Standardizer::fit(const ag::Tensor& x) {
  Rows r = rows_of(x, "standardize");
  check_fit("standardize", r, 1);
  mean_ = column_means(r);
  std_.assign(mean_.size(), 0.0);
  for (int64_t i = 0; i < r.n; ++i)
    for (int64_t j = 0; j < r.d; ++j) {
      const double c = r.v[static_cast<size_t>(i * r.d + j)] - mean_[static_cast<size_t>(j)];
      std_[static_cast<size_t>(j)] += c * c;
    }
  for (auto& s : std_) s = std::sqrt(s / static_cast<double>(r.n));
  return *this;
}

ag::Tensor Standardizer::transform(const ag::Tensor& x) const {
  Rows r = rows_of(x, "standardize");
  check_transform("standardize", fitted(), r, mean_.size());
  std::vector<double> scale(std_.size());
  for (size_t j = 0; j < scale.size(); ++j) scale[j] = std_[j] > eps_ ? 1.0 / std_[j] : 1.0;
  affine_columns(r, mean_, scale, 0.0);
  return tensor_of(r.v, x.shape(), x.dtype());
}

ag::Tensor Standardizer::inverse_transform(const ag::Tensor& z) const {
  Rows r = rows_of(z, "standardize");
  check_transform("standardize", fitted(), r, mean_.size());
  for (int64_t i = 0; i < r.n; ++i)
    for (int64_t j = 0; j < r.d; ++j) {
      const auto k = static_cast<size_t>(j);
      double& v = r.v[static_cast<size_t>(i * r.d + j)];
      v = v * (std_[k] > eps_ ? std_[k] : 1.0) + mean_[k];
    }
  return tensor_of(r.v, z.shape(), z.dtype());
}

// ---- MinMaxScaler ------------------------------------------------------------------------

MinMaxScaler::MinMaxScaler(double lo, double hi) : lo_(lo), hi_(hi) {
  if (!(lo < hi)) ag::fail("min_max_scale", "needs a target range lo < hi, got [{}, {}]", lo, hi);
}

MinMaxScaler& MinMaxScaler::fit(const ag::Tensor& x) {
  Rows r = rows_of(x, "min_max_scale");
  check_fit("min_max_scale", r, 1);
  min_.assign(static_cast<size_t>(r.d), INFINITY);
  max_.assign(static_cast<size_t>(r.d), -INFINITY);
  for (int64_t i = 0; i < r.n; ++i)
    for (int64_t j = 0; j < r.d; ++j) {
      const double v = r.v[static_cast<size_t>(i * r.d + j)];
      min_[static_cast<size_t>(j)] = std::min(min_[static_cast<size_t>(j)], v);
      max_[static_cast<size_t>(j)] = std::max(max_[static_cast<size_t>(j)], v);
    }
  return *this;
}

ag::Tensor MinMaxScaler::transform(const ag::Tensor& x) const {
  Rows r = rows_of(x, "min_max_scale");
  check_transform("min_max_scale", fitted(), r, min_.size());
  std::vector<double> scale(min_.size());
  for (size_t j = 0; j < scale.size(); ++j) scale[j] = max_[j] > min_[j] ? (hi_ - lo_) / (max_[j] - min_[j]) : 0.0;
  affine_columns(r, min_, scale, lo_);
  return tensor_of(r.v, x.shape(), x.dtype());
}

ag::Tensor MinMaxScaler::inverse_transform(const ag::Tensor& z) const {
  Rows r = rows_of(z, "min_max_scale");
  check_transform("min_max_scale", fitted(), r, min_.size());
  std::vector<double> scale(min_.size()), shift(min_.size(), lo_);
  for (size_t j = 0; j < scale.size(); ++j) scale[j] = (max_[j] - min_[j]) / (hi_ - lo_);
  // x = (z - lo) * (max - min) / (hi - lo) + min
  for (int64_t i = 0; i < r.n; ++i)
    for (int64_t j = 0; j < r.d; ++j) {
      const auto k = static_cast<size_t>(j);
      double& v = r.v[static_cast<size_t>(i * r.d + j)];
      v = (v - lo_) * scale[k] + min_[k];
    }
  return tensor_of(r.v, z.shape(), z.dtype());
}

// ---- PCA ----------------------------------------------------------------------------

PCA::PCA(int64_t components, bool whiten, double eps) : requested_(components), whiten_(whiten), eps_(eps) {
  if (!(eps >= 0)) ag::fail("pca", "needs eps >= 0, got {}", eps);
}

PCA& PCA::fit(const ag::Tensor& x) {
  Rows r = rows_of(x, "pca");
  check_fit("pca", r, 2);
  const int64_t d = r.d;
  const int64_t k = requested_ <= 0 ? d : requested_;
  if (k > d) ag::fail("pca", "asked for {} components of data with {} features", k, d);
  std::vector<double> mean = column_means(r);
  affine_columns(r, mean, std::vector<double>(static_cast<size_t>(d), 1.0), 0.0);
  // Covariance C = Xc^T Xc / (n - 1): the upper triangle (row-major) is what dsyevd reads.
  std::vector<double> c(static_cast<size_t>(d * d), 0.0);
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(d), static_cast<int>(r.n), 1.0, r.v.data(),
              static_cast<int>(d), 0.0, c.data(), static_cast<int>(d));
  for (auto& v : c) v /= static_cast<double>(r.n - 1);
  std::vector<double> evals(static_cast<size_t>(d));
  const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', static_cast<lapack_int>(d), c.data(),
                                         static_cast<lapack_int>(d), evals.data());
  if (info != 0) ag::fail("pca", "the eigen-decomposition of the {} x {} covariance failed (LAPACKE_dsyevd info {})", d, d, info);
  // Eigenvalues come in ascending order; eigenvector j is column j of c.
  d_ = d;
  mean_ = std::move(mean);
  var_.assign(static_cast<size_t>(k), 0.0);
  w_.assign(static_cast<size_t>(k * d), 0.0);
  for (int64_t m = 0; m < k; ++m) {
    const int64_t col = d - 1 - m;
    var_[static_cast<size_t>(m)] = std::max(evals[static_cast<size_t>(col)], 0.0);
    int64_t big = 0;
    for (int64_t a = 0; a < d; ++a)
      if (std::abs(c[static_cast<size_t>(a * d + col)]) > std::abs(c[static_cast<size_t>(big * d + col)])) big = a;
    const double sign = c[static_cast<size_t>(big * d + col)] < 0 ? -1.0 : 1.0;
    for (int64_t a = 0; a < d; ++a) w_[static_cast<size_t>(m * d + a)] = sign * c[static_cast<size_t>(a * d + col)];
  }
  if (whiten_)
    for (int64_t m = 0; m < k; ++m)
      if (var_[static_cast<size_t>(m)] + eps_ <= 0)
        ag::fail("pca", "component {} has zero variance; whitening needs eps > 0 or fewer components", m);
  k_ = k;
  return *this;
}

ag::Tensor PCA::transform(const ag::Tensor& x) const {
  Rows r = rows_of(x, "pca");
  check_transform("pca", fitted(), r, mean_.size());
  affine_columns(r, mean_, std::vector<double>(mean_.size(), 1.0), 0.0);
  // Z = Xc W^T, then each column divided by sqrt(variance + eps) when whitening.
  std::vector<double> z(static_cast<size_t>(r.n * k_), 0.0);
  if (r.n > 0)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(r.n), static_cast<int>(k_),
                static_cast<int>(d_), 1.0, r.v.data(), static_cast<int>(d_), w_.data(), static_cast<int>(d_), 0.0,
                z.data(), static_cast<int>(k_));
  if (whiten_)
    for (int64_t m = 0; m < k_; ++m) {
      const double inv = 1.0 / std::sqrt(var_[static_cast<size_t>(m)] + eps_);
      for (int64_t i = 0; i < r.n; ++i) z[static_cast<size_t>(i * k_ + m)] *= inv;
    }
  return tensor_of(z, {r.n, k_}, x.dtype());
}

ag::Tensor PCA::inverse_transform(const ag::Tensor& z) const {
  if (!fitted()) ag::fail("pca", "inverse_transform called before fit: call fit(x_train) first");
  if (!z.defined() || z.dim() != 2 || z.size(1) != k_)
    ag::fail("pca", "inverse_transform needs (n, {}) components, got {}", k_, z.defined() ? z.shape() : ag::Shape{});
  Rows r = rows_of(z, "pca");
  if (whiten_)
    for (int64_t m = 0; m < k_; ++m) {
      const double sd = std::sqrt(var_[static_cast<size_t>(m)] + eps_);
      for (int64_t i = 0; i < r.n; ++i) r.v[static_cast<size_t>(i * k_ + m)] *= sd;
    }
  // X = Z W + mean.
  std::vector<double> x(static_cast<size_t>(r.n * d_));
  for (int64_t i = 0; i < r.n; ++i) std::copy(mean_.begin(), mean_.end(), x.begin() + i * d_);
  if (r.n > 0)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(r.n), static_cast<int>(d_),
                static_cast<int>(k_), 1.0, r.v.data(), static_cast<int>(k_), w_.data(), static_cast<int>(d_), 1.0,
                x.data(), static_cast<int>(d_));
  return tensor_of(x, {r.n, d_}, z.dtype());
}

ag::Tensor PCA::components_matrix() const {
  if (!fitted()) ag::fail("pca", "components_matrix called before fit: call fit(x_train) first");
  return ag::from_vector(w_, {k_, d_}, ag::DType::float64);
}

}  // namespace nn
