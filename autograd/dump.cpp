// Graph dumps: a Trace drawn as Graphviz DOT, as backward frames, as an HTML
// step-through and as a text table; the live tape's lifetime report; and
// rendering through Graphviz's `dot` program. Ids in the output are the
// trace's value and step ids, never addresses, so the same program always
// writes the same DOT text (golden-file tests rely on it).
#include "autograd/dump.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "autograd/atomic_file.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/op.hpp"

extern char** environ;

namespace ag {

namespace {

// ---- Numbers and tensors as text ---------------------------------------------------

std::string num(double v, int digits) {
  if (v == 0) v = 0;  // print -0 as 0
  return fmt::format("{:.{}g}", v, digits);
}

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

// A tensor's values when it is small, else its min/mean/max.
std::vector<std::string> describe(const Tensor& t, const DumpOptions& o) {
  if (t.numel() <= o.max_values) return value_lines(t, o.digits);
  return summary(t, o.digits);
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

// ---- What each op does, for labels -------------------------------------------------

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

// The local derivative of the step's output with respect to input i: the
// op's own backward rule run with a unit upstream gradient (Trace::Step::local),
// so the calculus exists once. For an elementwise op it is dy/dx_i at each
// element; where the output has another shape it is d(sum of y)/dx_i.
Tensor local_derivative(const Trace&, const Trace::Step& st, size_t i) {
  return i < st.local.size() ? st.local[i] : Tensor();
}

// ---- Which nodes a drawing shows -----------------------------------------------------

std::string parent_of(const std::string& scope) {
  const size_t k = scope.rfind('/');
  return k == std::string::npos ? "" : scope.substr(0, k);
}
std::string last_of(const std::string& scope) {
  const size_t k = scope.rfind('/');
  return k == std::string::npos ? scope : scope.substr(k + 1);
}

// A folded module: consecutive steps drawn as one box (several modules when identical blocks repeat).
struct Box {
  std::string scope;
  std::vector<int> steps;
  std::vector<std::string> modules;  // the modules it stands for
  size_t period = 1;                 // modules per repeated block
};

// The gradients a backward frame shows (see backward_frames).
struct Frame {
  int index = 0;                // position in the backward order
  int step = -1;                // the step whose rule runs in this frame
  std::vector<Tensor> grad;     // per value: the gradient it has received so far
  std::vector<int> got;         // per value: contributions received so far
  std::vector<int> total;       // per value: contributions by the end of backward
  std::vector<char> done;       // per step: its rule ran in an earlier frame
};

struct View {
  const Trace& tr;
  DumpOptions o;
  std::vector<std::vector<int>> consumers;  // per value: steps that read it (twice if read twice)
  std::vector<int> box_of;                  // per step: its box, or -1 when drawn as itself
  std::vector<Box> boxes;
  std::vector<char> absorbed;  // per value: a parameter listed inside its module's box
  std::vector<char> hidden;    // per value: internal to a box
  std::set<std::string> wrappers;  // scopes that wrap all the others at their level: never folded
  int loss = -1;

  View(const Trace& t, DumpOptions opts);
  const Trace::Value& value(int v) const { return tr.values()[static_cast<size_t>(v)]; }
  const Trace::Step& step(int s) const { return tr.steps()[static_cast<size_t>(s)]; }
  std::string name(int v) const {
    std::string n = value(v).name();
    return n.empty() ? fmt::format("t{}", v) : n;
  }
  bool is_param(int v) const {
    const auto& val = value(v);
    return val.leaf && val.requires_grad && val.leaf->node < 0;
  }
  void find_wrappers();
  bool open(const std::string& scope) const;
  std::string box_scope(const std::string& scope) const;
  void make_boxes();
  std::string signature(const Box& b) const;
  bool has_params(const Box& b) const;
  bool repeats(const std::vector<std::string>& sig, size_t a, size_t b, size_t k) const;
  std::pair<size_t, size_t> best_run(const std::vector<std::string>& sig, size_t i) const;
  void fold_repeats();
  int box_of_value(int v) const;
  std::string cluster_of_step(int s) const;
  std::string cluster_of_value(int v) const;
};

// How a frame names the local derivative of the step's output y by input i:
// dy/dx where they have one shape, d(sum y)/dx otherwise (local_derivative).
std::string local_name(const View& view, const Trace::Step& st, size_t i) {
  const Trace::Value& y = view.value(st.output);
  const std::string x = view.name(st.inputs[i]);
  if (y.shape == view.value(st.inputs[i]).shape || shape_numel(y.shape) == 1)
    return fmt::format("\u2202{}/\u2202{}", view.name(st.output), x);
  return fmt::format("\u2202\u03a3{}/\u2202{}", view.name(st.output), x);
}

View::View(const Trace& t, DumpOptions opts) : tr(t), o(std::move(opts)) {
  const size_t nv = tr.values().size(), ns = tr.steps().size();
  consumers.resize(nv);
  for (size_t s = 0; s < ns; ++s)
    for (int v : tr.steps()[s].inputs) consumers[static_cast<size_t>(v)].push_back(static_cast<int>(s));
  box_of.assign(ns, -1);
  find_wrappers();
  if (o.fold) make_boxes();
  if (o.fold && o.fold_repeats) fold_repeats();
  for (size_t b = 0; b < boxes.size(); ++b)
    for (int s : boxes[b].steps) box_of[static_cast<size_t>(s)] = static_cast<int>(b);
  absorbed.assign(nv, 0);
  hidden.assign(nv, 0);
  for (size_t v = 0; v < nv; ++v) {
    const auto& users = consumers[v];
    if (users.empty()) continue;
    const int b = box_of[static_cast<size_t>(users[0])];
    bool inside = b >= 0;
    for (int s : users) inside = inside && box_of[static_cast<size_t>(s)] == b;
    if (!inside) continue;
    const int producer = tr.values()[v].step;
    if (producer >= 0 && box_of[static_cast<size_t>(producer)] == b) hidden[v] = 1;
    else if (is_param(static_cast<int>(v))) absorbed[v] = 1;
  }
  // The loss: the scalar that backward started from, or else the last step's scalar output.
  int root = -1;
  if (!tr.backward_order().empty()) root = step(tr.backward_order().front()).output;
  else if (ns > 0 && consumers[static_cast<size_t>(tr.steps().back().output)].empty()) root = tr.steps().back().output;
  if (root >= 0 && shape_numel(value(root).shape) == 1) loss = root;
}

// Folding a graph into a single box shows nothing, so a scope that is the only
// one at its level (a model around its layers, "net" around "net/fc1" and
// "net/fc2") stays open, and so does its only child, and so on down.
void View::find_wrappers() {
  std::string level;
  while (true) {
    std::set<std::string> children;
    for (const auto& st : tr.steps()) {
      const std::string& s = st.scope;
      if (s.size() <= level.size() || (!level.empty() && !s.starts_with(level + "/"))) continue;
      const size_t from = level.empty() ? 0 : level.size() + 1;
      children.insert(s.substr(0, s.find('/', from)));
    }
    if (children.size() != 1) return;
    level = *children.begin();
    wrappers.insert(level);
  }
}

// A scope is drawn open (as a cluster) unless folding closes it; wrappers,
// expanded scopes and their parents stay open.
bool View::open(const std::string& scope) const {
  if (!o.fold || wrappers.count(scope)) return true;
  for (const std::string& e : o.expand)
    if (e == scope || e.starts_with(scope + "/")) return true;
  return false;
}

// The outermost closed prefix of a step's scope: the module box it folds into ("" for none).
std::string View::box_scope(const std::string& scope) const {
  size_t end = 0;
  while (end != std::string::npos && !scope.empty()) {
    end = scope.find('/', end + 1);
    std::string prefix = scope.substr(0, end);
    if (!open(prefix)) return prefix;
  }
  return "";
}

void View::make_boxes() {
  int prev = -1;
  for (size_t s = 0; s < tr.steps().size(); ++s) {
    const std::string bs = box_scope(tr.steps()[s].scope);
    if (bs.empty()) {
      prev = -1;
      continue;
    }
    if (prev < 0 || boxes[static_cast<size_t>(prev)].scope != bs) {
      boxes.push_back({bs, {}, {last_of(bs)}});
      prev = static_cast<int>(boxes.size() - 1);
    }
    boxes[static_cast<size_t>(prev)].steps.push_back(static_cast<int>(s));
  }
}

// What makes two modules identical: the same ops with the same attrs and shapes, wired the same way.
std::string View::signature(const Box& b) const {
  std::string sig;
  const int first = b.steps.front();
  for (int s : b.steps) {
    const auto& st = step(s);
    sig += fmt::format("{}[{}]{}:", label_of(st), attrs_text(st, value(st.output).shape),
                       shape_text(value(st.output).shape));
    for (int v : st.inputs) {
      const int p = value(v).step;
      sig += p >= first && p <= s ? fmt::format("<{}", s - p) : shape_text(value(v).shape);
    }
    sig += ';';
  }
  return sig;
}

bool View::has_params(const Box& b) const {
  for (int s : b.steps)
    for (int v : step(s).inputs)
      if (is_param(v)) return true;
  return false;
}

// Whether boxes [b, b+k) repeat boxes [a, a+k): the same modules under the same
// parent, every step contiguous from a to b+k, and the second reading the first.
bool View::repeats(const std::vector<std::string>& sig, size_t a, size_t b, size_t k) const {
  for (size_t j = 0; j < k; ++j)
    if (sig[a + j] != sig[b + j] || parent_of(boxes[a + j].scope) != parent_of(boxes[b + j].scope)) return false;
  for (size_t m = a; m + 1 < b + k; ++m)
    if (boxes[m].steps.back() + 1 != boxes[m + 1].steps.front()) return false;
  const int first = boxes[a].steps.front(), last = boxes[a + k - 1].steps.back();
  for (size_t m = b; m < b + k; ++m)
    for (int s : boxes[m].steps)
      for (int v : step(s).inputs)
        if (value(v).step >= first && value(v).step <= last) return true;
  return false;
}

// The longest back-to-back repetition of a block of up to 4 modules starting at box i: (period, count).
std::pair<size_t, size_t> View::best_run(const std::vector<std::string>& sig, size_t i) const {
  std::pair<size_t, size_t> best{1, 1};
  for (size_t k = 1; k <= 4 && i + 2 * k <= boxes.size(); ++k) {
    size_t reps = 1;
    while (i + (reps + 1) * k <= boxes.size() && repeats(sig, i + (reps - 1) * k, i + reps * k, k)) ++reps;
    if (reps > 1 && reps * k > best.first * best.second) best = {k, reps};
  }
  return best;
}

// Merges back-to-back identical modules (layer1 -> layer2 -> ...), or identical
// runs of modules (Linear2 -> Tanh3 -> Linear4 -> Tanh5), into one box.
void View::fold_repeats() {
  std::vector<std::string> sig;
  for (const Box& b : boxes) sig.push_back(signature(b));
  std::vector<Box> merged;
  for (size_t i = 0; i < boxes.size();) {
    auto [k, reps] = best_run(sig, i);
    // A block reads better from a module with parameters: Linear -> Tanh rather than Tanh -> Linear.
    if (reps > 1 && k > 1 && !has_params(boxes[i])) {
      const auto [k2, reps2] = best_run(sig, i + 1);
      if (reps2 > 1 && k2 * reps2 >= k * reps) reps = 1;
    }
    if (reps == 1) {
      merged.push_back(std::move(boxes[i++]));
      continue;
    }
    Box group{boxes[i].scope, {}, {}, k};
    for (size_t m = i; m < i + k * reps; ++m) {
      group.steps.insert(group.steps.end(), boxes[m].steps.begin(), boxes[m].steps.end());
      group.modules.push_back(boxes[m].modules.front());
    }
    merged.push_back(std::move(group));
    i += k * reps;
  }
  boxes = std::move(merged);
}

int View::box_of_value(int v) const {
  const int p = value(v).step;
  return p < 0 ? -1 : box_of[static_cast<size_t>(p)];
}

std::string View::cluster_of_step(int s) const {
  if (!o.clusters) return "";
  const int b = box_of[static_cast<size_t>(s)];
  return b >= 0 ? parent_of(boxes[static_cast<size_t>(b)].scope) : step(s).scope;
}

// Outputs sit with their producer; a leaf sits in its consumers' cluster when they share one.
std::string View::cluster_of_value(int v) const {
  if (value(v).step >= 0) return cluster_of_step(value(v).step);
  const auto& users = consumers[static_cast<size_t>(v)];
  if (users.empty()) return "";
  const std::string c = cluster_of_step(users[0]);
  for (int s : users)
    if (cluster_of_step(s) != c) return "";
  return c;
}

// ---- DOT ---------------------------------------------------------------------------

constexpr std::string_view kGradColor = "#b03030";
constexpr std::string_view kHot = "#c0392b";

// "lhs = value" as one row for a number, or lhs over the left-aligned rows
// of a tensor: rows of a Graphviz HTML-like table.
std::string equation_rows(const std::string& lhs, const std::vector<std::string>& lines) {
  std::vector<std::string> rows = lines;
  if (rows.size() == 1) rows[0] = lhs + " = " + rows[0];
  else rows.insert(rows.begin(), lhs + " =");
  std::string out;
  for (const auto& r : rows) out += "<tr><td align=\"left\">" + esc(r) + "</td></tr>";
  return out;
}

std::string table_html(const std::string& rows) {
  return "<table border=\"0\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"0\">" + rows + "</table>";
}

std::string lines_html(const std::vector<std::string>& lines) {
  std::vector<std::string> e;
  for (const auto& l : lines) e.push_back(esc(l));
  return join(e, "<br/>");
}

// The table cell of a value's gradient, as the full drawing or a frame shows it ("" for none).
std::string grad_cell(const View& view, int v, const Frame* f) {
  Tensor g = f ? f->grad[static_cast<size_t>(v)] : view.value(v).grad;
  if (!g.defined() || (!f && !view.o.grads)) return "";
  std::string head = "grad";
  if (f && f->got[static_cast<size_t>(v)] < f->total[static_cast<size_t>(v)])
    head = fmt::format("grad so far ({} of {})", f->got[static_cast<size_t>(v)], f->total[static_cast<size_t>(v)]);
  return fmt::format(
      "<td balign=\"left\" valign=\"top\"><font color=\"{}\"><font point-size=\"9\">{}</font><br/>{}</font></td>",
      kGradColor, head, lines_html(describe(g, view.o)));
}

// A tensor: its name, shape and dtype over its values and, side by side, its gradient.
std::string value_node(const View& view, int v, const Frame* f) {
  const auto& val = view.value(v);
  const bool named = !val.name().empty();
  std::string head = named ? "<b>" + esc(val.name()) + "</b>" : "<i>" + esc(view.name(v)) + "</i>";
  head += fmt::format(" <font point-size=\"9\">{} {}</font>", shape_text(val.shape), val.dtype);
  const std::string grad = grad_cell(view, v, f);
  // A frame shows forward values only around its node, where the local derivative uses them.
  const bool near = !f || v == view.step(f->step).output ||
                    std::count(view.step(f->step).inputs.begin(), view.step(f->step).inputs.end(), v) > 0;
  std::string values = val.data.defined() && near ? lines_html(describe(val.data, view.o)) : "";
  if (!grad.empty() && !values.empty()) values = "<font point-size=\"9\" color=\"#666666\">value</font><br/>" + values;
  std::string label = fmt::format(
      "<table border=\"0\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"1\"><tr><td{}>{}</td></tr>"
      "<tr><td balign=\"left\" valign=\"top\">{}</td>{}</tr></table>",
      grad.empty() ? "" : " colspan=\"3\"", head, values, grad.empty() ? "" : "<td width=\"4\"></td>" + grad);
  std::string fill = "white", extra;
  if (v == view.loss) {
    fill = "#ffb3b3";
    extra = ", peripheries=2";
  } else if (view.is_param(v)) {
    fill = "#ffd8a8";
  } else if (val.leaf) {
    fill = "#cfe2ff";
  }
  return fmt::format("v{} [shape=ellipse, style=filled, fillcolor=\"{}\"{}, label=<{}>];", v, fill, extra, label);
}

std::string step_node(const View& view, int s, const Frame* f) {
  const auto& st = view.step(s);
  std::string rows = "<tr><td><b>" + esc(label_of(st)) + "</b></td></tr>";
  const std::string attrs = attrs_text(st, view.value(st.output).shape);
  if (!attrs.empty()) rows += "<tr><td><font point-size=\"9\">" + esc(attrs) + "</font></td></tr>";
  std::string fill = "#eeeeee", extra;
  if (f && f->step == s) {
    fill = "#ffe066";
    extra = ", penwidth=3";
    rows += "<tr><td align=\"left\">rule: " + esc(rule_text(st)) + "</td></tr>";
    for (size_t i = 0; i < st.inputs.size(); ++i) {
      Tensor d = local_derivative(view.tr, st, i);
      if (d.defined())
        rows += equation_rows("local " + local_name(view, st, i),
                              describe(d, view.o));
    }
  } else if (f && f->done[static_cast<size_t>(s)]) {
    fill = "#cccccc";
  } else if (f) {
    fill = "white";
  }
  return fmt::format("s{} [shape=box, style=\"rounded,filled\", fillcolor=\"{}\"{}, label=<{}>];", s, fill, extra,
                     table_html(rows));
}

// External inputs of a box (values drawn outside it that its steps read), in first-use order.
std::vector<int> box_inputs(const View& view, int b) {
  std::vector<int> ins;
  for (int s : view.boxes[static_cast<size_t>(b)].steps)
    for (int v : view.step(s).inputs)
      if (!view.hidden[static_cast<size_t>(v)] && !view.absorbed[static_cast<size_t>(v)] && view.box_of_value(v) != b &&
          std::find(ins.begin(), ins.end(), v) == ins.end())
        ins.push_back(v);
  return ins;
}

std::vector<int> box_outputs(const View& view, int b) {
  std::vector<int> outs;
  for (int s : view.boxes[static_cast<size_t>(b)].steps) {
    const int v = view.step(s).output;
    if (!view.hidden[static_cast<size_t>(v)]) outs.push_back(v);
  }
  return outs;
}

std::string box_node(const View& view, int b) {
  const Box& box = view.boxes[static_cast<size_t>(b)];
  const size_t blocks = box.modules.size() / box.period;
  std::string title = "<b>" + esc(box.modules.front()) + "</b>";
  if (blocks > 1) {
    title = fmt::format("<b>{} \u2026 {}</b><br/>{} identical blocks", esc(box.modules.front()),
                        esc(box.modules.back()), blocks);
    const auto first_block = box.modules.begin() + static_cast<std::ptrdiff_t>(box.period);
    if (box.period > 1) title += " of " + esc(join({box.modules.begin(), first_block}, " \u2192 "));
  }
  std::vector<std::string> ops, params, ins, outs;
  const size_t per_block = box.steps.size() / blocks;
  for (size_t k = 0; k < per_block; ++k) {
    const auto& st = view.step(box.steps[k]);
    ops.push_back(label_of(st));
    for (int v : st.inputs) {
      const std::string p = view.name(v) + " " + shape_text(view.value(v).shape);
      if (view.absorbed[static_cast<size_t>(v)] && std::find(params.begin(), params.end(), p) == params.end())
        params.push_back(p);
    }
  }
  for (int v : box_inputs(view, b)) ins.push_back(shape_text(view.value(v).shape));
  for (int v : box_outputs(view, b)) outs.push_back(shape_text(view.value(v).shape));
  std::string label = title + "<br/><font point-size=\"9\">" + esc(join(ops, " \u2192 ")) + "</font>";
  if (!params.empty())
    label += "<br/>params: " + esc(join(params, ", ")) + (blocks > 1 ? " (per block)" : "");
  label += "<br/>in " + esc(join(ins, ", ")) + " \u2192 out " + esc(join(outs, ", "));
  return fmt::format("m{} [shape=box3d, style=\"filled\", fillcolor=\"#d8f0d8\", margin=\"0.15,0.1\", label=<{}>];",
                     b, label);
}

// Nodes grouped by cluster path, in order of first appearance.
struct Clusters {
  std::map<std::string, std::vector<std::string>> lines;
  std::vector<std::string> order;  // every path and its parents, first appearance first

  void add(const std::string& path, std::string line) {
    for (size_t end = 0; !path.empty() && end != std::string::npos;) {
      end = path.find('/', end + 1);
      std::string p = path.substr(0, end);
      if (std::find(order.begin(), order.end(), p) == order.end()) order.push_back(p);
    }
    lines[path].push_back(std::move(line));
  }

  void emit(std::string& out, const std::string& path, int depth) const {
    const std::string pad(static_cast<size_t>(2 * depth + 2), ' ');
    if (auto it = lines.find(path); it != lines.end())
      for (const auto& l : it->second) out += pad + l + "\n";
    for (size_t k = 0; k < order.size(); ++k) {
      if (order[k].empty() || parent_of(order[k]) != path) continue;
      out += fmt::format("{}subgraph cluster_{} {{\n", pad, k);
      out += fmt::format("{}  label=<<b>{}</b>>; style=\"rounded,dashed\"; color=\"#888888\";\n", pad,
                         esc(last_of(order[k])));
      emit(out, order[k], depth + 1);
      out += pad + "}\n";
    }
  }
};

std::string edge(std::string_view from, std::string_view to, const std::string& attrs = "") {
  return fmt::format("  {} -> {}{};\n", from, to, attrs.empty() ? "" : " [" + attrs + "]");
}

// The label of a gradient on a frame's edge: "upstream dL/dy = ...".
std::string grad_edge_attrs(const View& view, std::string_view role, int v, const Tensor& g) {
  return fmt::format("dir=back, color=\"{}\", fontcolor=\"{}\", penwidth=2, label=<{}>", kHot, kHot,
                     table_html("<tr><td align=\"left\">" + std::string(role) + "</td></tr>" +
                                equation_rows("dL/d" + view.name(v), describe(g, view.o))));
}

std::string step_edges(const View& view, int s, const Frame* f) {
  const auto& st = view.step(s);
  const bool hot = f && f->step == s;
  std::string out;
  for (size_t i = 0; i < st.inputs.size(); ++i) {
    const int v = st.inputs[i];
    std::string attrs;
    if (hot && i < st.downstream.size() && st.downstream[i].defined())
      attrs = grad_edge_attrs(view, "downstream", v, st.downstream[i]);
    else if (hot)
      attrs = "style=dashed, label=<no gradient<br/>needed>";
    out += edge(fmt::format("v{}", v), fmt::format("s{}", s), attrs);
  }
  std::string attrs = hot ? grad_edge_attrs(view, "upstream", st.output, st.upstream) : "";
  out += edge(fmt::format("s{}", s), fmt::format("v{}", st.output), attrs);
  return out;
}

std::string write_dot(const View& view, const Frame* f, const std::string& title) {
  Clusters cl;
  std::string edges;
  std::vector<char> placed(view.tr.values().size(), 0);
  auto place = [&](int v) {
    if (placed[static_cast<size_t>(v)]) return;
    placed[static_cast<size_t>(v)] = 1;
    cl.add(view.cluster_of_value(v), value_node(view, v, f));
  };
  for (size_t k = 0; k < view.tr.steps().size(); ++k) {
    const int s = static_cast<int>(k);
    const int b = view.box_of[k];
    if (b < 0) {
      for (int v : view.step(s).inputs) place(v);
      cl.add(view.cluster_of_step(s), step_node(view, s, f));
      place(view.step(s).output);
      edges += step_edges(view, s, f);
    } else if (view.boxes[static_cast<size_t>(b)].steps.front() == s) {
      const std::vector<int> ins = box_inputs(view, b);
      for (int v : ins) place(v);
      cl.add(view.cluster_of_step(s), box_node(view, b));
      for (int v : ins) edges += edge(fmt::format("v{}", v), fmt::format("m{}", b));
      for (int v : box_outputs(view, b)) {
        place(v);
        edges += edge(fmt::format("m{}", b), fmt::format("v{}", v));
      }
    }
  }
  std::string out = "digraph tape {\n";
  out += fmt::format("  graph [rankdir={}, ordering=in, fontname=\"Helvetica\", fontsize=12, nodesep=0.25, "
                     "ranksep=0.35",
                     view.o.rankdir);
  if (!title.empty()) {
    std::string lines = esc(title);
    for (size_t at = lines.find('\n'); at != std::string::npos; at = lines.find('\n', at))
      lines.replace(at, 1, "<br/>");
    out += fmt::format(", labelloc=t, label=<<b>{}</b>>", lines);
  }
  out += "];\n";
  out += "  node [fontname=\"Helvetica\", fontsize=11, margin=\"0.08,0.04\"];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=10, color=\"#555555\", arrowsize=0.7];\n";
  cl.emit(out, "", 0);
  out += edges;
  out += "}\n";
  return out;
}

// ---- Backward frames ---------------------------------------------------------------

void accumulate(Tensor& into, const Tensor& g) {
  NoGradGuard off;
  into = into.defined() ? into + g : g;
}

// What each backward step leaves behind: every value's gradient so far, after the step's rule ran.
std::vector<Frame> make_frames(const Trace& tr) {
  const size_t nv = tr.values().size();
  Frame state;
  state.grad.resize(nv);
  state.got.assign(nv, 0);
  state.done.assign(tr.steps().size(), 0);
  std::vector<Frame> frames;
  const auto& order = tr.backward_order();
  for (size_t k = 0; k < order.size(); ++k) {
    const auto& st = tr.steps()[static_cast<size_t>(order[k])];
    const auto out = static_cast<size_t>(st.output);
    if (!state.grad[out].defined()) {  // a root: backward seeded its gradient
      state.grad[out] = st.upstream;
      ++state.got[out];
    }
    for (size_t i = 0; i < st.inputs.size() && i < st.downstream.size(); ++i) {
      if (!st.downstream[i].defined()) continue;
      const auto v = static_cast<size_t>(st.inputs[i]);
      accumulate(state.grad[v], st.downstream[i]);
      ++state.got[v];
    }
    Frame f = state;
    f.index = static_cast<int>(k);
    f.step = order[k];
    frames.push_back(std::move(f));
    state.done[static_cast<size_t>(order[k])] = 1;
  }
  for (Frame& f : frames) f.total = state.got;
  return frames;
}

std::string frame_title(const Trace& tr, const Frame& f) {
  const auto& st = tr.steps()[static_cast<size_t>(f.step)];
  return fmt::format("backward step {} of {}: {} (step #{}{})", f.index + 1, tr.backward_order().size(),
                     label_of(st), f.step, st.scope.empty() ? "" : ", in " + st.scope);
}

// ---- Processes and files -----------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string format_of(const std::string& path) {
  const size_t dot = path.rfind('.');
  const std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  if (ext != "svg" && ext != "png" && ext != "pdf")
    fail("dump", "cannot render {}: the extension must be .svg, .png or .pdf", path);
  return ext;
}

std::string dot_or_fail(const std::string& what, const std::string& dot_path) {
  std::string dot = find_dot();
  if (dot.empty())
    fail("dump",
         "cannot render {}: Graphviz's `dot` program is not on PATH. Install the Debian package graphviz "
         "(sudo apt-get install graphviz){}",
         what, dot_path.empty() ? "" : fmt::format("; the DOT file {} is written and can be rendered later", dot_path));
  return dot;
}

// Runs `dot -T<format> -o out in`; dot's stderr goes into the error message.
void run_dot(const std::string& dot, const std::string& format, const std::string& in, const std::string& out) {
  const std::string err_path = out + ".err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> args = {dot, "-T" + format, "-o", out, in};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, dot.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) fail("dump", "cannot start {} to render {}: {}", dot, in, std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const std::string err = read_file(err_path);
  std::remove(err_path.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::remove(out.c_str());
    fail("dump", "dot failed to render {} as {} (exit status {}): {}", in, format,
         WIFEXITED(status) ? WEXITSTATUS(status) : -1, err);
  }
}

// ---- HTML --------------------------------------------------------------------------

constexpr std::string_view kHtmlStyle = R"(
body { font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }
.controls { position: sticky; top: 0; background: #fff; padding: 0.5em 0; border-bottom: 1px solid #ddd; }
.controls button { font-size: 1em; padding: 0.2em 0.8em; }
.controls input { width: 40%; vertical-align: middle; }
.frame { display: grid; grid-template-columns: minmax(16em, 26%) 1fr; gap: 1em; align-items: start; }
.frame[data-layout=wide] { grid-template-columns: 1fr; }
.frame h2 { font-size: 1.1em; margin: 0.8em 0 0.3em; }
.frame ul { margin: 0.2em 0; }
.grad { color: #b03030; }
code { white-space: pre; }
.picture svg { width: 100%; height: auto; max-height: calc(100vh - 5em); cursor: zoom-in; }
.picture.full svg { width: auto; max-height: none; cursor: zoom-out; }
.notice { background: #fff3cd; padding: 0.5em; border: 1px solid #e0c060; }
)";

constexpr std::string_view kHtmlScript = R"(
(function () {
  var frames = document.querySelectorAll('.frame');
  var slider = document.getElementById('slider');
  var counter = document.getElementById('counter');
  var current = 0;
  function show(k) {
    if (!frames.length) return;
    current = Math.max(0, Math.min(frames.length - 1, k));
    for (var j = 0; j < frames.length; ++j) frames[j].style.display = j === current ? '' : 'none';
    slider.value = current;
    counter.textContent = 'step ' + (current + 1) + ' of ' + frames.length;
    if (history.replaceState) history.replaceState(null, '', '#step-' + (current + 1));
  }
  document.getElementById('prev').onclick = function () { show(current - 1); };
  document.getElementById('next').onclick = function () { show(current + 1); };
  slider.oninput = function () { show(parseInt(slider.value, 10)); };
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowLeft') show(current - 1);
    if (e.key === 'ArrowRight') show(current + 1);
  });
  var pictures = document.querySelectorAll('.picture');
  for (var p = 0; p < pictures.length; ++p)
    pictures[p].onclick = function () { this.classList.toggle('full'); };
  var start = /^#step-(\d+)$/.exec(location.hash);
  show(start ? parseInt(start[1], 10) - 1 : 0);
})();
)";

std::string grad_span(const View& view, std::string_view role, int v, const Tensor& g) {
  return fmt::format("<span class=\"grad\" data-role=\"{}\" data-value=\"{}\">dL/d{} = <code>{}</code></span>", role,
                     v, esc(view.name(v)), esc(join(describe(g, view.o), "\n")));
}

// What the frame's step did, in words: upstream, local rule, downstream.
std::string frame_caption(const View& view, const Frame& f) {
  const auto& st = view.step(f.step);
  std::string out = "<h2>" + esc(frame_title(view.tr, f)) + "</h2>\n<ul>\n";
  out += "<li>upstream, arriving from the loss's side: " + grad_span(view, "upstream", st.output, st.upstream) +
         "</li>\n";
  out += "<li>rule: <code>" + esc(rule_text(st)) + "</code></li>\n";
  std::vector<std::string> locals;
  for (size_t i = 0; i < st.inputs.size(); ++i) {
    Tensor d = local_derivative(view.tr, st, i);
    if (d.defined())
      locals.push_back(esc(local_name(view, st, i)) + " = <code>" + esc(join(describe(d, view.o), "\n")) + "</code>");
  }
  if (!locals.empty()) out += "<li>local derivatives: " + join(locals, "; ") + "</li>\n";
  for (size_t i = 0; i < st.inputs.size(); ++i) {
    const bool has = i < st.downstream.size() && st.downstream[i].defined();
    out += "<li>downstream to input " + std::to_string(i) + ": ";
    out += has ? grad_span(view, "downstream", st.inputs[i], st.downstream[i])
               : "<code>" + esc(view.name(st.inputs[i])) + "</code> needs no gradient";
    out += "</li>\n";
  }
  return out + "</ul>\n";
}

// The leaves' final gradients, as the engine left them.
std::string leaf_table(const View& view) {
  std::string out = "<h2>Gradients of the leaves after backward</h2>\n<ul>\n";
  for (size_t v = 0; v < view.tr.values().size(); ++v) {
    const auto& val = view.tr.values()[v];
    if (val.leaf && val.grad.defined())
      out += "<li>" + grad_span(view, "leaf", static_cast<int>(v), val.grad) + "</li>\n";
  }
  return out + "</ul>\n";
}

std::string frame_picture(const std::string& dot, bool have_dot) {
  if (!have_dot) return "<pre>" + esc(dot) + "</pre>";
  const std::string svg = render_svg(dot);
  const size_t start = svg.find("<svg");
  return start == std::string::npos ? svg : svg.substr(start);
}

// "wide" for a picture wider than tall (drawn under its caption), else "tall" (beside it).
std::string layout_of(const std::string& picture) {
  auto attr = [&](const std::string& name) {
    const size_t at = picture.find(" " + name + "=\"");
    return at == std::string::npos ? 0.0 : std::atof(picture.c_str() + at + name.size() + 3);
  };
  return attr("width") > attr("height") ? "wide" : "tall";
}

// ---- Text tables -------------------------------------------------------------------

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], r[c].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) line += fmt::format("{:<{}}", r[c], c + 1 < r.size() ? width[c] + 2 : 0);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string bytes_text(size_t b) {
  if (b < 10 * 1024) return fmt::format("{} B", b);
  if (b < 10 * 1024 * 1024) return fmt::format("{} KiB", b / 1024);
  return fmt::format("{} MiB", b / (1024 * 1024));
}

}  // namespace

