#include "nn/precision.hpp"

#include <cmath>

namespace nn {

LossScaler::LossScaler(LossScalerOptions options) : o_(options), scale_(options.init_scale) {
  if (!(o_.init_scale > 0) || !std::isfinite(o_.init_scale))
    ag::fail("LossScaler", "init_scale must be positive and finite, got {}", o_.init_scale);
  if (!(o_.growth_factor >= 1) || !(o_.backoff_factor > 0 && o_.backoff_factor < 1))
    ag::fail("LossScaler", "needs growth_factor >= 1 and 0 < backoff_factor < 1, got {} and {}", o_.growth_factor,
             o_.backoff_factor);
  if (o_.growth_interval < 1) ag::fail("LossScaler", "growth_interval must be at least 1, got {}", o_.growth_interval);
}

Tensor LossScaler::scale(const Tensor& loss) const {
  if (loss.numel() != 1) ag::fail("LossScaler", "scales a scalar loss, got shape {}", loss.shape());
  return ag::mul_scalar(loss, scale_);
}

bool LossScaler::unscale(const std::vector<Tensor>& params) {
  ag::NoGradGuard off;
  // sum(g * 0) is 0 when every element is finite and NaN otherwise (inf * 0 = NaN):
  // one scalar per tensor, summed on the device, read once.
  Tensor flags;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    g.mul_(1.0 / scale_);
    Tensor f = ag::cast(ag::sum(ag::mul_scalar(g, 0.0)), ag::DType::float32);
    flags = flags.defined() ? flags + f.to(flags.device()) : f;
  }
  return !flags.defined() || std::isfinite(flags.value_at(0));
}

bool LossScaler::step_unscaled(Optimizer& opt, bool finite) {
  if (finite) {
    opt.step();
    if (++good_steps_ >= o_.growth_interval) {
      scale_ *= o_.growth_factor;
      good_steps_ = 0;
    }
  } else {
    scale_ *= o_.backoff_factor;
    good_steps_ = 0;
    ++skipped_;
  }
  return finite;
}

bool LossScaler::step(Optimizer& opt) { return step_unscaled(opt, unscale(opt.params())); }

}  // namespace nn
