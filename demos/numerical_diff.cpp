// Numerical differentiation: forward and central differences as h shrinks
// (kAbout, which --help prints).
#include <cmath>
#include <filesystem>
#include <iterator>

#include "cli.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(numerical_diff: the error of the forward difference (f(x+h) - f(x)) / h and the
central difference (f(x+h) - f(x-h)) / 2h against the true derivative, as the
step h goes from 1e-1 down to 1e-16, for two functions:

  the book's f(x) = 0.01x^2 + 0.1x at x = 5: a quadratic, so the central
      difference is exact up to rounding (its truncation error is h^2 f'''/6,
      and f''' = 0), while the forward difference's error is h f''/2 = 0.01h;
  sin(x) at x = 1: both have a truncation error (forward ~ h, central ~ h^2)
      that falls as h shrinks, until rounding error (about 1e-16 / h: x + h
      is rounded, and f(x+h) - f(x) loses digits) takes over and grows.

The best step is where the two errors meet: about 1e-8 for the forward and
1e-5 for the central difference, whose best error is far smaller. This is why
the gradient checker uses central differences with h around 1e-6.

It prints the errors as a table and draws them (numerical_diff.png, one panel
per function) in the --out folder.
)";

struct Function {
  const char* name;
  double x;
  double (*f)(double);
  double (*df)(double);
};

const Function kFunctions[] = {
    {"0.01x^2 + 0.1x at x = 5 (the book)", 5.0, [](double x) { return 0.01 * x * x + 0.1 * x; },
     [](double x) { return 0.02 * x + 0.1; }},
    {"sin(x) at x = 1", 1.0, [](double x) { return std::sin(x); }, [](double x) { return std::cos(x); }},
};

}  // namespace

int main(int argc, char** argv) try {
  std::string dir;
  demo::Cli cli("numerical_diff", kAbout);
  cli.out(dir);
  cli.parse(argc, argv);
  std::filesystem::create_directories(dir);
  std::string panels;
  for (size_t k = 0; k < std::size(kFunctions); ++k) {
    const Function& fn = kFunctions[k];
    const double x = fn.x, exact = fn.df(x);
    std::string data = "# h forward_error central_error\n";
    fmt::print("f(x) = {}, f'(x) = {:.17g}\n{:>8}  {:>14}  {:>14}\n", fn.name, exact, "h", "forward error",
               "central error");
    for (int e = 4; e <= 64; ++e) {  // h = 10^(-e/4): four steps per decade
      const double h = std::pow(10.0, -e / 4.0);
      const double fwd = std::abs((fn.f(x + h) - fn.f(x)) / h - exact);
      const double cen = std::abs((fn.f(x + h) - fn.f(x - h)) / (2 * h) - exact);
      // an error of exactly 0 has no place on a log scale: it is drawn at 1e-18, the bottom of the plot
      data += fmt::format("{:g} {:.17g} {:.17g}\n", h, std::max(fwd, 1e-18), std::max(cen, 1e-18));
      if (e % 8 == 0) fmt::print("{:>8g}  {:>14.3e}  {:>14.3e}\n", h, fwd, cen);
    }
    ag::write_file(fmt::format("{}/errors_{}.dat", dir, k), data);
    panels += fmt::format("set title 'f(x) = {}'\n"
                          "plot '{}/errors_{}.dat' using 1:2 with linespoints pt 7 ps 0.6 lw 2 title "
                          "'forward (f(x+h) - f(x)) / h', \\\n"
                          "     '' using 1:3 with linespoints pt 5 ps 0.6 lw 2 title 'central (f(x+h) - f(x-h)) / 2h'\n",
                          fn.name, dir, k);
  }
  demo::plot(dir + "/numerical_diff.gp",
             fmt::format("set terminal pngcairo size 1200,520 font ',10'\nset output '{0}/numerical_diff.png'\n"
                         "set multiplot layout 1,2 title 'Numerical derivative: truncation error (large h) vs rounding "
                         "error (small h)' font ',12'\n"
                         "set logscale xy\nset format x '10^{{%L}}'\nset format y '10^{{%L}}'\n"
                         "set xrange [1e-1:1e-16]\nset yrange [1e-18:100]\n"
                         "set xlabel 'step h (shrinking to the right)'\nset ylabel '|difference quotient - f''(x)|'\n"
                         "set grid\nset key top center font ',9'\n{1}unset multiplot\n",
                         dir, panels),
             dir + "/numerical_diff.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
