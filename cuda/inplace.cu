// CUDA kernels of the inplace family: fill_, add_, mul_, mul_scalar_ and
// optim_step update `out` from the other operands `in` (Note [In-place
// updates are ops] in autograd/tensor.cpp). An optimiser step is one fused
// thrust::for_each over a zip of the parameter, its gradient and its state
// buffers, calling the per-element functor the cpu kernel calls too (Note [One
// optimiser formula] in autograd/cpu/optim_ops.hpp).
#include <stdexcept>
#include <string>

#include "autograd/cpu/optim_ops.hpp"
#include "cuda/common.cuh"

namespace ag::AG_KNS {

namespace {

struct Axpy {
  double alpha;
  template <class T> AG_HD T operator()(T y, T x) const { return y + static_cast<T>(alpha) * x; }
};

void fill(const View& out, double value) {
  if (out.dtype == kernels::KType::int64) {
    thrust::fill(AG_POLICY, out.ptr<int64_t>(), out.ptr<int64_t>() + out.numel, static_cast<int64_t>(value));
    return;
  }
  for_float(out.dtype, [&](auto z) {
    using T = decltype(z);
    thrust::fill(AG_POLICY, out.ptr<T>(), out.ptr<T>() + out.numel, static_cast<T>(static_cast<compute_t<T>>(value)));
  });
}

// out += alpha x
void axpy(const View& out, const View& x, double alpha) {
  for_float(out.dtype, [&](auto z) {
    using T = decltype(z);
    T* y = out.ptr<T>();
    if (alpha == 1.0) thrust::transform(AG_POLICY, y, y + out.numel, x.ptr<T>(), y, through<T>(scalar_ops::Add{}));
    else thrust::transform(AG_POLICY, y, y + out.numel, x.ptr<T>(), y, through<T>(Axpy{alpha}));
  });
}

// out *= x elementwise, or out *= factor when x is null
void scale(const View& out, const View* x, double factor) {
  for_float(out.dtype, [&](auto z) {
    using T = decltype(z);
    T* y = out.ptr<T>();
    if (x) thrust::transform(AG_POLICY, y, y + out.numel, x->ptr<T>(), y, through<T>(scalar_ops::Mul{}));
    else thrust::transform(AG_POLICY, y, y + out.numel, y, through<T>(scalar_ops::MulScalar{factor}));
  });
}

// Unpacks a zipped (w, g, state...) element into the step's arguments.
template <class S> struct Apply {
  S step;
  template <class Tuple> AG_HD void operator()(Tuple t) const {
    if constexpr (S::nstate == 0) step(thrust::get<0>(t), thrust::get<1>(t));
    else if constexpr (S::nstate == 1) step(thrust::get<0>(t), thrust::get<1>(t), thrust::get<2>(t));
    else step(thrust::get<0>(t), thrust::get<1>(t), thrust::get<2>(t), thrust::get<3>(t));
  }
};

template <class S, class It> void apply(It first, int64_t n, const S& step) {
  thrust::for_each(AG_POLICY, first, first + n, Apply<S>{step});
}

template <class T, class S> void run(const S& step, const View& p, const View& g, const View* state) {
  T* w = p.ptr<T>();
  const T* d = g.ptr<T>();
  if constexpr (S::nstate == 0) apply(thrust::make_zip_iterator(thrust::make_tuple(w, d)), p.numel, step);
  else if constexpr (S::nstate == 1)
    apply(thrust::make_zip_iterator(thrust::make_tuple(w, d, state[0].ptr<T>())), p.numel, step);
  else
    apply(thrust::make_zip_iterator(thrust::make_tuple(w, d, state[0].ptr<T>(), state[1].ptr<T>())), p.numel,
          step);
}

// One fused update of p from g and its nstate state buffers (optim_ops::nstate(params.kind) of them).
void optim_update(const OptimParams& params, const View& p, const View& g, const View* state, int nstate) {
  if (nstate != optim_ops::nstate(params.kind)) throw std::logic_error("optim_step: wrong number of state buffers");
  if (p.numel == 0) return;
  auto update = [&](auto z) {
    using T = decltype(z);
    optim_ops::visit<T>(params.kind, params, [&](const auto& step) { run<T>(step, p, g, state); });
  };
  if (p.dtype == kernels::KType::float32) update(float{});
  else if (p.dtype == kernels::KType::float64) update(double{});
  else throw std::logic_error("optim_step: parameters must be float32 or float64");
}

}  // namespace

void inplace(KOp op, const View* in, int nin, const View& out, const KAttrs& a, const char* name) {
  switch (op) {
    case KOp::fill_: return fill(out, a.scalar);
    case KOp::add_: return axpy(out, in[0], a.scalar);
    case KOp::mul_: return scale(out, &in[0], 1.0);
    case KOp::mul_scalar_: return scale(out, nullptr, a.scalar);
    case KOp::optim_step: return optim_update(*a.optim, out, in[0], in + 1, nin - 1);
    default: break;
  }
  throw std::logic_error(std::string(name) + ": not an op of the inplace family");
}

}  // namespace ag::AG_KNS
