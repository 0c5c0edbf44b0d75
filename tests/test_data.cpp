// The nn data pipeline: data sets, loaders and splits, the IDX (MNIST) and CSV
// readers on files generated in a temporary directory (so they run without the
// real data), preprocessing and image augmentation.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <unistd.h>
#include <zlib.h>

#include "helpers.hpp"
#include "nn/augment.hpp"
#include "nn/csv.hpp"
#include "nn/data.hpp"
#include "nn/datasets.hpp"
#include "nn/mnist.hpp"
#include "nn/preprocess.hpp"

using namespace ag;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp directory, removed with its contents.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() / fmt::format("tapegrad_data_{}_{}", ::getpid(), counter++);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// An IDX image file written byte by byte, independently of nn::write_idx_images.
std::vector<uint8_t> idx_images_bytes(uint32_t count, uint32_t rows, uint32_t cols, uint32_t magic = 2051) {
  std::vector<uint8_t> b;
  put_u32(b, magic);
  put_u32(b, count);
  put_u32(b, rows);
  put_u32(b, cols);
  for (uint32_t k = 0; k < count * rows * cols; ++k) b.push_back(static_cast<uint8_t>(k * 7 % 256));
  return b;
}

std::vector<uint8_t> idx_labels_bytes(const std::vector<uint8_t>& labels, uint32_t magic = 2049) {
  std::vector<uint8_t> b;
  put_u32(b, magic);
  put_u32(b, static_cast<uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

// A small MNIST-like directory: 5 training and 3 test images of 4 x 3 pixels.
void write_small_mnist(const TempDir& dir, bool gzip) {
  const std::string ext = gzip ? ".gz" : "";
  for (auto [prefix, n] : {std::pair{"train", 5u}, std::pair{"t10k", 3u}}) {
    std::vector<uint8_t> im = idx_images_bytes(n, 4, 3);
    nn::IdxImages images{n, 4, 3, std::vector<uint8_t>(im.begin() + 16, im.end())};
    std::vector<uint8_t> labels;
    for (uint32_t k = 0; k < n; ++k) labels.push_back(static_cast<uint8_t>((k * 3) % 10));
    if (gzip) {
      nn::write_idx_images(dir / (std::string(prefix) + "-images-idx3-ubyte" + ext), images, true);
      nn::write_idx_labels(dir / (std::string(prefix) + "-labels-idx1-ubyte" + ext), labels, true);
    } else {
      write_bytes(dir / (std::string(prefix) + "-images-idx3-ubyte"), im);
      write_bytes(dir / (std::string(prefix) + "-labels-idx1-ubyte"), idx_labels_bytes(labels));
    }
  }
}

// Sample mean and (population) covariance of the columns of a 2-D tensor.
std::vector<double> covariance(const Tensor& x, int ddof = 0) {
  const int64_t n = x.size(0), d = x.size(1);
  std::vector<double> mean(static_cast<size_t>(d), 0.0), c(static_cast<size_t>(d * d), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) mean[static_cast<size_t>(j)] += x.value_at(i * d + j) / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = 0; b < d; ++b)
        c[static_cast<size_t>(a * d + b)] += (x.value_at(i * d + a) - mean[static_cast<size_t>(a)]) *
                                             (x.value_at(i * d + b) - mean[static_cast<size_t>(b)]) /
                                             static_cast<double>(n - ddof);
  return c;
}

std::vector<double> values(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t k = 0; k < t.numel(); ++k) v[static_cast<size_t>(k)] = t.value_at(k);
  return v;
}

}  // namespace

TEST_SUITE("nn") {

// ---- Data sets, loaders, splits ------------------------------------------------------------

TEST_CASE("xor: the four points and their labels; the noisy version is seeded and labelled by its corner") {
  nn::Dataset d = nn::xor_points();
  CHECK(d.x.shape() == Shape{4, 2});
  check_values(d.x, {0, 0, 0, 1, 1, 0, 1, 1});
  CHECK(d.t.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1, 0});

  nn::Dataset a = nn::noisy_xor(500, 0.1, 3), b = nn::noisy_xor(500, 0.1, 3), c = nn::noisy_xor(500, 0.1, 4);
  CHECK(a.x.shape() == Shape{500, 2});
  CHECK(a.size() == 500);
  CHECK(values(a.x) == values(b.x));
  CHECK(values(a.x) != values(c.x));
  std::vector<int> per_label(2, 0);
  for (int64_t i = 0; i < 500; ++i) {
    const int64_t cx = std::lround(a.x.value_at(2 * i)), cy = std::lround(a.x.value_at(2 * i + 1));
    CHECK(a.t.at<int64_t>({i}) == (cx ^ cy));
    ++per_label[static_cast<size_t>(a.t.at<int64_t>({i}))];
  }
  CHECK(per_label[0] > 200);
  CHECK(per_label[1] > 200);
  CHECK(error_of([] { nn::noisy_xor(0); }).starts_with("[noisy_xor]"));
}

