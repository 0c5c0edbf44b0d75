// Graph dumps: numbers and tensors as text (values, min/mean/max, norms),
// and escaping for Graphviz and HTML.
#include "autograd/dump/internal.hpp"

#include <algorithm>
#include <cmath>

namespace ag::dump {

namespace {

std::string element(const Tensor& t, int64_t i, int digits) {
  const double v = t.value_at(i);
  if (!is_floating(t.dtype())) return fmt::format("{}", static_cast<int64_t>(v));
  return num(v, digits);
}

// Values as lines, one per innermost row: "[[1, 2]," then "[3, 4]]".
std::vector<std::string> value_lines(const Tensor& t, int digits) {
  if (t.dim() == 0) return {element(t, 0, digits)};
  const Shape& s = t.shape();
  const int64_t n = t.numel(), last = s.back();
  if (n == 0) return {"[]"};
  std::vector<std::string> lines;
  const int64_t rows = n / last;
  for (int64_t r = 0; r < rows; ++r) {
    size_t opens = 1, closes = 1;
    int64_t span = 1;
    for (size_t a = s.size() - 1; a-- > 0;) {
      span *= s[a];
      opens += r % span == 0;
      closes += (r + 1) % span == 0;
    }
    std::string line(opens, '[');
    for (int64_t j = 0; j < last; ++j) line += (j ? ", " : "") + element(t, r * last + j, digits);
    line.append(closes, ']');
    if (r + 1 < rows) line += ',';
    lines.push_back(std::move(line));
  }
  return lines;
}

std::vector<std::string> summary(const Tensor& t, int digits) {
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.value_at(i);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  const double mean = sum / static_cast<double>(t.numel());
  return {"min " + num(lo, digits), "mean " + num(mean, digits), "max " + num(hi, digits)};
}


}  // namespace

std::string num(double v, int digits) {
  if (v == 0) v = 0;  // print -0 as 0
  return fmt::format("{:.{}g}", v, digits);
}

// A tensor's values when it is small, else its min/mean/max.
std::vector<std::string> describe(const Tensor& t, const DumpOptions& o) {
  if (t.numel() <= o.max_values) return value_lines(t, o.digits);
  return summary(t, o.digits);
}

std::vector<std::string> describe_rows(const Tensor& t, int digits, int64_t rows, int64_t cols) {
  const int64_t n = t.numel(), last = t.dim() == 0 ? 1 : t.shape().back();
  const int64_t have = last == 0 ? 0 : n / last;
  if (have <= rows && last <= cols) return value_lines(t, digits);
  std::vector<std::string> lines;
  const int64_t show_rows = std::min(have, rows), show_cols = std::min(last, cols);
  for (int64_t r = 0; r < show_rows; ++r) {
    std::string line = r == 0 ? "[" : " ";
    for (int64_t j = 0; j < show_cols; ++j) line += (j ? ", " : "") + element(t, r * last + j, digits);
    if (show_cols < last) line += ", \u2026";
    lines.push_back(line + (r + 1 < have ? "," : "]"));
  }
  const auto s = summary(t, digits);
  std::string left = show_rows < have ? fmt::format("first {} of {} rows", show_rows, have) : "";
  if (show_cols < last) left += fmt::format("{}first {} of {} columns", left.empty() ? "" : ", ", show_cols, last);
  lines.push_back(fmt::format("\u2026 ({}; all {} values: {}, {}, {})", left, n, s[0], s[1], s[2]));
  return lines;
}

double norm(const Tensor& t) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += t.value_at(i) * t.value_at(i);
  return std::sqrt(s);
}

// Escapes text for Graphviz HTML-like labels and for HTML.
std::string esc(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? std::string(sep) : "") + parts[i];
  return out;
}

std::string shape_text(const Shape& s) { return fmt::format("{}", s); }

}  // namespace ag::dump
