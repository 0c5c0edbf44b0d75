// The graphs that demos/graph_dump draws and tests/test_dump.cpp compares
// against golden files: the textbook's one-node examples (Repeat, Sum, MatMul,
// Mul, Sigmoid), a scalar graph with a branch, and a two-layer net with
// Softmax-with-Loss. Each records its forward and backward pass on the
// thread's active ag::Trace.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "autograd/tapegrad.hpp"

namespace graph_examples {

using ag::Tensor;

struct Example {
  std::string name;   // file stem of its pictures
  std::string title;  // the picture's caption
  // Runs forward and backward on the active Trace and returns the tensors whose
  // names label the picture (a dump reads an output's name while it lives).
  std::vector<Tensor> (*run)();
};

// Repeat copies a size-1 axis; its backward sums the upstream gradient over it.
inline std::vector<Tensor> repeat_node() {
  Tensor x = ag::tensor({1, 2, 3}, {1, 3}).requires_grad_().set_name("x");
  Tensor y = ag::repeat(x, 0, 2).set_name("y");
  y.backward(ag::tensor({1, 2, 3, 4, 5, 6}, {2, 3}));
  return {x, y};
}

// Sum adds along an axis; its backward repeats the upstream gradient.
inline std::vector<Tensor> sum_node() {
  Tensor x = ag::tensor({1, 2, 3, 4, 5, 6}, {2, 3}).requires_grad_().set_name("x");
  Tensor y = ag::sum(x, {0}).set_name("y");
  y.backward(ag::tensor({1, 2, 3}));
  return {x, y};
}

// MatMul: dx = dy W^T, dW = x^T dy.
inline std::vector<Tensor> matmul_node() {
  Tensor x = ag::tensor({1, 2}, {1, 2}).requires_grad_().set_name("x");
  Tensor W = ag::tensor({0.5, -1, 2, 1, 0.25, -0.5}, {2, 3}).requires_grad_().set_name("W");
  Tensor y = ag::matmul(x, W).set_name("y");
  y.backward(ag::tensor({1, 2, 3}, {1, 3}));
  return {x, W, y};
}

// Mul swaps its inputs: dx = dz * y, dy = dz * x.
inline std::vector<Tensor> mul_node() {
  Tensor x = ag::tensor({1, 2, 3}).requires_grad_().set_name("x");
  Tensor y = ag::tensor({4, 5, 6}).requires_grad_().set_name("y");
  Tensor z = (x * y).set_name("z");
  z.backward(ag::tensor({1, 0.5, 2}));
  return {x, y, z};
}

// Sigmoid: dx = dy * y (1 - y), from its own output.
inline std::vector<Tensor> sigmoid_node() {
  Tensor x = ag::tensor({-2, 0, 2}).requires_grad_().set_name("x");
  Tensor y = ag::sigmoid(x).set_name("y");
  y.backward(ag::tensor({1, 1, 1}));
  return {x, y};
}

// L = u * sigmoid(u) with u = x * w: u is used twice, so its gradient is the
// sum of what flows back along both paths.
inline std::vector<Tensor> branch() {
  Tensor x = ag::scalar(1.0).requires_grad_().set_name("x");
  Tensor w = ag::scalar(2.0).requires_grad_().set_name("w");
  Tensor u = (x * w).set_name("u");
  Tensor v = ag::sigmoid(u).set_name("v");
  Tensor L = (u * v).set_name("L");
  L.backward();
  return {x, w, u, v, L};
}

// y = x W + b, with its nodes grouped under the layer's name.
inline Tensor linear(const std::string& name, const Tensor& x, const Tensor& W, const Tensor& b) {
  ag::NameScope scope(name);
  return ag::matmul(x, W) + b;
}

// A 2-3-2 net: sigmoid(x W1 + b1) W2 + b2, then Softmax-with-Loss against labels t.
// With decay > 0 the loss adds L2 weight decay on W1, decay · sum(W1 * W1): W1
// is then used three times (the matmul and both sides of the mul), so backward
// adds three gradients into it, and the graph holds a Sum node.
inline std::vector<Tensor> two_layer_net(double decay = 0) {
  ag::Generator gen(1);
  Tensor x = ag::randn({4, 2}, gen).set_name("x");
  Tensor t = ag::tensor({0, 1, 1, 0}, {4}, ag::DType::int64).set_name("t");
  Tensor W1 = ag::randn({2, 3}, gen, ag::DType::float32, 0.0, std::sqrt(1.0 / 2)).requires_grad_().set_name("W1");
  Tensor b1 = ag::zeros({3}).requires_grad_().set_name("b1");
  Tensor W2 = ag::randn({3, 2}, gen, ag::DType::float32, 0.0, std::sqrt(1.0 / 3)).requires_grad_().set_name("W2");
  Tensor b2 = ag::zeros({2}).requires_grad_().set_name("b2");
  Tensor a1 = linear("fc1", x, W1, b1).set_name("a1");
  Tensor h = ag::sigmoid(a1).set_name("h");
  Tensor a2 = linear("fc2", h, W2, b2).set_name("a2");
  Tensor loss;
  std::vector<Tensor> keep = {x, t, W1, b1, W2, b2, a1, h, a2};
  {
    ag::NameScope scope("loss");
    loss = ag::softmax_cross_entropy(a2, t);
    if (decay > 0) {
      Tensor ce = loss.set_name("ce");
      Tensor sq = (W1 * W1).set_name("sq");
      Tensor s = ag::sum(sq).set_name("s");
      Tensor penalty = (s * decay).set_name("penalty");
      keep.insert(keep.end(), {ce, sq, s, penalty});
      loss = ce + penalty;
    }
    loss.set_name("loss");
  }
  loss.backward();
  keep.push_back(loss);
  return keep;
}

// The small graphs, one per picture.
inline const std::vector<Example>& examples() {
  static const std::vector<Example> all = {
      {"repeat", "Repeat: y = repeat(x, axis 0, 2 times)", repeat_node},
      {"sum", "Sum: y = sum(x, axis 0)", sum_node},
      {"matmul", "MatMul: y = x W", matmul_node},
      {"mul", "Mul: z = x * y", mul_node},
      {"sigmoid", "Sigmoid: y = 1 / (1 + exp(-x))", sigmoid_node},
      {"branch", "A value used twice: L = u * sigmoid(u), u = x * w", branch},
  };
  return all;
}

// An MLP of `hidden` identical tanh layers (4 -> 4) between an input layer
// (2 -> 4) and an output layer (4 -> 3), with Softmax-with-Loss; forward only,
// so the tape still holds every node. Returns the loss and the parameters.
inline std::vector<Tensor> deep_mlp(int hidden, int64_t batch = 8) {
  ag::Generator gen(2);
  Tensor x = ag::randn({batch, 2}, gen).set_name("x");
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < batch; ++i) labels.push_back(i % 3);
  Tensor t = ag::from_vector(labels, {batch}).set_name("t");
  std::vector<Tensor> keep;
  auto layer = [&](const std::string& name, const Tensor& in, int64_t fan_in, int64_t fan_out) {
    Tensor W = ag::randn({fan_in, fan_out}, gen, ag::DType::float32, 0.0, 1.0 / std::sqrt(static_cast<double>(fan_in)))
                   .requires_grad_()
                   .set_name("W_" + name);
    Tensor b = ag::zeros({fan_out}).requires_grad_().set_name("b_" + name);
    keep.push_back(W);
    keep.push_back(b);
    ag::NameScope scope(name);
    return ag::tanh(ag::matmul(in, W) + b);
  };
  Tensor h = layer("input", x, 2, 4);
  for (int i = 1; i <= hidden; ++i) h = layer(fmt::format("hidden{}", i), h, 4, 4);
  Tensor logits;
  {
    Tensor W = ag::randn({4, 3}, gen).requires_grad_().set_name("W_out");
    keep.push_back(W);
    ag::NameScope scope("output");
    logits = ag::matmul(h, W).set_name("logits");
  }
  ag::NameScope scope("loss");
  Tensor loss = ag::softmax_cross_entropy(logits, t).set_name("loss");
  keep.insert(keep.begin(), {loss, logits, x, t});
  return keep;
}

}  // namespace graph_examples
