// Graph dumps for learning and debugging: what a Trace saw, drawn as Graphviz
// DOT (ops as boxes, tensors as ellipses with their values and gradients), as
// one frame per backward step, as a self-contained HTML step-through, and as a
// text table; plus a report of what the live tape keeps for backward.
// Everything here is deterministic (value and step ids, never addresses), so
// the DOT text can be compared against golden files. Rendering calls
// Graphviz's `dot` program (Debian package graphviz); nothing else needs it.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tape.hpp"

namespace ag {

// How a graph is drawn.
struct DumpOptions {
  std::string title{};              // the graph's caption (empty: none)
  int max_values = 12;              // tensors up to this many elements show their values, larger ones min/mean/max
  int digits = 4;                   // significant digits of every printed number
  bool grads = true;                // after backward, show each tensor's gradient
  bool clusters = true;             // draw each NameScope as a labelled cluster
  bool fold = false;                // draw each module as one box: each outermost NameScope (one that wraps
                                    // all the others at its level stays open) ...
  std::vector<std::string> expand{};  // ... except these scope paths (and their parents), drawn in full
  bool fold_repeats = true;         // when folding, back-to-back identical modules (or runs of them) become one box
  std::string rankdir = "LR";       // Graphviz layout direction: LR (the textbook's) or TB
};

// The traced graph as Graphviz DOT text.
std::string to_dot(const Trace& trace, const DumpOptions& opts = {});

// One DOT graph per backward step, in the order backward ran: the step's node
// is highlighted, its edges carry the upstream and downstream gradients, the
// node shows its rule and local derivatives, and every tensor shows the
// gradient it has received so far. opts.title, if any, heads each frame.
std::vector<std::string> backward_frames(const Trace& trace, const DumpOptions& opts = {});

// A self-contained HTML page (inline SVG and a little JavaScript, no network)
// that steps through backward with next/previous buttons, a slider and the
// arrow keys: the graph drawn once, scaled to the window and restyled per step
// (its layout never moves), and per step the upstream gradient, the local
// derivative (the rule in the step's own tensors, with their numbers: all of a
// tensor up to 10 rows of 8, else its first rows) and the downstream gradients,
// with the running sum of a value used more than once. Opened with #selftest
// the page checks every frame in the browser (tests/backward_html_test.py).
// Without Graphviz the page shows the graph's DOT source and says how to install it.
std::string backward_html(const Trace& trace, const DumpOptions& opts = {});

// A compact table for terminals: index, op, inputs -> output, shapes, scope, and
// after backward the norm of each step's upstream gradient and of each leaf's gradient.
std::string to_text(const Trace& trace, int digits = 4);

// What this thread's live tape keeps for backward, per op (see Note [Graph lifetime]).
struct LifetimeReport {
  struct Row {
    Op op;
    size_t nodes = 0;          // nodes of this op alive on the tape
    size_t saved_tensors = 0;  // tensors they keep for their backward rules
    size_t saved_bytes = 0;    // the bytes of those (a tensor saved twice counts twice)
  };
  std::vector<Row> rows;        // ops present, in registry order
  size_t nodes = 0;             // all nodes alive
  size_t saved_bytes = 0;       // the sum of rows' saved_bytes (equals tape_stats().saved_bytes)
  size_t activation_bytes = 0;  // distinct storages of saved recorded tensors: memory kept only for backward
  size_t leaf_bytes = 0;        // distinct storages of saved leaves (parameters, inputs): alive anyway
};
// The report for the live tape now (empty once a backward has released it).
LifetimeReport lifetime_report();
// The report as a table with totals and a line on why the memory is kept.
std::string to_string(const LifetimeReport& report);

// Writes `text` to `path` atomically (a temporary file unique to the writer, then rename: Note [Atomic writes]).
void write_file(const std::string& path, std::string_view text);

// The path of Graphviz's `dot` program found on PATH, or "" when it is not installed.
std::string find_dot();

// Renders a DOT file to SVG, PNG or PDF (chosen by out_path's extension) with
// `dot`, atomically; throws an Error naming the graphviz package when `dot` is
// not installed (the DOT file stays where it is).
void render(const std::string& dot_path, const std::string& out_path);

// DOT text rendered to an SVG document in memory (throws like render).
std::string render_svg(std::string_view dot);

}  // namespace ag

#endif  // TAPEGRAD_CXX20