TEST_CASE("DataLoader: batch counts with and without drop_last") {
  nn::Dataset d = nn::spiral(10, 3);  // 30 examples
  CHECK(nn::DataLoader(d, 8).size() == 4);
  CHECK(nn::DataLoader(d, 8, true, 0, true).size() == 3);
  CHECK(nn::DataLoader(d, 10, true, 0, true).size() == 3);
  CHECK(nn::DataLoader(d, 30).size() == 1);
  CHECK(nn::DataLoader(d, 100).size() == 1);
  CHECK(nn::DataLoader(d, 100, true, 0, true).size() == 0);

  nn::DataLoader loader(d, {.batch_size = 8, .drop_last = false});
  std::vector<int64_t> sizes;
  for (const nn::Batch& b : loader) {
    CHECK(b.x.size(0) == b.t.size(0));
    CHECK(b.x.size(1) == 2);
    CHECK(b.t.dtype() == DType::int64);
    sizes.push_back(b.x.size(0));
  }
  CHECK(sizes == std::vector<int64_t>{8, 8, 8, 6});
  nn::DataLoader dropping(d, {.batch_size = 8, .drop_last = true});
  int batches = 0;
  for (const nn::Batch& b : dropping) {
    CHECK(b.x.size(0) == 8);
    ++batches;
  }
  CHECK(batches == 3);
}

TEST_CASE("DataLoader: an epoch visits every example once, rows stay paired with their labels") {
  // x[i] = (i, -i), t[i] = i: a batch row's label must match its input.
  std::vector<float> xs;
  std::vector<int64_t> ts;
  for (int64_t i = 0; i < 23; ++i) {
    xs.push_back(static_cast<float>(i));
    xs.push_back(static_cast<float>(-i));
    ts.push_back(i);
  }
  nn::Dataset d{from_vector(xs, {23, 2}), from_vector(ts, {23})};
  nn::DataLoader loader(d, {.batch_size = 5, .seed = 11});
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::multiset<int64_t> seen;
    for (const nn::Batch& b : loader)
      for (int64_t r = 0; r < b.x.size(0); ++r) {
        CHECK(b.x.at<float>({r, 0}) == static_cast<float>(b.t.at<int64_t>({r})));
        CHECK(b.x.at<float>({r, 1}) == -static_cast<float>(b.t.at<int64_t>({r})));
        seen.insert(b.t.at<int64_t>({r}));
      }
    CHECK(seen.size() == 23);
    CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 23);
  }
}

TEST_CASE("DataLoader: a seed reproduces the epochs, epochs differ, no shuffle keeps the order") {
  nn::Dataset d = nn::spiral(20, 2);
  auto epochs = [&](uint64_t seed) {
    nn::DataLoader loader(d, {.batch_size = 7, .seed = seed});
    std::vector<std::vector<int64_t>> orders;
    for (int e = 0; e < 3; ++e) {
      loader.begin();
      orders.push_back(loader.order());
    }
    return orders;
  };
  CHECK(epochs(5) == epochs(5));
  CHECK(epochs(5) != epochs(6));
  auto o = epochs(5);
  CHECK(o[0] != o[1]);

  nn::DataLoader plain(d, {.batch_size = 7, .shuffle = false});
  std::vector<int64_t> order;
  for (const nn::Batch& b : plain)
    for (int64_t r = 0; r < b.t.numel(); ++r) order.push_back(b.t.at<int64_t>({r}));
  CHECK(order == d.t.to_vector<int64_t>());
  check_values(plain.batch(1).x, values(slice(d.x, 0, 7, 14)));
}

// At 2 threads the loader prefetches where the pool is its own (the suite 'threads' runs
// this under ThreadSanitizer, whose build has that pool), and not where the pool is the
// OpenMP team (Note [Prefetching batches]); the batches are the same either way.
TEST_CASE("DataLoader: prefetching at 2 threads gives the batches of 1 thread, in order, and its errors") {
  const int before = num_threads();
  nn::Dataset d = nn::spiral(30, 3);
  // Two epochs, the first left early; the transform draws noise from its own generator.
  auto run = [&](int threads, bool prefetch, std::set<std::thread::id>& transform_threads, bool& prefetched) {
    set_num_threads(threads);
    Generator noise(4);
    std::vector<std::vector<float>> seen;
    nn::DataLoader loader(d, {.batch_size = 7, .seed = 3,
                              .transform = [&](const Tensor& x) {
                                transform_threads.insert(std::this_thread::get_id());
                                return x + randn(x.shape(), noise);
                              },
                              .prefetch = prefetch});
    for (int epoch = 0; epoch < 2; ++epoch) {
      int taken = 0;
      for (auto it = loader.begin(); it != loader.end(); ++it) {
        prefetched = it.prefetching();
        seen.push_back(it->x.to_vector<float>());
        for (int64_t v : it->t.to_vector<int64_t>()) seen.back().push_back(static_cast<float>(v));
        if (epoch == 0 && ++taken == 3) break;  // the gathered batch 4 is dropped, its noise never drawn
      }
    }
    return seen;
  };
  std::set<std::thread::id> threads1, threads2, threads_off;
  bool p1 = true, p2 = false, p_off = true;
  const auto one = run(1, true, threads1, p1);
  CHECK(one.size() == 3 + 13);
  CHECK_FALSE(p1);
  CHECK(run(2, true, threads2, p2) == one);
  CHECK(p2 == !ag::detail::pool_is_openmp());
  CHECK(run(2, false, threads_off, p_off) == one);
  CHECK_FALSE(p_off);
  // The transform always runs on the calling thread.
  for (const auto* ids : {&threads1, &threads2, &threads_off})
    CHECK(*ids == std::set<std::thread::id>{std::this_thread::get_id()});

  // An error of the transform reaches the loop at the batch it belongs to.
  set_num_threads(2);
  int calls = 0;
  nn::DataLoader failing(d, {.batch_size = 10, .shuffle = false, .transform = [&](const Tensor& x) {
                               if (++calls == 3) fail("augment", "broken at call 3");
                               return x;
                             }});
  int batches = 0;
  auto loop = [&] {
    for (const nn::Batch& b : failing) {
      (void)b;
      ++batches;
    }
  };
  CHECK(error_of(loop) == "[augment] broken at call 3");
  CHECK(batches == 2);
  set_num_threads(before);
}

