// Device discovery through the CUDA runtime; every answer is computed without throwing.
#include <cuda_runtime.h>

#include "cuda/cuda.hpp"

namespace ag::cuda {

namespace {
cudaError_t query(int* count) {
  *count = 0;
  cudaError_t err = cudaGetDeviceCount(count);
  if (err != cudaSuccess) {
    *count = 0;
    cudaGetLastError();  // clear the sticky error so later calls start clean
  }
  return err;
}
}  // namespace

int device_count() {
  int n = 0;
  query(&n);
  return n;
}

bool is_available() { return device_count() > 0; }

std::string unavailable_reason() {
  int n = 0;
  cudaError_t err = query(&n);
  if (err != cudaSuccess) return std::string("CUDA runtime: ") + cudaGetErrorString(err);
  if (n == 0) return "no CUDA device found";
  return "";
}

}  // namespace ag::cuda
