// Normalisation layers and embeddings: BatchNorm1d/2d (the book's ch. 6 batch
// normalisation, with running statistics kept as buffers), LayerNorm and
// Embedding, over the ag::batch_norm, ag::layer_norm and ag::embedding composites.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <optional>

#include "module.hpp"

namespace nn {

// Batch normalisation over channel axis 1 of x (N, C) (BatchNorm1d) or (N, C, H, W) (BatchNorm2d):
// gamma = 1 and beta = 0 parameters (when affine), running_mean = 0 and running_var = 1 buffers.
// Training normalises with the batch statistics and updates the running ones
// (r = (1 - momentum) r + momentum s, unbiased variance); evaluation uses the running ones.
class BatchNorm : public Module {
 public:
  BatchNorm(std::string type, int64_t channels, int rank, double eps, double momentum, bool affine, ag::DType dtype);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;               // gamma and beta (C,); undefined without affine
  Tensor running_mean, running_var;  // buffers (C,)
  double eps, momentum;

 private:
  int rank_;  // 2 for BatchNorm1d, 4 for BatchNorm2d: the rank of x it accepts
};

// BatchNorm over (N, C) inputs.
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t channels, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                       ag::DType dtype = ag::DType::float32);
};

// BatchNorm over (N, C, H, W) inputs, per channel.
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                       ag::DType dtype = ag::DType::float32);
};

// Layer normalisation over the last axes (normalized_shape) of x, with gamma = 1 and beta = 0
// parameters of that shape when affine.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(ag::Shape normalized_shape, double eps = 1e-5, bool affine = true,
                     ag::DType dtype = ag::DType::float32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  ag::Shape normalized_shape;
  double eps;
};

// A table of num vectors of size dim, looked up by int64 indices of any shape (output
// indices.shape + (dim)); weights N(0, 1), the padding row (if any) zero and never trained.
class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, std::optional<int64_t> padding_idx, ag::Generator& gen,
            ag::DType dtype = ag::DType::float32);
  Tensor forward(const Tensor& indices) override;
  Tensor weight;  // (num, dim)
  std::optional<int64_t> padding_idx;
};

}  // namespace nn

#endif  // TAPEGRAD_CXX20
