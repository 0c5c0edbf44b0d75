// A small helper for the teaching demos: write gnuplot data and a script, and
// render the picture when gnuplot is installed (Debian package gnuplot-nox).
#pragma once

#include <cstdlib>
#include <string>

#include <fmt/core.h>

#include "autograd/tapegrad.hpp"

namespace demo {

// Writes `script` (which sets its own output to `png`) and runs gnuplot on it;
// prints what was written, or why the picture is missing.
inline void plot(const std::string& script_path, const std::string& script, const std::string& png) {
  ag::write_file(script_path, script);
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    fmt::print("  gnuplot is not installed (Debian package gnuplot-nox): wrote {}\n", script_path);
    return;
  }
  if (std::system(fmt::format("gnuplot '{}'", script_path).c_str()) != 0) {
    fmt::print("  gnuplot failed on {}\n", script_path);
    return;
  }
  fmt::print("  {}\n", png);
}

}  // namespace demo