// ---- Public API ---------------------------------------------------------------------

std::string to_dot(const Trace& trace, const DumpOptions& opts) {
  View view(trace, opts);
  return write_dot(view, nullptr, opts.title);
}

std::vector<std::string> backward_frames(const Trace& trace, const DumpOptions& opts) {
  DumpOptions o = opts;
  o.fold = false;  // a frame shows every node
  View view(trace, o);
  std::vector<std::string> out;
  for (const Frame& f : make_frames(trace)) {
    const std::string title = o.title.empty() ? frame_title(trace, f) : o.title + "\n" + frame_title(trace, f);
    out.push_back(write_dot(view, &f, title));
  }
  return out;
}

std::string backward_html(const Trace& trace, const DumpOptions& opts) {
  DumpOptions o = opts;
  o.fold = false;
  View view(trace, o);
  const std::vector<Frame> frames = make_frames(trace);
  const bool have_dot = !find_dot().empty();
  const std::string title = o.title.empty() ? "Backward, step by step" : o.title;
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + esc(title) +
                    "</title>\n<style>" + std::string(kHtmlStyle) + "</style>\n</head>\n<body>\n";
  out += "<h1>" + esc(title) + "</h1>\n";
  out += "<p>Each frame is one step of backward, in the order the engine ran them. The yellow node runs its "
         "backward rule: the upstream gradient dL/dy arriving from the loss, times the node's local derivative, "
         "gives the downstream gradients dL/dx sent to its inputs (red edges). Grey nodes are done; each tensor "
         "shows the gradient it has received so far. Keys: left and right arrows; click a picture to zoom.</p>\n";
  if (frames.empty())
    out += "<p class=\"notice\">The trace holds no backward step: call backward() while the Trace is alive.</p>\n";
  if (!have_dot)
    out += "<p class=\"notice\">Graphviz is not installed, so the frames are shown as DOT text. Install the Debian "
           "package graphviz (sudo apt-get install graphviz) and write this page again to see pictures.</p>\n";
  out += fmt::format(
      "<div class=\"controls\"><button id=\"prev\">&#9664; previous</button> <input type=\"range\" id=\"slider\" "
      "min=\"0\" max=\"{}\" value=\"0\"> <button id=\"next\">next &#9654;</button> <span id=\"counter\"></span>"
      "</div>\n",
      frames.empty() ? 0 : frames.size() - 1);
  for (const Frame& f : frames) {
    const std::string picture = frame_picture(write_dot(view, &f, frame_title(trace, f)), have_dot);
    out += fmt::format("<section class=\"frame\" id=\"frame-{}\" data-step=\"{}\" data-op=\"{}\" data-layout=\"{}\">\n",
                       f.index, f.step, esc(label_of(view.step(f.step))), layout_of(picture));
    out += "<div class=\"caption\">" + frame_caption(view, f) + "</div>\n";
    out += "<div class=\"picture\">" + picture + "</div>\n</section>\n";
  }
  out += leaf_table(view);
  out += "<script>" + std::string(kHtmlScript) + "</script>\n</body>\n</html>\n";
  return out;
}

