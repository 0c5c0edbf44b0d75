// The op registry: the Op enum and per-op information generated from ops.def,
// the attributes a node keeps, and the two tables every op fills in: its
// backward rule (ops/<family>.cpp) and its kernels by (device, dtype)
// (cpu/<family>.cpp, cuda/<family>.cu).
#pragma once

#include "../config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include <boost/container/small_vector.hpp>

#include "../dtype.hpp"
#include "../tensor.hpp"

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

// The scalar and shape parameters of one op call, kept on its node.
struct Attrs {
  double a = 0.0, b = 0.0;  // exponent, slope, bounds, scalar operand
  Axes axes;                // reduction axes, permutation
  Shape shape;              // target or original shape
  int64_t axis = 0, start = 0, stop = 0, step = 1;
  bool keepdims = false;
  bool transpose_a = false, transpose_b = false;  // matmul operands
  DType dtype = DType::float32;      // cast target, one_hot output
  DType src_dtype = DType::float32;  // cast source
  int reduction = 0;             // losses: 0 mean, 1 sum
};

struct Node;
struct Graph;

// What a backward rule sees: the node (its attrs and saved tensors) and which inputs need a gradient.
class BackwardCtx {
 public:
  BackwardCtx(const Node& node, Graph* graph) : node_(node), graph_(graph) {}
  // Saved tensor i, checked against in-place modification since it was saved.
  Tensor saved(int i) const;
  const Attrs& attrs() const;
  bool needs_grad(int input) const;
  int num_inputs() const;
  const Node& node() const { return node_; }

 private:
  const Node& node_;
  Graph* graph_;
};

using Grads = boost::container::small_vector<Tensor, 4>;
// A backward rule: from the upstream gradient gy, fill gx[i] for each input that needs one.
using BackwardFn = void (*)(BackwardCtx& ctx, const Tensor& gy, Grads& gx);
// Builds one gradient-check case of the op from sampled inputs.
using SampleFn = Tensor (*)(std::span<const Tensor> inputs);

// A kernel: computes `out` from `in` with the node's attrs, on one device and dtype.
using Kernel = void (*)(std::span<const Tensor> in, Tensor& out, const Attrs& attrs);

struct OpInfo {
  std::string_view name;
  int arity;
  std::string_view family;
  bool differentiable;
  bool cuda;
  std::string_view domains;
  std::string_view shapes;
  double eps;
  BackwardFn backward = nullptr;
  SampleFn sample = nullptr;
};

const OpInfo& op_info(Op op);
inline std::string_view op_name(Op op) { return op_info(op).name; }
// Every op in index order.
std::span<const OpInfo> all_ops();

// The kernel of `op` for (device, dtype); a clear error names the op if there is none.
Kernel find_kernel(Op op, Device device, DType dtype);
void register_kernel(Op op, Device::Kind device, DType dtype, Kernel k);
// Whether `op` has a kernel for (device, dtype).
bool has_kernel(Op op, Device device, DType dtype);

// Runs op's kernel for the inputs' device and `dtype` (the first input's by default).
void dispatch(Op op, std::span<const Tensor> in, Tensor& out, const Attrs& attrs);

namespace detail {
struct RuleRegistrar {
  RuleRegistrar(Op op, BackwardFn fn);
};
struct SampleRegistrar {
  SampleRegistrar(Op op, SampleFn fn);
};
struct KernelRegistrar {
  KernelRegistrar(Op op, Device::Kind device, DType dtype, Kernel k) { register_kernel(op, device, dtype, k); }
};
}  // namespace detail

}  // namespace ag

// Defines op `name`'s backward rule; the body fills gx from gy (see BackwardFn).
#define AG_BACKWARD(name)                                                                   \
  static void backward_##name(::ag::BackwardCtx& ctx, const ::ag::Tensor& gy, ::ag::Grads& gx); \
  static const ::ag::detail::RuleRegistrar rule_registrar_##name(::ag::Op::name, backward_##name); \
  static void backward_##name([[maybe_unused]] ::ag::BackwardCtx& ctx, [[maybe_unused]] const ::ag::Tensor& gy, \
                              [[maybe_unused]] ::ag::Grads& gx)

// Defines how the gradient-check suite calls op `name` on sampled inputs `x`.
#define AG_SAMPLE(name)                                                                        \
  static ::ag::Tensor sample_##name(std::span<const ::ag::Tensor> x);                          \
  static const ::ag::detail::SampleRegistrar sample_registrar_##name(::ag::Op::name, sample_##name); \
  static ::ag::Tensor sample_##name([[maybe_unused]] std::span<const ::ag::Tensor> x)

// Registers `fn<float>` and `fn<double>` as op `name`'s CPU kernels.
#define AG_CPU_KERNEL(name, fn)                                                              \
  static const ::ag::detail::KernelRegistrar cpu_f32_##name(::ag::Op::name, ::ag::Device::Kind::cpu, \
                                                            ::ag::DType::float32, fn<float>); \
  static const ::ag::detail::KernelRegistrar cpu_f64_##name(::ag::Op::name, ::ag::Device::Kind::cpu, \
                                                            ::ag::DType::float64, fn<double>)

#endif  // TAPEGRAD_CXX20
