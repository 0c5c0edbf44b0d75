// Pictures for the teaching demos: write gnuplot data and a script, and draw
// the picture when gnuplot is installed (Debian package gnuplot-nox); graphs
// through Graphviz's dot (Debian package graphviz). Without either program a
// demo still writes its data and scripts, prints one note and succeeds.
#pragma once

#include <cstdlib>
#include <string>

#include <fmt/core.h>

#include "autograd/tapegrad.hpp"

namespace demo {

// Whether gnuplot is installed; the first time it is not, prints one note saying so.
inline bool have_gnuplot() {
  static const bool have = [] {
    if (std::system("command -v gnuplot > /dev/null 2>&1") == 0) return true;
    fmt::print("note: gnuplot is not installed (Debian package gnuplot-nox), so no picture is drawn; the data and the "
               "gnuplot scripts are written (gnuplot FILE.gp draws one later)\n");
    return false;
  }();
  return have;
}

// Whether Graphviz's dot is installed; the first time it is not, prints one note saying so.
inline bool have_dot() {
  static const bool have = [] {
    if (!ag::find_dot().empty()) return true;
    fmt::print("note: Graphviz's dot is not installed (Debian package graphviz), so no graph is drawn; the DOT files "
               "are written (dot -Tsvg FILE.dot -o FILE.svg draws one later)\n");
    return false;
  }();
  return have;
}

// Writes `script` (which sets its own output to `png`) and runs gnuplot on it;
// prints the file that was made: the picture, or the script when it is not drawn.
inline void plot(const std::string& script_path, const std::string& script, const std::string& png) {
  ag::write_file(script_path, script);
  if (!have_gnuplot()) {
    fmt::print("  {}\n", script_path);
    return;
  }
  if (std::system(fmt::format("gnuplot '{}'", script_path).c_str()) != 0) {
    fmt::print("  gnuplot failed on {}, so {} is not drawn\n", script_path, png);
    return;
  }
  fmt::print("  {}\n", png);
}

}  // namespace demo
