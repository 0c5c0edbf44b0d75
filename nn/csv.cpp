#include "nn/csv.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include "autograd/tensor.hpp"

namespace nn {

namespace {

// Splits one line into fields: delimiter-separated, each optionally
// double-quoted ("" inside quotes is a quote). Returns nullopt for an unclosed quote.
std::optional<std::vector<std::string>> split_line(std::string_view line, char delim) {
  std::vector<std::string> out;
  std::string field;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && !was_quoted && field.find_first_not_of(" \t") == std::string::npos) {
      field.clear();
      quoted = was_quoted = true;
    } else if (c == delim) {
      out.push_back(field);
      field.clear();
      was_quoted = false;
    } else if (!(was_quoted && (c == ' ' || c == '\t'))) {
      field += c;
    }
  }
  if (quoted) return std::nullopt;
  out.push_back(field);
  return out;
}

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// A finite number filling the whole (trimmed) field.
std::optional<double> parse_number(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

CsvData load_csv(const std::string& path, const CsvOptions& opts) {
  if (opts.label.empty()) ag::fail("csv", "{}: name the label column in CsvOptions::label", path);
  if (!ag::is_floating(opts.dtype)) ag::fail("csv", "features need a floating dtype, got {}", opts.dtype);
  if (std::filesystem::is_directory(path)) ag::fail("csv", "{}: is a directory, not a CSV file", path);
  std::ifstream in(path);
  if (!in) ag::fail("csv", "{}: cannot open the file", path);

  std::string line;
  int64_t line_no = 0;
  std::vector<std::string> header;
  while (header.empty() && std::getline(in, line)) {
    ++line_no;
    if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // a UTF-8 byte order mark
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    auto fields = split_line(line, opts.delimiter);
    if (!fields) ag::fail("csv", "{} line {}: unclosed quote in the header", path, line_no);
    for (auto& f : *fields) f = std::string(trim(f));
    header = std::move(*fields);
  }
  if (header.empty()) ag::fail("csv", "{}: the file is empty (no header row)", path);

  // The one column called `name` (a name in the header twice would be ambiguous).
  auto column_of = [&](const std::string& name) {
    size_t found = header.size();
    for (size_t j = 0; j < header.size(); ++j) {
      if (header[j] != name) continue;
      if (found != header.size())
        ag::fail("csv", "{}: columns {} and {} are both named \"{}\"; rename one so the column to read is clear",
                 path, found + 1, j + 1, name);
      found = j;
    }
    if (found == header.size())
      ag::fail("csv", "{}: no column \"{}\" in the header (columns: {})", path, name, join(header));
    return found;
  };
  const size_t label_col = column_of(opts.label);
  std::vector<std::string> features = opts.features;
  if (features.empty())
    for (const auto& h : header)
      if (h != opts.label) features.push_back(h);
  if (features.empty()) ag::fail("csv", "{}: no feature columns besides the label \"{}\"", path, opts.label);
  std::vector<size_t> feature_cols;
  for (const auto& f : features) {
    if (f == opts.label) ag::fail("csv", "{}: column \"{}\" is both a feature and the label", path, f);
    const size_t col = column_of(f);
    if (std::find(feature_cols.begin(), feature_cols.end(), col) != feature_cols.end())
      ag::fail("csv", "{}: feature \"{}\" is listed twice in CsvOptions::features", path, f);
    feature_cols.push_back(col);
  }
  // float32 features and targets: a finite double beyond float32's range would become inf
  const bool f32 = opts.dtype == ag::DType::float32;
  auto fits = [&](double v) { return !f32 || std::isfinite(static_cast<float>(v)); };
  constexpr std::string_view kRange = "is outside float32's range (about 3.4e38); load as float64 (CsvOptions::dtype)";

  const size_t d = feature_cols.size();
  std::vector<double> x, row(d);
  std::vector<int64_t> labels;
  std::vector<double> targets;
  int64_t skipped = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    // Checks one row; an error message when it is malformed.
    std::string error;
    double label = 0;
    auto fields = split_line(line, opts.delimiter);
    if (!fields) {
      error = fmt::format("{} line {}: unclosed quote", path, line_no);
    } else if (fields->size() != header.size()) {
      error = fmt::format("{} line {}: expected {} columns (as in the header), got {}", path, line_no, header.size(),
                          fields->size());
    } else {
      auto bad = [&](size_t col, std::string_view why) {
        return fmt::format("{} line {}, column {} (\"{}\"): \"{}\" {}", path, line_no, col + 1, header[col],
                           (*fields)[col], why);
      };
      for (size_t k = 0; k < d && error.empty(); ++k) {
        auto v = parse_number((*fields)[feature_cols[k]]);
        if (!v) error = bad(feature_cols[k], "is not a number");
        else if (!fits(*v)) error = bad(feature_cols[k], kRange);
        else row[k] = *v;
      }
      if (error.empty()) {
        auto v = parse_number((*fields)[label_col]);
        if (!v) error = bad(label_col, "is not a number");
        else if (opts.integer_labels && (*v < 0 || *v != std::floor(*v) || *v > 1e15))
          error = bad(label_col, "is not a class label (an integer >= 0)");
        else if (!opts.integer_labels && !fits(*v)) error = bad(label_col, kRange);
        else label = *v;
      }
    }
    if (!error.empty()) {
      if (!opts.skip_malformed) throw ag::Error("[csv] " + error + " (CsvOptions::skip_malformed skips such rows)");
      ++skipped;
      continue;
    }
    x.insert(x.end(), row.begin(), row.end());
    if (opts.integer_labels) labels.push_back(static_cast<int64_t>(label));
    else targets.push_back(label);
  }
  const auto n = static_cast<int64_t>(x.size() / d);
  if (n == 0) ag::fail("csv", "{}: no data rows ({} skipped as malformed)", path, skipped);

  CsvData out;
  out.data.x = ag::from_vector(x, {n, static_cast<int64_t>(d)}, opts.dtype);
  out.data.t = opts.integer_labels ? ag::from_vector(labels, {n}) : ag::from_vector(targets, {n}, opts.dtype);
  out.features = std::move(features);
  out.skipped = skipped;
  return out;
}

}  // namespace nn
