// Numerical differentiation: forward and central differences as h shrinks
// (kAbout, which --help prints).
#include <cmath>
#include <filesystem>

#include "cli.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(numerical_diff: the error of the forward difference (f(x+h) - f(x)) / h and the
central difference (f(x+h) - f(x-h)) / 2h against the true derivative of the
book's f(x) = 0.01x^2 + 0.1x at x = 5, as h goes from 1e-1 down to 1e-50.
Large h: truncation error (the difference quotient is not the limit); tiny h:
rounding error (x + h rounds back to x in float64, and at 1e-50 both quotients
are 0). This is why the gradient checker uses central differences with h
around 1e-6.

It prints the errors as a table and draws them (numerical_diff.png) in the
--out folder.
)";

}  // namespace

int main(int argc, char** argv) try {
  std::string dir;
  demo::Cli cli("numerical_diff", kAbout);
  cli.out(dir);
  cli.parse(argc, argv);
  std::filesystem::create_directories(dir);
  auto f = [](double x) { return 0.01 * x * x + 0.1 * x; };  // the book's function 1
  const double x = 5.0, exact = 0.02 * x + 0.1;
  std::string data = "# h forward_error central_error\n";
  fmt::print("f(x) = 0.01 x^2 + 0.1 x at x = 5, f'(5) = {}\n{:>8}  {:>14}  {:>14}\n", exact, "h", "forward error",
             "central error");
  for (int e = 1; e <= 50; ++e) {
    const double h = std::pow(10.0, -e);
    const double fwd = std::abs((f(x + h) - f(x)) / h - exact);
    const double cen = std::abs((f(x + h) - f(x - h)) / (2 * h) - exact);
    data += fmt::format("{:g} {:.17g} {:.17g}\n", h, std::max(fwd, 1e-18), std::max(cen, 1e-18));
    if (e % 2 == 1 || e <= 10) fmt::print("{:>8g}  {:>14.3e}  {:>14.3e}\n", h, fwd, cen);
  }
  ag::write_file(dir + "/errors.dat", data);
  demo::plot(dir + "/numerical_diff.gp",
             fmt::format("set terminal pngcairo size 800,500\nset output '{0}/numerical_diff.png'\n"
                         "set logscale xy\nset format x '10^{{%L}}'\nset format y '10^{{%L}}'\nset xrange [1e-50:1e-1] reverse\n"
                         "set xlabel 'step h'\nset ylabel '|difference quotient - f''(x)|'\nset grid\nset key bottom left\n"
                         "set title 'Numerical derivative of 0.01x^2 + 0.1x at x = 5: truncation vs rounding'\n"
                         "plot '{0}/errors.dat' using 1:2 with linespoints pt 7 ps 0.5 title 'forward (f(x+h)-f(x))/h', \\\n"
                         "     '' using 1:3 with linespoints pt 5 ps 0.5 title 'central (f(x+h)-f(x-h))/2h'\n",
                         dir),
             dir + "/numerical_diff.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
