// CUDA kernels of the optimisers: each step is one fused thrust::for_each over
// a zip of the parameter, its gradient and its state buffers, calling the
// per-element functor the CPU loop calls too (Note [One optimiser formula] in
// autograd/cpu/optim_ops.hpp).
#include <stdexcept>

#include "cuda/common.cuh"

namespace ag::AG_KNS {

namespace {

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

}  // namespace

void optim_update(optim_ops::Kind kind, const View& p, const View& g, const View* state, int nstate,
                  const optim_ops::Params& params) {
  if (nstate != optim_ops::nstate(kind)) throw std::logic_error("optim_update: wrong number of state buffers");
  if (p.numel == 0) return;
  // 16-bit parameters are refused before this (nn/optim.cpp): updates belong on float32 master weights.
  auto update = [&](auto z) {
    using T = decltype(z);
    optim_ops::visit<T>(kind, params, [&](const auto& step) { run<T>(step, p, g, state); });
  };
  if (p.dtype == kernels::KType::float32) update(float{});
  else if (p.dtype == kernels::KType::float64) update(double{});
  else throw std::logic_error("optim_update: parameters must be float32 or float64");
}

}  // namespace ag::AG_KNS
