// Registers the CUDA kernels of every op whose ops.def row has cuda = 1, for
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

static_assert(static_cast<int>(kernels::KType::int64) == static_cast<int>(DType::int64));
static_assert(static_cast<int>(kernels::KType::float16) == static_cast<int>(DType::float16));
static_assert(static_cast<int>(kernels::KType::bfloat16) == static_cast<int>(DType::bfloat16));

View view(const Tensor& t, const char* op) {
  View v;
  if (t.dim() > kernels::kMaxDims)
    fail(op, "tensors on {} have at most {} axes, got shape {}", t.device(), kernels::kMaxDims, t.shape());
  v.data = t.impl()->storage->data;
  v.numel = t.numel();
  v.ndim = static_cast<int>(t.dim());
  std::copy(t.shape().begin(), t.shape().end(), v.shape);
  v.dtype = static_cast<kernels::KType>(t.dtype());
  return v;
}

KAttrs kattrs(const Attrs& a, const char* op) {
  KAttrs k;
  k.a = a.a;
  k.b = a.b;
  if (a.axes.size() > static_cast<size_t>(kernels::kMaxDims)) fail(op, "too many axes: {}", a.axes);
  k.naxes = static_cast<int>(a.axes.size());
  std::copy(a.axes.begin(), a.axes.end(), k.axes);
  k.axis = a.axis;
  k.start = a.start;
  k.stop = a.stop;
  k.step = a.step;
  k.transpose_a = a.transpose_a;
  k.transpose_b = a.transpose_b;
  k.dtype = static_cast<kernels::KType>(a.dtype);
  return k;
}

using Family = void (*)(KOp, const View*, int, const View&, const KAttrs&, const char*);

// Ops whose kernels range-check indices, labels or probabilities on the device
// (Note [Checks on the device] in kernels.hpp).
constexpr bool checks_values(Op op) {
  return op == Op::softmax_cross_entropy || op == Op::nll || op == Op::bce || op == Op::index_select ||
         op == Op::index_add || op == Op::one_hot || op == Op::cast;
}

// The kernel of one op: views, the current device, the family's entry, and errors named by op.
template <Op op, Family family>
void launch(std::span<const Tensor> in, Tensor& out, const Attrs& attrs) {
  const char* name = op_name(op).data();
  View views[16];
  if (in.size() > 16) fail(name, "at most 16 inputs on {}, got {}", out.device(), in.size());
  for (size_t i = 0; i < in.size(); ++i) views[i] = view(in[i], name);
  set_device(out.device().index, name);
  KAttrs ka = kattrs(attrs, name);
  if constexpr (checks_values(op)) ka.check = cuda::device_check(out.device(), name);
  try {
    family(static_cast<KOp>(op), views, static_cast<int>(in.size()), view(out, name), ka, name);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(name, "the {} kernel failed: {}", out.device(), e.what());
  }
}

// Ops whose CPU kernels also take int64 inputs get int64 device kernels too.
constexpr bool takes_int64(Op op) {
  return op == Op::cast || op == Op::clone || op == Op::one_hot || op == Op::index_select || op == Op::slice ||
         op == Op::reshape;
}

template <Op op, Family family>
void register_op() {
  register_kernel(op, kKind, DType::float32, launch<op, family>);
  register_kernel(op, kKind, DType::float64, launch<op, family>);
  register_kernel(op, kKind, DType::float16, launch<op, family>);
  register_kernel(op, kKind, DType::bfloat16, launch<op, family>);
  if (takes_int64(op)) register_kernel(op, kKind, DType::int64, launch<op, family>);
}

View flat(void* data, int64_t n, DType dtype) {
  View v;
  v.data = data;
  v.numel = n;
  v.ndim = 1;
  v.shape[0] = n;
  v.dtype = static_cast<kernels::KType>(dtype);
  return v;
}

const bool registered = [] {
#define AG_OP(name, arity, family, grad, cuda, ...) \
  if constexpr (cuda != 0) register_op<Op::name, &AG_KNS::family>();
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
