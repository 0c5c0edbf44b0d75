// Registers the CUDA kernels of every op, for the dtypes its ops.def row declares in its cuda column, for
// one device kind: Device::Kind::cuda, or cuda_host when compiled with
// AG_CUDA_HOST (Note [Kernels written once, compiled twice] in kernels.hpp).
// Converts tensors and attributes to the kernels' plain views.
#include <algorithm>
#include <exception>

#include "autograd/ops/op.hpp"
#include "cuda/allocator.hpp"
#include "cuda/kernels.hpp"
#include "cuda/optim_dispatch.hpp"
#include "cuda/runtime.hpp"

namespace ag::AG_KNS {

namespace {

#if defined(AG_CUDA_HOST)
constexpr Device::Kind kKind = Device::Kind::cuda_host;
void set_device(int, const char*) {}
#else
constexpr Device::Kind kKind = Device::Kind::cuda;
void set_device(int index, const char* op) { cuda::rt::set_device(index, op); }
#endif

View view(const Tensor& t, const char* op) {
  View v;
  if (t.dim() > kernels::kMaxDims)
    fail(op, "tensors on {} have at most {} axes, got shape {}", t.device(), kernels::kMaxDims, t.shape());
  v.data = t.impl()->storage->data;
  v.numel = t.numel();
  v.ndim = static_cast<int>(t.dim());
  std::copy(t.shape().begin(), t.shape().end(), v.shape);
  v.dtype = t.dtype();
  return v;
}

KAttrs kattrs(const Attrs& a, const char* op) {
  KAttrs k;
  static_cast<ScalarAttrs&>(k) = a;
  if (a.axes.size() > static_cast<size_t>(kernels::kMaxDims)) fail(op, "too many axes: {}", a.axes);
  k.naxes = static_cast<int>(a.axes.size());
  std::copy(a.axes.begin(), a.axes.end(), k.axes);
  return k;
}

using Family = void (*)(KOp, const View*, int, const View&, const KAttrs&, const char*);

// The kernel of one op: views, the current device, the family's entry, and errors named by op.
template <Op op, Family family>
void launch(std::span<const Tensor> in, Tensor& out, const Attrs& attrs) {
  const char* name = op_name(op).data();
  View views[16];
  if (in.size() > 16) fail(name, "at most 16 inputs on {}, got {}", out.device(), in.size());
  for (size_t i = 0; i < in.size(); ++i) views[i] = view(in[i], name);
  set_device(out.device().index, name);
  KAttrs ka = kattrs(attrs, name);
  if constexpr (op_kernels(op).checks) ka.check = cuda::device_check(out.device(), name);
  try {
    family(op, views, static_cast<int>(in.size()), view(out, name), ka, name);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(name, "the {} kernel failed: {}", out.device(), e.what());
  }
}

// One op's kernels, for the dtypes its ops.def row declares in the cuda column.
template <Op op, Family family>
void register_op() {
  detail::register_kernels<op_kernels(op).cuda>(op, kKind, [](auto) -> Kernel { return &launch<op, family>; });
}

View flat(void* data, int64_t n, DType dtype) {
  View v;
  v.data = data;
  v.numel = n;
  v.ndim = 1;
  v.shape[0] = n;
  v.dtype = dtype;
  return v;
}

const bool registered = [] {
#define AG_OP(name, arity, family, ...) register_op<Op::name, &AG_KNS::family>();
#include "autograd/ops/ops.def"
#undef AG_OP
  cuda::BufferOps ops;
  ops.fill = [](void* data, int64_t n, DType dtype, double value) { fill(flat(data, n, dtype), value); };
  ops.axpy = [](void* y, const void* x, int64_t n, DType dtype, double alpha) {
    axpy(flat(y, n, dtype), flat(const_cast<void*>(x), n, dtype), alpha);
  };
  ops.scale = [](void* y, const void* x, int64_t n, DType dtype, double factor) {
    scale(flat(y, n, dtype), flat(const_cast<void*>(x), n, dtype), factor);
  };
  ops.set_device = set_device;
  cuda::register_buffer_ops(kKind, ops);
  cuda::register_optim_kernel(kKind, &optim_update);
  return true;
}();

}  // namespace

void custom(KOp, const View*, int, const View&, const KAttrs&, const char* name) {
  fail(name, "a user-defined op has no device kernel: its forward runs the user's code");
}

}  // namespace ag::AG_KNS
