// Optimisers and learning-rate schedules. An optimiser updates its parameters
// in place from their .grad() (under NoGradGuard, so nothing is recorded);
// its per-parameter state can be saved and restored for checkpoints.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "module.hpp"

namespace nn {

class Optimizer {
 public:
  Optimizer(std::string name, std::vector<Tensor> params, double lr);
  virtual ~Optimizer() = default;
  // One update of every parameter that has a gradient.
  void step();
  // Forgets every parameter's gradient.
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr);
  int64_t steps() const { return steps_; }
  const std::vector<Tensor>& params() const { return params_; }
  // The optimiser's state (step count and per-parameter buffers), named for checkpoints.
  NamedTensors state() const;
  // Restores what state() returned (names and shapes must match).
  void load_state(const NamedTensors& state);

 protected:
  // Updates parameter i from its gradient g (same dtype and shape); t counts steps from 1.
  virtual void update(size_t i, Tensor& p, const Tensor& g, int64_t t) = 0;
  // A per-parameter buffer (zeros at first), saved in state() as "<i>.<name>".
  Tensor& buffer(size_t i, const std::string& name);
  // The buffer names update() uses, which load_state accepts; empty accepts any name.
  virtual std::vector<std::string> buffer_names() const { return {}; }

  std::string name_;
  std::vector<Tensor> params_;
  double lr_;
  int64_t steps_ = 0;

 private:
  std::vector<std::vector<std::pair<std::string, Tensor>>> buffers_;
};

// p -= lr (g + wd p), with momentum v = mu v + g (Nesterov: p -= lr (g + mu v)).
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0.0, bool nesterov = false, double weight_decay = 0.0);

 protected:
  void update(size_t i, Tensor& p, const Tensor& g, int64_t t) override;
  std::vector<std::string> buffer_names() const override { return momentum_ > 0 ? std::vector<std::string>{"momentum"} : std::vector<std::string>{}; }

 private:
  double momentum_, weight_decay_;
  bool nesterov_;
};
// SGD with momentum, as the textbook names it.
inline std::unique_ptr<SGD> Momentum(std::vector<Tensor> params, double lr, double momentum = 0.9) {
  return std::make_unique<SGD>(std::move(params), lr, momentum);
}

// h += g^2; p -= lr g / (sqrt(h) + eps)
class AdaGrad : public Optimizer {
 public:
  AdaGrad(std::vector<Tensor> params, double lr = 0.01, double eps = 1e-10, double weight_decay = 0.0);

 protected:
  void update(size_t i, Tensor& p, const Tensor& g, int64_t t) override;
  std::vector<std::string> buffer_names() const override { return {"sum_sq"}; }

 private:
  double eps_, weight_decay_;
};

// s = a s + (1 - a) g^2; p -= lr g / (sqrt(s) + eps)
class RMSProp : public Optimizer {
 public:
  RMSProp(std::vector<Tensor> params, double lr = 0.01, double alpha = 0.99, double eps = 1e-8,
          double weight_decay = 0.0);

 protected:
  void update(size_t i, Tensor& p, const Tensor& g, int64_t t) override;
  std::vector<std::string> buffer_names() const override { return {"square_avg"}; }

 private:
  double alpha_, eps_, weight_decay_;
};

// Adam with bias correction; weight decay added to the gradient (L2), or, for
// AdamW, decoupled: p -= lr wd p.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0.0, bool decoupled = false);

 protected:
  void update(size_t i, Tensor& p, const Tensor& g, int64_t t) override;
  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq"}; }

 private:
  double beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 0.01)
      : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, true) {
    name_ = "AdamW";
  }
};

// Scales all gradients so that their joint L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);
// Clamps every gradient element to [-value, value].
void clip_grad_value(const std::vector<Tensor>& params, double value);

// ---- Learning-rate schedules ------------------------------------------------------------

// A learning rate as a function of the step (an epoch or an iteration, counted from 0).
class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual double lr(int64_t step) const = 0;
};

// base * gamma^(step / step_size)
class StepDecay : public Schedule {
 public:
  StepDecay(double base, int64_t step_size, double gamma = 0.1);
  double lr(int64_t step) const override;

 private:
  double base_;
  int64_t step_size_;
  double gamma_;
};

// base * gamma^step
class ExponentialDecay : public Schedule {
 public:
  ExponentialDecay(double base, double gamma);
  double lr(int64_t step) const override;

 private:
  double base_, gamma_;
};

// min + (base - min) (1 + cos(pi step / total)) / 2, then min after `total` steps
class CosineAnnealing : public Schedule {
 public:
  CosineAnnealing(double base, int64_t total, double min_lr = 0.0);
  double lr(int64_t step) const override;

 private:
  double base_;
  int64_t total_;
  double min_;
};

// A linear ramp from start_factor * after(0) to after(0) over `steps` steps, then `after` shifted by them.
class Warmup : public Schedule {
 public:
  Warmup(int64_t steps, std::shared_ptr<Schedule> after, double start_factor = 0.0);
  double lr(int64_t step) const override;

 private:
  int64_t steps_;
  std::shared_ptr<Schedule> after_;
  double start_factor_;
};

// The same rate at every step.
class Constant : public Schedule {
 public:
  explicit Constant(double lr) : lr_(lr) {}
  double lr(int64_t) const override { return lr_; }

 private:
  double lr_;
};

}  // namespace nn

#endif  // TAPEGRAD_CXX20
