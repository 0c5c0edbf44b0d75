// In-place updates: rows of ops.def that are never recorded (grad 0), so that
// they dispatch through the (op, device, dtype) table as every op does (Note
// [In-place updates are ops] in autograd/tensor.cpp, where Tensor::fill_, add_
// and mul_ are). Each sample updates a copy of its first input and returns it.
#include "autograd/cpu/optim_ops.hpp"
#include "autograd/ops/builder.hpp"

namespace ag {

void optim_step(Tensor& p, std::span<const Tensor> grad_and_state, const OptimParams& params) {
  const char* name = "optim_step";
  const size_t n = 1 + static_cast<size_t>(optim_ops::nstate(params.kind));
  if (p.dtype() != DType::float32 && p.dtype() != DType::float64)
    fail(name, "updates float32 or float64 parameters, got {}", p.dtype());
  if (grad_and_state.size() != n)
    fail(name, "this update takes the gradient and {} state buffers, got {} tensors", n - 1, grad_and_state.size());
  for (size_t k = 0; k < n; ++k) {
    const Tensor& t = grad_and_state[k];
    if (t.shape() != p.shape() || t.dtype() != p.dtype())
      fail(name, "{} has shape {} {}, its parameter {} {}", k == 0 ? "the gradient" : "a state buffer", t.shape(),
           t.dtype(), p.shape(), p.dtype());
    detail::check_devices(Op::optim_step, p, t);
  }
  Attrs a;
  a.optim = &params;
  dispatch_inplace(Op::optim_step, p, grad_and_state, a);
}

namespace {
// A copy of x to update in place, never recorded.
Tensor copy_of(const Tensor& x) { return x.detach().clone(); }
}  // namespace

AG_SAMPLE(fill_) {
  NoGradGuard off;
  return copy_of(x[0]).fill_(-1.5);
}
AG_SAMPLE(add_) {
  NoGradGuard off;
  Tensor y = copy_of(x[0]);
  y.add_(x[1].detach());
  return y.add_(x[1].detach(), -0.5);
}
AG_SAMPLE(mul_) {
  NoGradGuard off;
  return copy_of(x[0]).mul_(x[1].detach());
}
AG_SAMPLE(mul_scalar_) {
  NoGradGuard off;
  return copy_of(x[0]).mul_(-2.5);
}
// Every kind of update in turn, two steps each from fresh state.
AG_SAMPLE(optim_step) {
  NoGradGuard off;
  Tensor p = copy_of(x[0]);
  for (OptimKind kind : {OptimKind::sgd, OptimKind::momentum, OptimKind::adagrad, OptimKind::rmsprop, OptimKind::adam}) {
    const OptimParams params{.kind = kind, .lr = 0.1, .momentum = 0.9, .alpha = 0.9, .beta1 = 0.9, .beta2 = 0.99,
                             .eps = 1e-8, .weight_decay = 0.01, .bias1 = 0.1, .bias2 = 0.01,
                             .nesterov = true, .decoupled = kind == OptimKind::adam};
    const std::array<Tensor, 3> grad_and_state{x[1].detach(), zeros_like(p), zeros_like(p)};
    const auto n = 1 + static_cast<size_t>(optim_ops::nstate(kind));
    for (int t = 0; t < 2; ++t) optim_step(p, std::span<const Tensor>(grad_and_state.data(), n), params);
  }
  return p;
}

}  // namespace ag