std::string to_text(const Trace& trace, int digits) {
  DumpOptions o;
  View view(trace, o);
  const bool after = !trace.backward_order().empty();
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"step", "op", "inputs -> output", "shapes", "scope"});
  if (after) rows.back().push_back("|dL/d output|");
  for (size_t k = 0; k < trace.steps().size(); ++k) {
    const auto& st = trace.steps()[k];
    std::vector<std::string> ins, shapes;
    for (int v : st.inputs) {
      ins.push_back(view.name(v));
      shapes.push_back(shape_text(view.value(v).shape));
    }
    rows.push_back({std::to_string(k), label_of(st), join(ins, ", ") + " -> " + view.name(st.output),
                    join(shapes, ", ") + " -> " + shape_text(view.value(st.output).shape),
                    st.scope.empty() ? "-" : st.scope});
    if (after) rows.back().push_back(st.upstream.defined() ? num(norm(st.upstream), digits) : "-");
  }
  std::string out = table(rows);
  std::vector<std::vector<std::string>> leaves = {{"leaf", "shape", "dtype", "kind", after ? "|grad|" : ""}};
  for (size_t v = 0; v < trace.values().size(); ++v) {
    const auto& val = trace.values()[v];
    if (!val.leaf) continue;
    const int id = static_cast<int>(v);
    leaves.push_back({view.name(id), shape_text(val.shape), std::string(dtype_name(val.dtype)),
                      view.is_param(id) ? "parameter" : "input",
                      after && val.grad.defined() ? num(norm(val.grad), digits) : ""});
  }
  return out + "\n" + table(leaves);
}

