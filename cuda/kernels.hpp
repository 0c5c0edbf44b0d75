// The interface between the op registry and the CUDA kernels: plain views of
// tensors and attributes, free of fmt and Boost, so that nvcc compiles the
// kernels (Note [fmt stays on the host side]).
//
// Note [Kernels written once, compiled twice]
// Each cuda/<family>.cu is written with Thrust algorithms over __host__
// __device__ functors and is compiled twice: by nvcc with Thrust's CUDA system
// into namespace ag::cuda_kernels (Device::Kind::cuda), and by g++ with Thrust's
// CPP system (cuda/host/<family>.cpp includes the .cu) into namespace
// ag::cuda_host_kernels (Device::Kind::cuda_host). The host build runs the same
// index arithmetic, broadcasting and reductions, so the GPU test suite
// exercises the kernels' logic in CI, where there is no GPU. cuda/register.cpp
// is compiled once per kind and registers every op whose ops.def row declares CUDA dtypes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "autograd/kinds.hpp"
#include "autograd/ops/index.hpp"

#if defined(AG_CUDA_HOST)
#define AG_KNS cuda_host_kernels
#else
#define AG_KNS cuda_kernels
#endif

namespace ag::kernels {

// The ops and element types are the library's own (plain headers, no fmt or Boost).
using KOp = ::ag::Op;
using KType = ::ag::DType;
// Bytes per element.
inline constexpr int64_t ktype_size(KType t) {
  return t == KType::float32 ? 4 : (t == KType::float16 || t == KType::bfloat16) ? 2 : 8;
}

inline constexpr int kMaxDims = 8;

// A contiguous row-major tensor on the device.
struct View {
  void* data = nullptr;
  int64_t numel = 0;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  KType dtype = KType::float32;

  template <class T> T* ptr() const { return static_cast<T*>(data); }
  // Product of the sizes of axes [from, to).
  int64_t span(int from, int to) const {
    int64_t n = 1;
    for (int i = from; i < to; ++i) n *= shape[i];
    return n;
  }
};

// Note [Checks on the device]
// Indices and labels that live on a device are range-checked by the kernels
// that read them, not by copying them to the host first (which would stop
// the stream at every loss). A kernel that meets a bad value reads nothing out
// of range (it yields NaN, or 0 for a gather) and records the first such
// value in its device's DeviceCheck; the host reads the record at the next
// point where it waits for the device anyway (any copy to the host: item,
// to(cpu), printing) and raises the error there, naming the op. bce's
// probabilities in [0, 1] are checked the same way.
struct DeviceCheck {
  int32_t flag;      // 0: nothing found; set once by the first bad value
  int32_t op;        // the KOp that found it
  int64_t position;  // its row or position
  int64_t bound;     // the valid range is [0, bound) (indices, labels)
  double value;      // the bad value
};

// The node attributes the kernels read: the scalar ones as they are, the axes as a plain array.
struct KAttrs : ScalarAttrs {
  int naxes = 0;
  int64_t axes[kMaxDims] = {};
  DeviceCheck* check = nullptr;  // the device's record, for ops that check values (Note [Checks on the device])
};

}  // namespace ag::kernels

namespace ag::AG_KNS {

using kernels::KAttrs;
using kernels::KOp;
using kernels::View;

// One entry per family: runs `op` on the inputs into `out`; `name` is the op's name for errors.
void elementwise(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name);
void reduce(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name);
void shape(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name);
void matmul(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name);
void loss(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name);
// Convolution and pooling: im2col and col2im (the composites conv2d and the pools run their parts).
void conv(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name);
// User-defined ops run their own code; this entry only says so (defined in register.cpp).
void custom(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name);
// Composite ops run their parts' kernels; this entry only says so (defined in register.cpp).
void composite(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name);
// fill_, add_, mul_, mul_scalar_ and optim_step: update `out` in place from the other operands `in`.
void inplace(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name);

}  // namespace ag::AG_KNS
