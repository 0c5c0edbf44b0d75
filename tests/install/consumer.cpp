// A program built against an installed tapegrad (tests/install_test.sh builds it
// three ways: g++ with pkg-config, a CMake project, a Meson project). It uses
// the installed include form and trains a tiny model for a few steps.
#include <tapegrad/autograd/tapegrad.hpp>
#include <tapegrad/nn/nn.hpp>

int main() {
  ag::Generator gen(0);
  ag::Tensor x = ag::randn({8, 2}, gen);
  ag::Tensor t = ag::tensor({0, 1, 1, 0, 1, 0, 0, 1}, {8}, ag::DType::int64);
  nn::MLP model({2, 4, 2}, gen, "sigmoid", nn::Init::xavier);
  nn::SGD sgd(model.parameters(), 0.5);
  float first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    ag::Tensor loss = ag::softmax_cross_entropy(model(x), t);
    sgd.zero_grad();
    loss.backward();
    sgd.step();
    last = loss.item<float>();
    if (step == 0) first = last;
  }
  fmt::print("tiny model trained: loss {:.4f} -> {:.4f}\n", first, last);
  return last < first ? 0 : 1;
}
