// The example from the README, kept compiling and running by the build.
#include "autograd/tapegrad.hpp"

int main() {
  using namespace ag;
  Generator gen(0);
  Tensor x = randn({4, 2}, gen);                          // a mini-batch of 4 points
  Tensor t = tensor({0, 1, 1, 0}, {4}, DType::int64);     // their labels
  Tensor W1 = randn({2, 3}, gen).requires_grad_();        // parameters
  Tensor b1 = zeros({3}).requires_grad_();
  Tensor W2 = randn({3, 2}, gen).requires_grad_();

  Tensor h = sigmoid(matmul(x, W1) + b1);                 // forward: each op records a node
  Tensor loss = softmax_cross_entropy(matmul(h, W2), t);  // Softmax-with-Loss
  loss.backward();                                        // backward: the tape in reverse

  fmt::print("loss {}\ndL/dW1 {}\n", loss, W1.grad());
}
