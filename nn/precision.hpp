// Training with 16-bit floats (the textbook's section on bit precision; Note
// [16-bit storage, float32 arithmetic] in autograd/half.hpp).
//
// Mixed precision: keep the parameters (the "master weights") in float32,
// cast them to float16 or bfloat16 in the forward pass (the casts are recorded,
// so their backward casts each gradient back to float32), and scale the loss
// so that small float16 gradients do not round to zero:
//
//   nn::LossScaler scaler;
//   Tensor h = relu(affine(cast(x, DType::float16), cast(W1, DType::float16), cast(b1, DType::float16)));
//   Tensor loss = softmax_cross_entropy(affine(h, cast(W2, ...), cast(b2, ...)), labels);
//   opt.zero_grad();
//   scaler.scale(loss).backward();
//   scaler.step(opt);   // unscales, skips the step if a gradient overflowed, adapts the scale
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>

#include "optim.hpp"

namespace nn {

struct LossScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;   // after growth_interval steps without overflow
  double backoff_factor = 0.5;  // after an overflow (the step is skipped)
  int64_t growth_interval = 2000;
};

// Note [Loss scaling]
// float16's smallest subnormal is 2^-24 (6e-8): gradients below that become 0
// in a float16 backward pass. Multiplying the loss by S multiplies every
// gradient by S and lifts them into range; step() divides the float32
// gradients by S before the update. Too large an S overflows to inf instead,
// so the scale is dynamic: an overflow halves it and skips that step, and
// every growth_interval clean steps double it. bfloat16 has float32's range
// and needs no scaling (S = 1 works), though it does no harm.
class LossScaler {
 public:
  explicit LossScaler(LossScalerOptions options = {});
  // loss * scale, recorded (backward from it gives scaled gradients).
  Tensor scale(const Tensor& loss) const;
  // Divides every gradient of opt's parameters by the scale, then, when all of
  // them are finite, runs opt.step(); otherwise skips it. Updates the scale.
  // Returns whether the step was taken. Reads one scalar from the device.
  bool step(Optimizer& opt);
  // Divides the gradients by the scale and says whether they are all finite
  // (step() calls it; for clipping between unscale and the update, call it and
  // then step_unscaled()).
  bool unscale(const std::vector<Tensor>& params);
  // After unscale(): steps when `finite`, and updates the scale.
  bool step_unscaled(Optimizer& opt, bool finite);

  double scale_factor() const { return scale_; }
  int64_t skipped_steps() const { return skipped_; }

 private:
  LossScalerOptions o_;
  double scale_;
  int64_t good_steps_ = 0, skipped_ = 0;
};

}  // namespace nn

#endif  // TAPEGRAD_CXX20
