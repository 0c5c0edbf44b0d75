#include "nn/norm.hpp"

#include <utility>
#include <vector>

namespace nn {

BatchNorm::BatchNorm(std::string type, int64_t channels, int rank, double eps_, double momentum_, bool affine,
                     ag::DType dtype)
    : Module(std::move(type)), eps(eps_), momentum(momentum_), rank_(rank) {
  if (channels <= 0) ag::fail(this->type(), "needs a positive number of channels, got {}", channels);
  if (!(eps >= 0.0)) ag::fail(this->type(), "needs eps >= 0, got {}", eps);
  if (!(momentum >= 0.0 && momentum <= 1.0)) ag::fail(this->type(), "needs momentum in [0, 1], got {}", momentum);
  if (affine) {
    weight = register_parameter("weight", ag::ones({channels}, dtype));
    bias = register_parameter("bias", ag::zeros({channels}, dtype));
  }
  running_mean = register_buffer("running_mean", ag::zeros({channels}, dtype));
  running_var = register_buffer("running_var", ag::ones({channels}, dtype));
}

Tensor BatchNorm::forward(const Tensor& x) {
  if (x.dim() != rank_)
    ag::fail(type(), "needs an input of rank {} ({}), got shape {}", rank_, rank_ == 2 ? "N, C" : "N, C, H, W",
             x.shape());
  return ag::batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

BatchNorm1d::BatchNorm1d(int64_t channels, double eps, double momentum, bool affine, ag::DType dtype)
    : BatchNorm("BatchNorm1d", channels, 2, eps, momentum, affine, dtype) {}

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum, bool affine, ag::DType dtype)
    : BatchNorm("BatchNorm2d", channels, 4, eps, momentum, affine, dtype) {}

LayerNorm::LayerNorm(ag::Shape shape, double eps_, bool affine, ag::DType dtype)
    : Module("LayerNorm"), normalized_shape(std::move(shape)), eps(eps_) {
  if (normalized_shape.empty()) ag::fail("LayerNorm", "needs a non-empty normalized_shape");
  for (int64_t s : normalized_shape)
    if (s <= 0) ag::fail("LayerNorm", "needs positive sizes in normalized_shape, got {}", normalized_shape);
  if (affine) {
    weight = register_parameter("weight", ag::ones(normalized_shape, dtype));
    bias = register_parameter("bias", ag::zeros(normalized_shape, dtype));
  }
}

Tensor LayerNorm::forward(const Tensor& x) { return ag::layer_norm(x, normalized_shape, weight, bias, eps); }

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> padding, ag::Generator& gen, ag::DType dtype)
    : Module("Embedding"), padding_idx(padding) {
  if (num <= 0 || dim <= 0) ag::fail("Embedding", "needs positive sizes, got num {} and dim {}", num, dim);
  if (padding_idx) {
    if (*padding_idx < -num || *padding_idx >= num)
      ag::fail("Embedding", "padding_idx {} is out of range for a table of {} rows", *padding_idx, num);
    if (*padding_idx < 0) *padding_idx += num;
  }
  // drawn in float64, the padding row zeroed, then stored in dtype
  std::vector<double> v = ag::randn({num, dim}, gen, ag::DType::float64).to_vector<double>();
  if (padding_idx)
    for (int64_t j = 0; j < dim; ++j) v[static_cast<size_t>(*padding_idx * dim + j)] = 0.0;
  weight = register_parameter("weight", ag::from_vector(v, {num, dim}, dtype));
}

Tensor Embedding::forward(const Tensor& indices) { return ag::embedding(weight, indices, padding_idx); }

}  // namespace nn
