#include "nn/optim.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/ranges.h>

#include "autograd/ops.hpp"

namespace nn {

namespace {

// One update of p from its gradient, then its state buffers: the optim_step
// op, one fused pass on every device (Note [One optimiser formula] in
// autograd/cpu/optim_ops.hpp).
void fused_update(const ag::OptimParams& params, Tensor& p, std::initializer_list<Tensor> grad_and_state,
                  const std::string& who) {
  if (p.dtype() != ag::DType::float32 && p.dtype() != ag::DType::float64)
    ag::fail(who, "updates float32 or float64 parameters, got {}{}", p.dtype(),
             ag::is_half(p.dtype()) ? ": keep the parameters in float32 and cast them to 16 bits in the forward pass "
                                      "(nn/precision.hpp)"
                                    : "");
  ag::optim_step(p, std::span<const Tensor>(grad_and_state.begin(), grad_and_state.size()), params);
}

// A parameter that is not a leaf gets no .grad() from backward (the W = W - lr * W.grad() pitfall). The
// optimiser's handles share the tensors they were given, so a leaf here stays one: checked once, here.
void check_leaf(const std::string& who, size_t i, const Tensor& p) {
  if (p.is_leaf()) return;
  ag::fail(who,
           "parameter {}{} {} is not a leaf: it is the result of a recorded op, as after W = W - lr * W.grad() "
           "while recording, so backward() never fills its .grad(). Give the optimiser the leaves you called "
           "requires_grad_() on and let step() update them in place (or update them yourself inside a NoGradGuard "
           "scope: W.add_(W.grad(), -lr)); see docs/autograd.md, \"Updating parameters\"",
           i, p.name().empty() ? "" : " '" + p.name() + "'", p.shape());
}

}  // namespace

Optimizer::Optimizer(std::string name, std::vector<Tensor> params, double lr)
    : name_(std::move(name)), params_(std::move(params)), lr_(lr), buffers_(params_.size()) {
  if (params_.empty()) ag::fail(name_, "got no parameters to optimise");
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined() || !params_[i].requires_grad())
      ag::fail(name_, "parameter {} does not require grad; call requires_grad_() on it", i);
    check_leaf(name_, i, params_[i]);
  }
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr)) ag::fail(name_, "the learning rate must be finite and >= 0, got {}", lr);
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

void Optimizer::step() {
  ag::NoGradGuard off;
  ++steps_;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    update(i, params_[i], g, steps_);  // in-place ops: each bumps the parameter's version
  }
}

Tensor& Optimizer::buffer(size_t i, const std::string& name) {
  for (auto& [n, t] : buffers_[i]) {
    if (n != name) continue;
    // the state follows its parameter when the model moves to another device
    if (t.device() != params_[i].device()) t = t.to(params_[i].device());
    return t;
  }
  buffers_[i].emplace_back(name, ag::zeros(params_[i].shape(), params_[i].dtype(), params_[i].device()));
  return buffers_[i].back().second;
}

NamedTensors Optimizer::state() const {
  NamedTensors s;
  s.emplace_back("step", ag::scalar(static_cast<double>(steps_), ag::DType::float64));
  for (size_t i = 0; i < buffers_.size(); ++i)
    for (const auto& [n, t] : buffers_[i]) s.emplace_back(std::to_string(i) + "." + n, t.clone());
  return s;
}

void Optimizer::load_state(const NamedTensors& state) {
  for (const auto& [name, t] : state) {
    if (name == "step") {
      if (t.numel() != 1) ag::fail(name_, "state entry 'step' has shape {}, expected a scalar", t.shape());
      const double v = t.value_at(0);
      if (!(v >= 0) || !ag::fits_int64(v) || v != std::floor(v))
        ag::fail(name_, "state entry 'step' is {}, expected a whole number >= 0; the checkpoint is corrupted", v);
      steps_ = static_cast<int64_t>(v);
      continue;
    }
    const size_t dot = name.find('.');
    size_t i = 0;
    try {
      i = std::stoul(name.substr(0, dot));
    } catch (...) {
      ag::fail(name_, "state entry '{}' is not '<parameter>.<buffer>'", name);
    }
    if (dot == std::string::npos || i >= params_.size())
      ag::fail(name_, "state entry '{}' does not match this optimiser's {} parameters", name, params_.size());
    const std::string buf = name.substr(dot + 1);
    const std::vector<std::string> known = buffer_names();
    if (!known.empty() && std::find(known.begin(), known.end(), buf) == known.end())
      ag::fail(name_, "state entry '{}' names buffer '{}', which {} does not have (expected: {})", name, buf, name_,
               fmt::join(known, ", "));
    Tensor& b = buffer(i, buf);
    if (b.shape() != t.shape() || b.dtype() != t.dtype())
      ag::fail(name_, "state entry '{}' has shape {} {}, expected {} {}", name, t.shape(), t.dtype(), b.shape(),
               b.dtype());
    b.copy_(t);
  }
}

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, bool nesterov, double weight_decay)
    : Optimizer(momentum > 0 ? "Momentum" : "SGD", std::move(params), lr),
      momentum_(momentum),
      weight_decay_(weight_decay),
      nesterov_(nesterov) {
  if (momentum < 0) ag::fail(name_, "momentum must be >= 0, got {}", momentum);
  if (nesterov && momentum <= 0) ag::fail(name_, "Nesterov momentum needs momentum > 0");
}

void SGD::update(size_t i, Tensor& p, const Tensor& g, int64_t) {
  const ag::OptimParams params{.kind = momentum_ == 0 ? ag::OptimKind::sgd : ag::OptimKind::momentum,
                                .lr = lr_,
                                .momentum = momentum_,
                                .weight_decay = weight_decay_,
                                .nesterov = nesterov_};
  if (momentum_ == 0) fused_update(params, p, {g}, name_);
  else fused_update(params, p, {g, buffer(i, "momentum")}, name_);
}

