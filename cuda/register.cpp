// Registers the CUDA kernels of every op, for the dtypes its ops.def row declares in its cuda column, for
// one device kind: Device::Kind::cuda, or cuda_host when compiled with
// AG_CUDA_HOST (Note [Kernels written once, compiled twice] in kernels.hpp),
// and the kind's backend: memory and copies (Note [Backends] in autograd/backend.hpp).
// Converts tensors and attributes to the kernels' plain views.
#include <algorithm>
#include <exception>

#include "autograd/backend.hpp"
#include "autograd/ops/op.hpp"
#include "cuda/allocator.hpp"
#include "cuda/cuda.hpp"
#include "cuda/kernels.hpp"
#include "cuda/runtime.hpp"

namespace ag::AG_KNS {

namespace {

#if defined(AG_CUDA_HOST)
constexpr Device::Kind kKind = Device::Kind::cuda_host;
void set_device(int, const char*) {}
void synchronize(Device, const char*) {}
bool available() { return true; }
#else
constexpr Device::Kind kKind = Device::Kind::cuda;
void set_device(int index, const char* op) { cuda::rt::set_device(index, op); }
void synchronize(Device device, const char* op) { cuda::rt::synchronize(device.index, op); }
bool available() { return cuda::is_available(); }
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
  if constexpr (op_kernels(op).composite) return;  // its parts' kernels do its work
  detail::register_kernels<op_kernels(op).cuda>(op, kKind, [](auto) -> Kernel { return &launch<op, family>; });
}

const bool registered = [] {
#define AG_OP(name, arity, family, ...) register_op<Op::name, &AG_KNS::family>();
#include "autograd/ops/ops.def"
#undef AG_OP
  // memory and copies: the caching allocator (cuda/allocator.cpp)
  register_backend(kKind, Backend{.alloc = cuda::device_alloc,
                                  .free = cuda::device_free,
                                  .copy = cuda::copy_bytes,
                                  .synchronize = synchronize,
                                  .set_device = [](Device d, const char* op) { set_device(d.index, op); },
                                  .available = available});
  return true;
}();

}  // namespace

void composite(KOp, const View*, int, const View&, const KAttrs&, const char* name) {
  fail(name, "a composite op has no kernel: its builder runs its parts");
}

void custom(KOp, const View*, int, const View&, const KAttrs&, const char* name) {
  fail(name, "a user-defined op has no device kernel: its forward runs the user's code");
}

}  // namespace ag::AG_KNS
