// The plain part of the op index, generated from ops.def: the Op enum and, per
// op, the facts that kernels and registrations need at compile time (its
// dtypes on each device, whether its device kernels check values, its arity).
// No fmt and no Boost, so the CUDA kernels (nvcc) use the same enum; the
// host-side table with names, rules and samples is in op.hpp.
#pragma once

#include "../kinds.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

namespace ag {

enum class Op : uint16_t {
#define AG_OP(name, ...) name,
#include "ops.def"
#undef AG_OP
};

inline constexpr int kNumOps = 0
#define AG_OP(name, ...) +1
#include "ops.def"
#undef AG_OP
    ;

// What ops.def declares about an op's kernels.
struct OpKernels {
  int arity;
  unsigned cpu;   // dtypes with a cpu kernel (a dtypes:: set)
  unsigned cuda;  // dtypes with a CUDA kernel (both Device::Kind::cuda and its emulation cuda_host)
  bool checks;    // its device kernels range-check values (Note [Checks on the device] in cuda/kernels.hpp)
  bool composite; // built from other ops, with no kernels of its own (Note [Composite ops] in op.hpp)
};

namespace op_rows {
using namespace dtypes;  // the rows spell dtype sets as f, i, h
constexpr bool equal(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}
inline constexpr OpKernels kKernels[] = {
#define AG_OP(name, arity, family, grad, cpu, cuda, checks, functor, ...) \
  OpKernels{arity, (cpu), (cuda), checks != 0, equal(#functor, "Composite")},
#include "ops.def"
#undef AG_OP
};
}  // namespace op_rows

constexpr const OpKernels& op_kernels(Op op) { return op_rows::kKernels[static_cast<int>(op)]; }

}  // namespace ag

#endif  // TAPEGRAD_CXX20
