// Compiled instead of the .cu files when the CUDA backend is not built.
#include "cuda/cuda.hpp"

namespace ag::cuda {

bool is_available() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return "tapegrad was built without CUDA (meson option cuda, nvcc not found)"; }

}  // namespace ag::cuda
