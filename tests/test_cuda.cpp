// The CUDA suite. Where no GPU (or no CUDA build) is present it reports itself
// as skipped (exit code 77), never as passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <fmt/core.h>

#include "autograd/tapegrad.hpp"
#include "cuda/cuda.hpp"

TEST_SUITE("cuda") {

TEST_CASE("device discovery agrees with itself and never throws") {
  CHECK(ag::cuda::device_count() > 0);
  CHECK(ag::cuda::is_available());
  CHECK(ag::cuda::unavailable_reason().empty());
}

}  // TEST_SUITE

int main(int argc, char** argv) {
  // These calls must answer without throwing, GPU or not.
  const int n = ag::cuda::device_count();
  if (!ag::cuda::is_available()) {
    fmt::print("SKIPPED: {} (device_count() = {})\n", ag::cuda::unavailable_reason(), n);
    return 77;
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
