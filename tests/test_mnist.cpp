// The real MNIST files: all four load, with the published counts, shapes,
// value ranges, label histograms and SHA-256 sums. The directory comes from
// $TAPEGRAD_MNIST_DIR, else from the Meson option mnist_dir (passed by meson
// test as $TAPEGRAD_MNIST_DIR_CONFIGURED). Without the files the test reports
// itself as skipped (exit code 77), never as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/core.h>

#include "autograd/tapegrad.hpp"
#include "nn/mnist.hpp"

namespace fs = std::filesystem;

namespace {

std::string g_dir;

const char* const kFiles[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                              "t10k-labels-idx1-ubyte"};

// SHA-256 (FIPS 180-4) of a file, as lowercase hex.
std::string sha256_file(const std::string& path) {
  static constexpr uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
      0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
      0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
      0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
      0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
      0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
      0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  auto block = [&](const uint8_t* p) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) w[i] = uint32_t{p[4 * i]} << 24 | uint32_t{p[4 * i + 1]} << 16 | uint32_t{p[4 * i + 2]} << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  };
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const uint64_t bits = uint64_t{data.size()} * 8;
  data += '\x80';
  while (data.size() % 64 != 56) data += '\0';
  for (int s = 56; s >= 0; s -= 8) data += static_cast<char>(bits >> s);
  for (size_t off = 0; off < data.size(); off += 64) block(reinterpret_cast<const uint8_t*>(data.data() + off));
  std::string hex;
  for (uint32_t v : h) hex += fmt::format("{:08x}", v);
  return hex;
}

std::vector<int64_t> histogram(const ag::Tensor& labels) {
  std::vector<int64_t> counts(10, 0);
  for (int64_t v : labels.to_vector<int64_t>()) ++counts.at(static_cast<size_t>(v));
  return counts;
}

}  // namespace

TEST_SUITE("nn") {

TEST_CASE("mnist: the SHA-256 of every file listed in SHA256SUMS matches") {
  const std::string sums = g_dir + "/SHA256SUMS";
  if (!fs::exists(sums)) {
    MESSAGE("no SHA256SUMS in " << g_dir << "; checksums not checked");
    return;
  }
  std::ifstream in(sums);
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string hash, name;
    if (!(fields >> hash >> name)) continue;
    if (!name.empty() && name[0] == '*') name.erase(0, 1);
    const std::string path = g_dir + "/" + name;
    if (!fs::exists(path)) continue;
    INFO(path);
    CHECK(sha256_file(path) == hash);
    ++checked;
  }
  CHECK(checked > 0);
}

TEST_CASE("mnist: all four files load with 60000 + 10000 examples of 28 x 28 digits") {
  nn::Mnist m = nn::load_mnist(g_dir);
  CHECK(m.train.x.shape() == ag::Shape{60000, 784});
  CHECK(m.train.t.shape() == ag::Shape{60000});
  CHECK(m.test.x.shape() == ag::Shape{10000, 784});
  CHECK(m.test.t.shape() == ag::Shape{10000});
  CHECK(m.train.x.dtype() == ag::DType::float32);
  CHECK(m.train.t.dtype() == ag::DType::int64);
  for (const nn::Dataset* d : {&m.train, &m.test}) {
    const float* p = d->x.data<float>();
    const auto [lo, hi] = std::minmax_element(p, p + d->x.numel());
    CHECK(*lo == 0.0f);
    CHECK(*hi == 1.0f);
    double sum = 0;
    for (int64_t k = 0; k < d->x.numel(); ++k) sum += p[k];
    const double mean = sum / static_cast<double>(d->x.numel());
    CHECK(mean > 0.12);  // about 0.13: mostly background, some ink
    CHECK(mean < 0.14);
  }
  // The published label counts (see the data folder's README).
  CHECK(histogram(m.train.t) == std::vector<int64_t>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949});
  CHECK(histogram(m.test.t) == std::vector<int64_t>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009});
  // The first training labels of MNIST are 5 0 4 1 9 2 1 3 1 4.
  CHECK(ag::slice(m.train.t, 0, 0, 10).to_vector<int64_t>() == std::vector<int64_t>{5, 0, 4, 1, 9, 2, 1, 3, 1, 4});
}

TEST_CASE("mnist: image layout, raw values, one-hot labels and a limit on the real files") {
  nn::Mnist m = nn::load_mnist(g_dir, {.normalize = false, .flatten = false, .one_hot = true, .limit = 100});
  CHECK(m.train.x.shape() == ag::Shape{100, 1, 28, 28});
  CHECK(m.test.x.shape() == ag::Shape{100, 1, 28, 28});
  CHECK(m.train.t.shape() == ag::Shape{100, 10});
  CHECK(ag::max(m.train.x).item<float>() == 255.0f);
  // One-hot rows sum to one, and the first is a 5.
  ag::Tensor rows = ag::sum(m.train.t, {1});
  for (int64_t i = 0; i < 100; ++i) CHECK(rows.at<float>({i}) == 1.0f);
  CHECK(m.train.t.at<float>({0, 5}) == 1.0f);
  // The border of a digit is background.
  CHECK(m.train.x.at<float>({0, 0, 0, 0}) == 0.0f);
  CHECK(m.train.x.at<float>({0, 0, 27, 27}) == 0.0f);
}

}  // TEST_SUITE

int main(int argc, char** argv) {
  const char* env = std::getenv("TAPEGRAD_MNIST_DIR");
  const char* configured = std::getenv("TAPEGRAD_MNIST_DIR_CONFIGURED");
  g_dir = env && *env ? env : configured && *configured ? configured : "";
  if (g_dir.empty()) {
    fmt::print("SKIPPED: no MNIST directory: set TAPEGRAD_MNIST_DIR or configure with -Dmnist_dir=DIR\n");
    return 77;
  }
  for (const char* name : kFiles) {
    const fs::path plain = fs::path(g_dir) / name, gz = fs::path(g_dir) / (std::string(name) + ".gz");
    if (!fs::exists(plain) && !fs::exists(gz)) {
      fmt::print("SKIPPED: {} has no {} (or .gz); see README.md, Data, to download MNIST\n", g_dir, name);
      return 77;
    }
  }
  fmt::print("MNIST from {}\n", g_dir);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
