// The spiral demo: a two-layer net learns the three arms of a spiral (kAbout,
// which --help prints, says what it shows and writes).
#include <filesystem>
#include <string>

#include <fmt/core.h>

#include "autograd/tapegrad.hpp"
#include "cli.hpp"
#include "device.hpp"
#include "nn/nn.hpp"
#include "nn/trainer.hpp"
#include "plot.hpp"

using ag::Tensor;
namespace fs = std::filesystem;

namespace {

constexpr const char* kAbout = R"(spiral: a two-layer net (2 -> 10 sigmoid -> 3) learns to tell the three arms of a
spiral apart, trained with softmax cross entropy and plain SGD in mini-batches.
Every line of the model is ordinary C++; each op records a node on the tape,
and backward() walks the tape in reverse.

It prints the loss as it trains and the final accuracy, and writes into the
--out folder: the loss and accuracy curves, the decision boundary, and the
graph of one training step (DOT, SVG and an HTML step-through of its backward
pass). --device trains on GPU 0 (cuda) or on the host emulation of the CUDA
backend (cuda_host); the pictures are drawn on the cpu afterwards.
)";

struct Options {
  int epochs = 1000;
  double lr = 1.0;
  int64_t batch = 30;
  uint64_t seed = 0;
  std::string out;
  bool check = false;
  ag::Device device = ag::Device::cpu();
};

Options parse(int argc, char** argv) {
  Options o;
  std::string device = "cpu";
  demo::Cli cli("spiral", kAbout);
  cli.option("--epochs", o.epochs, "passes over the 300 points")->check(demo::at_least(1));
  cli.option("--lr", o.lr, "SGD learning rate")->check(demo::at_least(0));
  cli.option("--batch", o.batch, "mini-batch size")->check(demo::at_least(1));
  cli.option("--seed", o.seed, "seed of the data, the initial weights and the shuffling");
  cli.out(o.out);
  cli.flag("--check", o.check, "exit with status 1 unless the training accuracy is at least 95%");
  demo::device_option(cli, device, "the training");
  cli.parse(argc, argv);
  o.device = demo::parse_device(device, "spiral");
  return o;
}

// The textbook's two-layer net: Affine -> Sigmoid -> Affine, Xavier-initialised.
std::shared_ptr<nn::Sequential> two_layer_net(ag::Generator& gen) {
  auto fc1 = std::make_shared<nn::Linear>(2, 10, gen);
  auto fc2 = std::make_shared<nn::Linear>(10, 3, gen);
  nn::init::xavier_normal_(fc1->weight, gen);
  nn::init::xavier_normal_(fc2->weight, gen);
  nn::init::zeros_(fc1->bias);
  nn::init::zeros_(fc2->bias);
  // the book's names, so a graph dump says dL/dW1 rather than dL/dweight twice
  fc1->weight.set_name("W1");
  fc1->bias.set_name("b1");
  fc2->weight.set_name("W2");
  fc2->bias.set_name("b2");
  auto net = std::make_shared<nn::Sequential>();
  net->add(fc1).add(nn::Sigmoid()).add(fc2);
  return net;
}

// The predicted class over a grid covering the data, and the points, drawn by gnuplot.
void decision_boundary(nn::Module& net, const nn::Dataset& data, const std::string& dir) {
  const int n = 200;
  std::string grid, points;
  {
    ag::NoGradGuard off;
    std::vector<float> xy;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        xy.push_back(-1.1f + 2.2f * static_cast<float>(j) / (n - 1));
        xy.push_back(-1.1f + 2.2f * static_cast<float>(i) / (n - 1));
      }
    Tensor cls = ag::argmax(net(ag::from_vector(xy, {n * n, 2})), 1);
    for (int k = 0; k < n * n; ++k)
      grid += fmt::format("{} {} {}\n", xy[2 * k], xy[2 * k + 1], cls.data<int64_t>()[k]);
  }
  for (int64_t k = 0; k < data.size(); ++k)
    points += fmt::format("{} {} {}\n", data.x.at<float>({k, 0}), data.x.at<float>({k, 1}), data.t.at<int64_t>({k}));
  ag::write_file(dir + "/boundary_grid.dat", grid);
  ag::write_file(dir + "/boundary_points.dat", points);
  const std::string script = fmt::format(
      "set terminal pngcairo size 640,640\nset output '{0}/decision_boundary.png'\nset size square\n"
      "set palette defined (0 '#fbe3d6', 1 '#d6ecfb', 2 '#dff5d6')\nunset colorbox\nset cbrange [0:2]\n"
      "set title 'spiral: decision boundary of the two-layer net'\nset xrange [-1.1:1.1]\nset yrange [-1.1:1.1]\n"
      "set xlabel 'x1'\nset ylabel 'x2'\n"
      "plot '{0}/boundary_grid.dat' using 1:2:3 with image notitle, \\\n"
      "     '{0}/boundary_points.dat' using 1:($3 == 0 ? $2 : 1/0) with points pt 7 ps 0.8 lc rgb '#d62728' title 'class 0', \\\n"
      "     '' using 1:($3 == 1 ? $2 : 1/0) with points pt 5 ps 0.8 lc rgb '#1f77b4' title 'class 1', \\\n"
      "     '' using 1:($3 == 2 ? $2 : 1/0) with points pt 9 ps 0.9 lc rgb '#2ca02c' title 'class 2'\n",
      dir);
  demo::plot(dir + "/decision_boundary.gp", script, dir + "/decision_boundary.png");
}

