// Gradient descent on x0^2 + x1^2 (kAbout, which --help prints).
#include <filesystem>

#include "cli.hpp"
#include "device.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(gradient_descent: gradient descent on f(x0, x1) = x0^2 + x1^2: the gradient
field (arrows of -grad f) and the paths from (-3, 4) with a good learning rate
(0.1), one too small (0.005), one so large that every step jumps across the
minimum (0.85: it still converges, zig-zagging) and one too large (1.05: every
step overshoots further, and f grows). The gradient at each step comes from
backward().

It prints where each path ends after 20 steps and draws (gradient_descent.png
in the --out folder) the field with the paths, their steps numbered, and f
along each path on a log scale, where the diverging rate shows.
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
  for (double lr : {0.1, 0.005, 0.85, 1.05}) {
    ag::Tensor x = ag::tensor({-3.0, 4.0}, {2}, ag::DType::float64, device).requires_grad_();
    std::string path;
    for (int step = 0; step <= 20; ++step) {
      const double a = x.value_at(0), b = x.value_at(1);
      path += fmt::format("{} {} {} {}\n", a, b, step, a * a + b * b);
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
             fmt::format("set terminal pngcairo size 1300,620 font ',10'\nset output '{0}/gradient_descent.png'\n"
                         "set multiplot layout 1,2 title 'Gradient descent on f(x0, x1) = x0^2 + x1^2 from (-3, 4), "
                         "20 steps' font ',12'\n"
                         "set size ratio -1\nset xrange [-5:5]\nset yrange [-5:5]\nset grid\n"
                         "set xlabel 'x0'\nset ylabel 'x1'\nset key bottom left font ',9' box opaque\n"
                         "set title 'the paths, over -grad f (grey); lr 0.85 numbered by step'\n"
                         "plot '{0}/field.dat' using 1:2:3:4 with vectors head size 0.08,20 lc rgb '#bbbbbb' notitle, \\\n"
                         "     '{0}/path_0.1.dat' using 1:2 with linespoints lc rgb '#1f77b4' pt 7 ps 0.7 lw 2 title 'lr 0.1', \\\n"
                         "     '{0}/path_0.005.dat' using 1:2 with linespoints lc rgb '#2ca02c' pt 9 ps 0.7 lw 2 title 'lr 0.005 (too small)', \\\n"
                         "     '{0}/path_0.85.dat' using 1:2 with linespoints lc rgb '#ff7f0e' pt 5 ps 0.7 lw 1 title 'lr 0.85 (zig-zag)', \\\n"
                         "     '{0}/path_0.85.dat' every ::0::5 using 1:2:(sprintf('%d', $3)) with labels offset 1.2,0.6 "
                         "font ',9' notitle\n"
                         "set size noratio\nset autoscale\nset logscale y\nset format y '10^{{%L}}'\n"
                         "set xlabel 'step'\nset ylabel 'f(x)'\nset key bottom left font ',9' box opaque\n"
                         "set title 'f along each path (log scale): lr 1.05 diverges'\n"
                         "plot '{0}/path_0.1.dat' using 3:4 with linespoints lc rgb '#1f77b4' pt 7 ps 0.6 lw 2 title 'lr 0.1', \\\n"
                         "     '{0}/path_0.005.dat' using 3:4 with linespoints lc rgb '#2ca02c' pt 9 ps 0.6 lw 2 title 'lr 0.005', \\\n"
                         "     '{0}/path_0.85.dat' using 3:4 with linespoints lc rgb '#ff7f0e' pt 5 ps 0.6 lw 2 title 'lr 0.85', \\\n"
                         "     '{0}/path_1.05.dat' using 3:4 with linespoints lc rgb '#d62728' pt 11 ps 0.6 lw 2 title 'lr 1.05 (too large)'\n"
                         "unset multiplot\n",
                         dir),
             dir + "/gradient_descent.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
