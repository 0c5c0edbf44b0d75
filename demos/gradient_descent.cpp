// Gradient descent on x0^2 + x1^2 (kAbout, which --help prints).
#include <filesystem>

#include "cli.hpp"
#include "device.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(gradient_descent: gradient descent on f(x0, x1) = x0^2 + x1^2: the gradient
field (arrows of -grad f) and the paths from (-3, 4) with a good learning rate
(0.1), one too large (1.05: every step overshoots further) and one too small
(0.005). The gradient at each step comes from backward().

It prints where each path ends after 20 steps and draws the field and the
paths (gradient_descent.png) in the --out folder.
)";

}  // namespace

int main(int argc, char** argv) try {
  std::string dir, device_name = "cpu";
  demo::Cli cli("gradient_descent", kAbout);
  cli.out(dir);
  demo::device_option(cli, device_name, "each step");
  cli.parse(argc, argv);
  const ag::Device device = demo::parse_device(device_name, "gradient_descent");
  std::filesystem::create_directories(dir);
  auto f = [](const ag::Tensor& x) { return ag::sum(x * x); };
  std::string field;
  for (double a = -4; a <= 4.01; a += 0.5)
    for (double b = -4; b <= 4.01; b += 0.5) {
      ag::Tensor x = ag::tensor({a, b}, {2}, ag::DType::float64, device).requires_grad_();
      f(x).backward();
      field += fmt::format("{} {} {} {}\n", a, b, -0.08 * x.grad().value_at(0), -0.08 * x.grad().value_at(1));
    }
  ag::write_file(dir + "/field.dat", field);
  for (double lr : {0.1, 1.05, 0.005}) {
    ag::Tensor x = ag::tensor({-3.0, 4.0}, {2}, ag::DType::float64, device).requires_grad_();
    std::string path;
    for (int step = 0; step <= 20; ++step) {
      path += fmt::format("{} {}\n", x.value_at(0), x.value_at(1));
      x.zero_grad();
      f(x).backward();
      ag::NoGradGuard off;
      x.add_(x.grad(), -lr);
    }
    fmt::print("lr {:<6} after 20 steps: x = ({:+.4g}, {:+.4g}), f = {:.4g}\n", lr, x.value_at(0), x.value_at(1),
               f(x.detach()).item<double>());
    ag::write_file(fmt::format("{}/path_{}.dat", dir, lr), path);
  }
  demo::plot(dir + "/gradient_descent.gp",
             fmt::format("set terminal pngcairo size 640,640\nset output '{0}/gradient_descent.png'\nset size square\n"
                         "set xrange [-5:5]\nset yrange [-5:5]\nset grid\nset key bottom right\n"
                         "set title 'f(x0, x1) = x0^2 + x1^2: -grad f and gradient descent from (-3, 4)'\n"
                         "plot '{0}/field.dat' using 1:2:3:4 with vectors head size 0.08,20 lc rgb '#aaaaaa' notitle, \\\n"
                         "     '{0}/path_0.1.dat' with linespoints pt 7 ps 0.7 lw 2 title 'lr 0.1', \\\n"
                         "     '{0}/path_1.05.dat' with linespoints pt 5 ps 0.7 lw 2 title 'lr 1.05 (too large)', \\\n"
                         "     '{0}/path_0.005.dat' with linespoints pt 9 ps 0.7 lw 2 title 'lr 0.005 (too small)'\n",
                         dir),
             dir + "/gradient_descent.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
