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
#include <type_traits>

#include <boost/container/small_vector.hpp>

#include "../dtype.hpp"
#include "../tensor.hpp"
#include "attrs.hpp"
#include "index.hpp"

namespace ag {

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

// Note [Composite ops]
// A row whose functor column says Composite is an op built from other ops
// (conv2d from im2col and matmul, var from mean, stack from reshape and
// concat): its builder records its parts, so it has no kernels, no node and
// no backward rule of its own, and its gradient (of any order) is its parts'.
// Its cpu and cuda columns say where its parts run; the index still gives it
// a sample, so the gradient-check, device and coverage suites check it like
// every other op, and a dump shows its parts (with im2col, for example, as a
// node a learner can see).

// A backward rule: from the upstream gradient gy, fill gx[i] for each input that needs one.
using BackwardFn = void (*)(BackwardCtx& ctx, const Tensor& gy, Grads& gx);
// Builds one gradient-check case of the op from sampled inputs.
using SampleFn = Tensor (*)(std::span<const Tensor> inputs);

// A kernel: computes `out` from `in` with the node's attrs, on one device and dtype.
using Kernel = void (*)(std::span<const Tensor> in, Tensor& out, const Attrs& attrs);

// One row of ops.def (the column comments there say what each field means),
// with the rule and sample its family's file registers.
struct OpInfo {
  Op op;
  std::string_view name;
  int arity;
  std::string_view family;
  bool differentiable;
  unsigned cpu_dtypes;   // a dtypes:: set
  unsigned cuda_dtypes;  // a dtypes:: set; 0 for an op with no CUDA kernel
  bool checks_values;
  bool composite;  // built from other ops: no kernels, no node, no rule of its own (Note [Composite ops])
  std::string_view domains;
  std::string_view shapes;
  double eps;
  std::string_view shows;
  std::string_view rule;
  BackwardFn backward = nullptr;
  SampleFn sample = nullptr;

  bool has_cuda() const { return cuda_dtypes != 0; }
  // Whether the op runs on (device kind, dtype): through its own kernel, or a composite's parts' kernels.
  bool declares(Device::Kind device, DType dtype) const {
    return dtypes::contains(device == Device::Kind::cpu ? cpu_dtypes : cuda_dtypes, dtype);
  }
  // Whether the row declares a kernel of its own for (device kind, dtype).
  bool declares_kernel(Device::Kind device, DType dtype) const { return !composite && declares(device, dtype); }
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
// Runs in-place op `op` on `self`, its kernel's `out` (read and written), with
// the other operands `in`, for self's device and dtype; then bumps self's
// version (Note [In-place updates are ops] in autograd/tensor.cpp).
void dispatch_inplace(Op op, Tensor& self, std::span<const Tensor> in, const Attrs& attrs);

namespace detail {
struct RuleRegistrar {
  RuleRegistrar(Op op, BackwardFn fn);
};
struct SampleRegistrar {
  SampleRegistrar(Op op, SampleFn fn);
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

namespace ag::detail {
// Registers make(std::type_identity<T>{}) as op's kernel on `device` for each
// dtype T of the set `dtypes`; the others are never instantiated.
template <unsigned dtypes, class Make>
bool register_kernels(Op op, Device::Kind device, Make make) {
  using namespace ::ag::dtypes;
  if constexpr (contains(dtypes, DType::float32)) register_kernel(op, device, DType::float32, make(std::type_identity<float>{}));
  if constexpr (contains(dtypes, DType::float64)) register_kernel(op, device, DType::float64, make(std::type_identity<double>{}));
  if constexpr (contains(dtypes, DType::int64)) register_kernel(op, device, DType::int64, make(std::type_identity<int64_t>{}));
  if constexpr (contains(dtypes, DType::float16)) register_kernel(op, device, DType::float16, make(std::type_identity<Half>{}));
  if constexpr (contains(dtypes, DType::bfloat16))
    register_kernel(op, device, DType::bfloat16, make(std::type_identity<BFloat16>{}));
  return true;
}
}  // namespace ag::detail

// Registers `fn<T>` as op `name`'s CPU kernel for every dtype T its ops.def row declares.
#define AG_CPU_KERNEL(name, fn)                                                                       \
  static const bool cpu_kernels_##name = ::ag::detail::register_kernels<::ag::op_kernels(::ag::Op::name).cpu>( \
      ::ag::Op::name, ::ag::Device::Kind::cpu, []<class T>(std::type_identity<T>) -> ::ag::Kernel { return &fn<T>; })

#endif  // TAPEGRAD_CXX20
