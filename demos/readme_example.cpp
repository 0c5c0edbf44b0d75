// The example from the README, kept compiling and running by the build.
#include "autograd/tapegrad.hpp"
#include "cli.hpp"

int main(int argc, char** argv) {
  demo::Cli("readme_example",
            "readme_example: the README's first example. A two-layer net's forward pass on a mini-batch\n"
            "of 4 points records each op on the tape; backward() walks it in reverse. It prints\n"
            "the loss and the gradient dL/dW1, and writes no file; it takes no options.\n")
      .parse(argc, argv);
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
