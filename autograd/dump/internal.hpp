// Internal to the graph dumps (autograd/dump/*.cpp), not installed: what the
// files share. text.cpp formats numbers and tensors, labels.cpp says what each
// op does, fold.cpp decides which nodes a drawing shows (View), dot.cpp writes
// DOT, frames.cpp the backward frames and HTML, report.cpp the text tables,
// render.cpp runs Graphviz and writes files.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "autograd/dump.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/op.hpp"

namespace ag::dump {

// ---- Numbers and tensors as text (text.cpp) ----------------------------------------

// v with `digits` significant digits (-0 prints as 0).
std::string num(double v, int digits);
// A tensor's values when it is small, else its min/mean/max.
std::vector<std::string> describe(const Tensor& t, const DumpOptions& o);
// A tensor's values, up to `rows` innermost rows of up to `cols` values; a
// larger one shows its first rows and columns ("...") and a last line saying
// what was left out, with the min/mean/max of all its elements.
std::vector<std::string> describe_rows(const Tensor& t, int digits, int64_t rows, int64_t cols);
// The Euclidean norm of all of t's elements.
double norm(const Tensor& t);
// Escapes text for Graphviz HTML-like labels and for HTML.
std::string esc(std::string_view s);
// parts joined with sep between them.
std::string join(const std::vector<std::string>& parts, std::string_view sep);
// A shape as "(2, 3)".
std::string shape_text(const Shape& s);

// ---- What each op does, for labels (labels.cpp) ------------------------------------

// The op's parameters worth showing under its name.
std::string attrs_text(const Trace::Step& st, const Shape& out_shape);
// The step's op name, or a user-defined op's own name.
std::string label_of(const Trace::Step& st);
// The op's backward rule in the textbook's notation.
std::string rule_text(const Trace::Step& st);
struct View;
// The rule with its variables named after the step's own tensors: matmul's
// "dA = dY · Bᵀ, dB = Aᵀ · dY" for y = x·W reads "dx = dy · Wᵀ, dW = xᵀ · dy".
std::string named_rule(const View& view, const Trace::Step& st);
// The local derivative dy/dx_i of an element-wise step (undefined where there is none).
Tensor local_derivative(const Trace& tr, const Trace::Step& st, size_t i);
// How a frame names local_derivative(st, i): "dy/dx", or "d(sum y)/dx" where y and x differ in shape.
std::string local_name(const View& view, const Trace::Step& st, size_t i);

// ---- Which nodes a drawing shows (fold.cpp) ----------------------------------------

// "a/b" of the scope path "a/b/c" ("" at the top).
std::string parent_of(const std::string& scope);
// "c" of the scope path "a/b/c".
std::string last_of(const std::string& scope);

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
  std::vector<Tensor> before;   // per input of the step: the gradient it had received before this step
};

// A trace as one drawing shows it: which steps fold into module boxes, which
// values those hide, and the cluster each node sits in.
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
  std::vector<std::string> names;  // per value: its name in drawings (see name_values)

  View(const Trace& t, DumpOptions opts);
  const Trace::Value& value(int v) const { return tr.values()[static_cast<size_t>(v)]; }
  const Trace::Step& step(int s) const { return tr.steps()[static_cast<size_t>(s)]; }
  std::string name(int v) const { return names[static_cast<size_t>(v)]; }
  void name_values();
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

// ---- DOT (dot.cpp) -----------------------------------------------------------------

// The view as a DOT graph, as to_dot draws it (f null) or as backward frame f.
std::string write_dot(const View& view, const Frame* f, const std::string& title);
// The view as the HTML step-through's one picture: every node drawn once and
// small (names, shapes, op names), with ids (v<value>, s<step>, e<step>_<input>,
// e<step>_out) that the page's script restyles frame by frame, so the layout
// never moves (view.o.fold must be off).
std::string write_layout_dot(const View& view, const std::string& title);

}  // namespace ag::dump
