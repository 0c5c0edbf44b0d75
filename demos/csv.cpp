// Loading tabular data from a CSV file with bad rows (kAbout, which --help prints).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "plot.hpp"
#include "autograd/tapegrad.hpp"
#include "nn/csv.hpp"

namespace {

constexpr const char* kAbout = R"(csv: tabular data from a CSV file (nn/csv.hpp), and what happens to bad rows.
It writes flowers.csv into the --out folder: a header row, then rows of four
measurements and an integer class label, three of them bad: a field that is
not a number (the first), a field left out, an extra field. It loads the file

  strictly  (the default): the first bad row is an error that names the
            file, the line and the column; nothing is loaded
  skipping  (CsvOptions::skip_malformed): the bad rows are skipped and
            counted, the good ones loaded

and prints the error, the skipped rows with the reason for each (found by
loading the file strictly again with each bad row found blanked out, which
keeps the line numbers), and the loaded tensors. It draws the file with the
skipped rows in red and their reasons (csv.png in the --out folder).
)";

constexpr const char* kCsv = R"(sepal_length,sepal_width,petal_length,petal_width,species
5.1,3.5,1.4,0.2,0
4.9,3.0,1.4,0.2,0
7.0,3.2,4.7,1.4,1
5.8,two point seven,5.1,1.9,2
6.3,3.3,6.0,2.5,2
6.4,3.2,1.5,1
5.7,2.8,4.5,1.3,1
6.5,3.0,5.8,2.2,2,extra
5.0,3.6,1.4,0.2,0
)";

// The file's lines.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string dir;
  demo::Cli cli("csv", kAbout);
  cli.out(dir);
  cli.parse(argc, argv);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/flowers.csv";
  ag::write_file(path, kCsv);
  const std::vector<std::string> lines = lines_of(kCsv);
  fmt::print("wrote {} ({} lines):\n", path, lines.size());
  for (size_t i = 0; i < lines.size(); ++i) fmt::print("  {:>2}: {}\n", i + 1, lines[i]);

  nn::CsvOptions opts;
  opts.label = "species";
  fmt::print("\n1. strict (the default): nn::load_csv(\"{}\", {{.label = \"species\"}})\n", path);
  try {
    nn::load_csv(path, opts);
    fmt::print("   loaded without an error: the demo's file should have bad rows\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print("   error: {}\n", e.what());
  }

  opts.skip_malformed = true;
  fmt::print("\n2. skipping: the same with .skip_malformed = true\n");
  const nn::CsvData loaded = nn::load_csv(path, opts);
  fmt::print("   loaded {} rows, skipped {}\n", loaded.data.size(), loaded.skipped);
  // Which rows and why: load strictly, blank the row the error names, again until it loads.
  std::vector<std::string> remaining = lines, reasons(lines.size());
  const std::string probe = dir + "/flowers_probe.csv";
  for (int64_t found = 0; found <= loaded.skipped; ++found) {
    std::string text;
    for (const std::string& l : remaining) text += l + "\n";
    ag::write_file(probe, text);
    try {
      nn::load_csv(probe, {.label = "species"});
      break;
    } catch (const std::exception& e) {
      const std::string msg = e.what();
      const size_t at = msg.find(probe + " line ");  // "<file> line <n>..."
      const size_t line = at == std::string::npos ? 0 : std::stoul(msg.substr(at + probe.size() + 6));
      if (line < 2 || line > remaining.size()) throw;
      // the reason: the message after "<file> ", without the hint at its end
      std::string why = msg.substr(at + probe.size() + 1);
      why = why.substr(0, why.find(" (CsvOptions::"));
      fmt::print("   skipped line {}: {}\n      because {}\n", line, lines[line - 1], why);
      reasons[line - 1] = why;
      remaining[line - 1].clear();  // a blank line is ignored, and the lines after keep their numbers
    }
  }
  std::filesystem::remove(probe);
  fmt::print("   features (the columns of x):");
  for (const std::string& f : loaded.features) fmt::print(" {}", f);
  fmt::print("\n   x = {}\n   t = {}\n", ag::to_string(loaded.data.x), ag::to_string(loaded.data.t));

  // The file as a picture: one line of text per row, the skipped ones in red with the reason.
  const auto quoted = [](std::string text) {  // a gnuplot single-quoted string: ' is written ''
    for (size_t at = text.find('\''); at != std::string::npos; at = text.find('\'', at + 2)) text.insert(at, "'");
    return "'" + text + "'";
  };
  const size_t n = lines.size();
  std::string script = fmt::format(
      "set terminal pngcairo size 1150,{} noenhanced font ',10'\nset output '{}/csv.png'\n"
      "set title 'flowers.csv as nn::load_csv reads it with .skip_malformed = true: {} rows loaded (black), "
      "{} skipped (red, with the reason); the header in blue' font ',11'\n"
      "unset border\nunset tics\nunset key\nset xrange [0:1]\nset yrange [0:{}]\n",
      70 + 26 * n, dir, loaded.data.size(), loaded.skipped, n + 1);
  for (size_t i = 0; i < n; ++i) {
    const bool bad = !reasons[i].empty();
    script += fmt::format("set label {} at graph 0.01, first {} font 'Monospace,10' tc rgb '{}'\n",
                          quoted(fmt::format("line {:>2}: {}", i + 1, lines[i])), n - i, bad ? "#d62728" : i == 0 ? "#1f77b4" : "#222222");
    if (bad)
      script += fmt::format("set label {} at graph 0.42, first {} font ',9' tc rgb '#d62728'\n",
                            quoted("skipped: " + reasons[i]), n - i);
  }
  script += "plot NaN\n";
  fmt::print("wrote:\n");
  demo::plot(dir + "/csv.gp", script, dir + "/csv.png");
  return loaded.skipped == 3 && loaded.data.size() == 6 ? 0 : 1;
} catch (const std::exception& e) {
  fmt::print(stderr, "{}\n", e.what());
  return 2;
}
