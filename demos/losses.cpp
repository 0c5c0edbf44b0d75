// Softmax, the mean squared error and the cross entropy, with the study notes'
// numbers (kAbout, which --help prints).
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "cli.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(losses: softmax and the two loss functions of the study notes.

  softmax of the notes' scores [-0.2528, -0.3826, -1.0988]: probabilities
  that sum to 1 (the notes print [0.4334, 0.3806, 0.1860]).

  The notes' worked example: the net's output y = [0.1, 0.05, 0.6, 0.0, 0.05,
  0.1, 0.0, 0.1, 0.0, 0.0], the truth t = one-hot 2: the book's mean squared
  error 0.5 * sum (y - t)^2 = 0.0975 and cross entropy -sum t log(y + 1e-7) =
  0.51; with y's 0.6 on class 7 instead (a wrong answer) 0.5975 and 2.30.
  ag::mse averages over the elements by default (Reduction::mean): both
  conventions are printed.

  Then one logistic unit p = sigmoid(z) with target 1: the losses 0.5 (p - 1)^2
  and -log p against z, and their gradients d loss / d z from backward(). Where
  the unit is confidently wrong (z very negative) the squared error's gradient
  vanishes (p (1 - p) -> 0): it learns slowly; the cross entropy's is p - 1 ->
  -1: it learns fastest where it is most wrong. Drawn, with the notes' two
  outputs as bars, as losses.png in the --out folder.
)";

// Prints a tensor's values with a name.
void print_values(const std::string& name, const ag::Tensor& x) {
  fmt::print("{:<30}[", name);
  const std::vector<double> v = x.to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) fmt::print("{}{:.4f}", i ? ", " : "", v[i]);
  fmt::print("]\n");
}

}  // namespace