// The graph of the first training step (before any learning, so the gradients
// are large enough to see), forward and backward, as the textbook draws it.
void dump_one_step(nn::Module& net, const nn::Dataset& data, const std::string& dir) {
  nn::Dataset batch = nn::subset(data, std::vector<int64_t>{60, 160, 260});  // one point of each arm
  batch.x.set_name("x");
  batch.t.set_name("t");
  ag::Trace trace;
  Tensor loss = ag::softmax_cross_entropy(net(batch.x), batch.t);
  loss.set_name("loss");
  net.zero_grad();
  loss.backward();
  ag::DumpOptions opts;
  opts.title = "spiral: the first training step on 3 points (forward values, then gradients)";
  opts.rankdir = "TB";
  ag::write_file(dir + "/one_step.dot", ag::to_dot(trace, opts));
  ag::write_file(dir + "/one_step.html", ag::backward_html(trace, opts));
  fmt::print("  {}/one_step.dot\n  {}/one_step.html (the backward pass, step by step)\n", dir, dir);
  if (!demo::have_dot()) return;
  try {
    ag::render(dir + "/one_step.dot", dir + "/one_step.svg");
    fmt::print("  {}/one_step.svg\n", dir);
  } catch (const ag::Error& e) {
    fmt::print("  {}\n", e.what());
  }
}

}  // namespace

int main(int argc, char** argv) try {
  const Options opt = parse(argc, argv);
  nn::Dataset data = nn::spiral(100, 3, opt.seed);
  ag::Generator gen(opt.seed);
  auto net = two_layer_net(gen);

  fmt::print("spiral: {} points, 3 classes; 2-10-3 net, sigmoid, softmax cross entropy, SGD lr {} batch {}\n",
             data.size(), opt.lr, opt.batch);
  fs::create_directories(opt.out);
  fmt::print("wrote:\n");
  dump_one_step(*net, data, opt.out);  // before training: the step the learner follows is the first one
  nn::SGD sgd(net->parameters(), opt.lr);
  nn::DataLoader loader(data, {.batch_size = opt.batch, .seed = opt.seed});
  nn::Trainer trainer(*net, sgd, {.epochs = opt.epochs, .print_every = std::max(1, opt.epochs / 20), .device = opt.device,
                                  .title = fmt::format("spiral: 2-10-3 sigmoid net, SGD lr {} batch {}", opt.lr, opt.batch)});
  trainer.fit(loader);
  const double acc = trainer.evaluate(data).second;
  fmt::print("training accuracy on {}: {:.1f}%\n", opt.device, 100.0 * acc);
  net->to(ag::Device::cpu());

  fmt::print("wrote:\n");
  trainer.write_history_csv(opt.out + "/history.csv");
  fmt::print("  {}/history.csv\n", opt.out);
  std::string why;
  if (trainer.plot_history(opt.out + "/loss_curve.png", &why)) fmt::print("  {}/loss_curve.png\n", opt.out);
  else if (demo::have_gnuplot()) fmt::print("  {}\n", why);
  else fmt::print("  {}/loss_curve.png.gp\n", opt.out);
  decision_boundary(*net, data, opt.out);

  if (opt.check && acc < 0.95) {
    fmt::print(stderr, "spiral: accuracy {:.1f}% is below 95%\n", 100.0 * acc);
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
