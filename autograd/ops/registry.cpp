// The op table generated from ops.def, and the (op, device, dtype) -> kernel lookup.
#include <array>

#include "autograd/ops/op.hpp"

namespace ag {

namespace {

// Constant-initialised, so registrars in other files may fill it during static initialisation.
OpInfo g_ops[] = {
#define AG_OP(name, arity, family, grad, cpu_set, cuda_set, checks, functor, domains, shapes, eps, shows, rule)   \
  OpInfo{Op::name, #name, arity, #family, grad != 0, op_kernels(Op::name).cpu, op_kernels(Op::name).cuda, \
         checks != 0, op_kernels(Op::name).composite, domains, shapes, eps, shows, rule, nullptr, nullptr},
#include "autograd/ops/ops.def"
#undef AG_OP
};
static_assert(sizeof(g_ops) / sizeof(g_ops[0]) == kNumOps, "ops.def and the Op enum disagree");

Kernel g_kernels[kNumOps][kNumDeviceKinds][kNumDTypes] = {};

}  // namespace

const OpInfo& op_info(Op op) { return g_ops[static_cast<size_t>(op)]; }
std::span<const OpInfo> all_ops() { return {g_ops, static_cast<size_t>(kNumOps)}; }

void register_kernel(Op op, Device::Kind device, DType dtype, Kernel k) {
  g_kernels[static_cast<size_t>(op)][static_cast<size_t>(device)][static_cast<size_t>(dtype)] = k;
}

bool has_kernel(Op op, Device device, DType dtype) {
  return g_kernels[static_cast<size_t>(op)][static_cast<size_t>(device.kind)][static_cast<size_t>(dtype)] != nullptr;
}

Kernel find_kernel(Op op, Device device, DType dtype) {
  Kernel k = g_kernels[static_cast<size_t>(op)][static_cast<size_t>(device.kind)][static_cast<size_t>(dtype)];
  if (!k) {
    if (is_half(dtype) && device.is_cpu())
      fail(op_name(op), "no kernel for {} tensors on cpu: 16-bit floats are storage for device tensors; "
                        "cast to float32 on the cpu, or compute on a device", dtype);
    fail(op_name(op), "no kernel for {} tensors on {}", dtype, device);
  }
  return k;
}

void dispatch(Op op, std::span<const Tensor> in, Tensor& out, const Attrs& attrs) {
  find_kernel(op, in[0].device(), in[0].dtype())(in, out, attrs);
}

void dispatch_inplace(Op op, Tensor& self, std::span<const Tensor> in, const Attrs& attrs) {
  find_kernel(op, self.device(), self.dtype())(in, self, attrs);
  ++self.impl()->storage->version;
}

namespace detail {
RuleRegistrar::RuleRegistrar(Op op, BackwardFn fn) { g_ops[static_cast<size_t>(op)].backward = fn; }
SampleRegistrar::SampleRegistrar(Op op, SampleFn fn) { g_ops[static_cast<size_t>(op)].sample = fn; }
}  // namespace detail

}  // namespace ag
