#include "nn/datasets.hpp"

#include <cmath>
#include <numbers>
#include <vector>

namespace nn {

Dataset spiral(int64_t per_class, int64_t classes, uint64_t seed) {
  if (per_class <= 0 || classes <= 0)
    ag::fail("spiral", "needs positive counts, got {} points per class and {} classes", per_class, classes);
  ag::Generator gen(seed);
  const int64_t n = per_class * classes;
  std::vector<float> x(static_cast<size_t>(2 * n));
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t i = 0; i < per_class; ++i) {
      const double rate = static_cast<double>(i) / static_cast<double>(per_class);
      const double radius = rate;
      const double theta = static_cast<double>(c) * 4.0 + 4.0 * rate + gen.normal() * 0.2;
      const auto k = static_cast<size_t>(c * per_class + i);
      x[2 * k] = static_cast<float>(radius * std::sin(theta));
      x[2 * k + 1] = static_cast<float>(radius * std::cos(theta));
      t[k] = c;
    }
  }
  return {ag::from_vector(x, {n, 2}), ag::from_vector(t, {n})};
}

Dataset xor_points() {
  return {ag::from_vector(std::vector<float>{0, 0, 0, 1, 1, 0, 1, 1}, {4, 2}),
          ag::from_vector(std::vector<int64_t>{0, 1, 1, 0}, {4})};
}

Dataset noisy_xor(int64_t n, double noise, uint64_t seed) {
  if (n <= 0) ag::fail("noisy_xor", "needs a positive number of points, got {}", n);
  if (!(noise >= 0)) ag::fail("noisy_xor", "needs a noise stddev >= 0, got {}", noise);
  ag::Generator gen(seed);
  std::vector<float> x(static_cast<size_t>(2 * n));
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (size_t k = 0; k < t.size(); ++k) {
    const int64_t a = gen.randint(0, 2), b = gen.randint(0, 2);
    x[2 * k] = static_cast<float>(static_cast<double>(a) + gen.normal(0.0, noise));
    x[2 * k + 1] = static_cast<float>(static_cast<double>(b) + gen.normal(0.0, noise));
    t[k] = a ^ b;
  }
  return {ag::from_vector(x, {n, 2}), ag::from_vector(t, {n})};
}

}  // namespace nn