TEST_CASE("DataLoader: bad batch sizes and mismatched data sets are errors") {
  nn::Dataset d = nn::spiral(5, 2);
  CHECK(error_of([&] { nn::DataLoader(d, 0); }) == "[DataLoader] needs a positive batch size, got 0");
  nn::Dataset bad{d.x, slice(d.t, 0, 0, 9)};
  CHECK(error_of([&] { nn::DataLoader(bad, 4); }) == "[DataLoader] x has 10 examples but t has 9 (x (10, 2), t (9,))");
  nn::DataLoader loader(d, 4);
  CHECK(error_of([&] { loader.batch(3); }) == "[DataLoader] batch 3 does not exist; an epoch has 3 batches");
}

TEST_CASE("train_val_split: seeded, disjoint, complete, with the asked validation size") {
  std::vector<int64_t> ts(50);
  for (int64_t i = 0; i < 50; ++i) ts[static_cast<size_t>(i)] = i;
  nn::Dataset d{arange(0, 50).reshape({50, 1}), from_vector(ts, {50})};
  auto [train, val] = nn::train_val_split(d, 0.2, 9);
  CHECK(train.size() == 40);
  CHECK(val.size() == 10);
  std::set<int64_t> all;
  for (int64_t v : train.t.to_vector<int64_t>()) all.insert(v);
  for (int64_t v : val.t.to_vector<int64_t>()) all.insert(v);
  CHECK(all.size() == 50);
  for (int64_t i = 0; i < train.size(); ++i) CHECK(train.x.at<float>({i, 0}) == static_cast<float>(train.t.at<int64_t>({i})));
  auto [train2, val2] = nn::train_val_split(d, 0.2, 9);
  CHECK(val2.t.to_vector<int64_t>() == val.t.to_vector<int64_t>());
  auto [train3, val3] = nn::train_val_split(d, 0.2, 10);
  CHECK(val3.t.to_vector<int64_t>() != val.t.to_vector<int64_t>());
  CHECK(error_of([&] { nn::train_val_split(d, 1.0); }) == "[train_val_split] needs a validation fraction in (0, 1), got 1");
  CHECK(error_of([&] { nn::train_val_split(d, 0.001); }).starts_with("[train_val_split] a fraction of 0.001 of 50"));
}

// ---- IDX / MNIST -----------------------------------------------------------------------

TEST_CASE("mnist: plain IDX files load with the right values in every layout") {
  TempDir dir;
  write_small_mnist(dir, false);
  nn::Mnist m = nn::load_mnist(dir.path.string());
  CHECK(m.train.x.shape() == Shape{5, 12});
  CHECK(m.test.x.shape() == Shape{3, 12});
  CHECK(m.train.x.dtype() == DType::float32);
  CHECK(m.train.x.at<float>({1, 2}) == doctest::Approx((14 * 7 % 256) / 255.0));
  CHECK(m.train.t.to_vector<int64_t>() == std::vector<int64_t>{0, 3, 6, 9, 2});
  CHECK(m.test.t.to_vector<int64_t>() == std::vector<int64_t>{0, 3, 6});

  nn::Mnist raw = nn::load_mnist(dir.path.string(), {.normalize = false, .flatten = false, .one_hot = true});
  CHECK(raw.train.x.shape() == Shape{5, 1, 4, 3});
  CHECK(raw.train.x.at<float>({1, 0, 0, 2}) == static_cast<float>(14 * 7 % 256));
  CHECK(raw.train.t.shape() == Shape{5, 10});
  check_values(slice(raw.train.t, 0, 1, 2), {0, 0, 0, 1, 0, 0, 0, 0, 0, 0});

  nn::Mnist few = nn::load_mnist(dir.path.string(), {.limit = 2});
  CHECK(few.train.x.shape() == Shape{2, 12});
  CHECK(few.test.t.to_vector<int64_t>() == std::vector<int64_t>{0, 3});
  CHECK(nn::load_mnist(dir.path.string(), {.limit = 1000}).train.size() == 5);
  CHECK(error_of([&] { nn::load_mnist(dir.path.string(), {.limit = 0}); }).find("limit must be positive or -1") !=
        std::string::npos);
}

TEST_CASE("mnist: gzip files written with zlib load the same as plain ones") {
  TempDir plain, gz;
  write_small_mnist(plain, false);
  write_small_mnist(gz, true);
  CHECK(fs::exists(gz / "train-images-idx3-ubyte.gz"));
  CHECK(!fs::exists(gz / "train-images-idx3-ubyte"));
  const std::vector<uint8_t> head = read_bytes(gz / "train-images-idx3-ubyte.gz");
  REQUIRE(head.size() > 2);
  CHECK((head[0] == 0x1f && head[1] == 0x8b));  // really gzip
  nn::Mnist a = nn::load_mnist(plain.path.string()), b = nn::load_mnist(gz.path.string());
  CHECK(values(a.train.x) == values(b.train.x));
  CHECK(values(a.test.t) == values(b.test.t));
  // The writer's plain output is byte-identical to the hand-built file.
  nn::write_idx_labels(plain / "copy", {0, 3, 6}, false);
  CHECK(read_bytes(plain / "copy") == read_bytes(plain / "t10k-labels-idx1-ubyte"));
}

