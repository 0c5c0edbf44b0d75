// The caching allocator (one per device), cross-device copies, and the error
// path of the CUDA runtime wrappers.
#include "cuda/allocator.hpp"

#include <array>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "autograd/error.hpp"
#include "autograd/ops/op.hpp"
#include "cuda/kernels.hpp"
#include "cuda/runtime.hpp"

namespace ag::cuda {

namespace rt {
void throw_error(const char* op, const char* call, const char* error) {
  fail(op, "{} failed: {}", call, error);
}
}  // namespace rt

namespace {

constexpr int kMaxDevices = 16;
constexpr size_t kMinBlock = 512;
constexpr size_t kLargeBlock = size_t{1} << 20;

// Blocks up to 1 MiB round up to a power of two (at least 512 B); larger
// blocks to a multiple of 1 MiB. A freed block is cached under its rounded
// size and handed to the next request that rounds to the same size.
size_t block_size(size_t bytes) {
  if (bytes <= kMinBlock) return kMinBlock;
  if (bytes <= kLargeBlock) return std::bit_ceil(bytes);
  return (bytes + kLargeBlock - 1) / kLargeBlock * kLargeBlock;
}

class CachingAllocator {
 public:
  explicit CachingAllocator(Device device) : device_(device) {}

  void* allocate(size_t bytes, const char* op) {
    const size_t size = block_size(bytes);
    {
      std::lock_guard lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        stats_.cached -= size;
        take(size);
        return p;
      }
    }
    void* p = raw_alloc(size, op);
    if (!p) {
      // out of memory: give the cached blocks back to the driver and try once more
      release();
      p = raw_alloc(size, op);
      if (!p)
        fail(op, "out of memory on {} allocating {} bytes ({} bytes in use by tensors)", device_, size,
             stats().in_use);
    }
    std::lock_guard lock(mutex_);
    ++stats_.device_allocs;
    take(size);
    return p;
  }

  void deallocate(void* p, size_t bytes) noexcept {
    const size_t size = block_size(bytes);
    std::lock_guard lock(mutex_);
    stats_.in_use -= size;
    stats_.cached += size;
    free_[size].push_back(p);
  }

  void release() {
    std::unordered_map<size_t, std::vector<void*>> blocks;
    {
      std::lock_guard lock(mutex_);
      blocks.swap(free_);
      stats_.cached = 0;
    }
    for (auto& [size, list] : blocks)
      for (void* p : list) raw_free(p);
  }

  MemoryStats stats() {
    std::lock_guard lock(mutex_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard lock(mutex_);
    stats_.peak = stats_.in_use;
  }

 private:
  void take(size_t size) {
    stats_.in_use += size;
    stats_.peak = std::max(stats_.peak, stats_.in_use);
  }
  void* raw_alloc(size_t size, const char* op) {
    if (device_.kind == Device::Kind::cuda) {
      try {
        return rt::malloc(size, device_.index, op);
      } catch (const Error& e) {
        fail(op, "cannot allocate {} bytes on {}: {}", size, device_, e.what());
      }
    }
    return std::aligned_alloc(256, size);
  }
  void raw_free(void* p) {
    if (device_.kind == Device::Kind::cuda) rt::free(p, device_.index);
    else std::free(p);
  }

  Device device_;
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  MemoryStats stats_;
};

// Never destroyed: storages may be freed during static destruction.
CachingAllocator& allocator(Device device, const char* op) {
  static std::array<CachingAllocator*, 2 * kMaxDevices> table{};
  static std::mutex mutex;
  if (device.is_cpu()) fail(op, "the cpu has no device allocator; this is a tapegrad bug");
  if (device.index < 0 || device.index >= kMaxDevices)
    fail(op, "device index {} of {} is out of range [0, {})", device.index, device, kMaxDevices);
  const size_t slot = static_cast<size_t>(device.index) * 2 + (device.kind == Device::Kind::cuda ? 0 : 1);
  std::lock_guard lock(mutex);
  if (!table[slot]) table[slot] = new CachingAllocator(device);
  return *table[slot];
}

}  // namespace

MemoryStats memory_stats(Device device) { return allocator(device, "memory_stats").stats(); }
void release_cache(Device device) { allocator(device, "release_cache").release(); }
void reset_peak(Device device) { allocator(device, "reset_peak").reset_peak(); }

void* device_alloc(size_t bytes, Device device, const char* op) { return allocator(device, op).allocate(bytes, op); }
void device_free(void* ptr, size_t bytes, Device device) noexcept {
  allocator(device, "free").deallocate(ptr, bytes);
}

namespace rt {
void* scratch_alloc(size_t bytes, const char* op) { return device_alloc(bytes, Device::cuda(current_device()), op); }
void scratch_free(void* ptr, size_t bytes) noexcept { device_free(ptr, bytes, Device::cuda(current_device())); }
}  // namespace rt

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes, const char* op) {
  if (bytes == 0) return;
  const bool to_gpu = dst_device.kind == Device::Kind::cuda, from_gpu = src_device.kind == Device::Kind::cuda;
  if (!to_gpu && !from_gpu) {
    std::memmove(dst, src, bytes);
    if (dst_device.is_cpu()) raise_device_check(src_device);
    return;
  }
  if (to_gpu && from_gpu && dst_device.index != src_device.index)
    fail(op, "copies between two GPUs ({} and {}) are not supported yet; go through the cpu", src_device, dst_device);
  const rt::Copy dir = to_gpu && from_gpu ? rt::Copy::device_to_device
                       : to_gpu         ? rt::Copy::host_to_device
                                        : rt::Copy::device_to_host;
  rt::copy(dst, src, bytes, dir, to_gpu ? dst_device.index : src_device.index, op);
  if (dst_device.is_cpu()) raise_device_check(src_device);
}

