#include "autograd/storage.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <bit>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "autograd/backend.hpp"
#include "autograd/error.hpp"

namespace ag {

namespace {

// Blocks of 64 B .. 1 MiB are cached by power-of-two size class.
constexpr int kMinShift = 6;
constexpr int kMaxShift = 20;
// Each class caches up to 2 MiB of blocks (at least 64), so a long tape's
// tensors, freed all at once after backward, come back to the pool.
constexpr size_t kMaxCachedBytesPerClass = size_t{2} << 20;
constexpr size_t max_cached(int c) { return std::max<size_t>(64, kMaxCachedBytesPerClass >> c); }

struct Pool {
  std::array<std::vector<void*>, kMaxShift + 1> free;
  size_t cached = 0;
  ~Pool() {
    for (auto& list : free)
      for (void* p : list) std::free(p);
  }
};

// The pointer is trivially destructible, so storages freed during static
// destruction (after the pool is gone) see nullptr and free directly.
AG_TLS_FAST thread_local Pool* tl_pool = nullptr;
struct PoolOwner {
  Pool pool;
  PoolOwner() { tl_pool = &pool; }
  ~PoolOwner() { tl_pool = nullptr; }
};

Pool* make_pool() {
  thread_local PoolOwner owner;
  return tl_pool;
}

// Created on a thread's first allocation; null again once the thread's pool is destroyed.
inline Pool* pool() {
  if (tl_pool) [[likely]]
    return tl_pool;
  return make_pool();
}

// Note [Large block cache]: blocks above the pool's classes come from mmap,
// and every fresh mapping costs a page fault per 4 KiB on first touch (a
// 64 MiB buffer: 16,384 faults, more than the kernel that fills it). Freed
// large blocks are kept, by size rounded up to an eighth of its power of two,
// in one process-wide cache of at most kMaxLargeCached bytes; training loops
// allocate the same sizes every step, so they reuse warm pages.
constexpr size_t kMaxLargeCached = size_t{1} << 30;

struct LargeCache {
  std::mutex m;
  std::multimap<size_t, void*> free;
  size_t cached = 0;
};

LargeCache& large_cache() {
  static LargeCache* c = new LargeCache;  // never destroyed: storages may be freed during static destruction
  return *c;
}

size_t large_size(size_t bytes) {
  const size_t step = (size_t{1} << (std::bit_width(bytes - 1) - 1)) / 4;  // an eighth of the next power of two
  return (bytes + step - 1) / step * step;
}

void* large_alloc(size_t bytes) {
  LargeCache& c = large_cache();
  {
    std::lock_guard lock(c.m);
    if (auto it = c.free.find(bytes); it != c.free.end()) {
      void* p = it->second;
      c.free.erase(it);
      c.cached -= bytes;
      return p;
    }
  }
  return std::aligned_alloc(64, bytes);
}

void large_free(void* ptr, size_t bytes) {
  LargeCache& c = large_cache();
  {
    std::lock_guard lock(c.m);
    if (c.cached + bytes <= kMaxLargeCached) {
      c.free.emplace(bytes, ptr);
      c.cached += bytes;
      return;
    }
  }
  std::free(ptr);
}

int size_class(size_t bytes) {
  if (bytes <= (size_t{1} << kMinShift)) return kMinShift;
  return std::bit_width(bytes - 1);
}

void* cpu_alloc(size_t bytes) {
  int c = size_class(bytes);
  if (c <= kMaxShift) {
    if (Pool* p = pool(); p && !p->free[c].empty()) {
      void* ptr = p->free[c].back();
      p->free[c].pop_back();
      p->cached -= size_t{1} << c;
      return ptr;
    }
    bytes = size_t{1} << c;
  }
  void* ptr = c <= kMaxShift ? std::aligned_alloc(64, bytes) : large_alloc(large_size(bytes));
  if (!ptr) fail("alloc", "out of memory allocating {} bytes on the cpu", bytes);
  return ptr;
}

void cpu_free(void* ptr, size_t bytes) {
  int c = size_class(bytes);
  if (c <= kMaxShift && tl_pool && tl_pool->free[c].size() < max_cached(c)) {
    tl_pool->free[c].push_back(ptr);
    tl_pool->cached += size_t{1} << c;
    return;
  }
  if (c > kMaxShift) return large_free(ptr, large_size(bytes));
  std::free(ptr);
}

}  // namespace

Storage::~Storage() {
  if (!data) return;
  if (device.is_cpu()) cpu_free(data, bytes);
  else backend(device, "free").free(data, bytes, device);
}

void* pool_alloc(size_t bytes) { return cpu_alloc(bytes); }
void pool_free(void* ptr, size_t bytes) { cpu_free(ptr, bytes); }

namespace {
size_t physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return std::numeric_limits<size_t>::max();
  return static_cast<size_t>(pages) * static_cast<size_t>(page);
}
std::atomic<size_t> g_max_alloc{0};  // 0: the default
}  // namespace

