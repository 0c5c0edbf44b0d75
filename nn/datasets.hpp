// Small generated data sets for demos and tests.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>

#include "../autograd/tensor.hpp"

namespace nn {

// A labelled data set held in memory: inputs x (n, ...) (float) and targets t:
// int64 class labels (n,), one-hot / probability rows (n, classes), or float
// regression targets (n,). Row i of x goes with row i of t.
struct Dataset {
  ag::Tensor x;
  ag::Tensor t;

  // The number of examples n (0 for an empty data set).
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
};

// The classic spiral: `classes` arms of `per_class` points in 2-D, with seeded
// noise (as in "Deep Learning from Scratch" and CS231n). float32 inputs.
Dataset spiral(int64_t per_class = 100, int64_t classes = 3, uint64_t seed = 0);

// The four XOR points (0,0) (0,1) (1,0) (1,1) with labels 0 1 1 0: x (4, 2) float32, t (4,) int64.
Dataset xor_points();

// n noisy XOR points: a seeded random corner of the unit square plus Normal(0,
// noise) in each coordinate, labelled with the corner's XOR. x (n, 2), t (n,).
Dataset noisy_xor(int64_t n = 200, double noise = 0.1, uint64_t seed = 0);

}  // namespace nn

#endif  // TAPEGRAD_CXX20