LifetimeReport lifetime_report() {
  LifetimeReport r;
  auto graph = current_graph();
  if (!graph) return r;
  std::vector<LifetimeReport::Row> by_op(static_cast<size_t>(kNumOps));
  std::set<const void*> activations, leaves;
  for (const Node& n : graph->nodes) {
    auto& row = by_op[static_cast<size_t>(n.op)];
    row.op = n.op;
    ++row.nodes;
    ++r.nodes;
    for (const SavedTensor& s : n.saved) {
      ++row.saved_tensors;
      row.saved_bytes += s.bytes();
      r.saved_bytes += s.bytes();
      if (s.leaf && leaves.insert(s.leaf->storage.get()).second) r.leaf_bytes += s.bytes();
      if (!s.leaf && s.storage && activations.insert(s.storage.get()).second) r.activation_bytes += s.bytes();
    }
  }
  for (const auto& row : by_op)
    if (row.nodes) r.rows.push_back(row);
  return r;
}

std::string to_string(const LifetimeReport& report) {
  std::vector<std::vector<std::string>> rows = {{"op", "nodes", "saved tensors", "saved bytes"}};
  for (const auto& row : report.rows)
    rows.push_back({std::string(op_name(row.op)), std::to_string(row.nodes), std::to_string(row.saved_tensors),
                    bytes_text(row.saved_bytes)});
  rows.push_back({"total", std::to_string(report.nodes), "", bytes_text(report.saved_bytes)});
  return fmt::format(
      "{}distinct memory kept for backward: {} of activations (recorded tensors, freed when backward releases the "
      "tape), {} of parameters and inputs (alive anyway)\n",
      table(rows), bytes_text(report.activation_bytes), bytes_text(report.leaf_bytes));
}

