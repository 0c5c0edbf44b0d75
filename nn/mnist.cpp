#include "nn/mnist.hpp"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include "autograd/ops.hpp"

namespace nn {

namespace {

constexpr uint32_t kImageMagic = 2051;  // 0x00000803: unsigned bytes, 3 dimensions
constexpr uint32_t kLabelMagic = 2049;  // 0x00000801: unsigned bytes, 1 dimension
constexpr int64_t kMaxDim = 1 << 16;

// A file read as a stream of bytes: gzip files (magic 1f 8b) are inflated with
// zlib, others are read as they are. Inflating by hand rather than through
// gzread lets a gzip stream that stops before its trailer count as truncated.
class GzReader {
 public:
  GzReader(const std::string& path, std::string_view op) : path_(path), op_(op) {
    if (std::filesystem::is_directory(path)) ag::fail(op_, "{}: is a directory, not an IDX file", path_);
    if (!std::filesystem::is_regular_file(path)) ag::fail(op_, "{}: no such file", path_);
    in_.open(path, std::ios::binary);
    if (!in_) ag::fail(op_, "{}: cannot open the file", path_);
    const int b0 = in_.get(), b1 = in_.get();
    gzip_ = b0 == 0x1f && b1 == 0x8b;
    in_.clear();
    in_.seekg(0, std::ios::end);
    file_bytes_ = static_cast<uint64_t>(std::max<std::streamoff>(0, in_.tellg()));
    in_.seekg(0);
    if (gzip_) {
      buf_.resize(1 << 16);
      if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) ag::fail(op_, "{}: cannot start zlib", path_);
    }
  }
  ~GzReader() {
    if (gzip_) inflateEnd(&zs_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // The most bytes the file can hold once decompressed: its size for a plain
  // file; for gzip, deflate's largest ratio (1032:1) times the compressed size.
  uint64_t max_data_bytes() const { return gzip_ ? file_bytes_ * 1032 + 1024 : file_bytes_; }
  bool gzip() const { return gzip_; }
  uint64_t file_bytes() const { return file_bytes_; }

  // Reads up to n bytes into p; returns how many were read (fewer only at the end of the data).
  size_t read(uint8_t* p, size_t n) {
    if (!gzip_) {
      in_.read(reinterpret_cast<char*>(p), static_cast<std::streamsize>(n));
      const auto got = static_cast<size_t>(in_.gcount());
      offset_ += got;
      return got;
    }
    size_t got = 0;
    while (got < n) {
      if (zs_.avail_in == 0) {
        in_.read(reinterpret_cast<char*>(buf_.data()), static_cast<std::streamsize>(buf_.size()));
        zs_.next_in = buf_.data();
        zs_.avail_in = static_cast<uInt>(in_.gcount());
        if (zs_.avail_in == 0) {
          if (member_done_) break;
          ag::fail(op_, "{}: truncated gzip file: the compressed data ends after {} decompressed bytes", path_,
                   offset_ + got);
        }
      }
      if (member_done_) {  // another gzip member follows
        inflateReset(&zs_);
        member_done_ = false;
      }
      const size_t want = std::min<size_t>(n - got, 1u << 30);
      zs_.next_out = p + got;
      zs_.avail_out = static_cast<uInt>(want);
      const int r = inflate(&zs_, Z_NO_FLUSH);
      got += want - zs_.avail_out;
      if (r == Z_STREAM_END) member_done_ = true;
      else if (r != Z_OK && r != Z_BUF_ERROR)
        ag::fail(op_, "{}: corrupt gzip data after {} decompressed bytes ({})", path_, offset_ + got,
                 zs_.msg ? zs_.msg : "zlib error");
    }
    offset_ += got;
    return got;
  }

  // Reads exactly n bytes of `what`, or says how many were missing.
  void read_exact(uint8_t* p, size_t n, std::string_view what) {
    const size_t got = read(p, n);
    if (got != n)
      ag::fail(op_, "{}: file truncated in the {}: expected {} bytes, got {} ({} bytes of data in all)", path_, what, n,
               got, offset_);
  }

  uint32_t read_u32(std::string_view what) {
    uint8_t b[4];
    read_exact(b, 4, what);
    return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | uint32_t{b[3]};
  }

  // Throws if anything follows the data.
  void expect_end(std::string_view what) {
    uint8_t b[4096];
    size_t extra = 0;
    for (size_t r; (r = read(b, sizeof b)) > 0;) extra += r;
    if (extra)
      ag::fail(op_, "{}: {} unexpected bytes after the {} (the header promises {} bytes)", path_, extra, what,
               offset_ - extra);
  }

 private:
  std::ifstream in_;
  bool gzip_ = false;
  z_stream zs_{};
  bool member_done_ = false;
  std::vector<uint8_t> buf_;
  std::string path_;
  std::string_view op_;
  size_t offset_ = 0;
  uint64_t file_bytes_ = 0;
};

// Checks the `bytes` a header declares (after `header` bytes) before reading
// them: a gzip file too small to inflate to them, or a size above the
// allocation limit (Note [Checked sizes]), is an error naming the file, not a
// long inflate that ends in bad_alloc.
void check_declared(const GzReader& in, const std::string& path, uint64_t bytes, uint64_t header,
                    std::string_view what) {
  if (in.gzip() && bytes + header > in.max_data_bytes())
    ag::fail("idx", "{}: the header promises {} ({} bytes), but a gzip file of {} bytes inflates to at most {}; the "
             "file is truncated or corrupted", path, what, bytes, in.file_bytes(), in.max_data_bytes());
  // the loader keeps the bytes and their float32 copy
  if (bytes > ag::max_alloc_bytes() / 5)
    ag::fail("idx", "{}: the header promises {} ({} bytes, {} as float32), above the allocation limit of {} bytes "
             "(see ag::set_max_alloc_bytes); the file is corrupted or too large to load at once",
             path, what, bytes, bytes * 4, ag::max_alloc_bytes());
}

// Reads `want` bytes of data into `out`; `truncated(have)` throws if the data ends early.
template <class Fail>
void read_data(GzReader& in, const std::string& path, std::vector<uint8_t>& out, size_t want, Fail&& truncated) {
  // reserved once (no doubling and copying); a plain file's size bounds it
  const auto reserve = static_cast<size_t>(std::min<uint64_t>(want, in.max_data_bytes()));
  try {
    out.reserve(reserve);
  } catch (const std::bad_alloc&) {
    ag::fail("idx", "{}: out of memory reserving {} bytes for the data", path, reserve);
  }
  size_t have = 0;
  while (have < want) {
    const size_t chunk = std::min(want - have, size_t{1} << 24);
    out.resize(have + chunk);
    const size_t got = in.read(out.data() + have, chunk);
    have += got;
    if (got < chunk) truncated(have);
  }
}

void check_magic(const std::string& path, uint32_t magic, uint32_t want) {
  if (magic == want) return;
  const char* kind = want == kImageMagic ? "an image file" : "a label file";
  std::string hint;
  if (magic == kImageMagic) hint = " (the magic of an image file: are the file names swapped?)";
  if (magic == kLabelMagic) hint = " (the magic of a label file: are the file names swapped?)";
  if (magic == 0x1f8b0800u || (magic >> 16) == 0x1f8b) hint = " (gzip data inside the gzip data?)";
  ag::fail("idx", "{}: bad magic number for {}: expected {} (0x{:08x}), got {} (0x{:08x}){}", path, kind, want, want,
           magic, magic, hint);
}

int64_t checked_count(const std::string& path, uint32_t count, int64_t limit) {
  if (limit < -1 || limit == 0) ag::fail("idx", "{}: limit must be positive or -1 (all), got {}", path, limit);
  return limit < 0 ? int64_t{count} : std::min<int64_t>(limit, count);
}

class GzWriter {
 public:
  GzWriter(const std::string& path, bool gzip) : path_(path) {
    f_ = gzopen(path.c_str(), gzip ? "wb9" : "wbT");  // T: plain, no compression
    if (!f_) ag::fail("idx", "{}: cannot create the file", path_);
  }
  ~GzWriter() {
    if (f_) gzclose(f_);
  }
  GzWriter(const GzWriter&) = delete;
  GzWriter& operator=(const GzWriter&) = delete;

  void write(const uint8_t* p, size_t n) {
    while (n > 0) {
      const auto chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
      if (gzwrite(f_, p, chunk) != static_cast<int>(chunk)) ag::fail("idx", "{}: write failed", path_);
      p += chunk;
      n -= chunk;
    }
  }
  void write_u32(uint32_t v) {
    const uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
    write(b, 4);
  }
  void close() {
    const int r = gzclose(f_);
    f_ = nullptr;
    if (r != Z_OK) ag::fail("idx", "{}: closing the file failed (zlib error {})", path_, r);
  }

 private:
  gzFile f_ = nullptr;
  std::string path_;
};

uint32_t to_u32(int64_t v, const std::string& path, std::string_view what) {
  if (v < 0 || v > int64_t{UINT32_MAX}) ag::fail("idx", "{}: {} {} does not fit an IDX header", path, what, v);
  return static_cast<uint32_t>(v);
}

}  // namespace

IdxImages read_idx_images(const std::string& path, int64_t limit) {
  GzReader in(path, "idx");
  check_magic(path, in.read_u32("header"), kImageMagic);
  const uint32_t count = in.read_u32("header");
  IdxImages im;
  im.rows = in.read_u32("header");
  im.cols = in.read_u32("header");
  if (im.rows <= 0 || im.cols <= 0 || im.rows > kMaxDim || im.cols > kMaxDim)
    ag::fail("idx", "{}: implausible image size {} x {} in the header (expected 1..{} each, 28 x 28 for MNIST)", path,
             im.rows, im.cols, kMaxDim);
  im.count = checked_count(path, count, limit);
  const size_t image_bytes = static_cast<size_t>(im.rows * im.cols);  // at most 2^32
  const size_t want = static_cast<size_t>(im.count) * image_bytes;     // below 2^64
  check_declared(in, path, want, 16, fmt::format("{} images of {} x {}", im.count, im.rows, im.cols));
  read_data(in, path, im.pixels, want, [&](size_t have) {
    ag::fail("idx", "{}: file truncated: the header promises {} images of {} x {} ({} bytes), but the data ends "
             "after {} bytes ({} whole images)", path, count, im.rows, im.cols,
             static_cast<size_t>(count) * image_bytes, have, have / image_bytes);
  });
  if (limit < 0) in.expect_end("images");
  return im;
}

std::vector<uint8_t> read_idx_labels(const std::string& path, int64_t limit) {
  GzReader in(path, "idx");
  check_magic(path, in.read_u32("header"), kLabelMagic);
  const uint32_t count = in.read_u32("header");
  const int64_t n = checked_count(path, count, limit);
  std::vector<uint8_t> labels;
  check_declared(in, path, static_cast<uint64_t>(n), 8, fmt::format("{} labels", n));
  read_data(in, path, labels, static_cast<size_t>(n), [&](size_t have) {
    ag::fail("idx", "{}: file truncated: the header promises {} labels, but the data ends after {}", path, count,
             have);
  });
  if (limit < 0) in.expect_end("labels");
  return labels;
}

void write_idx_images(const std::string& path, const IdxImages& images, bool gzip) {
  const size_t want = static_cast<size_t>(images.count * images.rows * images.cols);
  if (images.count < 0 || images.rows <= 0 || images.cols <= 0 || images.pixels.size() != want)
    ag::fail("idx", "{}: {} images of {} x {} need {} pixels, got {}", path, images.count, images.rows, images.cols,
             want, images.pixels.size());
  GzWriter out(path, gzip);
  out.write_u32(kImageMagic);
  out.write_u32(to_u32(images.count, path, "count"));
  out.write_u32(to_u32(images.rows, path, "rows"));
  out.write_u32(to_u32(images.cols, path, "cols"));
  out.write(images.pixels.data(), images.pixels.size());
  out.close();
}

void write_idx_labels(const std::string& path, const std::vector<uint8_t>& labels, bool gzip) {
  GzWriter out(path, gzip);
  out.write_u32(kLabelMagic);
  out.write_u32(to_u32(static_cast<int64_t>(labels.size()), path, "count"));
  out.write(labels.data(), labels.size());
  out.close();
}

std::string find_data_file(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir))
    ag::fail("mnist", "data directory {} does not exist; download the four MNIST files there (see README.md, Data)",
             dir);
  const fs::path plain = fs::path(dir) / name, gz = fs::path(dir) / (name + ".gz");
  if (fs::is_regular_file(plain)) return plain.string();
  if (fs::is_regular_file(gz)) return gz.string();
  ag::fail("mnist", "neither {} nor {} exists", plain.string(), gz.string());
}

