// Reference-counted buffers. Small CPU buffers are pooled per thread so that
// recording an op on a small tensor does not call malloc.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstddef>
#include <cstdint>
#include <memory>

#include "dtype.hpp"

// Thread-locals read on every op use the initial-exec model (no __tls_get_addr call).
#define AG_TLS_FAST __attribute__((tls_model("initial-exec")))

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

// The ceiling on one allocation, in bytes (default: the machine's physical
// memory). A larger request is an ag::Error before any allocator is called.
size_t max_alloc_bytes();
// Sets the ceiling; 0 restores the default.
void set_max_alloc_bytes(size_t bytes);

// Small blocks from this thread's pool (any thread may free them).
void* pool_alloc(size_t bytes);
void pool_free(void* ptr, size_t bytes);

// An allocator over the pool, for allocate_shared of the small objects every op creates.
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U> PoolAllocator(const PoolAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(pool_alloc(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { pool_free(p, n * sizeof(T)); }
  template <class U> bool operator==(const PoolAllocator<U>&) const { return true; }
};

// Bytes of CPU memory cached for reuse: this thread's small-block pool plus
// the process-wide cache of large blocks (for memory reports).
size_t cpu_pool_cached_bytes();
// Returns this thread's cached small blocks and all cached large blocks to the system.
void cpu_pool_release();

}  // namespace ag

#endif  // TAPEGRAD_CXX20
