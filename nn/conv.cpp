// Convolution and pooling layers: thin modules over ag::conv2d and the pools.
#include "nn/conv.hpp"

#include <cmath>

namespace nn {

Conv2d::Conv2d(int64_t in, int64_t out, ag::Size2 kernel, ag::Generator& gen, ag::Size2 stride, ag::Size2 padding,
               ag::Size2 dilation, int64_t groups, bool with_bias, ag::DType dtype)
    : Module("Conv2d"), options{stride, padding, dilation, groups} {
  if (in <= 0 || out <= 0) ag::fail("Conv2d", "needs positive channel counts, got in {} and out {}", in, out);
  if (kernel.h <= 0 || kernel.w <= 0) ag::fail("Conv2d", "needs a positive kernel, got {}x{}", kernel.h, kernel.w);
  if (groups < 1 || in % groups != 0 || out % groups != 0)
    ag::fail("Conv2d", "groups {} must be positive and divide both in {} and out {}", groups, in, out);
  const int64_t fan_in = in / groups * kernel.h * kernel.w;
  const double k = 1.0 / std::sqrt(static_cast<double>(fan_in));
  weight = register_parameter("weight", ag::rand({out, in / groups, kernel.h, kernel.w}, gen, dtype, -k, k));
  if (with_bias) bias = register_parameter("bias", ag::rand({out}, gen, dtype, -k, k));
}

Tensor Conv2d::forward(const Tensor& x) {
  return ag::conv2d(x, weight, bias, options.stride, options.padding, options.dilation, options.groups);
}

MaxPool2d::MaxPool2d(ag::Size2 k, std::optional<ag::Size2> s, ag::Size2 p)
    : Module("MaxPool2d"), kernel(k), stride(s.value_or(k)), padding(p) {}

Tensor MaxPool2d::forward(const Tensor& x) { return ag::max_pool2d(x, kernel, stride, padding); }

AvgPool2d::AvgPool2d(ag::Size2 k, std::optional<ag::Size2> s, ag::Size2 p)
    : Module("AvgPool2d"), kernel(k), stride(s.value_or(k)), padding(p) {}

Tensor AvgPool2d::forward(const Tensor& x) { return ag::avg_pool2d(x, kernel, stride, padding); }

AdaptiveAvgPool2d::AdaptiveAvgPool2d(ag::Size2 o) : Module("AdaptiveAvgPool2d"), output_size(o) {}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return ag::adaptive_avg_pool2d(x, output_size); }

Flatten::Flatten(int64_t s, int64_t e) : Module("Flatten"), start(s), end(e) {}

Tensor Flatten::forward(const Tensor& x) {
  const int64_t d = x.dim();
  const int64_t s = start < 0 ? start + d : start, e = end < 0 ? end + d : end;
  if (s < 0 || e >= d || s > e)
    ag::fail("Flatten", "axes {}..{} are out of range (or reversed) for shape {}", start, end, x.shape());
  ag::Shape shape(x.shape().begin(), x.shape().begin() + s);
  int64_t n = 1;
  for (int64_t i = s; i <= e; ++i) n *= x.shape()[static_cast<size_t>(i)];
  shape.push_back(n);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return ag::reshape(x, shape);
}

}  // namespace nn
