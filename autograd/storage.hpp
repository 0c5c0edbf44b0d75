// Reference-counted buffers. Small CPU buffers are pooled per thread so that
// recording an op on a small tensor does not call malloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "autograd/dtype.hpp"

namespace ag {

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device;
  // Bumped by every in-place write; saved tensors remember it (Note [Versions]).
  uint32_t version = 0;

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  // A new uninitialised buffer of `bytes` bytes on `device`, 64-byte aligned.
  static std::shared_ptr<Storage> allocate(size_t bytes, Device device);
};

// Bytes of pooled CPU memory cached by this thread (for memory reports).
size_t cpu_pool_cached_bytes();
// Returns this thread's cached CPU blocks to the system.
void cpu_pool_release();

}  // namespace ag
