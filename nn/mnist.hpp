// MNIST (and Fashion-MNIST, same format) from the four IDX files, plain or
// gzip-compressed, and a small reader/writer for IDX files of unsigned bytes.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <string>
#include <vector>

#include "datasets.hpp"

namespace nn {

// What load_mnist returns and how.
struct MnistOptions {
  bool normalize = true;  // pixels / 255 in [0, 1]; false keeps 0..255 (float32 either way)
  bool flatten = true;    // images (n, rows*cols), e.g. (n, 784); false: (n, 1, rows, cols)
  bool one_hot = false;   // labels (n, 10) float32 rows; false: int64 (n,)
  int64_t limit = -1;     // read at most this many examples of each split (-1: all)
};

// The training and test splits.
struct Mnist {
  Dataset train;
  Dataset test;
};

// Loads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
// and t10k-labels-idx1-ubyte from `dir`, each either as named or with .gz.
Mnist load_mnist(const std::string& dir, const MnistOptions& opts = {});
// One split: prefix "train" or "t10k".
Dataset load_mnist_split(const std::string& dir, const std::string& prefix, const MnistOptions& opts = {});

// dir/name if it exists, else dir/name.gz; an error saying both were looked for if neither does.
std::string find_data_file(const std::string& dir, const std::string& name);

// The contents of an IDX3 image file: count images of rows x cols bytes, row-major.
struct IdxImages {
  int64_t count = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> pixels;
};

// Reads an IDX image file (magic 2051), gzip-compressed or not, checking the
// header and the length. limit >= 0 reads only the first `limit` images.
IdxImages read_idx_images(const std::string& path, int64_t limit = -1);
// Reads an IDX label file (magic 2049): one byte per label.
std::vector<uint8_t> read_idx_labels(const std::string& path, int64_t limit = -1);

// Writes IDX files, gzip-compressed when `gzip` (the name is used as given).
void write_idx_images(const std::string& path, const IdxImages& images, bool gzip = false);
void write_idx_labels(const std::string& path, const std::vector<uint8_t>& labels, bool gzip = false);

}  // namespace nn

#endif  // TAPEGRAD_CXX20