int main(int argc, char** argv) try {
  std::string dir;
  demo::Cli cli("losses", kAbout);
  cli.out(dir);
  cli.parse(argc, argv);
  std::filesystem::create_directories(dir);
  using ag::DType;

  const ag::Tensor scores = ag::tensor({-0.2528, -0.3826, -1.0988}, {1, 3}, DType::float64);
  const ag::Tensor probs = ag::softmax(scores);
  fmt::print("softmax\n");
  print_values("  scores a", scores);
  print_values("  softmax(a) = exp(a) / sum", probs);
  fmt::print("  {:<28}{:.4f}\n\n", "sum of softmax(a)", ag::sum(probs).item<double>());

  const ag::Tensor t = ag::tensor({0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, {1, 10}, DType::float64);
  const ag::Tensor label = ag::tensor({2}, {1}, DType::int64);
  std::vector<std::vector<double>> ys;  // the two examples' y, for the picture
  std::vector<double> mses, ces;
  for (const auto& [what, y] : std::vector<std::pair<std::string, ag::Tensor>>{
           {"right: 0.6 on class 2", ag::tensor({0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0}, {1, 10}, DType::float64)},
           {"wrong: 0.6 on class 7", ag::tensor({0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0}, {1, 10}, DType::float64)}}) {
    fmt::print("the notes' example, {} (t = one-hot 2)\n", what);
    print_values("  y", y);
    const double sse = ag::mse(y, t, ag::Reduction::sum).item<double>();
    fmt::print("  {:<50}{:.4f}\n", "the book's MSE 0.5 * sum (y - t)^2", 0.5 * sse);
    fmt::print("  {:<50}{:.4f}\n", "ag::mse(y, t, Reduction::sum) = sum (y - t)^2", sse);
    fmt::print("  {:<50}{:.4f}\n", "ag::mse(y, t) = mean (y - t)^2 over 10 elements", ag::mse(y, t).item<double>());
    const ag::Tensor log_y = ag::log(y + 1e-7);
    fmt::print("  {:<50}{:.4f}\n", "the book's CE -sum t log(y + 1e-7)", -ag::sum(t * log_y).item<double>());
    ys.push_back(y.to_vector<double>());
    mses.push_back(0.5 * sse);
    ces.push_back(-ag::sum(t * log_y).item<double>());
    fmt::print("  {:<50}{:.4f}\n\n", "ag::nll(log(y + 1e-7), label 2)", ag::nll(log_y, label).item<double>());
  }

  // one logistic unit against z, target 1; Reduction::sum makes each grad element d loss_i / d z_i
  std::vector<double> zs;
  for (int i = 0; i <= 160; ++i) zs.push_back(-8.0 + 0.1 * i);
  ag::Tensor z = ag::from_vector(zs, {static_cast<int64_t>(zs.size())}, DType::float64).requires_grad_();
  const ag::Tensor one = ag::ones({static_cast<int64_t>(zs.size())}, DType::float64);
  // each backward() releases the tape, so each loss records its own forward pass
  const ag::Tensor p = ag::sigmoid(z);
  (0.5 * ag::mse(p, one, ag::Reduction::sum)).backward();
  const std::vector<double> mse_grad = z.grad().to_vector<double>();
  z.zero_grad();
  ag::bce(ag::sigmoid(z), one, ag::Reduction::sum).backward();
  const std::vector<double> ce_grad = z.grad().to_vector<double>();
  const std::vector<double> pv = p.to_vector<double>();
  std::string data = "# z p mse ce dmse/dz dce/dz\n";
  fmt::print("one logistic unit p = sigmoid(z), target 1\n  {:>5} {:>8} {:>10} {:>10} {:>12} {:>12}\n", "z", "p",
             "MSE", "CE", "dMSE/dz", "dCE/dz");
  for (size_t i = 0; i < zs.size(); ++i) {
    const double l_mse = 0.5 * (pv[i] - 1) * (pv[i] - 1), l_ce = -std::log(pv[i]);
    data += fmt::format("{:.3f} {:.6g} {:.6g} {:.6g} {:.6g} {:.6g}\n", zs[i], pv[i], l_mse, l_ce, mse_grad[i], ce_grad[i]);
    if (i % 20 == 0)
      fmt::print("  {:>5.1f} {:>8.4f} {:>10.4f} {:>10.4f} {:>12.6f} {:>12.6f}\n", zs[i], pv[i], l_mse, l_ce, mse_grad[i],
                 ce_grad[i]);
  }
  ag::write_file(dir + "/unit.dat", data);
  std::string notes = "# class t y_right y_wrong\n";
  for (size_t k = 0; k < ys[0].size(); ++k) notes += fmt::format("{} {} {} {}\n", k, k == 2 ? 1 : 0, ys[0][k], ys[1][k]);
  ag::write_file(dir + "/notes.dat", notes);
  fmt::print("wrote:\n");
  demo::plot(dir + "/losses.gp",
             fmt::format("set terminal pngcairo size 1900,560 noenhanced font ',10'\nset output '{0}/losses.png'\n"
                         "set multiplot layout 1,3 title 'Squared error against cross entropy: the notes'' example, "
                         "and one logistic unit p = sigmoid(z) with target 1' font ',12'\nset grid\n"
                         "set title \"the notes' example: two outputs y, the truth t = one-hot 2\\n"
                         "right (0.6 on 2): MSE {1:.4f}, CE {2:.4f}; wrong (0.6 on 7): MSE {3:.4f}, CE {4:.4f}\"\n"
                         "set xlabel 'class k'\nset ylabel 'y_k'\nset xrange [-0.6:9.6]\nset yrange [0:1.35]\n"
                         "set xtics 1\nset boxwidth 0.38\nset style fill solid 0.8 border -1\n"
                         "set key top right box opaque\n"
                         "plot '{0}/notes.dat' using ($1 - 0.2):3 with boxes lc rgb '#2ca02c' title 'y, right', \\\n"
                         "     '' using ($1 + 0.2):4 with boxes lc rgb '#d62728' title 'y, wrong', \\\n"
                         "     '' using 1:($2 > 0 ? $2 : 1/0) with points pt 7 ps 1.6 lc rgb 'black' title 't (1 on class 2)'\n"
                         "set xlabel 'z (the unit is wrong for z < 0)'\nset xtics autofreq\n"
                         "set xrange [-8:8]\n"
                         "set title 'the loss'\nset ylabel 'loss'\nset yrange [0:*]\nset key top right box opaque\n"
                         "plot '{0}/unit.dat' using 1:3 with lines lw 2 lc rgb '#1f77b4' title 'MSE 0.5 (p - 1)^2', \\\n"
                         "     '' using 1:4 with lines lw 2 lc rgb '#d62728' title 'CE -log p'\n"
                         "set title 'its gradient d loss / d z, from backward()'\nset ylabel 'd loss / d z'\n"
                         "set yrange [-1.3:0.1]\nset key bottom right box opaque\n"
                         "plot '{0}/unit.dat' using 1:5 with lines lw 2 lc rgb '#1f77b4' title 'MSE: (p - 1) p (1 - p), "
                         "vanishes for z << 0', \\\n"
                         "     '' using 1:6 with lines lw 2 lc rgb '#d62728' title 'CE: p - 1, near -1 for z << 0'\n"
                         "unset multiplot\n",
                         dir, mses[0], ces[0], mses[1], ces[1]),
             dir + "/losses.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
