// Questions about the GPU that never throw.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <string>

namespace ag::cuda {

// Whether this build has the CUDA backend and a usable GPU and driver.
bool is_available();
// Number of usable GPUs (0 without the backend, a driver or a device).
int device_count();
// Why CUDA is unavailable, or an empty string when it is available.
std::string unavailable_reason();

// Whether float32 matrix products (matmul, affine) on a GPU may use TF32 tensor
// cores: inputs rounded to a 10-bit mantissa, float32 accumulation, several
// times faster on Ampere and later. Off by default (exact float32). Process-wide;
// the cuda_host emulation of cuBLAS rounds its float32 inputs to TF32 likewise.
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace ag::cuda

#endif  // TAPEGRAD_CXX20
