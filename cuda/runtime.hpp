// The CUDA runtime calls the backend needs, behind a header free of fmt and
// Boost so that nvcc compiles it (Note [fmt stays on the host side]).
// device.cu implements them with the CUDA runtime; stubs.cpp, in builds
// without nvcc, answers that CUDA is not built.
#pragma once

#include <cstddef>

namespace ag::cuda::rt {

// Allocates `bytes` on GPU `device` (cudaMalloc); null when the GPU is out of memory,
// ag::Error naming `op` and the CUDA error otherwise.
void* malloc(size_t bytes, int device, const char* op);
// Returns memory to the driver (cudaFree).
void free(void* ptr, int device);
// Directions of copy(); host memory is ordinary (pageable) memory.
enum class Copy { host_to_device, device_to_host, device_to_device };
// Copies on `device`'s stream; a copy to the host waits for it to finish.
void copy(void* dst, const void* src, size_t bytes, Copy dir, int device, const char* op);
// Waits for all work queued on `device`'s stream.
void synchronize(int device, const char* op);
// Makes `device` current on this thread (kernels launch on its stream).
void set_device(int device, const char* op);
// The index of this thread's current device (as set by set_device).
int current_device();
// Scratch memory for a kernel's intermediate values on this thread's current
// device, from its caching allocator (defined in allocator.cpp); give it back
// with scratch_free and the same size. Kernels on the device's one stream are
// ordered, so a block freed after its last launch is safe to hand out again.
void* scratch_alloc(size_t bytes, const char* op);
void scratch_free(void* ptr, size_t bytes) noexcept;
// The stream of this thread's current device (a cudaStream_t).
void* current_stream();
// The cuBLAS handle of this thread's current device, bound to its stream (a cublasHandle_t).
void* blas_handle(const char* op);
// A cuBLAS function by its exported name (libcublas is opened on first use).
void* blas_symbol(const char* name, const char* op);

// Throws ag::Error "[op] <call> failed: <CUDA error text>" (defined in allocator.cpp, where fmt lives).
[[noreturn]] void throw_error(const char* op, const char* call, const char* error);

}  // namespace ag::cuda::rt

// Checks a CUDA runtime call's status; the message names the op and the call.
#define CUDA_CHECK(op, call)                                                        \
  do {                                                                              \
    cudaError_t ag_err_ = (call);                                                   \
    if (ag_err_ != cudaSuccess) ::ag::cuda::rt::throw_error(op, #call, cudaGetErrorString(ag_err_)); \
  } while (0)
