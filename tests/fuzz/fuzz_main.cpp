// One libFuzzer program per target: meson compiles this file with
// -DFUZZ_TARGET=<function in targets.hpp>.
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return fuzz::FUZZ_TARGET(data, size); }
