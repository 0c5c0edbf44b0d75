// Learning-rate schedules and their effect on a short MNIST run (kAbout, which
// --help prints).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli.hpp"
#include "nn/mnist.hpp"
#include "nn/nn.hpp"
#include "nn/trainer.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(lr_schedule: learning-rate schedules (nn/optim.hpp), stepped once per
iteration over the whole run of T iterations:

  constant        the base rate throughout (for comparison)
  step decay      halved after every epoch (nn::StepDecay)
  exponential     base * gamma^t with gamma such that it ends at base / 100
                  (nn::ExponentialDecay)
  cosine          from base down to 0 along half a cosine (nn::CosineAnnealing)
  warm-up+cosine  a linear ramp from 0 over the first epoch, then cosine
                  (nn::Warmup around nn::CosineAnnealing)

Each trains the same 784-100-10 ReLU net (He initialisation, seed 0) with SGD
on a slice of MNIST. It prints the test accuracy after each epoch and draws
the rates over the iterations and the test accuracy per epoch
(lr_schedule.png in the --out folder). In a run this short the schedules
that lower the rate early (exponential, step decay) fall behind; cosine keeps
it high longer, and the warm-up costs its first epoch.
)";

}  // namespace

int main(int argc, char** argv) try {
  std::string data, dir;
  int64_t limit = 5000;
  int epochs = 5;
  double base = 0.5;
  demo::Cli cli("lr_schedule", kAbout);
  cli.data(data, "the folder with the four MNIST files");
  cli.option("--limit", limit, "read only this many training images and this many test images")->check(demo::at_least(100));
  cli.option("--epochs", epochs, "passes over the training images")->check(demo::at_least(2));
  cli.option("--lr", base, "the base learning rate of SGD")->check(demo::between(1e-6, 10));
  cli.out(dir);
  cli.parse(argc, argv);
  std::filesystem::create_directories(dir);
  const nn::Mnist mnist = nn::load_mnist(data, {.limit = limit});
  const int64_t iters = nn::DataLoader(mnist.train, {.batch_size = 100}).size(), total = iters * epochs;
  fmt::print("MNIST: {} training and {} test images; {} epochs of {} iterations (batch 100), SGD base rate {}\n",
             mnist.train.size(), mnist.test.size(), epochs, iters, base);

  using S = std::shared_ptr<nn::Schedule>;
  const std::vector<std::pair<std::string, S>> schedules = {
      {"constant", std::make_shared<nn::Constant>(base)},
      {"step decay", std::make_shared<nn::StepDecay>(base, iters, 0.5)},
      {"exponential", std::make_shared<nn::ExponentialDecay>(base, std::pow(0.01, 1.0 / static_cast<double>(total)))},
      {"cosine", std::make_shared<nn::CosineAnnealing>(base, total)},
      {"warm-up+cosine", std::make_shared<nn::Warmup>(iters, std::make_shared<nn::CosineAnnealing>(base, total - iters))}};

  std::string rates, accs = "# epoch, then the test accuracy of each schedule";
  for (int64_t t = 0; t < total; ++t) {
    rates += fmt::format("{}", t);
    for (const auto& s : schedules) rates += fmt::format(" {:.6g}", s.second->lr(t));
    rates += "\n";
  }
  std::vector<std::vector<double>> acc(schedules.size());
  fmt::print("training one net per schedule, from the same initial weights ...\n");
  for (size_t k = 0; k < schedules.size(); ++k) {
    ag::Generator gen(0);
    nn::MLP model({784, 100, 10}, gen, "relu", nn::Init::he);
    nn::SGD sgd(model.parameters(), base);
    nn::DataLoader loader(mnist.train, {.batch_size = 100, .seed = 1});
    nn::TrainerOptions opts;
    opts.epochs = epochs;
    opts.schedule = schedules[k].second;
    opts.schedule_per_iteration = true;
    opts.progress = false;
    opts.validation_name = "test";
    nn::Trainer trainer(model, sgd, opts);
    acc[k].push_back(NAN);  // epochs count from 1
    for (const nn::EpochStats& e : trainer.fit(loader, &mnist.test)) acc[k].push_back(e.val_accuracy);
  }
  fmt::print("test accuracy after each epoch:\n{:<15}", "epoch");
  for (int e = 1; e <= epochs; ++e) fmt::print(" {:>7}", e);
  fmt::print("\n");
  for (size_t k = 0; k < schedules.size(); ++k) {
    fmt::print("{:<15}", schedules[k].first);
    for (int e = 1; e <= epochs; ++e) fmt::print(" {:>6.2f}%", 100 * acc[k][static_cast<size_t>(e)]);
    fmt::print("\n");
  }
  for (int e = 1; e <= epochs; ++e) {
    accs += fmt::format("\n{}", e);
    for (size_t k = 0; k < schedules.size(); ++k) accs += fmt::format(" {:.6g}", acc[k][static_cast<size_t>(e)]);
  }
  ag::write_file(dir + "/rates.dat", rates);
  ag::write_file(dir + "/accuracy.dat", accs + "\n");

  const std::vector<std::string> colours = {"#7f7f7f", "#1f77b4", "#2ca02c", "#ff7f0e", "#d62728"};
  std::string p1, p2;
  for (size_t k = 0; k < schedules.size(); ++k) {
    p1 += fmt::format("{}'{}/rates.dat' using 1:{} with lines lw 2 lc rgb '{}' title '{}'", k ? ", \\\n  " : "", dir,
                      k + 2, colours[k], schedules[k].first);
    p2 += fmt::format("{}'{}/accuracy.dat' using 1:(100*${}) with linespoints pt 7 ps 0.8 lw 2 lc rgb '{}' title '{}'",
                      k ? ", \\\n  " : "", dir, k + 2, colours[k], schedules[k].first);
  }
  fmt::print("wrote:\n");
  demo::plot(dir + "/lr_schedule.gp",
             fmt::format("set terminal pngcairo size 1400,560 noenhanced font ',10'\nset output '{0}/lr_schedule.png'\n"
                         "set multiplot layout 1,2 title 'Learning-rate schedules: SGD on a 784-100-10 net, {1} MNIST "
                         "training images, {2} epochs of {3} iterations' font ',12'\nset grid\n"
                         "set title 'the learning rate at each iteration'\nset xlabel 'iteration'\nset ylabel 'learning rate'\n"
                         "set xrange [0:{4}]\nset yrange [0:{5}]\nset key top right box opaque width 1\nplot {6}\n"
                         "set title 'test accuracy after each epoch'\nset xlabel 'epoch'\n"
                         "set ylabel 'test accuracy (%)'\nset xrange [1:{2}]\nset xtics 1\nset yrange [*:100]\n"
                         "set key bottom right box opaque width 1\nplot {7}\nunset multiplot\n",
                         dir, mnist.train.size(), epochs, iters, total, base * 1.8, p1, p2),
             dir + "/lr_schedule.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
