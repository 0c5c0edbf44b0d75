// Device memory: a caching allocator per device and copies between devices.
// cuda/register.cpp registers them as the cuda and cuda_host backends
// (Note [Backends] in autograd/backend.hpp), through which Storage and Tensor
// reach them.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstddef>

#include "../autograd/dtype.hpp"

namespace ag::kernels {
struct DeviceCheck;
}

namespace ag::cuda {

// What one device's caching allocator holds, in bytes.
struct MemoryStats {
  size_t in_use = 0;         // handed out to live storages (rounded to the block size)
  size_t peak = 0;           // the largest in_use since start or reset_peak
  size_t cached = 0;         // freed blocks kept for reuse
  size_t device_allocs = 0;  // blocks obtained from the driver (cache misses)
};

// The allocator's counters for `device` (a cuda or cuda_host device).
MemoryStats memory_stats(Device device = Device::cuda());
// Returns `device`'s cached free blocks to the driver (or the host's heap).
void release_cache(Device device = Device::cuda());
// Restarts peak tracking at the bytes now in use.
void reset_peak(Device device = Device::cuda());

// A block of at least `bytes` on a cuda or cuda_host device, reused from the cache when one fits.
void* device_alloc(size_t bytes, Device device, const char* op);
// Gives a block from device_alloc back to the cache (`bytes` as requested).
void device_free(void* ptr, size_t bytes, Device device) noexcept;
// Copies `bytes` between any two devices; `op` names the caller in errors. A
// copy from a device to the cpu then raises any error a kernel recorded there
// (raise_device_check).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes, const char* op);

// The record in which `device`'s kernels note the first bad index, label or
// probability they meet (Note [Checks on the device] in cuda/kernels.hpp);
// allocated and zeroed on first use, kept for the process.
kernels::DeviceCheck* device_check(Device device, const char* op);
// Throws the error recorded on `device`, if any, naming the op that found it,
// and clears the record. Reads it from the device (which waits for the stream).
void raise_device_check(Device device);

}  // namespace ag::cuda

#endif  // TAPEGRAD_CXX20
