// CPU kernels of the inplace family: fill_, add_, mul_, mul_scalar_ and
// optim_step update `out` from the other operands `in` (Note [In-place
// updates are ops] in autograd/tensor.cpp). Plain loops that GCC vectorises;
// they run on every gradient accumulation and optimiser step.
#include <algorithm>
#include <array>
#include <type_traits>

#include "autograd/cpu/clones.hpp"
#include "autograd/cpu/optim_ops.hpp"
#include "autograd/ops/op.hpp"
#include "autograd/parallel.hpp"

namespace ag::cpu {

namespace {

// out = value (int64 fill values are checked by Tensor::fill_).
template <class T> void fill_(std::span<const Tensor>, Tensor& out, const Attrs& a) {
  T v;
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) v = T(static_cast<float>(a.scalar));
  else v = static_cast<T>(a.scalar);
  std::fill_n(out.impl()->data<T>(), out.numel(), v);
}

// out += alpha x, in = {x}, alpha = attrs.scalar
template <class T> void add_(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  T* y = out.impl()->data<T>();
  const T* x = in[0].impl()->data<T>();
  const int64_t n = out.numel();
  const T alpha = static_cast<T>(a.scalar);
  if (a.scalar == 1.0)
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
  else
    for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// out *= x, in = {x}
template <class T> void mul_(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  T* y = out.impl()->data<T>();
  const T* x = in[0].impl()->data<T>();
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) y[i] *= x[i];
}

// out *= c, c = attrs.scalar
template <class T> void mul_scalar_(std::span<const Tensor>, Tensor& out, const Attrs& a) {
  T* y = out.impl()->data<T>();
  const int64_t n = out.numel();
  const T c = static_cast<T>(a.scalar);
  for (int64_t i = 0; i < n; ++i) y[i] *= c;
}

// One range of an update. The functor is a by-value copy and the buffers are
// __restrict, so stores to w cannot alias the hyper-parameters: GCC keeps them
// in registers and vectorises (a reference to the functor kept the loop scalar,
// reloading lr and wd after every store: 1 ns per element).
template <class S, class T>
AG_LOOP_CLONES void step_range(const S step, T* __restrict w, const T* __restrict d, T* __restrict s0,
                               T* __restrict s1, int64_t n) {
  for (int64_t k = 0; k < n; ++k) {
    if constexpr (S::nstate == 0) step(w[k], d[k]);
    else if constexpr (S::nstate == 1) step(w[k], d[k], s0[k]);
    else step(w[k], d[k], s0[k], s1[k]);
  }
}

// out = p, in = {g, state...}: attrs.optim's functor on every element, split
// across the thread pool (Note [One optimiser formula] in optim_ops.hpp).
template <class T> void optim_step(std::span<const Tensor> in, Tensor& out, const Attrs& a) {
  T* w = out.impl()->data<T>();
  const T* d = in[0].impl()->data<T>();
  std::array<T*, 2> s{};
  for (size_t k = 1; k < in.size(); ++k) s[k - 1] = in[k].impl()->data<T>();
  optim_ops::visit<T>(a.optim->kind, *a.optim, [&](const auto& step) {
    parallel_for(out.numel(), elementwise_grain(), [&](int64_t b, int64_t e) {
      step_range(step, w + b, d + b, s[0] ? s[0] + b : nullptr, s[1] ? s[1] + b : nullptr, e - b);
    });
  });
}

}  // namespace

AG_CPU_KERNEL(fill_, fill_);
AG_CPU_KERNEL(add_, add_);
AG_CPU_KERNEL(mul_, mul_);
AG_CPU_KERNEL(mul_scalar_, mul_scalar_);
AG_CPU_KERNEL(optim_step, optim_step);

}  // namespace ag::cpu
