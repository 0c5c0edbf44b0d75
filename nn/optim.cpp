#include "nn/optim.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "autograd/parallel.hpp"

namespace nn {

namespace {

// Calls f(p, g, buffers...) with typed pointers over the elements.
template <class F>
void each_float(const Tensor& p, std::string_view who, F&& f) {
  switch (p.dtype()) {
    case ag::DType::float32: f(float{}); break;
    case ag::DType::float64: f(double{}); break;
    default: ag::fail(who, "parameters must be floating, got {}", p.dtype());
  }
}

// The host elements of a cpu tensor; only SGD updates parameters on other devices so far.
template <class T> T* ptr(const Tensor& t) {
  if (!t.device().is_cpu())
    ag::fail("optimizer", "parameters on {} are updated by SGD (with or without momentum) only so far", t.device());
  return t.impl()->data<T>();
}

}  // namespace

Optimizer::Optimizer(std::string name, std::vector<Tensor> params, double lr)
    : name_(std::move(name)), params_(std::move(params)), lr_(lr), buffers_(params_.size()) {
  if (params_.empty()) ag::fail(name_, "got no parameters to optimise");
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined() || !params_[i].requires_grad())
      ag::fail(name_, "parameter {} does not require grad; call requires_grad_() on it", i);
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
    update(i, params_[i], g, steps_);
    ++params_[i].impl()->storage->version;
  }
}

Tensor& Optimizer::buffer(size_t i, const std::string& name) {
  for (auto& [n, t] : buffers_[i])
    if (n == name) return t;
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
      steps_ = static_cast<int64_t>(t.value_at(0));
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
    Tensor& b = buffer(i, name.substr(dot + 1));
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
  if (!p.device().is_cpu()) {
    // the same update with device ops: v = mu v + g', w -= lr (nesterov ? g' + mu v : v), g' = g + wd w
    const Tensor gk = weight_decay_ != 0 ? g + p * weight_decay_ : g;
    if (momentum_ == 0) {
      p.add_(gk, -lr_);
      return;
    }
    Tensor& v = buffer(i, "momentum");
    v.mul_(momentum_);
    v.add_(gk);
    p.add_(nesterov_ ? gk + v * momentum_ : v, -lr_);
    return;
  }
  each_float(p, name_, [&](auto zero) {
    using T = decltype(zero);
    T* w = ptr<T>(p);
    const T* d = ptr<T>(g);
    const int64_t n = p.numel();
    const T lr = static_cast<T>(lr_), wd = static_cast<T>(weight_decay_), mu = static_cast<T>(momentum_);
    if (momentum_ == 0) {
      ag::parallel_for(n, ag::kElementwiseGrain, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) w[k] -= lr * (d[k] + wd * w[k]);
      });
      return;
    }
    T* v = ptr<T>(buffer(i, "momentum"));
    ag::parallel_for(n, ag::kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const T gk = d[k] + wd * w[k];
        v[k] = mu * v[k] + gk;
        w[k] -= lr * (nesterov_ ? gk + mu * v[k] : v[k]);
      }
    });
  });
}

AdaGrad::AdaGrad(std::vector<Tensor> params, double lr, double eps, double weight_decay)
    : Optimizer("AdaGrad", std::move(params), lr), eps_(eps), weight_decay_(weight_decay) {}

void AdaGrad::update(size_t i, Tensor& p, const Tensor& g, int64_t) {
  each_float(p, name_, [&](auto zero) {
    using T = decltype(zero);
    T* w = ptr<T>(p);
    const T* d = ptr<T>(g);
    T* h = ptr<T>(buffer(i, "sum_sq"));
    for (int64_t k = 0; k < p.numel(); ++k) {
      const T gk = d[k] + static_cast<T>(weight_decay_) * w[k];
      h[k] += gk * gk;
      w[k] -= static_cast<T>(lr_) * gk / (std::sqrt(h[k]) + static_cast<T>(eps_));
    }
  });
}

RMSProp::RMSProp(std::vector<Tensor> params, double lr, double alpha, double eps, double weight_decay)
    : Optimizer("RMSProp", std::move(params), lr), alpha_(alpha), eps_(eps), weight_decay_(weight_decay) {
  if (!(alpha >= 0 && alpha < 1)) ag::fail(name_, "alpha must be in [0, 1), got {}", alpha);
}

void RMSProp::update(size_t i, Tensor& p, const Tensor& g, int64_t) {
  each_float(p, name_, [&](auto zero) {
    using T = decltype(zero);
    T* w = ptr<T>(p);
    const T* d = ptr<T>(g);
    T* s = ptr<T>(buffer(i, "square_avg"));
    const T a = static_cast<T>(alpha_);
    for (int64_t k = 0; k < p.numel(); ++k) {
      const T gk = d[k] + static_cast<T>(weight_decay_) * w[k];
      s[k] = a * s[k] + (1 - a) * gk * gk;
      w[k] -= static_cast<T>(lr_) * gk / (std::sqrt(s[k]) + static_cast<T>(eps_));
    }
  });
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
  each_float(p, name_, [&](auto zero) {
    using T = decltype(zero);
    T* w = ptr<T>(p);
    const T* d = ptr<T>(g);
    T* m = ptr<T>(buffer(i, "exp_avg"));
    T* v = ptr<T>(buffer(i, "exp_avg_sq"));
    const double c1 = 1.0 - std::pow(beta1_, static_cast<double>(t));
    const double c2 = 1.0 - std::pow(beta2_, static_cast<double>(t));
    const T b1 = static_cast<T>(beta1_), b2 = static_cast<T>(beta2_), lr = static_cast<T>(lr_);
    const T wd = static_cast<T>(weight_decay_);
    for (int64_t k = 0; k < p.numel(); ++k) {
      T gk = d[k];
      if (decoupled_) w[k] -= lr * wd * w[k];
      else gk += wd * w[k];
      m[k] = b1 * m[k] + (1 - b1) * gk;
      v[k] = b2 * v[k] + (1 - b2) * gk * gk;
      const T mhat = m[k] / static_cast<T>(c1), vhat = v[k] / static_cast<T>(c2);
      w[k] -= lr * mhat / (std::sqrt(vhat) + static_cast<T>(eps_));
    }
  });
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  if (!(max_norm > 0)) ag::fail("clip_grad_norm", "max_norm must be > 0, got {}", max_norm);
  double sq = 0;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    for (int64_t k = 0; k < g.numel(); ++k) sq += g.value_at(k) * g.value_at(k);
  }
  const double norm = std::sqrt(sq);
  if (norm > max_norm) {
    ag::NoGradGuard off;
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
