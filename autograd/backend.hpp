// What a device gives autograd: a small table per device kind (Note
// [Backends]). autograd/ never includes cuda/; cuda/register.cpp fills the
// table for the kinds this build has, at static initialisation, as it
// registers the kernels of every op into the (op, device, dtype) table.
//
// Note [Backends]
// Everything autograd does with a device's memory goes through its Backend:
// Storage allocates and frees with it, Tensor::to and copy_ copy with it.
// Computation never does: every op, the in-place updates and the optimiser
// steps included, is a row in ops/ops.def whose kernels are found by
// (op, device, dtype) (ops/op.hpp). A kind with no registered backend (a
// build without CUDA) is an ag::Error naming the op and the device.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstddef>

#include "dtype.hpp"

namespace ag {

struct Backend {
  // A block of at least `bytes` on `device`; `op` names the caller in errors.
  void* (*alloc)(size_t bytes, Device device, const char* op) = nullptr;
  // Gives a block from alloc back (`bytes` as requested).
  void (*free)(void* ptr, size_t bytes, Device device) noexcept = nullptr;
  // Copies `bytes` between this kind and the cpu or another non-cpu device. A
  // copy to the cpu also raises any error the device's kernels recorded
  // (Note [Checks on the device] in cuda/kernels.hpp).
  void (*copy)(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes, const char* op) = nullptr;
  // Waits for all work queued on `device`.
  void (*synchronize)(Device device, const char* op) = nullptr;
  // Makes `device` current on this thread.
  void (*set_device)(Device device, const char* op) = nullptr;
  // Whether tensors can live on this kind in this process (a GPU and driver are present).
  bool (*available)() = nullptr;
};

// Registers the backend of a device kind (cuda/register.cpp, at static initialisation).
void register_backend(Device::Kind kind, const Backend& backend);
// The backend of `device`'s kind; an ag::Error naming `op` and the device when this build has none.
const Backend& backend(Device device, const char* op);
// Whether tensors can live on `device` in this process (always on the cpu).
bool backend_available(Device device);

// Copies `bytes` between any two devices; `op` names the caller in errors.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes, const char* op);

}  // namespace ag

#endif  // TAPEGRAD_CXX20
