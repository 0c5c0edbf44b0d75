// The activation functions and their derivatives (kAbout, which --help prints).
#include <filesystem>
#include <functional>
#include <vector>

#include "cli.hpp"
#include "nn/layers.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(activations: the activation functions sigmoid, tanh, ReLU, LeakyReLU, ELU,
PReLU, softplus, GELU, SiLU and softmax, each with its derivative, the derivatives computed
by backward() (not by hand). Softmax maps a vector to a vector: its panel shows
the first output of softmax([x, 1, -1]) as x moves, and d y0 / dx.

It prints a few derivatives and draws each function and its derivative in its
own panel (activations.png) in the --out folder.
)";

}  // namespace

int main(int argc, char** argv) try {
  std::string dir;
  demo::Cli cli("activations", kAbout);
  cli.out(dir);
  cli.parse(argc, argv);
  std::filesystem::create_directories(dir);
  using F = std::function<ag::Tensor(const ag::Tensor&)>;
  const std::vector<std::pair<std::string, F>> fs = {
      {"sigmoid", [](const ag::Tensor& x) { return ag::sigmoid(x); }},
      {"tanh", [](const ag::Tensor& x) { return ag::tanh(x); }},
      {"relu", [](const ag::Tensor& x) { return ag::relu(x); }},
      {"leaky_relu", [](const ag::Tensor& x) { return ag::leaky_relu(x, 0.1); }},
      {"elu", [](const ag::Tensor& x) { return ag::elu(x, 1.0); }},
      // PReLU's slope is learned; here at its initial value 0.25
      {"prelu", [](const ag::Tensor& x) { return nn::prelu(x, ag::full({1}, 0.25, x.dtype())); }},
      {"softplus", [](const ag::Tensor& x) { return ag::softplus(x); }},
      {"gelu", [](const ag::Tensor& x) { return ag::gelu(x); }},
      {"silu", [](const ag::Tensor& x) { return ag::silu(x); }},
      // softmax([x, 1, -1])[0] for each x: a row per x, the first column
      {"softmax", [](const ag::Tensor& x) {
         ag::Tensor col = ag::reshape(x, {-1, 1});
         ag::Tensor rows = ag::concat({col, ag::full({x.numel(), 1}, 1.0, x.dtype()),
                                       ag::full({x.numel(), 1}, -1.0, x.dtype())}, 1);
         return ag::reshape(ag::slice(ag::softmax(rows, 1), 1, 0, 1), {-1});
       }},
  };
  // x from -4 to 4, avoiding 0 exactly (the kink of ReLU and its relatives)
  ag::Tensor xs = ag::arange(-4.0, 4.0001, 0.02, ag::DType::float64) + 1e-9;
  std::string data = "# x";
  std::vector<ag::Tensor> ys, ds;
  for (const auto& [name, f] : fs) {
    data += " " + name + " d_" + name;
    ag::Tensor x = xs.detach().requires_grad_();
    ag::Tensor y = f(x);
    ag::sum(y).backward();  // each y_i depends on x_i only, so d sum / dx_i = f'(x_i)
    ys.push_back(y.detach());
    ds.push_back(x.grad());
  }
  data += "\n";
  for (int64_t i = 0; i < xs.numel(); ++i) {
    data += fmt::format("{:.4f}", xs.value_at(i));
    for (size_t k = 0; k < fs.size(); ++k) data += fmt::format(" {:.6f} {:.6f}", ys[k].value_at(i), ds[k].value_at(i));
    data += "\n";
  }
  ag::write_file(dir + "/activations.dat", data);
  // one panel per function: its value (solid) and its derivative from backward() (dashed)
  std::string panels;
  for (size_t k = 0; k < fs.size(); ++k)
    panels += fmt::format("set title '{0}'\nplot '{1}/activations.dat' using 1:{2} with lines lw 2 lc rgb '#1f77b4' "
                          "title '{0}(x)', '' using 1:{3} with lines lw 2 dt 2 lc rgb '#d62728' title 'derivative'\n",
                          fs[k].first, dir, 2 + 2 * k, 3 + 2 * k);
  demo::plot(dir + "/activations.gp",
             fmt::format("set terminal pngcairo size 1600,640 noenhanced font ',10'\nset output '{}/activations.png'\n"
                         "set multiplot layout 2,5 title 'Activation functions (solid) and their derivatives from "
                         "backward() (dashed)' font ',12'\n"
                         "set grid\nset key top left font ',9'\nset xlabel 'x'\nset ylabel 'y'\nset xrange [-4:4]\n"
                         "set yrange [-1.5:4.2]\nset xzeroaxis\n{}unset multiplot\n",
                         dir, panels),
             dir + "/activations.png");
  fmt::print("sigmoid'(0) = {:.4f}, tanh'(0) = {:.4f}, relu'(2) = {:.0f}, leaky_relu'(-2) = {:.2f}, elu'(-2) = {:.4f}\n",
             ds[0].value_at(200), ds[1].value_at(200), ds[2].value_at(300), ds[3].value_at(100), ds[4].value_at(100));
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
