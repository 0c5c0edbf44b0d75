// Device discovery and the CUDA runtime wrappers of runtime.hpp. Discovery
// never throws; every other call is checked with CUDA_CHECK.
#include <array>
#include <atomic>
#include <mutex>

#include <dlfcn.h>

#include <string>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "cuda/cuda.hpp"
#include "cuda/runtime.hpp"

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

namespace {
std::atomic<bool> g_allow_tf32{false};
}
void set_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }
bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

namespace rt {

namespace {

constexpr int kMaxDevices = 16;

// One non-blocking stream and one cuBLAS handle per device, created on first use.
struct PerDevice {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
};
std::array<PerDevice, kMaxDevices> g_devices;
std::mutex g_mutex;
thread_local int t_device = 0;

PerDevice& per_device(int device, const char* op) {
  if (device < 0 || device >= kMaxDevices) throw_error(op, "device index", "out of range");
  std::lock_guard lock(g_mutex);
  PerDevice& d = g_devices[static_cast<size_t>(device)];
  if (!d.stream) {
    CUDA_CHECK(op, cudaSetDevice(device));
    CUDA_CHECK(op, cudaStreamCreateWithFlags(&d.stream, cudaStreamNonBlocking));
  }
  return d;
}

}  // namespace

void set_device(int device, const char* op) {
  CUDA_CHECK(op, cudaSetDevice(device));
  t_device = device;
}

int current_device() { return t_device; }

void* current_stream() { return per_device(t_device, "stream").stream; }

// Note [cuBLAS loaded on first use]: cuBLAS and cuBLASLt are hundreds of
// megabytes of shared library; linked directly, merely loading them put about
// 190 MiB into the resident set of every process using tapegrad, CPU-only runs
// included. So the library is opened with dlopen the first time a GPU matrix
// product needs it, and the few functions used are looked up by name.
void* blas_symbol(const char* name, const char* op) {
  static void* lib = [] {
    const std::string versioned = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* h = dlopen(versioned.c_str(), RTLD_NOW | RTLD_LOCAL);
    return h ? h : dlopen("libcublas.so", RTLD_NOW | RTLD_LOCAL);
  }();
  if (!lib) throw_error(op, "dlopen(libcublas)", dlerror());
  void* f = dlsym(lib, name);
  if (!f) throw_error(op, name, "not found in libcublas");
  return f;
}

void* blas_handle(const char* op) {
  PerDevice& d = per_device(t_device, op);
  std::lock_guard lock(g_mutex);
  if (!d.blas) {
    using Create = cublasStatus_t (*)(cublasHandle_t*);
    using SetStream = cublasStatus_t (*)(cublasHandle_t, cudaStream_t);
    auto create = reinterpret_cast<Create>(blas_symbol("cublasCreate_v2", op));
    auto set_stream = reinterpret_cast<SetStream>(blas_symbol("cublasSetStream_v2", op));
    if (create(&d.blas) != CUBLAS_STATUS_SUCCESS) throw_error(op, "cublasCreate", "cuBLAS initialisation failed");
    set_stream(d.blas, d.stream);
  }
  return d.blas;
}

void* malloc(size_t bytes, int device, const char* op) {
  set_device(device, op);
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;
  }
  CUDA_CHECK(op, err);
  return p;
}

void free(void* ptr, int device) {
  if (cudaSetDevice(device) == cudaSuccess) cudaFree(ptr);
}

void copy(void* dst, const void* src, size_t bytes, Copy dir, int device, const char* op) {
  set_device(device, op);
  cudaStream_t s = per_device(device, op).stream;
  const cudaMemcpyKind kind = dir == Copy::host_to_device   ? cudaMemcpyHostToDevice
                              : dir == Copy::device_to_host ? cudaMemcpyDeviceToHost
                                                            : cudaMemcpyDeviceToDevice;
  CUDA_CHECK(op, cudaMemcpyAsync(dst, src, bytes, kind, s));
  // pageable host memory: the source may be reused, or the result read, right after return
  if (dir != Copy::device_to_device) CUDA_CHECK(op, cudaStreamSynchronize(s));
}

void synchronize(int device, const char* op) {
  set_device(device, op);
  CUDA_CHECK(op, cudaStreamSynchronize(per_device(device, op).stream));
}

}  // namespace rt

}  // namespace ag::cuda
