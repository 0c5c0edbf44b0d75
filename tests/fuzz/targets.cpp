#include "targets.hpp"

#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "autograd/parallel.hpp"
#include "autograd/storage.hpp"
#include "nn/nn.hpp"

namespace fuzz {

namespace fs = std::filesystem;

namespace {

// A folder of this process for the inputs: $TAPEGRAD_FUZZ_TMP, else /dev/shm
// (memory, so a file per input costs little), else the system's temp folder.
const fs::path& scratch_dir() {
  static const fs::path dir = [] {
    fs::path base = std::getenv("TAPEGRAD_FUZZ_TMP") ? fs::path(std::getenv("TAPEGRAD_FUZZ_TMP"))
                    : fs::is_directory("/dev/shm")   ? fs::path("/dev/shm")
                                                     : fs::temp_directory_path();
    fs::path d = base / ("tapegrad-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    std::atexit([] { std::error_code ec; fs::remove_all(scratch_dir(), ec); });
    // Inputs are small; a ceiling far below libFuzzer's -rss_limit_mb keeps an
    // absurd declared size an ag::Error instead of an out-of-memory report.
    ag::set_max_alloc_bytes(size_t{256} << 20);
    ag::set_num_threads(1);
    return d;
  }();
  return dir;
}

// Writes the input to `name` in the scratch folder; returns its path.
std::string write_input(const std::string& name, const void* data, size_t size) {
  const std::string path = (scratch_dir() / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) std::abort();  // the scratch folder is full: not a finding about the loader
  return path;
}

// An invariant of a successful load; a violation is a finding, reported as a crash.
void require(bool ok) {
  if (!ok) std::abort();
}

bool g_verbose = false;

template <class F>
void expect_error_or_result(F&& f) {
  try {
    f();
    if (g_verbose) std::fprintf(stderr, "  loaded\n");
  } catch (const ag::Error& e) {
    if (g_verbose) std::fprintf(stderr, "  %s\n", e.what());
  }
}

std::string gzip_bytes(const uint8_t* data, size_t size, int level = 1) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&zs, static_cast<uLong>(size)), '\0');
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void load_idx(const std::string& path) {
  for (int64_t limit : {int64_t{-1}, int64_t{2}}) {
    expect_error_or_result([&] {
      nn::IdxImages im = nn::read_idx_images(path, limit);
      require(im.count >= 0 && im.rows > 0 && im.cols > 0 && (limit < 0 || im.count <= limit));
      require(im.pixels.size() == static_cast<size_t>(im.count * im.rows * im.cols));
    });
    expect_error_or_result([&] {
      std::vector<uint8_t> labels = nn::read_idx_labels(path, limit);
      require(limit < 0 || labels.size() <= static_cast<size_t>(limit));
    });
  }
}

// The model and optimiser a checkpoint is loaded into (built once; a failed
// load may leave them half-loaded, which does not matter here).
struct Model {
  ag::Generator gen{1};
  nn::Linear linear{3, 2, gen};
  nn::Adam adam{linear.parameters()};
};

Model& model() {
  static Model* m = new Model;  // never destroyed: no teardown order to get wrong
  return *m;
}

// The first byte: bit 0 integer labels, bit 1 skip malformed rows, bit 2
// float64, bits 3-4 the delimiter (, ; tab space), bit 5 the features "a", "b"
// by name (else all but the label). The label column is "y".
nn::CsvOptions csv_options(uint8_t b) {
  nn::CsvOptions o;
  o.label = "y";
  o.integer_labels = b & 1;
  o.skip_malformed = b & 2;
  o.dtype = b & 4 ? ag::DType::float64 : ag::DType::float32;
  o.delimiter = ",;\t "[(b >> 3) & 3];
  if (b & 32) o.features = {"a", "b"};
  return o;
}

}  // namespace

void set_verbose(bool on) { g_verbose = on; }

int safetensors(const uint8_t* data, size_t size) {
  const std::string path = write_input("input.safetensors", data, size);
  expect_error_or_result([&] {
    nn::SafeTensors st = nn::load_safetensors(path);
    for (const auto& [name, t] : st.tensors) {
      require(t.device().is_cpu() && t.numel() >= 0);
      require(st.at(name).numel() == t.numel());
    }
  });
  expect_error_or_result([&] { nn::load_checkpoint(path, model().linear, &model().adam); });
  return 0;
}

int idx(const uint8_t* data, size_t size) {
  load_idx(write_input("input.idx", data, size));
  return 0;
}

int idx_gz(const uint8_t* data, size_t size) {
  const std::string gz = gzip_bytes(data, size);
  load_idx(write_input("input.idx.gz", gz.data(), gz.size()));
  return 0;
}

int csv(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const nn::CsvOptions opts = csv_options(data[0]);
  const std::string path = write_input("input.csv", data + 1, size - 1);
  expect_error_or_result([&] {
    nn::CsvData d = nn::load_csv(path, opts);
    const int64_t n = d.data.x.shape()[0];
    require(n > 0 && d.data.x.shape()[1] == static_cast<int64_t>(d.features.size()) && d.data.t.shape()[0] == n);
    require(d.skipped == 0 || opts.skip_malformed);
  });
  return 0;
}

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"safetensors", safetensors}, {"idx", idx}, {"idx_gz", idx_gz}, {"csv", csv}};
  return all;
}

}  // namespace fuzz
