// The demos' command lines, on CLI11 (Debian package libcli11-dev). --help
// (or -h) prints the demo's description and every option with its default,
// and exits 0. A bad command line prints one line that names the demo, the
// option and the value, and exits 2:
//
//   mnist: --epochs: "ten" is not a number
//   spiral: unknown option --no-such-option (spiral --help lists the options)
//
// Header-only, so that a program built against the installed library (the
// README example in tests/install_test.sh) can use it too.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

namespace demo {

// Checks that a value reads as a T in full (a number; a whole number in T's
// range for integral T), and rewrites it plainly ("007" as "7") for CLI11 to
// convert: CLI11 alone reads "010" as octal and "-1" as a huge unsigned.
template <class T>
CLI::Validator number() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        const char* end = s.data() + s.size();
        T value{};
        const auto [ptr, ec] = std::from_chars(s.data(), end, value);
        if (ec == std::errc() && ptr == end) {
          s = fmt::format("{}", value);
          return {};
        }
        double any = 0;
        const auto [dptr, dec] = std::from_chars(s.data(), end, any);
        if (s.empty() || dptr != end || (dec != std::errc() && dec != std::errc::result_out_of_range))
          return fmt::format("\"{}\" is not a number", s);
        if (std::is_unsigned_v<T> && s[0] == '-') return fmt::format("\"{}\" is negative", s);
        if (std::trunc(any) != any) return fmt::format("\"{}\" is not a whole number", s);
        return fmt::format("\"{}\" is out of range", s);
      },
      "");
}

// Checks that a number is at least `min`.
inline CLI::Validator at_least(double min) {
  return CLI::Validator(
      [min](std::string& s) -> std::string {
        double v = 0;
        CLI::detail::lexical_cast(s, v);  // number<T>() ran first
        return v < min ? fmt::format("{} is below the minimum {}", s, min) : std::string();
      },
      "");
}

// Checks that a number lies in [min, max].
inline CLI::Validator between(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& s) -> std::string {
        double v = 0;
        CLI::detail::lexical_cast(s, v);  // number<T>() ran first
        return v < min || v > max ? fmt::format("{} is not between {} and {}", s, min, max) : std::string();
      },
      "");
}

// The command line of one demo: declare its options, then parse().
class Cli {
 public:
  Cli(std::string name, std::string description) : name_(std::move(name)), app_(std::move(description), name_) {
    app_.allow_extras();  // parse() reports the first one itself, in one line
    app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app_.get_formatter()->column_width(38);
  }

  // `flag VALUE` into `value`, whose current value is the default --help shows.
  // A number is checked to be one.
  template <class T>
  CLI::Option* option(const std::string& flag, T& value, const std::string& help) {
    CLI::Option* o = app_.add_option(flag, value, help)->capture_default_str();
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) o->transform(number<T>());
    return o;
  }

  // `flag VALUE`, one of `allowed`.
  CLI::Option* choice(const std::string& flag, std::string& value, const std::vector<std::string>& allowed,
                      const std::string& help) {
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ",") + a;
    return app_.add_option(flag, value, help)
        ->capture_default_str()
        ->type_name("{" + list + "}")
        ->check(CLI::Validator(
            [allowed](std::string& s) -> std::string {
              for (const std::string& a : allowed)
                if (s == a) return {};
              return fmt::format("\"{}\" is not one of {}", s, names(allowed));
            },
            ""));
  }

  // `flag` without a value: sets `value` to true.
  CLI::Option* flag(const std::string& flag, bool& value, const std::string& help) {
    return app_.add_flag(flag, value, help);
  }

  // --data DIR (default: $TAPEGRAD_MNIST_DIR) and --skip-missing, for a demo that
  // reads the four MNIST (or Fashion-MNIST) files: parse() then fails in one line
  // when no folder was given, and with --skip-missing exits 77 (a skipped test),
  // saying so, when the folder does not exist.
  void data(std::string& dir, const std::string& help = "the folder with the four MNIST files") {
    if (const char* env = std::getenv("TAPEGRAD_MNIST_DIR")) dir = env;
    option("--data", dir, help)->type_name("DIR")->default_str(dir.empty() ? "$TAPEGRAD_MNIST_DIR" : dir);
    flag("--skip-missing", skip_missing_, "exit with status 77 (a skipped test) when the data folder is missing");
    data_ = &dir;
  }

  // --out DIR, the folder the demo writes into: out/<demo> by default.
  CLI::Option* out(std::string& dir) {
    dir = "out/" + name_;
    has_out_ = true;
    return option("--out", dir, "the folder to write into (created, parents included)")->type_name("DIR");
  }

  // Reads the command line into the declared options. Prints the help and exits 0
  // on --help or -h; prints one line and exits 2 on a bad command line.
  void parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--") break;
      if (a == "--help" || a == "-h") {
        fmt::print("{}", app_.help());
        std::exit(0);
      }
    }
    // CLI11 would take the next option as the value ("--out --check").
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--") break;
      const CLI::Option* o = a.rfind("--", 0) == 0 ? app_.get_option_no_throw(a) : nullptr;
      if (o == nullptr || o->get_expected_min() == 0) continue;  // not an option, or a flag
      if (i + 1 >= argc || std::string(argv[i + 1]).rfind("--", 0) == 0)
        fail(fmt::format("{}: needs a value ({})", a, o->get_type_name()));
      ++i;
    }
    try {
      app_.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      fail(one_line(e.what()));
    }
    const std::vector<std::string> extra = app_.remaining();
    if (!extra.empty()) {
      if (extra[0].size() > 1 && extra[0][0] == '-')
        fail(fmt::format("unknown option {} ({} --help lists the options)", extra[0], name_));
      fail(fmt::format("unexpected argument \"{}\" ({} takes only options{})", extra[0], name_,
                       has_out_ ? fmt::format("; to write into {0}: --out {0}", extra[0]) : ""));
    }
    if (data_ && data_->empty())
      fail("no data folder: pass --data DIR or set TAPEGRAD_MNIST_DIR (the README says where to get the files)");
    if (data_ && skip_missing_ && !std::filesystem::is_directory(*data_)) {
      fmt::print("SKIPPED: no MNIST directory at {}\n", *data_);
      std::exit(77);
    }
  }

  // Prints "<demo>: message" and exits 2, for a bad command line found after parse().
  [[noreturn]] void fail(const std::string& message) const {
    fmt::print(stderr, "{}: {}\n", name_, message);
    std::exit(2);
  }

 private:
  // "a, b or c"
  static std::string names(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i == 0 ? "" : i + 1 == v.size() ? " or " : ", ") + v[i];
    return s;
  }

  static std::string one_line(std::string s) {
    for (char& c : s)
      if (c == '\n') c = ' ';
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  }

  std::string name_;
  CLI::App app_;
  bool has_out_ = false;
  std::string* data_ = nullptr;  // --data's folder, when the demo reads one
  bool skip_missing_ = false;
};

}  // namespace demo