TEST_CASE("mnist: missing files and directories are named") {
  TempDir dir;
  const std::string p = dir.path.string();
  CHECK(error_of([&] { nn::load_mnist(p + "/nowhere"); }) ==
        fmt::format("[mnist] data directory {}/nowhere does not exist; download the four MNIST files there (see "
                    "README.md, Data)", p));
  CHECK(error_of([&] { nn::load_mnist(p); }) ==
        fmt::format("[mnist] neither {0}/train-images-idx3-ubyte nor {0}/train-images-idx3-ubyte.gz exists", p));
  CHECK(error_of([&] { nn::load_mnist_split(p, "test"); }) ==
        "[mnist] the split prefix is \"train\" or \"t10k\", got \"test\"");
}

// `bytes` gzip-compressed into `path` with zlib (to craft headers the writers refuse).
void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb9");
  REQUIRE(f);
  if (!bytes.empty()) REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

TEST_CASE("mnist: a gzip bomb or an absurd declared size stops at once, naming the file") {
  TempDir dir;
  const std::string images = dir / "bomb.gz", labels = dir / "labels.gz";
  // the header declares 1 x 65536 x 65536 (4 GiB); 1 MiB of zeros follows, which deflates to about 1 KiB
  std::vector<uint8_t> b = idx_images_bytes(0, 65536, 65536);
  b[7] = 1;  // count 1
  b.resize(b.size() + (size_t{1} << 20));
  write_gzip(images, b);
  std::string msg = error_of([&] { nn::read_idx_images(images); });
  CHECK(msg.find(fmt::format("[idx] {}: the header promises 1 images of 65536 x 65536 (4294967296 bytes), but a gzip "
                             "file of", images)) == 0);
  CHECK(msg.find("inflates to at most") != std::string::npos);
  // labels too: 4 billion labels in a tiny file
  std::vector<uint8_t> lb = idx_labels_bytes({1, 2});
  lb[4] = lb[5] = lb[6] = lb[7] = 0xff;
  write_gzip(labels, lb);
  CHECK(error_of([&] { nn::read_idx_labels(labels); }).find("the header promises 4294967295 labels") != std::string::npos);
  // a size the file could hold but above the allocation limit: refused before reading
  const std::vector<uint8_t> ok = idx_images_bytes(4, 64, 64);
  write_gzip(images, ok);
  CHECK(nn::read_idx_images(images).pixels.size() == 4 * 64 * 64);
  ag::set_max_alloc_bytes(4 * 64 * 64);
  msg = error_of([&] { nn::read_idx_images(images); });
  ag::set_max_alloc_bytes(0);
  CHECK(msg.find(fmt::format("[idx] {}: the header promises 4 images of 64 x 64 (16384 bytes, 65536 as float32), "
                             "above the allocation limit of 16384 bytes", images)) == 0);
}

TEST_CASE("mnist: bad magic numbers, sizes and truncated files are clear errors") {
  TempDir dir;
  const std::string images = dir / "im", labels = dir / "lb";
  // Label magic in an image file (swapped files).
  write_bytes(images, idx_labels_bytes({1, 2, 3}));
  CHECK(error_of([&] { nn::read_idx_images(images); }) ==
        fmt::format("[idx] {}: bad magic number for an image file: expected 2051 (0x00000803), got 2049 "
                    "(0x00000801) (the magic of a label file: are the file names swapped?)", images));
  write_bytes(labels, idx_images_bytes(1, 2, 2));
  CHECK(error_of([&] { nn::read_idx_labels(labels); }).find("expected 2049 (0x00000801), got 2051") != std::string::npos);
  // Truncated header.
  write_bytes(images, {0, 0, 8, 3, 0, 0});
  CHECK(error_of([&] { nn::read_idx_images(images); }) ==
        fmt::format("[idx] {}: file truncated in the header: expected 4 bytes, got 2 (6 bytes of data in all)", images));
  // Zero-sized images.
  write_bytes(images, idx_images_bytes(2, 0, 28));
  CHECK(error_of([&] { nn::read_idx_images(images); }).find("implausible image size 0 x 28") != std::string::npos);
  // Truncated pixel data: the header promises 3 images of 4 x 4, the file holds 2.5.
  std::vector<uint8_t> im = idx_images_bytes(3, 4, 4);
  im.resize(im.size() - 8);
  write_bytes(images, im);
  CHECK(error_of([&] { nn::read_idx_images(images); }) ==
        fmt::format("[idx] {}: file truncated: the header promises 3 images of 4 x 4 (48 bytes), but the data ends "
                    "after 40 bytes (2 whole images)", images));
  // ... while the first two images can still be read with a limit.
  CHECK(nn::read_idx_images(images, 2).pixels.size() == 32);
  // Trailing bytes.
  im = idx_images_bytes(1, 2, 2);
  im.push_back(0);
  write_bytes(images, im);
  CHECK(error_of([&] { nn::read_idx_images(images); }) ==
        fmt::format("[idx] {}: 1 unexpected bytes after the images (the header promises 20 bytes)", images));
  // Truncated labels.
  std::vector<uint8_t> lb = idx_labels_bytes({1, 2, 3, 4});
  lb.pop_back();
  write_bytes(labels, lb);
  CHECK(error_of([&] { nn::read_idx_labels(labels); }) ==
        fmt::format("[idx] {}: file truncated: the header promises 4 labels, but the data ends after 3", labels));
}