Dataset load_mnist_split(const std::string& dir, const std::string& prefix, const MnistOptions& opts) {
  if (prefix != "train" && prefix != "t10k")
    ag::fail("mnist", "the split prefix is \"train\" or \"t10k\", got \"{}\"", prefix);
  const std::string image_path = find_data_file(dir, prefix + "-images-idx3-ubyte");
  const std::string label_path = find_data_file(dir, prefix + "-labels-idx1-ubyte");
  IdxImages im = read_idx_images(image_path, opts.limit);
  std::vector<uint8_t> labels = read_idx_labels(label_path, opts.limit);
  if (static_cast<int64_t>(labels.size()) != im.count)
    ag::fail("mnist", "{} holds {} images but {} holds {} labels; the two files must belong together", image_path,
             im.count, label_path, labels.size());
  constexpr int64_t classes = 10;
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= classes)
      ag::fail("mnist", "{}: label {} of example {} is not a digit 0..9", label_path, int{labels[i]}, i);

  const int64_t n = im.count;
  ag::Shape shape = opts.flatten ? ag::Shape{n, im.rows * im.cols} : ag::Shape{n, 1, im.rows, im.cols};
  ag::Tensor x = ag::empty(shape);
  float* px = x.data<float>();
  const float scale = opts.normalize ? 1.0f / 255.0f : 1.0f;
  for (size_t i = 0; i < im.pixels.size(); ++i) px[i] = static_cast<float>(im.pixels[i]) * scale;

  ag::Tensor t = ag::empty({n}, ag::DType::int64);
  std::copy(labels.begin(), labels.end(), t.data<int64_t>());
  if (opts.one_hot) t = ag::one_hot(t, classes);
  return {x, t};
}

Mnist load_mnist(const std::string& dir, const MnistOptions& opts) {
  Mnist m{load_mnist_split(dir, "train", opts), load_mnist_split(dir, "t10k", opts)};
  if (m.train.x.shape().size() != m.test.x.shape().size() ||
      !std::equal(m.train.x.shape().begin() + 1, m.train.x.shape().end(), m.test.x.shape().begin() + 1))
    ag::fail("mnist", "{}: training images {} and test images {} differ in size", dir, m.train.x.shape(),
             m.test.x.shape());
  return m;
}

}  // namespace nn
