// Graph dumps: the DOT of the textbook's small graphs against golden files
// (TAPEGRAD_UPDATE_GOLDEN=1 rewrites them), clusters and folding, backward
// frames, the HTML step-through, the text table and the lifetime report.
// Rendering with Graphviz is tested in test_dump_render.cpp.
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "demos/graph_examples.hpp"
#include "helpers.hpp"

using namespace ag;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Compares `text` with tests/golden/<name>, or rewrites it when TAPEGRAD_UPDATE_GOLDEN is set.
void check_golden(const std::string& name, const std::string& text) {
  const fs::path path = fs::path(TAPEGRAD_GOLDEN_DIR) / name;
  if (std::getenv("TAPEGRAD_UPDATE_GOLDEN")) {
    write_file(path.string(), text);
    MESSAGE("rewrote " << path.string());
    return;
  }
  INFO("golden file " << path.string() << " (set TAPEGRAD_UPDATE_GOLDEN=1 to rewrite it)");
  REQUIRE(fs::exists(path));
  const std::string want = read_text(path);
  if (want == text) return;
  std::istringstream a(want), b(text);
  std::string la, lb;
  for (int line = 1; std::getline(a, la) && std::getline(b, lb); ++line)
    if (la != lb) FAIL("first difference at line " << line << ":\n  golden: " << la << "\n  now:    " << lb);
  FAIL("the files differ in length");
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The DOT line that draws the node whose label starts with <b>name</b> (not a cluster's label).
std::string node_line(const std::string& dot, const std::string& name) {
  std::istringstream in(dot);
  for (std::string line; std::getline(in, line);)
    if (line.find("<b>" + name + "</b>") != std::string::npos && line.find(" [shape=") != std::string::npos)
      return line;
  return "";
}

// The body of the cluster labelled `name`, up to its closing brace.
std::string cluster_body(const std::string& dot, const std::string& name) {
  size_t at = dot.find("label=<<b>" + name + "</b>>; style");
  if (at == std::string::npos) return "";
  int depth = 1;
  size_t end = at;
  for (; end < dot.size() && depth > 0; ++end) depth += dot[end] == '{' ? 1 : dot[end] == '}' ? -1 : 0;
  return dot.substr(at, end - at);
}

// The numbers in a label ("[[0.5, -1], [2e-05, 3]]" -> 0.5 -1 2e-05 3).
std::vector<double> numbers_in(const std::string& text) {
  std::vector<double> out;
  for (const char* p = text.c_str(); *p;) {
    if (std::isdigit(static_cast<unsigned char>(*p)) || (*p == '-' && std::isdigit(static_cast<unsigned char>(p[1])))) {
      char* end = nullptr;
      out.push_back(std::strtod(p, &end));
      p = end;
    } else {
      ++p;
    }
  }
  return out;
}

// The printed values equal the tensor's to the 4 significant digits they show.
void check_printed(const std::string& printed, const Tensor& t) {
  INFO("printed: " << printed);
  const std::vector<double> got = numbers_in(printed);
  REQUIRE(static_cast<int64_t>(got.size()) == t.numel());
  for (int64_t i = 0; i < t.numel(); ++i)
    CHECK(std::abs(got[static_cast<size_t>(i)] - t.value_at(i)) <= 5e-4 * std::abs(t.value_at(i)) + 1e-9);
}

// The text inside <code> of each gradient span with this role, in page order: (value id, text).
std::vector<std::pair<int, std::string>> grad_spans(const std::string& html, const std::string& role) {
  const std::string start = "<span class=\"grad\" data-role=\"" + role + "\" data-value=\"";
  std::vector<std::pair<int, std::string>> out;
  for (size_t at = html.find(start); at != std::string::npos; at = html.find(start, at + 1)) {
    const int value = std::atoi(html.c_str() + at + start.size());
    const size_t code = html.find('>', html.find("<code", at)) + 1;  // <code> or <code class="inline">
    out.emplace_back(value, html.substr(code, html.find("</code>", code) - code));
  }
  return out;
}

// PATH set to a folder without `dot` for its scope.
struct NoGraphviz {
  std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "";
  NoGraphviz() { setenv("PATH", "/nonexistent-tapegrad-test", 1); }
  ~NoGraphviz() { setenv("PATH", saved.c_str(), 1); }
};

fs::path scratch_dir() {
  fs::path d = fs::temp_directory_path() / ("tapegrad-test-dump-" + std::to_string(getpid()));
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST_SUITE("dump") {

TEST_CASE("DOT: each small example matches its golden file") {
  for (const auto& ex : graph_examples::examples()) {
    INFO("example " << ex.name);
    Trace trace;
    auto keep = ex.run();
    check_golden(ex.name + ".dot", to_dot(trace, {.title = ex.title}));
  }
}

TEST_CASE("DOT: the branch example's backward frames match their golden file") {
  Trace trace;
  auto keep = graph_examples::branch();
  std::string all;
  for (const std::string& f : backward_frames(trace)) all += f;
  check_golden("branch_frames.dot", all);
}

TEST_CASE("DOT: the same program writes the same text") {
  auto once = [] {
    Trace trace;
    auto keep = graph_examples::two_layer_net();
    std::string out = to_dot(trace) + to_dot(trace, {.fold = true});
    for (const std::string& f : backward_frames(trace)) out += f;
    return out;
  };
  const std::string first = once();
  CHECK(first == once());
  CHECK(first.find("0x") == std::string::npos);  // ids, never addresses
}

TEST_CASE("DOT: parameters, inputs and the loss are drawn in their own colours") {
  Trace trace;
  auto keep = graph_examples::two_layer_net();
  const std::string dot = to_dot(trace);
  CHECK(node_line(dot, "W1").find("fillcolor=\"#ffd8a8\"") != std::string::npos);
  CHECK(node_line(dot, "b2").find("fillcolor=\"#ffd8a8\"") != std::string::npos);
  CHECK(node_line(dot, "x").find("fillcolor=\"#cfe2ff\"") != std::string::npos);
  CHECK(node_line(dot, "t").find("fillcolor=\"#cfe2ff\"") != std::string::npos);
  CHECK(node_line(dot, "loss").find("fillcolor=\"#ffb3b3\", peripheries=2") != std::string::npos);
  CHECK(node_line(dot, "h").find("fillcolor=\"white\"") != std::string::npos);
  CHECK(node_line(dot, "matmul").find("shape=box") != std::string::npos);
  CHECK(node_line(dot, "h").find("shape=ellipse") != std::string::npos);
}

TEST_CASE("DOT: tensors show name, shape, dtype, values and, after backward, their gradient") {
  Trace trace;
  auto keep = graph_examples::mul_node();
  const std::string no_grads = to_dot(trace, {.grads = false});
  CHECK(node_line(no_grads, "x").find("(3,) float32") != std::string::npos);
  CHECK(node_line(no_grads, "x").find("[1, 2, 3]") != std::string::npos);
  CHECK(node_line(no_grads, "x").find("grad") == std::string::npos);
  // dx = dz * y = [1, 0.5, 2] * [4, 5, 6]
  CHECK(node_line(to_dot(trace), "x").find("[4, 2.5, 12]") != std::string::npos);
}

TEST_CASE("DOT: unnamed tensors get names from their value ids") {
  Trace trace;
  Tensor w = ones({2}).requires_grad_();
  Tensor y = sigmoid(w * 2.0);
  const std::string dot = to_dot(trace);
  CHECK(dot.find("<i>t0</i>") != std::string::npos);  // w, the first value seen
  CHECK(dot.find("<i>t1</i>") != std::string::npos);  // w * 2
  CHECK(dot.find("<i>t2</i>") != std::string::npos);  // sigmoid
  y.set_name("y");
  CHECK(to_dot(trace).find("<b>y</b>") != std::string::npos);
}

TEST_CASE("DOT: a tensor with more than max_values elements shows min, mean and max") {
  Trace trace;
  Tensor w = arange(0, 16).reshape({4, 4}).requires_grad_().set_name("w");
  Tensor y = w * 2.0;
  const std::string dot = to_dot(trace);
  CHECK(node_line(dot, "w").find("min 0<br/>mean 7.5<br/>max 15") != std::string::npos);
  CHECK(node_line(to_dot(trace, {.max_values = 16}), "w").find("[[0, 1, 2, 3],") != std::string::npos);
}

TEST_CASE("DOT: NameScope groups a layer's nodes and parameters in a labelled cluster") {
  Trace trace;
  auto keep = graph_examples::two_layer_net();
  const std::string dot = to_dot(trace);
  const std::string fc1 = cluster_body(dot, "fc1");
  REQUIRE_FALSE(fc1.empty());
  for (const char* name : {"W1", "b1", "x", "matmul", "reshape", "repeat", "add", "a1"}) {
    INFO(name);
    CHECK(fc1.find("<b>" + std::string(name) + "</b>") != std::string::npos);
  }
  CHECK(fc1.find("<b>W2</b>") == std::string::npos);
  CHECK(fc1.find("<b>sigmoid</b>") == std::string::npos);
  CHECK(cluster_body(dot, "fc2").find("<b>W2</b>") != std::string::npos);
  CHECK(count(to_dot(trace, {.clusters = false}), "subgraph") == 0);
}

TEST_CASE("DOT: folding draws each module as one box with its parameters and shapes; expand opens one") {
  Trace trace;
  auto keep = graph_examples::two_layer_net();
  const std::string folded = to_dot(trace, {.fold = true});
  CHECK(count(folded, "shape=box3d") == 3);  // fc1, fc2, loss
  CHECK(node_line(folded, "fc1").find("params: W1 (2, 3), b1 (3,)") != std::string::npos);
  CHECK(node_line(folded, "fc1").find("in (4, 2) \u2192 out (4, 3)") != std::string::npos);
  CHECK(node_line(folded, "W1").empty());  // drawn inside its module's box
  CHECK(!node_line(folded, "a1").empty());  // a module's output stays visible
  CHECK(folded.find("<i>t2</i>") == std::string::npos);  // its internals do not

  const std::string open_fc2 = to_dot(trace, {.fold = true, .expand = {"fc2"}});
  CHECK(count(open_fc2, "shape=box3d") == 2);
  CHECK(cluster_body(open_fc2, "fc2").find("<b>W2</b>") != std::string::npos);
  CHECK(cluster_body(open_fc2, "fc2").find("<b>matmul</b>") != std::string::npos);
}

TEST_CASE("DOT: a chain of identical modules folds to one box") {
  Trace trace;
  auto keep = graph_examples::deep_mlp(5);
  const std::string dot = to_dot(trace, {.fold = true});
  CHECK(count(dot, "shape=box3d") == 4);  // input, hidden1 ... hidden5, output, loss
  CHECK(dot.find("hidden1 \u2026 hidden5</b><br/>5 identical blocks") != std::string::npos);
  CHECK(dot.find("params: W_hidden1 (4, 4), b_hidden1 (4,) (per block)") != std::string::npos);
  CHECK(count(to_dot(trace, {.fold = true, .fold_repeats = false}), "shape=box3d") == 8);
  // Expanding the middle block splits the chain around it.
  const std::string mid = to_dot(trace, {.fold = true, .expand = {"hidden3"}});
  CHECK(mid.find("hidden1 \u2026 hidden2</b>") != std::string::npos);
  CHECK(mid.find("hidden4 \u2026 hidden5</b>") != std::string::npos);
  CHECK(!cluster_body(mid, "hidden3").empty());
}

TEST_CASE("DOT: a repeated run of several modules folds to one box; a scope wrapping them stays open") {
  Trace trace;
  Generator gen(0);
  Tensor h = randn({4, 3}, gen).set_name("x");
  std::vector<Tensor> keep;
  {
    NameScope net("net");
    for (int i = 1; i <= 3; ++i) {
      Tensor W = randn({3, 3}, gen).requires_grad_().set_name(fmt::format("W{}", i));
      keep.push_back(W);
      {
        NameScope layer(fmt::format("Linear{}", i));
        h = matmul(h, W);
      }
      NameScope act(fmt::format("Tanh{}", i));
      h = tanh(h);
    }
  }
  Tensor loss = sum(h);
  const std::string dot = to_dot(trace, {.fold = true});
  CHECK(!cluster_body(dot, "net").empty());  // folding "net" would leave one box
  CHECK(count(dot, "shape=box3d") == 1);
  CHECK(dot.find("Linear1 \u2026 Tanh3</b><br/>3 identical blocks of Linear1 \u2192 Tanh1") != std::string::npos);
  CHECK(dot.find("params: W1 (3, 3) (per block)") != std::string::npos);
  CHECK(!node_line(dot, "sum").empty());  // outside every scope: drawn as itself
}

TEST_CASE("DOT and frames: the fused affine node says what it holds inside, and its frame shows its rule") {
  Trace trace;
  Generator gen(2);
  Tensor x = randn({4, 3}, gen).set_name("x");
  Tensor W = randn({3, 2}, gen).requires_grad_().set_name("W");
  Tensor b = zeros({2}).requires_grad_().set_name("b");
  Tensor loss = sum(affine(x, W, b));
  loss.backward();
  REQUIRE(trace.steps().size() == 2);  // affine, sum: one node for the layer
  const std::string line = node_line(to_dot(trace), "affine");
  REQUIRE(!line.empty());
  CHECK(line.find("X\u00b7W + b (matmul, repeat, add)") != std::string::npos);
  const std::vector<std::string> frames = backward_frames(trace);
  REQUIRE(frames.size() == 2);
  // The rule's variables are the step's own tensors (its output is unnamed: t3).
  CHECK(frames[1].find("rule: dx = dt3 \u00b7 W\u1d40, dW = x\u1d40 \u00b7 dt3, db = dt3 summed over the rows") !=
        std::string::npos);
}

TEST_CASE("frames: one per backward step, its node highlighted, the engine's gradients on its edges") {
  Trace trace;
  auto keep = graph_examples::branch();
  const std::vector<std::string> frames = backward_frames(trace);
  REQUIRE(frames.size() == trace.backward_order().size());
  REQUIRE(frames.size() == 3);
  for (size_t k = 0; k < frames.size(); ++k) {
    const int s = trace.backward_order()[k];
    INFO("frame " << k << ", step " << s);
    CHECK(frames[k].find(fmt::format("s{} [shape=box, style=\"rounded,filled\", fillcolor=\"#ffe066\"", s)) !=
          std::string::npos);
    CHECK(count(frames[k], "#ffe066") == 1);
    CHECK(count(frames[k], "upstream") == 1);
  }
  // The first step (L = u * v) sends u its first gradient of two.
  CHECK(frames[0].find("grad so far (1 of 2)") != std::string::npos);
  // Its local derivative dL/du is v = sigmoid(2).
  CHECK(frames[0].find("local \u2202L/\u2202u = 0.8808") != std::string::npos);
  CHECK(frames[2].find("grad so far") == std::string::npos);
}

// Every op's frame line comes from the index: its rule (ops.def's rule column)
// and its local derivative (its own backward rule run with a unit upstream
// gradient), so ops added later get them too, and so do matmul and sum.
TEST_CASE("frames: each step shows its row's rule and a local derivative from its own rule") {
  Trace trace;
  Tensor a = tensor({1.0, -2.0}, {1, 2}).requires_grad_().set_name("a");
  Tensor b = tensor({0.5, 3.0}, {1, 2}).requires_grad_().set_name("b");
  Tensor w = tensor({1.0, 2.0, 3.0, 4.0}, {2, 2}).requires_grad_().set_name("W");
  Tensor s = softplus(a).set_name("s");
  Tensor m = maximum(s, b).set_name("m");
  Tensor y = matmul(m, w).set_name("y");
  Tensor loss = sum(y).set_name("L");
  loss.backward();
  const std::vector<std::string> frames = backward_frames(trace);
  auto frame_of = [&](Op op) {
    for (size_t k = 0; k < frames.size(); ++k)
      if (trace.steps()[static_cast<size_t>(trace.backward_order()[k])].op == op) return frames[k];
    return std::string();
  };
  for (Op op : {Op::softplus, Op::maximum, Op::matmul, Op::sum}) {
    INFO("op " << op_name(op));
    const std::string f = frame_of(op);
    REQUIRE(!f.empty());
    std::string rule;  // as the HTML-like label escapes it
    for (char c : op_info(op).rule) rule += c == '>' ? "&gt;" : c == '<' ? "&lt;" : std::string(1, c);
    CHECK(f.find("rule: ") != std::string::npos);
    CHECK(f.find("local \u2202") != std::string::npos);
  }
  // The rules name the step's tensors: the row's dA, dB, dY become dm, dW, dy.
  CHECK(frame_of(Op::matmul).find("rule: dm = dy \u00b7 W\u1d40, dW = m\u1d40 \u00b7 dy") != std::string::npos);
  CHECK(frame_of(Op::softplus).find("rule: da = ds \u00b7 sigmoid(a)") != std::string::npos);
  CHECK(frame_of(Op::maximum).find("rule: ds = dm \u00b7 [s &gt; b], db = dm \u00b7 [s &lt; b] (a tie splits dm") !=
        std::string::npos);
  // softplus: dy/dx = sigmoid(x): sigmoid(1) = 0.7311, sigmoid(-2) = 0.1192
  CHECK(frame_of(Op::softplus).find("local \u2202s/\u2202a") != std::string::npos);
  CHECK(frame_of(Op::softplus).find("0.7311") != std::string::npos);
  CHECK(frame_of(Op::softplus).find("0.1192") != std::string::npos);
  // matmul: d(sum y)/dm = 1 . W^T = row sums of W: 3, 7
  CHECK(frame_of(Op::matmul).find("local \u2202\u03a3y/\u2202m") != std::string::npos);
}

TEST_CASE("HTML: one frame per backward step, and its gradient labels equal the engine's gradients") {
  Trace trace;
  auto keep = graph_examples::two_layer_net();
  const std::string html = backward_html(trace);
  const auto& order = trace.backward_order();
  REQUIRE(count(html, "<section class=\"frame\"") == order.size());
  CHECK(html.find("<script src") == std::string::npos);  // self-contained
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("id=\"slider\"") != std::string::npos);

  size_t at = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const int s = order[k];
    const auto& st = trace.steps()[static_cast<size_t>(s)];
    INFO("frame " << k << ": step " << s << " " << op_name(st.op));
    at = html.find("<section class=\"frame\"", at);
    const size_t end = html.find("</section>", at);
    const std::string frame = html.substr(at, end - at);
    at = end;
    CHECK(frame.find(fmt::format("data-step=\"{}\"", s)) != std::string::npos);
    const auto up = grad_spans(frame, "upstream");
    REQUIRE(up.size() == 1);
    CHECK(up[0].first == st.output);
    check_printed(up[0].second, st.upstream);
    const auto down = grad_spans(frame, "downstream");
    size_t d = 0;
    for (size_t i = 0; i < st.inputs.size(); ++i) {
      if (!st.downstream[i].defined()) continue;
      REQUIRE(d < down.size());
      CHECK(down[d].first == st.inputs[i]);
      check_printed(down[d++].second, st.downstream[i]);
    }
    CHECK(d == down.size());
  }
  // The leaves' gradients are the ones backward left in .grad().
  const auto leaves = grad_spans(html, "leaf");
  CHECK(leaves.size() == 4);  // W1, b1, W2, b2
  for (const auto& [v, text] : leaves) {
    const std::string name = trace.values()[static_cast<size_t>(v)].name();
    INFO(name);
    for (const Tensor& t : keep)
      if (t.name() == name) check_printed(text, t.grad());
  }
}

// The blocks of one frame of the HTML page: the text between <div class="block NAME"> and the next block.
std::string block_of(const std::string& frame, const std::string& name) {
  const size_t at = frame.find("<div class=\"block " + name + "\">");
  if (at == std::string::npos) return "";
  return frame.substr(at, frame.find("<div class=\"block ", at + 1) - at);
}

std::vector<std::string> html_frames(const std::string& html) {
  std::vector<std::string> out;
  for (size_t at = html.find("<section class=\"frame\""); at != std::string::npos;
       at = html.find("<section class=\"frame\"", at + 1))
    out.push_back(html.substr(at, html.find("</section>", at) - at));
  return out;
}

TEST_CASE("HTML: every frame states upstream, local derivative and downstream, with the rule in its tensors' names") {
  Trace trace;
  auto keep = graph_examples::two_layer_net(0.1);  // matmul, reshape, repeat, add, sigmoid, mul, sum, the loss
  const std::string html = backward_html(trace);
  const auto frames = html_frames(html);
  REQUIRE(frames.size() == trace.backward_order().size());
  std::set<std::string> ops;
  for (size_t k = 0; k < frames.size(); ++k) {
    const auto& st = trace.steps()[static_cast<size_t>(trace.backward_order()[k])];
    INFO("frame " << k << ": " << op_name(st.op));
    ops.insert(std::string(op_name(st.op)));
    CHECK(block_of(frames[k], "upstream").find("data-role=\"upstream\"") != std::string::npos);
    const std::string local = block_of(frames[k], "local");
    CHECK(local.find("class=\"rule\"") != std::string::npos);
    CHECK(local.find("class=\"with\"") != std::string::npos);
    CHECK(count(block_of(frames[k], "downstream"), "<div class=\"input\">") == st.inputs.size());
  }
  for (const char* op : {"matmul", "reshape", "repeat", "sum", "add", "mul", "sigmoid", "softmax_cross_entropy"})
    CHECK(ops.count(op) == 1);
  // matmul with its own tensors' names and shapes, and the numbers it multiplies by
  CHECK(html.find("rule: <code>dh = dt9 \u00b7 W2\u1d40, dW2 = h\u1d40 \u00b7 dt9</code>") != std::string::npos);
  CHECK(html.find("with dt9 (4, 2), h (4, 3) and W2 (3, 2)") != std::string::npos);
  CHECK(html.find("<div class=\"tensor\">W2 (3, 2) = <code>") != std::string::npos);
  // W1 is used three times; its last frame adds the third gradient to the sum of the other two
  CHECK(html.find("W1 gets the sum of its gradients so far (2 of 3 contributions)") != std::string::npos);
  CHECK(html.find("W1 gets the sum of its gradients so far (3 of 3 contributions, complete)") != std::string::npos);
  // the titles say the backward step, and the tape position apart from it
  CHECK(html.find("<h2>backward step 1 of ") != std::string::npos);
  CHECK(html.find("(step #") == std::string::npos);
}

TEST_CASE("HTML: a value used twice shows the sum of its gradients") {
  Trace trace;
  auto keep = graph_examples::branch();
  const std::string html = backward_html(trace);
  CHECK(html.find("u gets 0.8808 + 0.21 = 1.091, 2 of 2 contributions, complete") != std::string::npos);
  CHECK(html.find("u is used 2 times: this is its first contribution") != std::string::npos);
}

TEST_CASE("HTML: the picture is drawn once, and the frames restyle its nodes by id") {
  Trace trace;
  auto keep = graph_examples::branch();
  const std::string html = backward_html(trace);
  for (const auto& f : html_frames(html)) {
    const size_t at = f.find("data-step=\"");
    REQUIRE(at != std::string::npos);
    const int s = std::atoi(f.c_str() + at + 11);
    CHECK(f.find(fmt::format("data-hot=\"s{}\"", s)) != std::string::npos);
  }
  if (find_dot().empty()) return;
  CHECK(count(html, "<svg") == 1);
  for (size_t s = 0; s < trace.steps().size(); ++s) CHECK(html.find(fmt::format("id=\"s{}\"", s)) != std::string::npos);
}

TEST_CASE("frames: renaming a rule's variables leaves its words alone") {
  Trace trace;
  Tensor p = tensor({4.0, 9.0}).requires_grad_().set_name("p");
  Tensor r = sqrt(p).set_name("r");
  Tensor L = sum(r).set_name("L");
  L.backward();
  const std::string html = backward_html(trace);
  CHECK(html.find("rule: <code>dp = dr / (2\u00b7r)</code>") != std::string::npos);  // "2y" is twice y
  CHECK(html.find("rule: <code>dr = dL repeated along the summed axes (Repeat)</code>") != std::string::npos);
}

// A user-defined op's frame has its rule (the user's backward) and says why no local numbers are shown.
struct Cube : Function {
  std::string_view name() const override { return "cube"; }
  Tensor forward(FunctionCtx& ctx, std::span<const Tensor> x) override {
    ctx.save(x[0]);
    return x[0] * x[0] * x[0];
  }
  void backward(FunctionCtx& ctx, const Tensor& gy, Grads& gx) override {
    gx[0] = gy * 3.0 * ctx.saved(0) * ctx.saved(0);  // d x^3/dx = 3x^2
  }
};

TEST_CASE("HTML: a user-defined op's frame states its rule, and why it shows no local numbers") {
  Trace trace;
  Tensor x = tensor({1.0, 2.0}).requires_grad_().set_name("x");
  Tensor y = apply(std::make_shared<Cube>(), {x}).set_name("y");
  Tensor L = sum(y).set_name("L");
  L.backward();
  const auto frames = html_frames(backward_html(trace));
  REQUIRE(frames.size() == 2);
  const std::string local = block_of(frames[1], "local");
  CHECK(local.find("the backward() of the user-defined op cube") != std::string::npos);
  CHECK(local.find("class=\"note custom\"") != std::string::npos);
  CHECK(count(block_of(frames[1], "downstream"), "<div class=\"input\">") == 1);
}

TEST_CASE("names: parameters that share a name are qualified by the module that reads them") {
  Trace trace;
  Generator gen(3);
  Tensor W = randn({2, 2}, gen).requires_grad_().set_name("weight");
  Tensor V = randn({2, 2}, gen).requires_grad_().set_name("weight");
  Tensor x = randn({1, 2}, gen).set_name("x");
  Tensor h, y;
  {
    NameScope net("MLP");
    {
      NameScope l0("Linear0");
      h = matmul(x, W).set_name("h");
    }
    NameScope l1("Linear1");
    y = matmul(h, V).set_name("y");
  }
  Tensor loss = sum(y).set_name("L");
  loss.backward();
  const std::string html = backward_html(trace);
  CHECK(html.find("dL/dLinear0.weight (2, 2)") != std::string::npos);
  CHECK(html.find("dL/dLinear1.weight (2, 2)") != std::string::npos);
  CHECK(html.find("dL/dweight") == std::string::npos);
  CHECK(to_dot(trace).find("Linear1.weight") != std::string::npos);
}

TEST_CASE("HTML: a trace without a backward pass says how to get one") {
  Trace trace;
  Tensor w = ones({2}).requires_grad_();
  Tensor y = sum(w * w);
  const std::string html = backward_html(trace);
  CHECK(count(html, "<section class=\"frame\"") == 0);
  CHECK(html.find("call backward() while the Trace is alive") != std::string::npos);
}

TEST_CASE("text: a table of the steps and, after backward, the gradient norms") {
  Trace trace;
  Tensor x = scalar(1.0).requires_grad_().set_name("x");
  Tensor w = scalar(2.0).requires_grad_().set_name("w");
  Tensor u = (x * w).set_name("u");
  Tensor L = (u * sigmoid(u)).set_name("L");
  const std::string before = to_text(trace);
  CHECK(before.find("x, w -> u") != std::string::npos);
  CHECK(before.find("() -> ()") != std::string::npos);
  CHECK(before.find("|dL/d output|") == std::string::npos);
  L.backward();
  const std::string after = to_text(trace);
  CHECK(after.find("|dL/d output|") != std::string::npos);
  CHECK(after.find(fmt::format("{:.4g}", x.grad().item<float>())) != std::string::npos);
  CHECK(after.find("parameter") != std::string::npos);
}

TEST_CASE("lifetime: live nodes and the bytes of their saved tensors, per op") {
  Tensor w = ones({3, 4}).requires_grad_();
  Tensor x = ones({2, 3});
  Tensor y = sigmoid(matmul(x, w));  // matmul saves x and w; sigmoid saves y
  LifetimeReport r = lifetime_report();
  CHECK(r.nodes == 2);
  CHECK(r.nodes == tape_stats().nodes);
  CHECK(r.saved_bytes == tape_stats().saved_bytes);
  REQUIRE(r.rows.size() == 2);
  CHECK(r.rows[0].op == Op::sigmoid);  // registry order
  CHECK(r.rows[0].saved_bytes == 2 * 4 * 4);
  CHECK(r.rows[1].op == Op::matmul);
  CHECK(r.rows[1].saved_tensors == 2);
  CHECK(r.rows[1].saved_bytes == (2 * 3 + 3 * 4) * 4);
  CHECK(r.activation_bytes == 2 * 4 * 4);
  CHECK(r.leaf_bytes == (2 * 3 + 3 * 4) * 4);
  const std::string text = to_string(r);
  CHECK(text.find("matmul") != std::string::npos);
  CHECK(text.find("total") != std::string::npos);
  sum(y).backward();
  CHECK(lifetime_report().nodes == 0);
  CHECK(lifetime_report().rows.empty());
}

TEST_CASE("lifetime: the memory kept for backward grows with depth") {
  size_t prev_nodes = 0, prev_bytes = 0;
  for (int depth : {1, 2, 4}) {
    auto keep = graph_examples::deep_mlp(depth);
    const LifetimeReport r = lifetime_report();
    CHECK(r.nodes > prev_nodes);
    CHECK(r.activation_bytes > prev_bytes);
    prev_nodes = r.nodes;
    prev_bytes = r.activation_bytes;
  }
}

TEST_CASE("render: without Graphviz the error names the package and the DOT file stays") {
  const fs::path dir = scratch_dir();
  const std::string dot_path = (dir / "g.dot").string(), svg_path = (dir / "g.svg").string();
  Trace trace;
  auto keep = graph_examples::sigmoid_node();
  write_file(dot_path, to_dot(trace));
  NoGraphviz no_dot;
  CHECK(find_dot().empty());
  const std::string msg = error_of([&] { render(dot_path, svg_path); });
  CHECK(msg.find("[dump]") == 0);
  CHECK(msg.find("graphviz") != std::string::npos);
  CHECK(msg.find(dot_path) != std::string::npos);
  CHECK(fs::exists(dot_path));
  CHECK_FALSE(fs::exists(svg_path));
  const std::string html = backward_html(trace);
  CHECK(html.find("<pre>digraph") != std::string::npos);
  CHECK(html.find("package graphviz") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("files: errors name the file; renders need a known extension") {
  const std::string msg = error_of([] { write_file("/nonexistent-tapegrad-dir/g.dot", "digraph {}"); });
  CHECK(msg.find("[dump]") == 0);
  CHECK(msg.find("/nonexistent-tapegrad-dir/g.dot") != std::string::npos);
  CHECK(error_of([] { render("g.dot", "g.jpg"); }).find(".svg, .png or .pdf") != std::string::npos);
}

}  // TEST_SUITE
