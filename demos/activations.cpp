// The activation functions and their derivatives (kAbout, which --help prints).
#include <filesystem>
#include <functional>
#include <vector>

#include "cli.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(activations: the activation functions sigmoid, tanh, ReLU, LeakyReLU and ELU
and their derivatives, the derivatives computed by backward() (not by hand).

It prints a few derivatives and draws the functions and their derivatives
(activations.png) in the --out folder.
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
  std::string plots;
  for (size_t k = 0; k < fs.size(); ++k)
    plots += fmt::format("{}'{}/activations.dat' using 1:{} with lines lw 2 title '{}'", k ? ", " : "", dir, 2 + 2 * k,
                         fs[k].first);
  std::string dplots;
  for (size_t k = 0; k < fs.size(); ++k)
    dplots += fmt::format("{}'{}/activations.dat' using 1:{} with lines lw 2 title '{}'''", k ? ", " : "", dir, 3 + 2 * k,
                          fs[k].first);
  demo::plot(dir + "/activations.gp",
             fmt::format("set terminal pngcairo size 1000,420 noenhanced\nset output '{}/activations.png'\nset multiplot layout 1,2\n"
                         "set grid\nset key top left\nset title 'activation functions'\nset yrange [-1.5:4]\nplot {}\n"
                         "set title 'their derivatives, from backward()'\nset yrange [-0.2:1.3]\nplot {}\nunset multiplot\n",
                         dir, plots, dplots),
             dir + "/activations.png");
  fmt::print("sigmoid'(0) = {:.4f}, tanh'(0) = {:.4f}, relu'(2) = {:.0f}, leaky_relu'(-2) = {:.2f}, elu'(-2) = {:.4f}\n",
             ds[0].value_at(200), ds[1].value_at(200), ds[2].value_at(300), ds[3].value_at(100), ds[4].value_at(100));
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