TEST_CASE("mnist: truncated and corrupted gzip files are clear errors") {
  TempDir dir;
  nn::IdxImages images{50, 28, 28, std::vector<uint8_t>(50 * 28 * 28)};
  ag::Generator gen(1);
  for (auto& p : images.pixels) p = static_cast<uint8_t>(gen.randint(0, 256));
  const std::string path = dir / "im.gz";
  nn::write_idx_images(path, images, true);
  CHECK(nn::read_idx_images(path).pixels == images.pixels);
  const std::vector<uint8_t> good = read_bytes(path);

  std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2));
  write_bytes(path, cut);
  CHECK(error_of([&] { nn::read_idx_images(path); })
            .starts_with(fmt::format("[idx] {}: truncated gzip file: the compressed data ends after ", path)));
  // All the data but a cut trailer (the size field): still truncated.
  write_bytes(path, std::vector<uint8_t>(good.begin(), good.end() - 4));
  CHECK(error_of([&] { nn::read_idx_images(path); }) ==
        fmt::format("[idx] {}: truncated gzip file: the compressed data ends after 39216 decompressed bytes", path));
  std::vector<uint8_t> bad = good;
  for (size_t k = good.size() / 3; k < good.size() / 3 + 64; ++k) bad[k] ^= 0x5a;
  write_bytes(path, bad);
  CHECK(error_of([&] { nn::read_idx_images(path); }).starts_with(fmt::format("[idx] {}: corrupt gzip data after ", path)));
}

TEST_CASE("mnist: image and label counts must agree, labels must be digits") {
  TempDir dir;
  write_small_mnist(dir, false);
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels_bytes({1, 2}));
  CHECK(error_of([&] { nn::load_mnist(dir.path.string()); }) ==
        fmt::format("[mnist] {} holds 3 images but {} holds 2 labels; the two files must belong together",
                    dir / "t10k-images-idx3-ubyte", dir / "t10k-labels-idx1-ubyte"));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels_bytes({1, 12, 3}));
  CHECK(error_of([&] { nn::load_mnist(dir.path.string()); }) ==
        fmt::format("[mnist] {}: label 12 of example 1 is not a digit 0..9", dir / "t10k-labels-idx1-ubyte"));
}

// ---- CSV -------------------------------------------------------------------------------

TEST_CASE("csv: chosen feature columns by name, integer labels, quotes, CRLF and blank lines") {
  TempDir dir;
  const std::string path = dir / "iris.csv";
  write_text(path,
             "sepal_length, \"sepal width\",petal_length,species\r\n"
             "5.1,3.5,1.4,0\r\n"
             "\r\n"
             "4.9, \"3.0\" ,1.4,0\r\n"
             "7.0,3.2,+4.7,1\r\n"
             "6.3,3.3,6e0,2\r\n");
  nn::CsvData all = nn::load_csv(path, {.label = "species"});
  CHECK(all.features == std::vector<std::string>{"sepal_length", "sepal width", "petal_length"});
  CHECK(all.data.x.shape() == Shape{4, 3});
  check_values(all.data.x, {5.1, 3.5, 1.4, 4.9, 3.0, 1.4, 7.0, 3.2, 4.7, 6.3, 3.3, 6.0});
  CHECK(all.data.t.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1, 2});
  CHECK(all.skipped == 0);

  nn::CsvData two = nn::load_csv(path, {.label = "species", .features = {"petal_length", "sepal_length"},
                                        .dtype = DType::float64});
  CHECK(two.data.x.dtype() == DType::float64);
  check_values(two.data.x, {1.4, 5.1, 1.4, 4.9, 4.7, 7.0, 6.0, 6.3});

  nn::CsvData reg = nn::load_csv(path, {.label = "petal_length", .features = {"sepal_length"}, .integer_labels = false});
  CHECK(reg.data.t.dtype() == DType::float32);
  check_values(reg.data.t, {1.4, 1.4, 4.7, 6.0});
}

