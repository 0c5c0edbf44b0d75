// Convolution and pooling layers (the book's ch. 7): Conv2d, MaxPool2d,
// AvgPool2d, AdaptiveAvgPool2d and Flatten, over ag::conv2d and the pools
// (im2col composites, autograd/ops/conv.cpp).
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <optional>

#include "../autograd/ops.hpp"
#include "module.hpp"

namespace nn {

// (N, in, H, W) -> (N, out, OH, OW): ag::conv2d with a weight (out, in/groups, KH, KW)
// and a bias (out,), initialised like PyTorch's Conv2d: U(-k, k), k = 1/sqrt(in/groups · KH · KW).
class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, ag::Size2 kernel, ag::Generator& gen, ag::Size2 stride = 1, ag::Size2 padding = 0,
         ag::Size2 dilation = 1, int64_t groups = 1, bool bias = true, ag::DType dtype = ag::DType::float32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // bias undefined without one
  ag::Conv2dOptions options;
};

// Max over each kernel window (stride defaults to the kernel).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(ag::Size2 kernel, std::optional<ag::Size2> stride = std::nullopt, ag::Size2 padding = 0);
  Tensor forward(const Tensor& x) override;
  ag::Size2 kernel, stride, padding;
};

// Mean over each kernel window, padding counted as zeros (stride defaults to the kernel).
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(ag::Size2 kernel, std::optional<ag::Size2> stride = std::nullopt, ag::Size2 padding = 0);
  Tensor forward(const Tensor& x) override;
  ag::Size2 kernel, stride, padding;
};

// (N, C, H, W) -> (N, C, OH, OW) block means; {1, 1} is the global average pool.
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(ag::Size2 output_size = 1);
  Tensor forward(const Tensor& x) override;
  ag::Size2 output_size;
};

// Flattens axes start..end into one: (N, C, H, W) -> (N, C·H·W) by default.
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start = 1, int64_t end = -1);
  Tensor forward(const Tensor& x) override;
  int64_t start, end;
};

}  // namespace nn

#endif  // TAPEGRAD_CXX20
