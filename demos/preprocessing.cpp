// Data preprocessing on a 2-D cloud: zero-centring, standardising, PCA and
// whitening (kAbout, which --help prints).
#include <cmath>
#include <filesystem>
#include <numbers>
#include <vector>

#include "cli.hpp"
#include "nn/preprocess.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(preprocessing: the preprocessing steps of the study notes on a seeded, correlated
2-D Gaussian cloud (mean (3, 2), variances 4 and 1, correlation 0.8), each
fitted by nn/preprocess.hpp:

  zero-centred  x - mean                          (nn::Centerer)
  standardised  (x - mean) / std per feature      (nn::Standardizer)
  PCA           rotated onto the principal axes   (nn::PCA): decorrelated
  whitened      PCA, each axis divided by its std (nn::pca_whitening):
                identity covariance

It prints each step's mean and covariance and draws the original and the four
steps, each with the ellipse of two standard deviations of its covariance
(preprocessing.png in the --out folder).
)";

struct Stats {
  double m0, m1, c00, c01, c11;  // mean and covariance (divided by n - 1)
};

// v, with rounding noise around 0 shown as 0 (not -0.000).
double clean(double v) { return std::abs(v) < 5e-6 ? 0.0 : v; }

// The mean and covariance of the rows of a (n, 2) float64 tensor.
Stats stats(const ag::Tensor& x) {
  const std::vector<double> v = x.to_vector<double>();
  const double n = static_cast<double>(v.size() / 2);
  Stats s{0, 0, 0, 0, 0};
  for (size_t i = 0; i < v.size(); i += 2) s.m0 += v[i] / n, s.m1 += v[i + 1] / n;
  for (size_t i = 0; i < v.size(); i += 2) {
    const double a = v[i] - s.m0, b = v[i + 1] - s.m1;
    s.c00 += a * a / (n - 1), s.c01 += a * b / (n - 1), s.c11 += b * b / (n - 1);
  }
  return {clean(s.m0), clean(s.m1), clean(s.c00), clean(s.c01), clean(s.c11)};
}

// The points, and the ellipse of two standard deviations of their covariance, as gnuplot data (two blocks).
std::string data_file(const ag::Tensor& x, const Stats& s) {
  std::string d;
  const std::vector<double> v = x.to_vector<double>();
  for (size_t i = 0; i < v.size(); i += 2) d += fmt::format("{:.6g} {:.6g}\n", v[i], v[i + 1]);
  d += "\n\n";
  // eigen-decomposition of the 2x2 covariance
  const double tr = s.c00 + s.c11, det = s.c00 * s.c11 - s.c01 * s.c01;
  const double l1 = tr / 2 + std::sqrt(tr * tr / 4 - det), l2 = tr / 2 - std::sqrt(tr * tr / 4 - det);
  const double angle = std::abs(s.c01) < 1e-12 ? (s.c00 >= s.c11 ? 0.0 : std::numbers::pi / 2) : std::atan2(l1 - s.c00, s.c01);
  for (int k = 0; k <= 100; ++k) {
    const double t = 2 * std::numbers::pi * k / 100, a = 2 * std::sqrt(l1) * std::cos(t), b = 2 * std::sqrt(std::max(l2, 0.0)) * std::sin(t);
    d += fmt::format("{:.6g} {:.6g}\n", s.m0 + a * std::cos(angle) - b * std::sin(angle),
                     s.m1 + a * std::sin(angle) + b * std::cos(angle));
  }
  return d;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string dir;
  int64_t n = 500;
  uint64_t seed = 0;
  demo::Cli cli("preprocessing", kAbout);
  cli.option("--points", n, "the number of points in the cloud")->check(demo::at_least(3));
  cli.option("--seed", seed, "the random seed of the cloud");
  cli.out(dir);
  cli.parse(argc, argv);
  std::filesystem::create_directories(dir);

  // x = mean + L z with L the Cholesky factor of [[4, 1.6], [1.6, 1]]
  ag::Generator gen(seed);
  const ag::Tensor z = ag::randn({n, 2}, gen, ag::DType::float64);
  const ag::Tensor L = ag::tensor({2.0, 0.0, 0.8, 0.6}, {2, 2}, ag::DType::float64);
  const ag::Tensor x = ag::matmul(z, ag::transpose(L, 0, 1)) + ag::tensor({3.0, 2.0}, {2}, ag::DType::float64);

  struct Step {
    std::string name, xlabel, ylabel;
    ag::Tensor x;
  };
  nn::PCA pca;
  nn::PCA whiten = nn::pca_whitening();
  std::vector<Step> steps = {{"original", "x0", "x1", x},
                             {"zero-centred", "x0 - mean", "x1 - mean", nn::Centerer().fit_transform(x)},
                             {"standardised", "(x0 - mean) / std", "(x1 - mean) / std", nn::Standardizer().fit_transform(x)},
                             {"PCA (rotated)", "component 1", "component 2", pca.fit_transform(x)},
                             {"whitened", "component 1 / std", "component 2 / std", whiten.fit_transform(x)}};
  fmt::print("{} points; PCA's principal axes (rows) {} with variances {:.4f} and {:.4f}\n", n,
             ag::to_string(pca.components_matrix()), pca.explained_variance()[0], pca.explained_variance()[1]);
  fmt::print("{:<14} {:>17}   {}\n", "step", "mean", "covariance");
  std::string script = fmt::format(
      "set terminal pngcairo size 1900,560 noenhanced font ',10'\nset output '{}/preprocessing.png'\n"
      "set multiplot layout 1,5 title 'Preprocessing a correlated 2-D Gaussian cloud ({} points): each step with the "
      "ellipse of 2 standard deviations of its covariance' font ',13'\n"
      "set size ratio -1\nset xrange [-5:9]\nset yrange [-5:9]\nset grid\nset xtics 2\nset ytics 2\n"
      "set key at screen 0.5, screen 0.05 center font ',11'\n",
      dir, n);
  for (size_t i = 0; i < steps.size(); ++i) {
    const Stats s = stats(steps[i].x);
    fmt::print("{:<14} ({:+.3f}, {:+.3f})   [[{:.3f}, {:+.3f}], [{:+.3f}, {:.3f}]]\n", steps[i].name, s.m0, s.m1, s.c00,
               s.c01, s.c01, s.c11);
    const std::string file = fmt::format("{}/step_{}.dat", dir, i);
    ag::write_file(file, data_file(steps[i].x, s));
    script += fmt::format(
        "set title \"{}\\nmean ({:+.2f}, {:+.2f})\\ncovariance [[{:.2f}, {:+.2f}], [{:+.2f}, {:.2f}]]\"\n"
        "set xlabel '{}'\nset ylabel '{}'\n"
        "plot '{}' index 0 using 1:2 with points pt 7 ps 0.35 lc rgb '#4c72b0' {}, \\\n"
        "     '' index 1 using 1:2 with lines lw 2 lc rgb '#d62728' {}\n",
        steps[i].name, s.m0, s.m1, s.c00, s.c01, s.c01, s.c11, steps[i].xlabel, steps[i].ylabel, file,
        i == 0 ? "title 'points'" : "notitle", i == 0 ? "title 'ellipse of 2 standard deviations'" : "notitle");
  }
  script += "unset multiplot\n";
  fmt::print("wrote:\n");
  demo::plot(dir + "/preprocessing.gp", script, dir + "/preprocessing.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
