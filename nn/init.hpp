// Weight initialisation, in place, from a seeded generator. Weights use the
// textbook's orientation, (fan_in, fan_out): y = x W + b.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include "../autograd/tapegrad.hpp"

namespace nn::init {

// N(0, stddev^2): the textbook's "small Gaussian" with stddev 0.01.
void normal_(ag::Tensor& w, ag::Generator& gen, double stddev = 0.01);
// U(lo, hi).
void uniform_(ag::Tensor& w, ag::Generator& gen, double lo, double hi);
// Xavier/Glorot: variance 2 / (fan_in + fan_out) (for sigmoid and tanh).
void xavier_normal_(ag::Tensor& w, ag::Generator& gen);
void xavier_uniform_(ag::Tensor& w, ag::Generator& gen);
// He/Kaiming: variance 2 / fan_in (for ReLU).
void he_normal_(ag::Tensor& w, ag::Generator& gen);
void he_uniform_(ag::Tensor& w, ag::Generator& gen);
void zeros_(ag::Tensor& w);
void constant_(ag::Tensor& w, double value);

// fan_in and fan_out of a weight: (in, out) for 2-D, dim 0 and the product of the rest otherwise.
std::pair<int64_t, int64_t> fans(const ag::Tensor& w);

}  // namespace nn::init

#endif  // TAPEGRAD_CXX20
