#include "nn/layers.hpp"

#include <cmath>

namespace nn {

Linear::Linear(int64_t in, int64_t out, ag::Generator& gen, bool with_bias, ag::DType dtype) : Module("Linear") {
  if (in <= 0 || out <= 0) ag::fail("Linear", "needs positive sizes, got in {} and out {}", in, out);
  const double k = 1.0 / std::sqrt(static_cast<double>(in));
  weight = register_parameter("weight", ag::rand({in, out}, gen, dtype, -k, k));
  if (with_bias) bias = register_parameter("bias", ag::rand({out}, gen, dtype, -k, k));
}

// Note [Fused affine]
// A batch of rows through the textbook's Affine layer, x W + b, is recorded as
// one affine node (one GEMM, the bias as its starting value), and always the
// same one: in training, under a Trace (graph dumps) and in check_nodes, so the
// graph you draw and check is the graph you train. Its inside is the
// textbook's MatMul, Repeat (the bias copied to every row) and Add; the node's
// rule is theirs put together, dX = dY W^T, dW = X^T dY, db = dY summed over
// the rows (ops/matmul.cpp), and graph dumps label it "X·W + b (matmul, repeat,
// add)" (the row's shows column in ops.def). Other shapes (a batch of
// matrices) record those three nodes themselves.
Tensor affine(const Tensor& x, const Tensor& w, const Tensor& b) {
  if (x.dim() == 2) return ag::affine(x, w, b);
  return ag::matmul(x, w) + b;
}

Tensor Linear::forward(const Tensor& x) {
  if (x.dim() < 1 || x.shape().back() != weight.shape()[0])
    ag::fail("Linear", "expects inputs with {} features on the last axis, got shape {}", weight.shape()[0], x.shape());
  const Tensor x2 = x.dim() == 1 ? ag::unsqueeze(x, 0) : x;
  Tensor y = bias.defined() ? nn::affine(x2, weight, bias) : ag::matmul(x2, weight);
  return x.dim() == 1 ? ag::squeeze(y, 0) : y;
}

std::shared_ptr<Activation> Sigmoid() { return std::make_shared<Activation>("Sigmoid", [](const Tensor& x) { return ag::sigmoid(x); }); }
std::shared_ptr<Activation> Tanh() { return std::make_shared<Activation>("Tanh", [](const Tensor& x) { return ag::tanh(x); }); }
std::shared_ptr<Activation> ReLU() { return std::make_shared<Activation>("ReLU", [](const Tensor& x) { return ag::relu(x); }); }
std::shared_ptr<Activation> LeakyReLU(double slope) {
  return std::make_shared<Activation>("LeakyReLU", [slope](const Tensor& x) { return ag::leaky_relu(x, slope); });
}
std::shared_ptr<Activation> ELU(double alpha) {
  return std::make_shared<Activation>("ELU", [alpha](const Tensor& x) { return ag::elu(x, alpha); });
}
std::shared_ptr<Activation> Softmax(int64_t axis) {
  return std::make_shared<Activation>("Softmax", [axis](const Tensor& x) { return ag::softmax(x, axis); });
}

// prelu(x) = relu(x) - a relu(-x)
ag::Tensor prelu(const ag::Tensor& x, const ag::Tensor& a) { return ag::relu(x) - a * ag::relu(-x); }

PReLU::PReLU(int64_t channels, double init, ag::DType dtype) : Module("PReLU") {
  if (channels <= 0) ag::fail("PReLU", "needs a positive channel count, got {}", channels);
  slope = register_parameter("slope", ag::full({channels}, init, dtype));
}

Tensor PReLU::forward(const Tensor& x) {
  const int64_t c = slope.numel();
  if (c == 1) return prelu(x, slope);
  if (x.dim() < 2 || x.shape()[1] != c)
    ag::fail("PReLU", "has {} slopes for axis 1, but the input has shape {}", c, x.shape());
  ag::Shape s(static_cast<size_t>(x.dim()), 1);
  s[1] = c;
  return prelu(x, ag::reshape(slope, s));
}

Dropout::Dropout(double p, uint64_t seed) : Module("Dropout"), p_(p), gen_(seed) {
  if (!(p >= 0.0 && p < 1.0)) ag::fail("Dropout", "needs 0 <= p < 1, got {}", p);
}

void Dropout::set_extra_state(const std::string& key, const std::string& value) {
  if (key != "generator") Module::set_extra_state(key, value);
  gen_.set_state(value);
}

Tensor Dropout::forward(const Tensor& x) {
  // the mask is drawn on x's device from a seed of gen_ (ag::dropout): the same on every device
  return ag::dropout(x, p_, is_training(), gen_);
}

Perceptron::Perceptron(int64_t in, ag::Generator& gen) : Module("Perceptron") {
  fc = register_module("fc", std::make_shared<Linear>(in, 1, gen));
}

Tensor Perceptron::forward(const Tensor& x) { return ag::sigmoid((*fc)(x)); }

TwoLayerNet::TwoLayerNet(int64_t in, int64_t hidden, int64_t out, ag::Generator& gen, double weight_init_std,
                         ag::DType dtype, std::string activation)
    : Module("TwoLayerNet"), activation_(std::move(activation)) {
  if (activation_ != "sigmoid" && activation_ != "relu")
    ag::fail("TwoLayerNet", "activation must be sigmoid or relu, got '{}'", activation_);
  W1 = register_parameter("W1", ag::randn({in, hidden}, gen, dtype, 0.0, weight_init_std));
  b1 = register_parameter("b1", ag::zeros({hidden}, dtype));
  W2 = register_parameter("W2", ag::randn({hidden, out}, gen, dtype, 0.0, weight_init_std));
  b2 = register_parameter("b2", ag::zeros({out}, dtype));
}

Tensor TwoLayerNet::predict(const Tensor& x) {
  Tensor z1;
  {
    ag::NameScope affine("Affine1");
    z1 = nn::affine(x, W1, b1);
  }
  Tensor a1 = activation_ == "relu" ? ag::relu(z1) : ag::sigmoid(z1);
  ag::NameScope affine("Affine2");
  return nn::affine(a1, W2, b2);
}

Tensor TwoLayerNet::loss(const Tensor& x, const Tensor& t) { return ag::softmax_cross_entropy(predict(x), t); }

double TwoLayerNet::accuracy(const Tensor& x, const Tensor& t) {
  ag::NoGradGuard off;
  return nn::accuracy(predict(x), t);
}

NamedTensors TwoLayerNet::gradient(const Tensor& x, const Tensor& t) {
  zero_grad();
  loss(x, t).backward();
  NamedTensors g;
  for (auto& [n, p] : named_parameters()) g.emplace_back(n, p.grad());
  return g;
}

NamedTensors TwoLayerNet::numerical_gradient(const Tensor& x, const Tensor& t, double h) {
  ag::NoGradGuard off;
  NamedTensors out;
  for (auto& [n, p] : named_parameters()) {
    std::vector<double> g(static_cast<size_t>(p.numel()));
    for (int64_t i = 0; i < p.numel(); ++i) {
      // (f(p + h) - f(p - h)) / 2h, one element at a time
      auto set = [&, &p = p](double v) {  // clang 14 cannot capture a structured binding itself
        if (p.dtype() == ag::DType::float32) p.data<float>()[i] = static_cast<float>(v);
        else p.data<double>()[i] = v;
      };
      const double orig = p.value_at(i);
      set(orig + h);
      const double fp = loss(x, t).value_at(0);
      set(orig - h);
      const double fm = loss(x, t).value_at(0);
      set(orig);
      g[static_cast<size_t>(i)] = (fp - fm) / (2 * h);
    }
    out.emplace_back(n, ag::from_vector(g, p.shape(), p.dtype()));
  }
  return out;
}

MLP::MLP(const std::vector<int64_t>& sizes, ag::Generator& gen, const std::string& activation, Init init,
         ag::DType dtype)
    : Module("MLP") {
  if (sizes.size() < 2) ag::fail("MLP", "needs at least an input and an output size, got {} sizes", sizes.size());
  net_ = register_module("net", std::make_shared<Sequential>());
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    auto fc = std::make_shared<Linear>(sizes[i], sizes[i + 1], gen, true, dtype);
    switch (init) {
      case Init::pytorch: break;
      case Init::small_gaussian: init::normal_(fc->weight, gen, 0.01); break;
      case Init::xavier: init::xavier_normal_(fc->weight, gen); break;
      case Init::he: init::he_normal_(fc->weight, gen); break;
    }
    if (init != Init::pytorch) init::zeros_(fc->bias);
    net_->add(fc);
    if (i + 2 == sizes.size()) break;
    if (activation == "relu") net_->add(ReLU());
    else if (activation == "sigmoid") net_->add(Sigmoid());
    else if (activation == "tanh") net_->add(Tanh());
    else if (activation == "leaky_relu") net_->add(LeakyReLU());
    else if (activation == "elu") net_->add(ELU());
    else ag::fail("MLP", "unknown activation '{}' (relu, sigmoid, tanh, leaky_relu, elu)", activation);
  }
}

double accuracy(const Tensor& scores, const Tensor& target) {
  if (scores.dim() != 2) ag::fail("accuracy", "needs (n, classes) scores, got shape {}", scores.shape());
  Tensor labels = target.dtype() == ag::DType::int64 ? target : ag::argmax(target, 1);
  if (labels.numel() != scores.shape()[0])
    ag::fail("accuracy", "{} scores but {} labels", scores.shape()[0], labels.numel());
  Tensor pred = ag::argmax(scores, 1);
  int64_t hits = 0;
  pred = pred.to(ag::Device::cpu());
  labels = labels.to(ag::Device::cpu());
  const int64_t* p = pred.data<int64_t>();
  const int64_t* l = labels.data<int64_t>();
  for (int64_t i = 0; i < labels.numel(); ++i) hits += p[i] == l[i];
  return labels.numel() ? static_cast<double>(hits) / static_cast<double>(labels.numel()) : 0.0;
}

}  // namespace nn