void write_file(const std::string& path, std::string_view text) { write_file_atomic(path, text, "dump"); }

std::string find_dot() {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::string_view rest(path);
  while (true) {
    const size_t colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    std::string candidate = (dir.empty() ? "." : dir) + "/dot";
    struct stat st{};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    if (colon == std::string_view::npos) return "";
    rest.remove_prefix(colon + 1);
  }
}

void render(const std::string& dot_path, const std::string& out_path) {
  const std::string format = format_of(out_path);
  const std::string dot = dot_or_fail(out_path, dot_path);
  AtomicFile out(out_path, "dump");  // dot writes the writer's own temporary (Note [Atomic writes])
  run_dot(dot, format, dot_path, out.temp_path());
  out.commit();
}

std::string render_svg(std::string_view dot_text) {
  const std::string dot = dot_or_fail("an SVG", "");
  const char* tmpdir = std::getenv("TMPDIR");
  std::string in = fmt::format("{}/tapegrad-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
  const int fd = ::mkstemp(in.data());
  if (fd < 0) fail("dump", "cannot create a temporary file {}: {}", in, std::strerror(errno));
  ::close(fd);
  const std::string out = in + ".svg";
  try {
    write_file(in, dot_text);
    run_dot(dot, "svg", in, out);
  } catch (...) {
    std::remove(in.c_str());
    throw;
  }
  std::string svg = read_file(out);
  std::remove(in.c_str());
  std::remove(out.c_str());
  return svg;
}

}  // namespace ag
