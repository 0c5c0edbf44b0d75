// Data augmentation of MNIST digits (kAbout, which --help prints).
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli.hpp"
#include "nn/augment.hpp"
#include "nn/mnist.hpp"
#include "plot.hpp"

namespace {

constexpr const char* kAbout = R"(augmentation: data augmentation, as the study notes describe it: new training
images made from the old ones by transformations that keep the label. The
first MNIST test images, each transformed by nn/augment.hpp:

  shifted   nn::RandomShift(3): up to 3 pixels along each axis, zero padding
  flipped   nn::hflip: mirrored left to right (a 2 stops being a 2: flips
            suit photographs better than digits)
  rotated   nn::RandomRotateScale(30): an angle uniform in [-30, 30] degrees
  noisy     nn::GaussianNoise(0.25): Normal(0, 0.25) added to every pixel

Each image draws its own random parameters from one seeded generator. It prints
the labels and draws the grid (augmentation.png in the --out folder), one row
per transformation. The data folder holds the MNIST files (gzipped or not).
)";

}  // namespace

int main(int argc, char** argv) try {
  std::string data, dir;
  int64_t count = 8;
  uint64_t seed = 0;
  demo::Cli cli("augmentation", kAbout);
  cli.data(data, "the folder with the MNIST files");
  cli.option("--images", count, "how many test images to show")->check(demo::between(1, 20));
  cli.option("--seed", seed, "the seed of the random transformations");
  cli.out(dir);
  cli.parse(argc, argv);
  std::filesystem::create_directories(dir);

  // (n, 1, 28, 28) in [0, 1]
  const ag::Tensor x = nn::load_mnist_split(data, "t10k", {.flatten = false, .limit = count}).x;
  const ag::Tensor labels = nn::load_mnist_split(data, "t10k", {.limit = count}).t;
  ag::Generator gen(seed);
  const std::vector<std::pair<std::string, ag::Tensor>> rows = {
      {"original", x},
      {"shifted", nn::RandomShift(3).apply(x, gen)},
      {"flipped", nn::hflip(x)},
      {"rotated", nn::RandomRotateScale(30).apply(x, gen)},
      {"noisy", nn::GaussianNoise(0.25).apply(x, gen)}};
  fmt::print("{} MNIST test images from {}, labels", count, data);
  for (int64_t v : labels.to_vector<int64_t>()) fmt::print(" {}", v);
  fmt::print("\n");

  // one matrix: the rows of images side by side, 2 pixels of grey between them
  constexpr int64_t kSide = 28, kGap = 2, kCell = kSide + kGap;
  const int64_t height = static_cast<int64_t>(rows.size()) * kCell - kGap, width = count * kCell - kGap;
  std::vector<double> grid(static_cast<size_t>(height * width), 0.5);
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<float> px = rows[r].second.to_vector<float>();
    double lo = 1, hi = 0;
    for (float p : px) lo = std::min<double>(lo, p), hi = std::max<double>(hi, p);
    fmt::print("{:<9} pixel range [{:+.2f}, {:+.2f}]\n", rows[r].first, lo, hi);
    for (int64_t i = 0; i < count; ++i)
      for (int64_t y = 0; y < kSide; ++y)
        for (int64_t c = 0; c < kSide; ++c)
          grid[static_cast<size_t>((static_cast<int64_t>(r) * kCell + y) * width + i * kCell + c)] =
              px[static_cast<size_t>((i * kSide + y) * kSide + c)];
  }
  std::string matrix;
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t c = 0; c < width; ++c) matrix += fmt::format("{}{:.3f}", c == 0 ? "" : " ", grid[static_cast<size_t>(y * width + c)]);
    matrix += "\n";
  }
  ag::write_file(dir + "/grid.dat", matrix);
  std::string ytics, xtics;
  for (size_t r = 0; r < rows.size(); ++r)
    ytics += fmt::format("{}'{}' {}", r == 0 ? "" : ", ", rows[r].first, static_cast<int64_t>(r) * kCell + kSide / 2);
  const std::vector<int64_t> label_values = labels.to_vector<int64_t>();
  for (int64_t i = 0; i < count; ++i)
    xtics += fmt::format("{}'{}' {}", i == 0 ? "" : ", ", label_values[static_cast<size_t>(i)], i * kCell + kSide / 2);
  fmt::print("wrote:\n");
  demo::plot(dir + "/augmentation.gp",
             fmt::format("set terminal pngcairo size {},{} noenhanced font ',11'\nset output '{}/augmentation.png'\n"
                         "set title 'Data augmentation of MNIST test digits: one row per transformation (nn/augment.hpp)' "
                         "font ',13'\n"
                         "set size ratio -1\nset palette gray\nset cbrange [0:1]\nset cblabel 'pixel value (noise "
                         "beyond [0, 1] clipped in the picture)'\n"
                         "set xrange [-0.5:{}]\nset yrange [{}:-0.5]\nset xtics ({}) scale 0\nset ytics ({}) scale 0\n"
                         "set xlabel 'test image (its label)'\nset ylabel 'transformation'\n"
                         "plot '{}/grid.dat' matrix with image notitle\n",
                         std::max<int64_t>(560, 110 * count + 260), 80 * static_cast<int64_t>(rows.size()) + 200, dir,
                         width - 0.5, height - 0.5, xtics, ytics, dir),
             dir + "/augmentation.png");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
