// The fuzz targets of the file loaders (docs/fuzzing.md), written once: the
// libFuzzer programs (fuzz_main.cpp, clang, -Dfuzz=enabled) and the replay
// test (replay.cpp, any compiler) both call these functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fuzz {

// Each target writes the input to a temporary file, loads it and returns 0.
// An ag::Error is a fine outcome; a crash, a leak, a hang, a sanitizer report,
// std::bad_alloc or any other exception is a finding.
int safetensors(const uint8_t* data, size_t size);  // load_safetensors, then load_checkpoint into Linear(3, 2) + Adam
int idx(const uint8_t* data, size_t size);          // read_idx_images and read_idx_labels on the bytes as they are
int idx_gz(const uint8_t* data, size_t size);       // the same on the bytes gzip-compressed (a valid stream)
int csv(const uint8_t* data, size_t size);          // load_csv; the first byte picks the CsvOptions (csv_options)

// With verbose, each load prints what it gave (an error's message, or "loaded") to stderr.
void set_verbose(bool on);

using TargetFn = int (*)(const uint8_t*, size_t);
struct Target {
  const char* name;
  TargetFn fn;
};
// Every target, by name.
const std::vector<Target>& targets();

// One input of a seed corpus.
struct Seed {
  std::string name;
  std::string bytes;
};
// The seed corpus of `target`: valid files written by the library's own
// writers, and the malformed files of the loader issues (oversized shapes and
// headers, gzip bombs, truncations, duplicates, ...), all generated here so no
// binary is committed.
std::vector<Seed> seeds(const std::string& target);

}  // namespace fuzz
