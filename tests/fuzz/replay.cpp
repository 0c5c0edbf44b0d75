// Replays inputs through the fuzz targets (targets.hpp) without libFuzzer, in
// any build (docs/fuzzing.md):
//
//   fuzz_replay                          every target's generated seeds and reproducers (the meson test)
//   fuzz_replay --write-seeds DIR        writes them as DIR/<target>/<name>, the seed corpora of the fuzzers
//   fuzz_replay TARGET FILE_OR_DIR...    the given files, e.g. a crash file a fuzzer wrote
//   fuzz_replay -v ...                   the same, printing each load's outcome
//
// An input passes when its target returns (a load or an ag::Error); an escaping
// exception fails the run, a crash or a sanitizer report ends it.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "targets.hpp"

namespace fs = std::filesystem;

namespace {

bool verbose = false;

const fuzz::Target* find_target(const std::string& name) {
  for (const auto& t : fuzz::targets())
    if (name == t.name) return &t;
  return nullptr;
}

bool replay(const fuzz::Target& t, const std::string& what, const std::string& bytes) {
  if (verbose) std::fprintf(stderr, "%s %s:\n", t.name, what.c_str());
  try {
    t.fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL %s %s: escaped %s\n", t.name, what.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "FAIL %s %s: escaped an exception of an unknown type\n", t.name, what.c_str());
  }
  return false;
}

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "-v") {
    verbose = true;
    fuzz::set_verbose(true);
    --argc;
    ++argv;
  }
  if (argc == 3 && std::string(argv[1]) == "--write-seeds") {
    for (const auto& t : fuzz::targets()) {
      const fs::path dir = fs::path(argv[2]) / t.name;
      fs::create_directories(dir);
      for (const auto& s : fuzz::seeds(t.name)) std::ofstream(dir / s.name, std::ios::binary) << s.bytes;
    }
    return 0;
  }
  int failed = 0, total = 0;
  if (argc == 1) {
    for (const auto& t : fuzz::targets())
      for (const auto& s : fuzz::seeds(t.name)) {
        ++total;
        failed += !replay(t, s.name, s.bytes);
      }
  } else {
    const fuzz::Target* t = find_target(argv[1]);
    if (!t || argc < 3) {
      std::fprintf(stderr, "usage: fuzz_replay [-v] [--write-seeds DIR | TARGET FILE_OR_DIR...]; targets:");
      for (const auto& x : fuzz::targets()) std::fprintf(stderr, " %s", x.name);
      std::fprintf(stderr, "\n");
      return 2;
    }
    for (int i = 2; i < argc; ++i) {
      std::vector<fs::path> files;
      if (fs::is_directory(argv[i])) {
        for (const auto& e : fs::recursive_directory_iterator(argv[i]))
          if (e.is_regular_file()) files.push_back(e.path());
      } else if (fs::is_regular_file(argv[i])) {
        files.push_back(argv[i]);
      } else {
        std::fprintf(stderr, "FAIL %s: no such file or folder\n", argv[i]);
        ++failed;
      }
      for (const auto& f : files) {
        ++total;
        failed += !replay(*t, f.string(), bytes_of(f));
      }
    }
  }
  std::printf("fuzz_replay: %d inputs, %d failed\n", total, failed);
  return failed ? 1 : 0;
}
