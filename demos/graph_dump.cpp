// Draws what the tape records (kAbout, which --help prints). See docs/graph-dumps.md.
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "autograd/tapegrad.hpp"
#include "cli.hpp"
#include "demos/graph_examples.hpp"
#include "plot.hpp"

namespace fs = std::filesystem;

namespace {

constexpr const char* kAbout = R"(graph_dump: draws what the tape records. The textbook's one-node graphs
(Repeat, Sum, MatMul, Mul, Sigmoid), a scalar graph with a branch and a
two-layer net with Softmax-with-Loss, each with its values and gradients; the
backward pass step by step as an HTML page; a deep MLP with its identical
layers folded; and how much memory the tape keeps as the net gets deeper.

It prints the two-layer net's tape and the memory tables, and writes DOT files,
and with Graphviz installed (Debian package graphviz) SVG and PNG pictures, into
the --out folder. See docs/graph-dumps.md.
)";

struct Writer {
  fs::path dir;
  bool have_dot;
  std::vector<std::string> written;

  void text(const std::string& file, const std::string& content) {
    ag::write_file((dir / file).string(), content);
    written.push_back(file);
  }
  // name.dot, and with Graphviz name.svg and name.png.
  void graph(const std::string& name, const std::string& dot) {
    text(name + ".dot", dot);
    if (!have_dot) return;
    for (const char* ext : {".svg", ".png"}) {
      ag::render((dir / (name + ".dot")).string(), (dir / (name + ext)).string());
      written.push_back(name + ext);
    }
  }
};

void small_examples(Writer& w) {
  for (const auto& ex : graph_examples::examples()) {
    ag::Trace trace;
    auto keep = ex.run();
    w.graph(ex.name, ag::to_dot(trace, {.title = ex.title}));
    auto frames = ag::backward_frames(trace, {.title = ex.title});
    for (size_t k = 0; k < frames.size(); ++k) w.graph(fmt::format("{}_step{}", ex.name, k + 1), frames[k]);
    w.text(ex.name + "_backward.html", ag::backward_html(trace, {.title = ex.title}));
  }
}

void two_layer(Writer& w) {
  ag::Trace trace;
  auto keep = graph_examples::two_layer_net();
  const std::string title = "Two-layer net: sigmoid(x W1 + b1) W2 + b2, Softmax-with-Loss";
  w.graph("two_layer", ag::to_dot(trace, {.title = title, .rankdir = "TB"}));
  w.graph("two_layer_folded", ag::to_dot(trace, {.title = title + " (layers folded)", .fold = true, .rankdir = "TB"}));
  w.text("two_layer_backward.html", ag::backward_html(trace, {.title = title, .rankdir = "TB"}));
  auto frames = ag::backward_frames(trace, {.rankdir = "TB"});
  for (size_t k = 0; k < frames.size(); ++k) w.graph(fmt::format("two_layer_step{:02}", k + 1), frames[k]);
  const std::string table = ag::to_text(trace);
  w.text("two_layer.txt", table);
  fmt::print("The two-layer net's tape after backward:\n\n{}\n", table);
}

// The same net with weight decay on W1: a Sum node, and W1 receiving three gradients that add up.
void two_layer_decay(Writer& w) {
  ag::Trace trace;
  auto keep = graph_examples::two_layer_net(0.1);
  const std::string title = "Two-layer net with weight decay: Softmax-with-Loss + 0.1 sum(W1 * W1)";
  w.text("two_layer_decay_backward.html", ag::backward_html(trace, {.title = title, .rankdir = "TB"}));
}

void deep(Writer& w) {
  ag::Trace trace;
  auto keep = graph_examples::deep_mlp(6);
  const std::string report = ag::to_string(ag::lifetime_report());
  fmt::print("What the tape of an MLP with 6 hidden layers keeps for backward (before backward):\n\n{}\n", report);
  w.text("deep_mlp_lifetime.txt", report);
  keep[0].backward();
  const std::string title = "MLP with 6 identical hidden layers";
  w.graph("deep_mlp_folded", ag::to_dot(trace, {.title = title + ", folded", .fold = true, .rankdir = "TB"}));
  const ag::DumpOptions expanded = {
      .title = title + ", hidden3 expanded", .fold = true, .expand = {"hidden3"}, .rankdir = "TB"};
  w.graph("deep_mlp_expand_hidden3", ag::to_dot(trace, expanded));
}

// Memory grows with depth: each layer's nodes keep their inputs until backward.
void depth_sweep(Writer& w) {
  std::string out = fmt::format("{:>13}  {:>5}  {:>11}  {:>11}\n", "hidden layers", "nodes", "saved", "activations");
  for (int depth : {1, 2, 4, 8, 16}) {
    auto keep = graph_examples::deep_mlp(depth, 64);
    const ag::LifetimeReport r = ag::lifetime_report();
    out += fmt::format("{:>13}  {:>5}  {:>9} B  {:>9} B\n", depth, r.nodes, r.saved_bytes, r.activation_bytes);
  }
  fmt::print("Tape size by depth (batch 64), before backward:\n\n{}\n", out);
  w.text("depth_sweep.txt", out);
}

}  // namespace

int main(int argc, char** argv) try {
  std::string out;
  demo::Cli cli("graph_dump", kAbout);
  cli.out(out);
  cli.parse(argc, argv);
  fs::create_directories(out);
  Writer w{out, demo::have_dot(), {}};
  small_examples(w);
  two_layer(w);
  two_layer_decay(w);
  deep(w);
  depth_sweep(w);
  fmt::print("Wrote {} files into {}/\n", w.written.size(), w.dir.string());
  const fs::path main = w.dir / (w.have_dot ? "two_layer.svg" : "two_layer.dot");
  fmt::print("Open {} and {} (the backward pass, step by step).\n", main.string(),
             (w.dir / "two_layer_backward.html").string());
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