AdaGrad::AdaGrad(std::vector<Tensor> params, double lr, double eps, double weight_decay)
    : Optimizer("AdaGrad", std::move(params), lr), eps_(eps), weight_decay_(weight_decay) {}

void AdaGrad::update(size_t i, Tensor& p, const Tensor& g, int64_t) {
  const ag::OptimParams params{.kind = ag::OptimKind::adagrad, .lr = lr_, .eps = eps_, .weight_decay = weight_decay_};
  fused_update(params, p, {g, buffer(i, "sum_sq")}, name_);
}

RMSProp::RMSProp(std::vector<Tensor> params, double lr, double alpha, double eps, double weight_decay)
    : Optimizer("RMSProp", std::move(params), lr), alpha_(alpha), eps_(eps), weight_decay_(weight_decay) {
  if (!(alpha >= 0 && alpha < 1)) ag::fail(name_, "alpha must be in [0, 1), got {}", alpha);
}

void RMSProp::update(size_t i, Tensor& p, const Tensor& g, int64_t) {
  const ag::OptimParams params{
      .kind = ag::OptimKind::rmsprop, .lr = lr_, .alpha = alpha_, .eps = eps_, .weight_decay = weight_decay_};
  fused_update(params, p, {g, buffer(i, "square_avg")}, name_);
}

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay,
           bool decoupled)
    : Optimizer("Adam", std::move(params), lr),
      beta1_(beta1),
      beta2_(beta2),
      eps_(eps),
      weight_decay_(weight_decay),
      decoupled_(decoupled) {
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
    ag::fail(name_, "betas must be in [0, 1), got {} and {}", beta1, beta2);
}

// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr m^ / (sqrt(v^) + eps), m^ = m / (1 - b1^t), v^ = v / (1 - b2^t)
void Adam::update(size_t i, Tensor& p, const Tensor& g, int64_t t) {
  const ag::OptimParams params{.kind = ag::OptimKind::adam,
                                .lr = lr_,
                                .beta1 = beta1_,
                                .beta2 = beta2_,
                                .eps = eps_,
                                .weight_decay = weight_decay_,
                                .bias1 = 1.0 - std::pow(beta1_, static_cast<double>(t)),
                                .bias2 = 1.0 - std::pow(beta2_, static_cast<double>(t)),
                                .decoupled = decoupled_};
  fused_update(params, p, {g, buffer(i, "exp_avg"), buffer(i, "exp_avg_sq")}, name_);
}

// Each gradient's sum of squares is reduced in float64 on its own device and
// added up there; only the total (one scalar per device) is copied to the host.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  if (!(max_norm > 0)) ag::fail("clip_grad_norm", "max_norm must be > 0, got {}", max_norm);
  ag::NoGradGuard off;
  std::vector<Tensor> totals;  // one float64 scalar per device
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    const Tensor g64 = ag::cast(g, ag::DType::float64);
    const Tensor sq = ag::sum(g64 * g64);
    auto same = std::find_if(totals.begin(), totals.end(), [&](const Tensor& t) { return t.device() == g.device(); });
    if (same == totals.end()) totals.push_back(sq);
    else *same = *same + sq;
  }
  double sq = 0;
  for (const Tensor& t : totals) sq += t.item<double>();
  const double norm = std::sqrt(sq);
  if (norm > max_norm) {
    for (const Tensor& p : params)
      if (Tensor g = p.grad(); g.defined()) g.mul_(max_norm / (norm + 1e-6));
  }
  return norm;
}

void clip_grad_value(const std::vector<Tensor>& params, double value) {
  if (!(value > 0)) ag::fail("clip_grad_value", "value must be > 0, got {}", value);
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    ag::NoGradGuard off;
    g.copy_(ag::clip(g, -value, value));
  }
}

StepDecay::StepDecay(double base, int64_t step_size, double gamma) : base_(base), step_size_(step_size), gamma_(gamma) {
  if (step_size <= 0) ag::fail("StepDecay", "step_size must be > 0, got {}", step_size);
}
double StepDecay::lr(int64_t step) const { return base_ * std::pow(gamma_, static_cast<double>(step / step_size_)); }

ExponentialDecay::ExponentialDecay(double base, double gamma) : base_(base), gamma_(gamma) {}
double ExponentialDecay::lr(int64_t step) const { return base_ * std::pow(gamma_, static_cast<double>(step)); }

CosineAnnealing::CosineAnnealing(double base, int64_t total, double min_lr) : base_(base), total_(total), min_(min_lr) {
  if (total <= 0) ag::fail("CosineAnnealing", "total must be > 0, got {}", total);
}
double CosineAnnealing::lr(int64_t step) const {
  if (step >= total_) return min_;
  const double c = std::cos(std::numbers::pi * static_cast<double>(step) / static_cast<double>(total_));
  return min_ + (base_ - min_) * (1 + c) / 2;
}

Warmup::Warmup(int64_t steps, std::shared_ptr<Schedule> after, double start_factor)
    : steps_(steps), after_(std::move(after)), start_factor_(start_factor) {
  if (steps < 0) ag::fail("Warmup", "steps must be >= 0, got {}", steps);
  if (!after_) ag::fail("Warmup", "needs the schedule that follows it");
}
double Warmup::lr(int64_t step) const {
  if (step >= steps_) return after_->lr(step - steps_);
  const double f = start_factor_ + (1.0 - start_factor_) * static_cast<double>(step) / static_cast<double>(steps_);
  return f * after_->lr(0);
}

}  // namespace nn
