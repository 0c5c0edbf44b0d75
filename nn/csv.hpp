// Tabular data from a CSV file with a header row.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <string>
#include <vector>

#include "datasets.hpp"

namespace nn {

struct CsvOptions {
  std::string label = {};             // the label column's name (required)
  std::vector<std::string> features = {};  // feature columns by name, in this order; empty: all but the label
  bool integer_labels = true;         // int64 class labels (n,); false: float targets (n,) for regression
  bool skip_malformed = false;        // skip and count bad rows instead of throwing
  char delimiter = ',';
  ag::DType dtype = ag::DType::float32;  // of the features (and of float targets)
};

// A loaded CSV: the data set, the feature names in column order of x, and how many rows were skipped.
struct CsvData {
  Dataset data;
  std::vector<std::string> features;
  int64_t skipped = 0;
};

// Reads `path`: a header row of column names, then one example per line. Blank
// lines are ignored; fields may be double-quoted. A row with the wrong number of
// columns, a feature that is not a finite number, or a label that is not a
// non-negative integer (with integer_labels) is an error naming the file, line
// and column, unless skip_malformed, which skips the row and counts it.
CsvData load_csv(const std::string& path, const CsvOptions& opts);

}  // namespace nn

#endif  // TAPEGRAD_CXX20
