// Autocast: products in a 16-bit type, everything else in float32 (Note [Autocast]).
#pragma once

#include <optional>

#include "dtype.hpp"

namespace ag {

// Note [Autocast]
// Inside an AutocastGuard(bfloat16 or float16), the ops whose cost is a
// matrix product — matmul and affine, and so Linear, conv2d and everything
// built on them — take float32 operands, cast them to the 16-bit type, run
// the product there (the kernels accumulate in float32: Note [16-bit storage,
// float32 arithmetic] in half.hpp) and cast the result back to float32. The
// casts are ordinary recorded ops, so the backward pass runs the transposed
// products in 16 bits too and hands float32 gradients to the float32 master
// weights; every other op (reductions, softmax, losses, norms, the optimiser)
// sees float32 and runs in float32. nn::LossScaler works unchanged (float16's
// small gradients need it; bfloat16's range does not).
//
// The guard is per thread and nests; the innermost one wins, and
// AutocastGuard(dtype, false) turns autocast off for its scope. A device
// without 16-bit product kernels (the cpu today) is an error naming the op,
// not a silent float32 run: construct the guard with enabled = false there.
class AutocastGuard {
 public:
  explicit AutocastGuard(DType dtype, bool enabled = true);
  // Autocast to *dtype when it is set; nullopt leaves this thread's setting as it is.
  explicit AutocastGuard(std::optional<DType> dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  std::optional<DType> prev_;
};

// The 16-bit type products run in on this thread now, if autocast is on.
std::optional<DType> autocast_dtype();

}  // namespace ag