size_t max_alloc_bytes() {
  const size_t m = g_max_alloc.load(std::memory_order_relaxed);
  if (m != 0) return m;
  static const size_t phys = physical_memory();
  return phys;
}
void set_max_alloc_bytes(size_t bytes) { g_max_alloc.store(bytes, std::memory_order_relaxed); }

int64_t checked_numel(const Shape& s, std::string_view op) {
  for (auto d : s)
    if (d < 0) fail(op, "negative size in shape {}; sizes must be >= 0", s);
  for (auto d : s)
    if (d == 0) return 0;
  int64_t n = 1;
  for (auto d : s)
    if (__builtin_mul_overflow(n, d, &n))
      fail(op, "shape {} has more elements than int64 can count (2^63 or more); use smaller sizes", s);
  return n;
}

size_t checked_bytes(const Shape& s, DType t, std::string_view op) {
  const auto n = static_cast<uint64_t>(checked_numel(s, op));
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n, static_cast<uint64_t>(dtype_size(t)), &bytes))
    fail(op, "shape {} of {} needs more than 2^64 bytes; use smaller sizes", s, t);
  if (bytes > max_alloc_bytes())
    fail(op, "shape {} of {} needs {} bytes, above the allocation limit of {} bytes (physical memory by default; "
         "see ag::set_max_alloc_bytes); use smaller sizes",
         s, t, bytes, max_alloc_bytes());
  return static_cast<size_t>(bytes);
}

int64_t checked_add(int64_t a, int64_t b, std::string_view op) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) fail(op, "size {} + {} overflows int64; use smaller sizes", a, b);
  return r;
}

int64_t checked_int64(double v, std::string_view op, std::string_view what) {
  if (!fits_int64(v))
    fail(op, "{} {} cannot be converted to int64 (NaN, infinite or outside [-2^63, 2^63)); use a finite value "
         "in range",
         what, v);
  return static_cast<int64_t>(v);
}

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device) {
  if (bytes > max_alloc_bytes())
    fail("alloc", "{} bytes on {} is above the allocation limit of {} bytes (physical memory by default; see "
         "ag::set_max_alloc_bytes)",
         bytes, device, max_alloc_bytes());
  auto s = std::allocate_shared<Storage>(PoolAllocator<Storage>{});
  const size_t n = bytes == 0 ? 1 : bytes;
  s->data = device.is_cpu() ? cpu_alloc(n) : backend(device, "alloc").alloc(n, device, "alloc");
  s->bytes = n;
  s->device = device;
  return s;
}

size_t cpu_pool_cached_bytes() {
  Pool* p = pool();
  LargeCache& c = large_cache();
  std::lock_guard lock(c.m);
  return (p ? p->cached : 0) + c.cached;
}

void cpu_pool_release() {
  {
    LargeCache& c = large_cache();
    std::lock_guard lock(c.m);
    for (auto& [bytes, ptr] : c.free) std::free(ptr);
    c.free.clear();
    c.cached = 0;
  }
  Pool* p = pool();
  if (!p) return;
  for (auto& list : p->free) {
    for (void* ptr : list) std::free(ptr);
    list.clear();
  }
  p->cached = 0;
}

void assert_failed(const char* cond, const char* file, int line, std::string_view what) {
  throw Error(fmt::format("[internal] {} ({} failed at {}:{}); this is a tapegrad bug, please report it",
                          what, cond, file, line));
}

}  // namespace ag
