// Graph dumps: files and processes. Writes files atomically, finds Graphviz's
// `dot` on PATH and runs it to render DOT as SVG, PNG or PDF.
#include "autograd/dump/internal.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "autograd/atomic_file.hpp"

extern char** environ;

namespace ag::dump {

namespace {

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

}  // namespace

}  // namespace ag::dump

namespace ag {

using namespace dump;  // the helpers above and in internal.hpp

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