TEST_CASE("csv: malformed rows name the file, line and column, or are skipped and counted") {
  TempDir dir;
  const std::string path = dir / "bad.csv";
  write_text(path,
             "a,b,label\n"
             "1,2,0\n"
             "3,4\n"
             "5,x6,1\n"
             "7,8,1.5\n"
             "9,10,1\n");
  CHECK(error_of([&] { nn::load_csv(path, {.label = "label"}); }) ==
        fmt::format("[csv] {} line 3: expected 3 columns (as in the header), got 2 (CsvOptions::skip_malformed "
                    "skips such rows)", path));
  nn::CsvData ok = nn::load_csv(path, {.label = "label", .skip_malformed = true});
  CHECK(ok.skipped == 3);
  CHECK(ok.data.t.to_vector<int64_t>() == std::vector<int64_t>{0, 1});
  check_values(ok.data.x, {1, 2, 9, 10});
  // As a float target, 1.5 is fine: only two rows are bad.
  CHECK(nn::load_csv(path, {.label = "label", .integer_labels = false, .skip_malformed = true}).skipped == 2);

  write_text(path, "a,b,label\n1,2,0\n5,x6,1\n");
  CHECK(error_of([&] { nn::load_csv(path, {.label = "label"}); }) ==
        fmt::format("[csv] {} line 3, column 2 (\"b\"): \"x6\" is not a number (CsvOptions::skip_malformed skips "
                    "such rows)", path));
  write_text(path, "a,b,label\n1,2,-1\n");
  CHECK(error_of([&] { nn::load_csv(path, {.label = "label"}); })
            .starts_with(fmt::format("[csv] {} line 2, column 3 (\"label\"): \"-1\" is not a class label", path)));
  CHECK(error_of([&] { nn::load_csv(path, {.label = "y"}); }) ==
        fmt::format("[csv] {}: no column \"y\" in the header (columns: a, b, label)", path));
  CHECK(error_of([&] { nn::load_csv(path, {.label = "label", .features = {"a", "c"}}); }) ==
        fmt::format("[csv] {}: no column \"c\" in the header (columns: a, b, label)", path));
  CHECK(error_of([&] { nn::load_csv(dir / "none.csv", {.label = "label"}); }) ==
        fmt::format("[csv] {}: cannot open the file", dir / "none.csv"));
  write_text(path, "a,b,label\n1,2,x\n");
  CHECK(error_of([&] { nn::load_csv(path, {.label = "label", .skip_malformed = true}); }) ==
        fmt::format("[csv] {}: no data rows (1 skipped as malformed)", path));
}

TEST_CASE("csv: values beyond float32's range are errors, not inf") {
  TempDir dir;
  const std::string path = dir / "range.csv";
  write_text(path, "a,y\n1,2\n1e39,3\n");
  CHECK(error_of([&] { nn::load_csv(path, {.label = "y", .integer_labels = false}); }) ==
        fmt::format("[csv] {} line 3, column 1 (\"a\"): \"1e39\" is outside float32's range (about 3.4e38); load as "
                    "float64 (CsvOptions::dtype) (CsvOptions::skip_malformed skips such rows)", path));
  CHECK(nn::load_csv(path, {.label = "y", .integer_labels = false, .dtype = DType::float64}).data.x.value_at(1) == 1e39);
  write_text(path, "a,y\n1,2\n1,-1e39\n");
  CHECK(error_of([&] { nn::load_csv(path, {.label = "y", .integer_labels = false}); }).find("\"-1e39\" is outside float32's range") !=
        std::string::npos);
  CHECK(nn::load_csv(path, {.label = "y", .integer_labels = false, .skip_malformed = true}).skipped == 1);
}

TEST_CASE("csv and idx: a directory is named as such") {
  TempDir dir;
  const std::string d = dir.path.string();
  CHECK(error_of([&] { nn::load_csv(d, {.label = "y"}); }) == fmt::format("[csv] {}: is a directory, not a CSV file", d));
  CHECK(error_of([&] { nn::read_idx_images(d); }) == fmt::format("[idx] {}: is a directory, not an IDX file", d));
}

TEST_CASE("rotate_scale: a tiny scale samples far outside the image (0), without converting huge values to int64") {
  std::vector<double> zeros16(16, 0.0);
  check_values(nn::rotate_scale(ones({1, 4, 4}), 30, 1e-300), zeros16);
}

TEST_CASE("csv: duplicate column names are ambiguous; a byte order mark is not part of the first name") {
  TempDir dir;
  const std::string path = dir / "dup.csv";
  write_text(path, "a,b,a,label\n1,2,3,0\n");
  CHECK(error_of([&] { nn::load_csv(path, {.label = "label"}); }) ==
        fmt::format("[csv] {}: columns 1 and 3 are both named \"a\"; rename one so the column to read is clear", path));
  write_text(path, "label,b,label\n1,2,0\n");
  CHECK(error_of([&] { nn::load_csv(path, {.label = "label"}); }).find("columns 1 and 3 are both named \"label\"") !=
        std::string::npos);
  write_text(path, "a,b,label\n1,2,0\n");
  CHECK(error_of([&] { nn::load_csv(path, {.label = "label", .features = {"a", "a"}}); }) ==
        fmt::format("[csv] {}: feature \"a\" is listed twice in CsvOptions::features", path));
  write_text(path, "\xEF\xBB\xBFlabel,a\n1,2\n");
  nn::CsvData bom = nn::load_csv(path, {.label = "label"});
  CHECK(bom.features == std::vector<std::string>{"a"});
  CHECK(bom.data.t.to_vector<int64_t>() == std::vector<int64_t>{1});
}

// ---- Preprocessing -------------------------------------------------------------------------

TEST_CASE("standardize: training columns get mean 0 and std 1; the same statistics apply to other splits") {
  Generator gen(2);
  Tensor train = randn({400, 3}, gen, DType::float64) * tensor({1.0, 5.0, 0.1}, {3}, DType::float64) +
                 tensor({10.0, -3.0, 0.5}, {3}, DType::float64);
  nn::Standardizer s;
  Tensor z = s.fit(train).transform(train);
  CHECK(z.shape() == train.shape());
  Tensor mu = mean(z, {0});
  Tensor sd = sqrt(mean(z * z, {0}) - mu * mu);
  for (int64_t j = 0; j < 3; ++j) {
    CHECK(mu.at<double>({j}) == doctest::Approx(0.0).scale(1.0).epsilon(1e-12));
    CHECK(sd.at<double>({j}) == doctest::Approx(1.0).epsilon(1e-12));
  }
  check_values(s.inverse_transform(z), values(train), 1e-12);
  // A test point at the training mean maps to zero.
  Tensor at_mean = from_vector(s.mean(), {1, 3}, DType::float64);
  check_values(s.transform(at_mean), {0, 0, 0}, 1e-12);
  // float32 in, float32 out; constant features are only centred.
  nn::Standardizer c;
  Tensor flat = tensor({1, 2, 1, 4, 1, 6}, {3, 2});
  Tensor zc = c.fit_transform(flat);
  CHECK(zc.dtype() == DType::float32);
  check_values(slice(zc, 1, 0, 1), {0, 0, 0});
}

