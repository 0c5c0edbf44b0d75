// Questions about the GPU that never throw.
#pragma once

#include <string>

namespace ag::cuda {

// Whether this build has the CUDA backend and a usable GPU and driver.
bool is_available();
// Number of usable GPUs (0 without the backend, a driver or a device).
int device_count();
// Why CUDA is unavailable, or an empty string when it is available.
std::string unavailable_reason();

}  // namespace ag::cuda
