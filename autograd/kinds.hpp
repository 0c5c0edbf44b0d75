// The plain enums and values that the op index and the kernels share: element
// types, dtype sets, reductions and the scalar attributes of one op call. No
// fmt and no Boost here, so nvcc compiles it with the CUDA kernels
// (Note [fmt stays on the host side] in cuda/runtime.hpp); dtype.hpp and
// ops/op.hpp add the host-side parts.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>

namespace ag {

// Element type of a tensor. int64 holds indices and labels; it is never
// differentiable. float16 and bfloat16 are storage types for device tensors
// (Note [16-bit storage, float32 arithmetic] in half.hpp): on the cpu they
// can be created, cast, copied and printed, not computed with.
enum class DType : uint8_t { float32, float64, int64, float16, bfloat16 };
inline constexpr int kNumDTypes = 5;

// Whether v converts to int64 exactly defined: finite and in [-2^63, 2^63)
// (both bounds are exact doubles). Device code uses it too (constexpr).
constexpr bool fits_int64(double v) { return v >= -9223372036854775808.0 && v < 9223372036854775808.0; }

// A set of dtypes, as the op index declares an op's kernels (ops.def): one bit per DType.
namespace dtypes {
inline constexpr unsigned none = 0;
inline constexpr unsigned f = 1u << 0 | 1u << 1;  // float32, float64
inline constexpr unsigned i = 1u << 2;            // int64
inline constexpr unsigned h = 1u << 3 | 1u << 4;  // float16, bfloat16
constexpr bool contains(unsigned set, DType t) { return (set >> static_cast<unsigned>(t)) & 1u; }
}  // namespace dtypes

// The ops, in ops.def order; the enumerators are in ops/op_enum.hpp. Declared
// here so that the tape (which only stores an op) does not depend on the index.
enum class Op : uint16_t;

// How a loss reduces its per-element terms.
enum class Reduction : uint8_t { mean, sum };

// Which update optim_step applies; optim_ops::nstate(kind) state buffers go
// with each parameter (autograd/cpu/optim_ops.hpp has the formulas).
enum class OptimKind : uint8_t { sgd, momentum, adagrad, rmsprop, adam };

// The kind and hyper-parameters of one optimiser step (those a kind does not use are ignored).
struct OptimParams {
  OptimKind kind = OptimKind::sgd;
  double lr = 0, momentum = 0, alpha = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  double bias1 = 1, bias2 = 1;  // Adam's bias corrections 1 - beta1^t and 1 - beta2^t
  bool nesterov = false;        // SGD with momentum: the Nesterov look-ahead
  bool decoupled = false;       // Adam: weight decay as p -= lr wd p (AdamW) rather than added to g
};

// The scalar attributes of one op call, named by meaning; an op reads only
// those its ops.def row shows. Kernels on every device see this part
// (KAttrs in cuda/kernels.hpp extends it); Attrs (ops/op.hpp) adds axes and shapes.
struct ScalarAttrs {
  double scalar = 0.0;   // add_scalar's c, mul_scalar's c, pow's exponent p; fill_'s value, add_'s alpha, mul_scalar_'s c
  double slope = 0.0;    // leaky_relu: the slope below 0
  double alpha = 0.0;    // elu: the scale of e^x - 1 below 0
  double lo = 0.0, hi = 0.0;  // clip's bounds
  double divisor = 1.0;  // losses: what the summed terms are divided by (N for a mean, 1 for a sum)
  int64_t axis = 0, start = 0, stop = 0, step = 1;
  bool keepdims = false;
  bool transpose_a = false, transpose_b = false;  // matmul operands
  DType dtype = DType::float32;      // cast target, one_hot output
  DType src_dtype = DType::float32;  // cast source
  Reduction reduction = Reduction::mean;
  const OptimParams* optim = nullptr;  // optim_step's update, read on the host during the call
  uint64_t seed = 0;  // dropout: the seed of its counter-based mask (keep i iff u(seed, i) >= p)
};

}  // namespace ag

#endif  // TAPEGRAD_CXX20