TEST_CASE("center and min-max: zero column means, columns mapped onto [lo, hi], inverses") {
  Tensor x = tensor({1, 10, 3, 20, 5, 60}, {3, 2}, DType::float64);
  nn::Centerer c;
  check_values(c.fit_transform(x), {-2, -20, 0, -10, 2, 30});
  check_values(c.inverse_transform(c.transform(x)), values(x));
  nn::MinMaxScaler m(-1, 1);
  check_values(m.fit_transform(x), {-1, -1, 0, -0.6, 1, 1});
  check_values(m.inverse_transform(m.transform(x)), values(x), 1e-12);
  check_values(m.transform(tensor({7, 110}, {1, 2}, DType::float64)), {2, 3});
  // Images (n, 1, H, W) are scaled per pixel and keep their shape.
  Tensor im = arange(0, 16, 1, DType::float64).reshape({4, 1, 2, 2});
  Tensor sm = nn::MinMaxScaler().fit_transform(im);
  CHECK(sm.shape() == im.shape());
  check_values(slice(sm, 0, 0, 1), {0, 0, 0, 0});
  check_values(slice(sm, 0, 3, 4), {1, 1, 1, 1});
  CHECK(error_of([] { nn::MinMaxScaler(1, 1); }) == "[min_max_scale] needs a target range lo < hi, got [1, 1]");
}

TEST_CASE("pca: whitened training data has identity covariance; the components are the principal axes") {
  Generator gen(4);
  // Correlated 3-D data: x = z A with a fixed mixing matrix.
  Tensor z = randn({2000, 3}, gen, DType::float64);
  Tensor a = tensor({2, 0.5, 0, 0.3, 1, 0.2, 0, 0.1, 0.3}, {3, 3}, DType::float64);
  Tensor x = matmul(z, a) + 4.0;
  nn::PCA white(0, true, 0.0);
  Tensor w = white.fit_transform(x);
  CHECK(w.shape() == Shape{2000, 3});
  std::vector<double> cov = covariance(w, 1);
  check_values(from_vector(cov, {3, 3}, DType::float64), {1, 0, 0, 0, 1, 0, 0, 0, 1}, 1e-9);
  // The explained variances are the data covariance's eigenvalues, largest first.
  const auto& var = white.explained_variance();
  CHECK(var[0] >= var[1]);
  CHECK(var[1] >= var[2]);
  // Full PCA (no whitening) inverts exactly; a truncated one keeps most of the variance.
  nn::PCA full;
  check_values(full.inverse_transform(full.fit_transform(x)), values(x), 1e-9);
  nn::PCA two(2);
  Tensor p = two.fit_transform(x);
  CHECK(p.shape() == Shape{2000, 2});
  CHECK(two.components_matrix().shape() == Shape{2, 3});
  std::vector<double> pc = covariance(p, 1);
  CHECK(pc[1] == doctest::Approx(0.0).scale(1.0).epsilon(1e-9));  // uncorrelated components
  CHECK(pc[0] == doctest::Approx(var[0]).epsilon(1e-9));
  nn::PCA white2 = nn::pca_whitening(2, 1e-5);
  Tensor w2 = white2.fit_transform(x);
  check_values(white2.inverse_transform(w2), values(two.inverse_transform(p)), 1e-9);
}

TEST_CASE("pca: a line in 2-D has its direction as the first component") {
  // Points along (3, 4) / 5 with a little noise across it.
  Generator gen(5);
  std::vector<double> v;
  for (int i = 0; i < 200; ++i) {
    const double s = gen.normal(0, 3), e = gen.normal(0, 0.01);
    v.push_back(0.6 * s - 0.8 * e + 1.0);
    v.push_back(0.8 * s + 0.6 * e - 2.0);
  }
  nn::PCA pca(1);
  pca.fit(from_vector(v, {200, 2}, DType::float64));
  check_values(pca.components_matrix(), {0.6, 0.8}, 1e-4);
}

TEST_CASE("preprocessing: transform before fit and a feature-count mismatch are errors") {
  Tensor x = tensor({1, 2, 3, 4}, {2, 2});
  CHECK(error_of([&] { nn::Standardizer().transform(x); }) ==
        "[standardize] transform called before fit: call fit(x_train) first");
  CHECK(error_of([&] { nn::Centerer().transform(x); }) == "[center] transform called before fit: call fit(x_train) first");
  CHECK(error_of([&] { nn::MinMaxScaler().transform(x); }) ==
        "[min_max_scale] transform called before fit: call fit(x_train) first");
  CHECK(error_of([&] { nn::PCA().transform(x); }) == "[pca] transform called before fit: call fit(x_train) first");
  CHECK(error_of([&] { nn::PCA().inverse_transform(x); }) ==
        "[pca] inverse_transform called before fit: call fit(x_train) first");
  nn::Standardizer s;
  s.fit(x);
  CHECK(error_of([&] { s.transform(tensor({1, 2, 3}, {1, 3})); }) == "[standardize] fitted on 2 features, got 3 per example");
  CHECK(error_of([&] { s.fit(tensor({1, 2}, {2}, DType::int64)); }) == "[standardize] needs float32 or float64 data, got int64");
  CHECK(error_of([&] { nn::PCA(3).fit(x); }) == "[pca] asked for 3 components of data with 2 features");
  CHECK(error_of([&] { nn::PCA().fit(tensor({1, 2}, {1, 2})); }) == "[pca] fit needs at least 2 examples, got 1");
}

