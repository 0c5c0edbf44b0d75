// Preprocessing fitted on the training split and then applied unchanged to
// the others: zero-centring, standardisation, min-max scaling, PCA and PCA
// whitening. Each works on float inputs (n, ...) seen as n rows of D features
// (all axes after the first), computes its statistics in double precision and
// returns the input's dtype. transform before fit is an error.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <vector>

#include "../autograd/tensor.hpp"

namespace nn {

// x - mean, per feature.
class Centerer {
 public:
  Centerer& fit(const ag::Tensor& x);
  ag::Tensor transform(const ag::Tensor& x) const;
  ag::Tensor fit_transform(const ag::Tensor& x) { return fit(x).transform(x); }
  ag::Tensor inverse_transform(const ag::Tensor& z) const;
  bool fitted() const { return !mean_.empty(); }
  const std::vector<double>& mean() const { return mean_; }

 private:
  std::vector<double> mean_;
};

// (x - mean) / std per feature (population std); a constant feature is only centred.
class Standardizer {
 public:
  explicit Standardizer(double eps = 1e-12) : eps_(eps) {}
  Standardizer& fit(const ag::Tensor& x);
  ag::Tensor transform(const ag::Tensor& x) const;
  ag::Tensor fit_transform(const ag::Tensor& x) { return fit(x).transform(x); }
  ag::Tensor inverse_transform(const ag::Tensor& z) const;
  bool fitted() const { return !mean_.empty(); }
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& stddev() const { return std_; }

 private:
  double eps_;
  std::vector<double> mean_, std_;
};

// Maps each feature's training range [min, max] linearly onto [lo, hi]; a
// constant feature maps to lo. Values outside the training range map outside [lo, hi].
class MinMaxScaler {
 public:
  explicit MinMaxScaler(double lo = 0.0, double hi = 1.0);
  MinMaxScaler& fit(const ag::Tensor& x);
  ag::Tensor transform(const ag::Tensor& x) const;
  ag::Tensor fit_transform(const ag::Tensor& x) { return fit(x).transform(x); }
  ag::Tensor inverse_transform(const ag::Tensor& z) const;
  bool fitted() const { return !min_.empty(); }
  const std::vector<double>& data_min() const { return min_; }
  const std::vector<double>& data_max() const { return max_; }

 private:
  double lo_, hi_;
  std::vector<double> min_, max_;
};

// Principal component analysis: (n, D) -> (n, k) projections onto the k
// leading eigenvectors of the training covariance (divided by n - 1), found
// with LAPACKE_dsyevd (products through CBLAS). With whiten, each component is divided by
// sqrt(eigenvalue + eps), so the training data gets identity covariance.
// Each eigenvector's largest entry is made positive, so results are reproducible.
class PCA {
 public:
  // components <= 0 keeps all D.
  explicit PCA(int64_t components = 0, bool whiten = false, double eps = 1e-8);
  PCA& fit(const ag::Tensor& x);
  ag::Tensor transform(const ag::Tensor& x) const;
  ag::Tensor fit_transform(const ag::Tensor& x) { return fit(x).transform(x); }
  // Back to (n, D): exact when all components are kept, else the projection onto them.
  ag::Tensor inverse_transform(const ag::Tensor& z) const;
  bool fitted() const { return !mean_.empty(); }
  int64_t components() const { return k_; }
  const std::vector<double>& mean() const { return mean_; }
  // The eigenvalues (variances along the components), largest first (k).
  const std::vector<double>& explained_variance() const { return var_; }
  // The components as rows of a (k, D) float64 tensor.
  ag::Tensor components_matrix() const;

 private:
  int64_t requested_;
  int64_t k_ = 0;
  bool whiten_;
  double eps_;
  int64_t d_ = 0;
  std::vector<double> mean_, var_, w_;  // w_: (k, D) row-major
};

// PCA whitening (PCA with whiten = true), for reading code.
inline PCA pca_whitening(int64_t components = 0, double eps = 1e-8) { return PCA(components, true, eps); }

}  // namespace nn

#endif  // TAPEGRAD_CXX20
