// The table of device backends (Note [Backends] in backend.hpp).
#include "autograd/backend.hpp"

#include <cstring>

#include "autograd/error.hpp"

namespace ag {

namespace {
// Constant-initialised, so registrars in other files may fill it during static initialisation.
Backend g_backends[kNumDeviceKinds] = {};
}  // namespace

void register_backend(Device::Kind kind, const Backend& backend) { g_backends[static_cast<size_t>(kind)] = backend; }

const Backend& backend(Device device, const char* op) {
  const Backend& b = g_backends[static_cast<size_t>(device.kind)];
  if (!b.alloc) [[unlikely]]
    fail(op, "tensors on {} have no backend in this build (CUDA kernels are built when nvcc is found; the "
             "cuda_host emulation when the CCCL headers are)",
         device);
  return b;
}

bool backend_available(Device device) {
  if (device.is_cpu()) return true;
  const Backend& b = g_backends[static_cast<size_t>(device.kind)];
  return b.alloc && (!b.available || b.available());
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes, const char* op) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memmove(dst, src, bytes);
    return;
  }
  // the device side's backend; between two devices, the destination's
  backend(dst_device.is_cpu() ? src_device : dst_device, op).copy(dst, dst_device, src, src_device, bytes, op);
}

}  // namespace ag
