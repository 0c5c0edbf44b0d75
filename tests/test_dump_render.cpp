// Rendering graph dumps with Graphviz's dot. Where dot is not installed the
// suite reports itself as skipped (exit code 77), never as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/core.h>

#include "demos/graph_examples.hpp"

using namespace ag;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("tapegrad-test-render-" + std::to_string(getpid()));
  Scratch() { fs::create_directories(dir); }
  ~Scratch() { fs::remove_all(dir); }
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
};

}  // namespace

TEST_SUITE("dump") {

TEST_CASE("render: the two-layer net becomes an SVG and a PNG") {
  Scratch tmp;
  Trace trace;
  auto keep = graph_examples::two_layer_net();
  write_file(tmp / "net.dot", to_dot(trace));
  render(tmp / "net.dot", tmp / "net.svg");
  render(tmp / "net.dot", tmp / "net.png");
  const std::string svg = read_text(tmp / "net.svg");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find(">W1<") != std::string::npos);
  CHECK(svg.find(">softmax_cross_entropy<") != std::string::npos);
  CHECK(read_text(tmp / "net.png").rfind("\x89PNG", 0) == 0);
  CHECK_FALSE(fs::exists(tmp / "net.svg.err"));  // no temporary files left behind
  for (const auto& e : fs::directory_iterator(tmp.dir)) CHECK(e.path().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("render: the HTML step-through inlines one SVG that every frame restyles") {
  Trace trace;
  auto keep = graph_examples::branch();
  const std::string html = backward_html(trace);
  CHECK(count(html, "<section class=\"frame\"") == trace.backward_order().size());
  CHECK(count(html, "<svg") == 1);
  for (int s : trace.backward_order())
    CHECK(html.find(fmt::format("<g id=\"s{}\" class=\"node\"", s)) != std::string::npos);
  CHECK(html.find("<?xml") == std::string::npos);  // SVG documents are inlined without their prolog
  CHECK(html.find("<pre>digraph") == std::string::npos);
}

TEST_CASE("render: dot's own error is reported with the file") {
  Scratch tmp;
  write_file(tmp / "bad.dot", "digraph { this is not DOT");
  std::string msg;
  try {
    render(tmp / "bad.dot", tmp / "bad.svg");
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("[dump] dot failed to render") == 0);
  CHECK(msg.find("bad.dot") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp / "bad.svg"));
  // the writer's temporary file (Note [Atomic writes]) is gone too
  for (const auto& e : fs::directory_iterator(tmp.dir)) CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
}

}  // TEST_SUITE

int main(int argc, char** argv) {
  if (find_dot().empty()) {
    fmt::print("SKIPPED: Graphviz's dot program is not on PATH (install the Debian package graphviz)\n");
    return 77;
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
