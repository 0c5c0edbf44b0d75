// Compiled instead of device.cu when the CUDA backend is not built: no GPU is
// available, and asking for GPU memory is a clear error. (The cuda_host
// emulation does not need these.)
#include <atomic>

#include "autograd/backend.hpp"
#include "cuda/allocator.hpp"
#include "cuda/cuda.hpp"
#include "cuda/runtime.hpp"

namespace ag::cuda {

namespace {
const char* const kNotBuilt = "tapegrad was built without CUDA (meson option cuda, nvcc not found)";
}

bool is_available() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return kNotBuilt; }

namespace {
std::atomic<bool> g_allow_tf32{false};  // kept for the API; no GPU product reads it here
}
void set_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }
bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

namespace rt {
void* malloc(size_t, int, const char* op) { throw_error(op, "cudaMalloc", kNotBuilt); }
void free(void*, int) {}
void copy(void*, const void*, size_t, Copy, int, const char* op) { throw_error(op, "cudaMemcpy", kNotBuilt); }
void synchronize(int, const char* op) { throw_error(op, "cudaStreamSynchronize", kNotBuilt); }
void set_device(int, const char* op) { throw_error(op, "cudaSetDevice", kNotBuilt); }
int current_device() { return 0; }
void* current_stream() { return nullptr; }
void* blas_handle(const char* op) { throw_error(op, "cublasCreate", kNotBuilt); }
}  // namespace rt

namespace {
// The cuda kind's backend is the allocator's, whose requests reach the stubs
// above: asking for GPU memory says why there is none.
const bool registered = [] {
  register_backend(Device::Kind::cuda,
                   Backend{.alloc = device_alloc,
                           .free = device_free,
                           .copy = copy_bytes,
                           .synchronize = [](Device d, const char* op) { rt::synchronize(d.index, op); },
                           .set_device = [](Device d, const char* op) { rt::set_device(d.index, op); },
                           .available = is_available});
  return true;
}();
}  // namespace

}  // namespace ag::cuda
