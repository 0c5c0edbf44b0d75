// Layers: Linear (Affine), activations as modules, Dropout, and the textbook's
// ready-made models.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <functional>
#include <string>

#include "init.hpp"
#include "module.hpp"

namespace nn {

// x (n, in) W + b as one fused ag::affine node, the textbook's Affine layer,
// in training, graph dumps and checks alike (its inside: MatMul, Repeat, Add;
// Note [Fused affine] in layers.cpp). Other shapes of x record matmul and add.
Tensor affine(const Tensor& x, const Tensor& w, const Tensor& b);

// y = x W + b with W (in, out) and b (out,), recorded as one affine node
// (nn::affine). Initialised like PyTorch's Linear: U(-k, k), k = 1/sqrt(in).
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, ag::Generator& gen, bool bias = true, ag::DType dtype = ag::DType::float32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // bias undefined without one
};
using Affine = Linear;

// An activation function as a module.
class Activation : public Module {
 public:
  Activation(std::string type, std::function<Tensor(const Tensor&)> f) : Module(std::move(type)), f_(std::move(f)) {}
  Tensor forward(const Tensor& x) override { return f_(x); }

 private:
  std::function<Tensor(const Tensor&)> f_;
};

std::shared_ptr<Activation> Sigmoid();
std::shared_ptr<Activation> Tanh();
std::shared_ptr<Activation> ReLU();
std::shared_ptr<Activation> LeakyReLU(double slope = 0.01);
std::shared_ptr<Activation> ELU(double alpha = 1.0);
std::shared_ptr<Activation> Softmax(int64_t axis = -1);

// x where x > 0, a x elsewhere, with a learnable slope a.
ag::Tensor prelu(const ag::Tensor& x, const ag::Tensor& a);
// PReLU with one learnable slope (or one per channel along axis 1), initialised to 0.25.
class PReLU : public Module {
 public:
  explicit PReLU(int64_t channels = 1, double init = 0.25, ag::DType dtype = ag::DType::float32);
  Tensor forward(const Tensor& x) override;
  Tensor slope;
};

// Zeroes each element with probability p in training mode and scales the rest
// by 1/(1 - p) (inverted dropout, ag::dropout: the mask is drawn on x's device
// from a seed of the module's generator, the same on every device); the
// identity in evaluation mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, uint64_t seed = 0);
  Tensor forward(const Tensor& x) override;

 protected:
  // the generator's state ("generator"), so that checkpoints resume the same masks
  std::map<std::string, std::string> extra_state() const override { return {{"generator", gen_.state()}}; }
  void set_extra_state(const std::string& key, const std::string& value) override;

 private:
  double p_;
  ag::Generator gen_;
};

// One Linear layer and a sigmoid: the single-layer perceptron.
class Perceptron : public Module {
 public:
  Perceptron(int64_t in, ag::Generator& gen);
  Tensor forward(const Tensor& x) override;  // probabilities (n, 1)
  std::shared_ptr<Linear> fc;
};

// Weight initialisations an MLP can use for its Linear layers.
enum class Init { pytorch, small_gaussian, xavier, he };

// The book's TwoLayerNet: affine -> sigmoid -> affine -> Softmax-with-Loss,
// weights N(0, weight_init_std^2), biases zero. activation "relu" gives the
// chapter 5 version (affine -> ReLU -> affine), which trains faster.
class TwoLayerNet : public Module {
 public:
  TwoLayerNet(int64_t in, int64_t hidden, int64_t out, ag::Generator& gen, double weight_init_std = 0.01,
              ag::DType dtype = ag::DType::float32, std::string activation = "sigmoid");
  Tensor forward(const Tensor& x) override { return predict(x); }
  Tensor predict(const Tensor& x);                   // scores (n, out)
  Tensor loss(const Tensor& x, const Tensor& t);     // softmax cross entropy; t labels or one-hot
  double accuracy(const Tensor& x, const Tensor& t);
  // d loss / d parameter by backpropagation, by name (W1, b1, W2, b2).
  NamedTensors gradient(const Tensor& x, const Tensor& t);
  // The same by central differences (slow: two forward passes per parameter element).
  NamedTensors numerical_gradient(const Tensor& x, const Tensor& t, double h = 1e-4);
  Tensor W1, b1, W2, b2;

 private:
  std::string activation_;
};

// A configurable multi-layer perceptron: Linear layers of the given sizes with
// an activation between them (none after the last).
class MLP : public Module {
 public:
  MLP(const std::vector<int64_t>& sizes, ag::Generator& gen, const std::string& activation = "relu",
      Init init = Init::pytorch, ag::DType dtype = ag::DType::float32);
  Tensor forward(const Tensor& x) override { return (*net_)(x); }
  Sequential& layers() { return *net_; }

 private:
  std::shared_ptr<Sequential> net_;
};

// Classification accuracy of scores (n, classes) against int64 labels (n,) or one-hot targets.
double accuracy(const Tensor& scores, const Tensor& target);

}  // namespace nn

#endif  // TAPEGRAD_CXX20
