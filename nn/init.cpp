#include "nn/init.hpp"

#include <cmath>

namespace nn::init {

std::pair<int64_t, int64_t> fans(const ag::Tensor& w) {
  if (w.dim() < 1) ag::fail("init", "a weight needs at least one axis, got shape {}", w.shape());
  if (w.dim() == 1) return {w.shape()[0], w.shape()[0]};
  return {w.shape()[0], w.numel() / w.shape()[0]};
}

// Overwrites w's values with fresh ones (w may require grad: the write is not recorded).
static void assign(ag::Tensor& w, const ag::Tensor& values) {
  ag::NoGradGuard off;
  w.copy_(values);
}

void normal_(ag::Tensor& w, ag::Generator& gen, double stddev) {
  assign(w, ag::randn(w.shape(), gen, w.dtype(), 0.0, stddev));
}

void uniform_(ag::Tensor& w, ag::Generator& gen, double lo, double hi) {
  assign(w, ag::rand(w.shape(), gen, w.dtype(), lo, hi));
}

void xavier_normal_(ag::Tensor& w, ag::Generator& gen) {
  auto [in, out] = fans(w);
  normal_(w, gen, std::sqrt(2.0 / static_cast<double>(in + out)));
}

void xavier_uniform_(ag::Tensor& w, ag::Generator& gen) {
  auto [in, out] = fans(w);
  const double a = std::sqrt(6.0 / static_cast<double>(in + out));
  uniform_(w, gen, -a, a);
}

void he_normal_(ag::Tensor& w, ag::Generator& gen) {
  auto [in, out] = fans(w);
  normal_(w, gen, std::sqrt(2.0 / static_cast<double>(in)));
}

void he_uniform_(ag::Tensor& w, ag::Generator& gen) {
  auto [in, out] = fans(w);
  const double a = std::sqrt(6.0 / static_cast<double>(in));
  uniform_(w, gen, -a, a);
}

void zeros_(ag::Tensor& w) { constant_(w, 0.0); }

void constant_(ag::Tensor& w, double value) {
  ag::NoGradGuard off;
  w.fill_(value);
}

}  // namespace nn::init