// ---- Augmentation --------------------------------------------------------------------------

TEST_CASE("augment: flipping twice and a zero shift are the identity") {
  Generator gen(6);
  Tensor x = rand({3, 5, 4}, gen);
  CHECK(values(nn::hflip(nn::hflip(x))) == values(x));
  CHECK(values(nn::shift(x, 0, 0)) == values(x));
  CHECK(values(nn::RandomShift(0).apply(x, gen)) == values(x));
  check_values(nn::rotate_scale(x, 0, 1), values(x), 1e-6);
  Tensor x4 = rand({2, 1, 5, 4}, gen, DType::float64);
  Tensor f = nn::hflip(x4);
  CHECK(f.shape() == x4.shape());
  CHECK(f.at<double>({1, 0, 2, 0}) == x4.at<double>({1, 0, 2, 3}));
  CHECK(values(nn::RandomFlip(1.0).apply(nn::RandomFlip(1.0).apply(x4, gen), gen)) == values(x4));
  CHECK(values(nn::RandomFlip(0.0).apply(x4, gen)) == values(x4));
}

TEST_CASE("augment: shift moves pixels and pads with zeros; rotation by 90 degrees turns the grid") {
  Tensor x = arange(1, 10).reshape({1, 3, 3});
  check_values(nn::shift(x, 1, -1), {0, 0, 0, 2, 3, 0, 5, 6, 0});
  check_values(nn::shift(x, 5, 0), {0, 0, 0, 0, 0, 0, 0, 0, 0});
  // Counter-clockwise as displayed: the right column becomes the top row.
  check_values(nn::rotate_scale(x, 90), {3, 6, 9, 2, 5, 8, 1, 4, 7}, 1e-5);
  // Scaling by 2 about the centre pixel: the centre stays, the neighbours sample half-way.
  Tensor s = nn::rotate_scale(x, 0, 2);
  CHECK(s.at<float>({0, 1, 1}) == doctest::Approx(5));
  CHECK(s.at<float>({0, 1, 2}) == doctest::Approx(5.5));
  CHECK(s.at<float>({0, 0, 1}) == doctest::Approx(3.5));
}

TEST_CASE("augment: a seed reproduces a composed pipeline; images get their own parameters") {
  Generator gen(7);
  Tensor x = rand({8, 1, 12, 12}, gen);
  auto make = [](uint64_t seed) {
    return nn::Compose({std::make_shared<nn::RandomShift>(2), std::make_shared<nn::RandomFlip>(),
                        std::make_shared<nn::RandomRotateScale>(15, 0.9, 1.1), std::make_shared<nn::GaussianNoise>(0.05)},
                       seed);
  };
  nn::Compose a = make(3), b = make(3), c = make(4);
  Tensor ya = a(x);
  CHECK(ya.shape() == x.shape());
  CHECK(values(ya) == values(b(x)));
  CHECK(values(ya) != values(c(x)));
  CHECK(values(ya) != values(a(x)));  // the next batch draws new parameters
  a.manual_seed(3);
  CHECK(values(a(x)) == values(ya));
  // Each image draws its own shift: identical images come out different.
  Tensor same = concat({slice(x, 0, 0, 1), slice(x, 0, 0, 1), slice(x, 0, 0, 1), slice(x, 0, 0, 1)}, 0);
  Tensor shifted = nn::RandomShift(3).apply(same, gen);
  CHECK(values(slice(shifted, 0, 0, 1)) != values(slice(shifted, 0, 1, 2)));
  // The input is untouched.
  Generator again(7);
  CHECK(values(x) == values(rand({8, 1, 12, 12}, again)));
}

TEST_CASE("augment: Gaussian noise has the asked standard deviation; bad inputs are errors") {
  Generator gen(8);
  Tensor x = zeros({50, 40, 40}, DType::float64);
  Tensor y = nn::GaussianNoise(0.3).apply(x, gen);
  const double m = mean(y).item<double>();
  const double sd = std::sqrt(mean(y * y).item<double>() - m * m);
  CHECK(std::abs(m) < 0.01);
  CHECK(sd == doctest::Approx(0.3).epsilon(0.01));
  CHECK(error_of([&] { nn::hflip(zeros({4, 4})); }) == "[hflip] needs a batch of images (n, H, W) or (n, C, H, W), got shape (4, 4)");
  CHECK(error_of([&] { nn::GaussianNoise(-1); }) == "[GaussianNoise] needs a stddev >= 0, got -1");
  CHECK(error_of([&] { nn::shift(zeros({1, 2, 2}, DType::int64), 1, 1); }) == "[shift] needs float images, got int64");
}

}  // TEST_SUITE
