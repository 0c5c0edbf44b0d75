// Small generated data sets for demos and tests.
#pragma once

#include <cstdint>

#include "autograd/tensor.hpp"

namespace nn {

// A labelled data set held in memory: inputs (n, features) and int64 labels (n,).
struct Dataset {
  ag::Tensor x;
  ag::Tensor t;
};

// The classic spiral: `classes` arms of `per_class` points in 2-D, with seeded
// noise (as in "Deep Learning from Scratch" and CS231n). float32 inputs.
Dataset spiral(int64_t per_class = 100, int64_t classes = 3, uint64_t seed = 0);

}  // namespace nn