namespace {
std::mutex g_check_mutex;
std::array<std::array<std::atomic<kernels::DeviceCheck*>, kMaxDevices>, kNumDeviceKinds> g_checks{};

std::atomic<kernels::DeviceCheck*>& check_slot(Device device, const char* op) {
  if (device.index < 0 || device.index >= kMaxDevices) fail(op, "device index {} is out of range [0, {})", device.index, kMaxDevices);
  return g_checks[static_cast<size_t>(device.kind)][static_cast<size_t>(device.index)];
}
}  // namespace

kernels::DeviceCheck* device_check(Device device, const char* op) {
  auto& slot = check_slot(device, op);
  if (kernels::DeviceCheck* c = slot.load(std::memory_order_acquire)) return c;
  std::lock_guard lock(g_check_mutex);
  if (kernels::DeviceCheck* c = slot.load(std::memory_order_acquire)) return c;
  const kernels::DeviceCheck zero{};
  kernels::DeviceCheck* c;
  if (device.kind == Device::Kind::cuda) {
    c = static_cast<kernels::DeviceCheck*>(rt::malloc(sizeof zero, device.index, op));
    if (!c) fail(op, "cannot allocate {} bytes on {}", sizeof zero, device);
    rt::copy(c, &zero, sizeof zero, rt::Copy::host_to_device, device.index, op);
  } else {
    c = new kernels::DeviceCheck(zero);  // cuda_host: host memory, kept for the process
  }
  slot.store(c, std::memory_order_release);
  return c;
}

void raise_device_check(Device device) {
  if (device.is_cpu() || device.index < 0 || device.index >= kMaxDevices) return;
  kernels::DeviceCheck* c = check_slot(device, "check").load(std::memory_order_acquire);
  if (!c) return;
  kernels::DeviceCheck h{};
  const kernels::DeviceCheck zero{};
  if (device.kind == Device::Kind::cuda) {
    rt::copy(&h, c, sizeof h, rt::Copy::device_to_host, device.index, "check");
    if (!h.flag) return;
    rt::copy(c, &zero, sizeof zero, rt::Copy::host_to_device, device.index, "check");
  } else {
    h = *c;
    if (!h.flag) return;
    *c = zero;
  }
  const Op op = static_cast<Op>(h.op);
  const std::string where = fmt::format("found by the kernel on {}; reported at the next copy to the host", device);
  // labels and indices are whole numbers; bce's value may be NaN, so no conversion before the switch
  const auto v = fits_int64(h.value) ? static_cast<int64_t>(h.value) : int64_t{0};
  switch (op) {
    case Op::softmax_cross_entropy:
    case Op::nll: fail(op_name(op), "label {} at row {} is out of range [0, {}) ({})", v, h.position, h.bound, where);
    case Op::one_hot: fail(op_name(op), "label {} at position {} is out of range [0, {}) ({})", v, h.position, h.bound, where);
    case Op::bce:
      fail(op_name(op), "probabilities must lie in [0, 1], got {} at flat index {}; use bce_with_logits on raw scores ({})",
           h.value, h.position, where);
    case Op::cast:
      fail(op_name(op), "element {} is {}, which int64 cannot hold (NaN, infinite or outside [-2^63, 2^63)); the "
           "result holds 0 there ({})", h.position, h.value, where);
    default: fail(op_name(op), "index {} at position {} is out of range [0, {}) ({})", v, h.position, h.bound, where);
  }
}

}  // namespace ag::cuda
