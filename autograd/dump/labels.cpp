// Graph dumps: what each op does, for labels: its parameters, its name, its
// backward rule in words (all three from the op's ops.def row) and its local
// derivative (from its own backward rule, recorded by the Trace).
#include "autograd/dump/internal.hpp"
#include "autograd/ops/op.hpp"

#include <algorithm>
#include <cctype>
#include <map>

namespace ag::dump {

namespace {

// One attribute of a step, by its name in the "shows" column of ops.def.
std::string attr_text(std::string_view key, const Trace::Step& st, const Shape& out_shape) {
  const Attrs& a = st.attrs;
  if (key == "scalar") return fmt::format("{}", a.scalar);
  if (key == "slope") return fmt::format("{}", a.slope);
  if (key == "alpha") return fmt::format("{}", a.alpha);
  if (key == "lo") return fmt::format("{}", a.lo);
  if (key == "hi") return fmt::format("{}", a.hi);
  if (key == "axis") return fmt::format("{}", a.axis);
  if (key == "axes") return shape_text(a.axes);
  if (key == "keepdims") return a.keepdims ? ", keepdims" : "";
  if (key == "start") return fmt::format("{}", a.start);
  if (key == "stop") return fmt::format("{}", a.stop);
  if (key == "step") return fmt::format("{}", a.step);
  if (key == "dtype") return fmt::format("{}", a.dtype);
  if (key == "reduction") return a.reduction == Reduction::mean ? "mean" : "sum";
  if (key == "transpose") return fmt::format("{}{}", a.transpose_a ? "A^T " : "", a.transpose_b ? "B^T" : "");
  if (key == "repeats" && a.axis >= 0 && static_cast<size_t>(a.axis) < out_shape.size())
    return fmt::format("{}", out_shape[static_cast<size_t>(a.axis)]);
  if (key == "label") return st.label;
  fail("dump", "ops.def row {}: unknown field {{{}}} in its shows or rule column", op_name(st.op), key);
}

// A row's text with each {field} replaced by the step's attribute.
std::string fill_fields(std::string_view text, const Trace::Step& st, const Shape& out_shape) {
  std::string out;
  for (size_t open; (open = text.find('{')) != std::string_view::npos;) {
    const size_t close = text.find('}', open);
    if (close == std::string_view::npos) break;
    out += text.substr(0, open);
    out += attr_text(text.substr(open + 1, close - open - 1), st, out_shape);
    text.remove_prefix(close + 1);
  }
  return out += text;
}

}  // namespace

// The op's parameters worth showing under its name (the row's shows column).
std::string attrs_text(const Trace::Step& st, const Shape& out_shape) {
  return fill_fields(op_info(st.op).shows, st, out_shape);
}

// The step's op name, or a user-defined op's own name.
std::string label_of(const Trace::Step& st) { return st.label.empty() ? std::string(op_name(st.op)) : st.label; }

// The op's backward rule in the textbook's notation (the row's rule column).
std::string rule_text(const Trace::Step& st) {
  const OpInfo& info = op_info(st.op);
  if (info.rule.empty()) return "none: not differentiable, no gradient flows back through it";
  return fill_fields(info.rule, st, {});
}

namespace {

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The rule's words: maximal runs of letters, digits and '_' (UTF-8 symbols such as ᵀ and · separate them).
std::vector<std::pair<size_t, size_t>> words(std::string_view text) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < text.size();) {
    if (!ident_char(text[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && ident_char(text[j])) ++j;
    out.emplace_back(i, j - i);
    i = j;
  }
  return out;
}

}  // namespace

// The rule's variables renamed after the step's tensors. A rule names the
// gradient of each input in order ("dA = ..., dB = ..."): when it names one
// per input (or only the first), the k-th distinct "dS =" names input k's
// symbol S; the first d-word right of an "=" that is not an input's names the
// output's (dY for Y). Each S and dS is then replaced in one pass, so a tensor
// whose name is itself a symbol (an input called y) is not renamed twice.
std::string named_rule(const View& view, const Trace::Step& st) {
  const std::string rule = rule_text(st);
  if (op_info(st.op).rule.empty()) return rule;
  const auto ws = words(rule);
  auto word = [&](size_t k) { return rule.substr(ws[k].first, ws[k].second); };
  auto is_grad = [&](const std::string& w) {  // dS with S a short plain symbol: dy, dW, dsrc (not dx_k, dropout, div)
    return w.size() >= 2 && w.size() <= 4 && w[0] == 'd' && std::isalpha(static_cast<unsigned char>(w[1])) &&
           w.find('_') == std::string::npos && w != "div";
  };
  std::vector<std::string> lhs, rhs;
  for (size_t k = 0; k < ws.size(); ++k) {
    const std::string w = word(k);
    if (!is_grad(w)) continue;
    size_t after = ws[k].first + ws[k].second;
    while (after < rule.size() && rule[after] == ' ') ++after;
    auto& list = after < rule.size() && rule[after] == '=' ? lhs : rhs;
    if (std::find(list.begin(), list.end(), w.substr(1)) == list.end()) list.push_back(w.substr(1));
  }
  std::map<std::string, std::string> sym;  // symbol -> tensor name
  if (lhs.size() == st.inputs.size() || lhs.size() == 1)
    for (size_t i = 0; i < lhs.size() && i < st.inputs.size(); ++i) sym[lhs[i]] = view.name(st.inputs[i]);
  for (const std::string& s : rhs)
    if (std::find(lhs.begin(), lhs.end(), s) == lhs.end()) {
      sym[s] = view.name(st.output);
      break;
    }
  std::string out;
  size_t at = 0;
  for (size_t k = 0; k < ws.size(); ++k) {
    const auto [start, len] = ws[k];
    out += rule.substr(at, start - at);
    at = start + len;
    const std::string w = word(k);
    // "a tie splits dy": the article, not the input a
    const bool prose = w == "a" && at + 1 < rule.size() && rule[at] == ' ' &&
                       std::islower(static_cast<unsigned char>(rule[at + 1]));
    const size_t digits = w.find_first_not_of("0123456789");  // "2y": twice y
    if (auto it = sym.find(w); it != sym.end() && !prose) out += it->second;
    else if (auto d = is_grad(w) ? sym.find(w.substr(1)) : sym.end(); d != sym.end()) out += "d" + d->second;
    else if (auto n = digits > 0 && digits != std::string::npos ? sym.find(w.substr(digits)) : sym.end();
             n != sym.end())
      out += w.substr(0, digits) + "\u00b7" + n->second;
    else out += w;
  }
  return out + rule.substr(at);
}

// The local derivative of the step's output with respect to input i: the
// op's own backward rule run with a unit upstream gradient (Trace::Step::local),
// so the calculus exists once. For an elementwise op it is dy/dx_i at each
// element; where the output has another shape it is d(sum of y)/dx_i.
Tensor local_derivative(const Trace&, const Trace::Step& st, size_t i) {
  return i < st.local.size() ? st.local[i] : Tensor();
}

// How a frame names the local derivative of the step's output y by input i
// (local_derivative): dy/dx for an elementwise op (its Jacobian is diagonal)
// or a scalar y, d(sum y)/dx otherwise.
std::string local_name(const View& view, const Trace::Step& st, size_t i) {
  const Trace::Value& y = view.value(st.output);
  const std::string x = view.name(st.inputs[i]);
  const bool elementwise = op_info(st.op).family == "elementwise" && y.shape == view.value(st.inputs[i]).shape;
  if (elementwise || shape_numel(y.shape) == 1)
    return fmt::format("\u2202{}/\u2202{}", view.name(st.output), x);
  return fmt::format("\u2202\u03a3{}/\u2202{}", view.name(st.output), x);
}

}  // namespace ag::dump
