// The per-element update of every optimiser, written once as functors: the
// cpu and device kernels of the optim_step row (cpu/inplace.cpp,
// cuda/inplace.cu) run the same formula (Note [One optimiser formula]).
//
// Note [One optimiser formula]
// Each functor updates one element of a parameter in place from its gradient
// and its state (momentum, running averages), with the hyper-parameters
// already cast to the element type. The CPU calls it in a parallel loop; the
// device calls it from one thrust::for_each over a zip of the parameter, its
// gradient and its state buffers, so a step is one kernel per parameter with
// no temporaries. Written once, the CPU and device updates cannot drift apart;
// tests/test_cuda.cpp still compares them (the optim_step row and every
// optimiser), since the CPU loop is the reference for the device's memory
// layout and dispatch.
#pragma once

#include <cmath>
#include <cstdint>

#include "autograd/cpu/scalar_ops.hpp"  // AG_HD
#include "autograd/kinds.hpp"

namespace ag::optim_ops {

// Which update, and its hyper-parameters (autograd/kinds.hpp).
using Kind = OptimKind;
using Params = OptimParams;

// The number of state buffers of each kind (their order is the functors' arguments after g).
constexpr int nstate(Kind kind) {
  return kind == Kind::sgd ? 0 : kind == Kind::adam ? 2 : 1;
}

// g + wd w (L2 weight decay), or g itself when wd is 0.
template <class T> AG_HD inline T decayed(T g, T w, T wd) { return wd != T(0) ? g + wd * w : g; }

// w -= lr g'   (g' = g + wd w)
template <class T> struct Sgd {
  static constexpr int nstate = 0;
  T lr, wd;
  explicit Sgd(const Params& p) : lr(static_cast<T>(p.lr)), wd(static_cast<T>(p.weight_decay)) {}
  AG_HD void operator()(T& w, T g) const { w -= lr * decayed(g, w, wd); }
};

// v = mu v + g'; w -= lr v, or with Nesterov w -= lr (g' + mu v)
template <class T> struct Momentum {
  static constexpr int nstate = 1;
  T lr, mu, wd;
  bool nesterov;
  explicit Momentum(const Params& p)
      : lr(static_cast<T>(p.lr)), mu(static_cast<T>(p.momentum)), wd(static_cast<T>(p.weight_decay)),
        nesterov(p.nesterov) {}
  AG_HD void operator()(T& w, T g, T& v) const {
    const T gk = decayed(g, w, wd);
    v = mu * v + gk;
    w -= lr * (nesterov ? gk + mu * v : v);
  }
};

// h += g'^2; w -= lr g' / (sqrt(h) + eps)
template <class T> struct AdaGrad {
  static constexpr int nstate = 1;
  T lr, eps, wd;
  explicit AdaGrad(const Params& p)
      : lr(static_cast<T>(p.lr)), eps(static_cast<T>(p.eps)), wd(static_cast<T>(p.weight_decay)) {}
  AG_HD void operator()(T& w, T g, T& h) const {
    const T gk = decayed(g, w, wd);
    h += gk * gk;
    w -= lr * gk / (std::sqrt(h) + eps);
  }
};

// s = a s + (1 - a) g'^2; w -= lr g' / (sqrt(s) + eps)
template <class T> struct RMSProp {
  static constexpr int nstate = 1;
  T lr, alpha, eps, wd;
  explicit RMSProp(const Params& p)
      : lr(static_cast<T>(p.lr)), alpha(static_cast<T>(p.alpha)), eps(static_cast<T>(p.eps)),
        wd(static_cast<T>(p.weight_decay)) {}
  AG_HD void operator()(T& w, T g, T& s) const {
    const T gk = decayed(g, w, wd);
    s = alpha * s + (1 - alpha) * gk * gk;
    w -= lr * gk / (std::sqrt(s) + eps);
  }
};

// m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2; w -= lr m^ / (sqrt(v^) + eps),
// m^ = m / (1 - b1^t), v^ = v / (1 - b2^t); decoupled weight decay: w -= lr wd w first, g' = g.
template <class T> struct Adam {
  static constexpr int nstate = 2;
  T lr, b1, b2, eps, wd, c1, c2;
  bool decoupled;
  explicit Adam(const Params& p)
      : lr(static_cast<T>(p.lr)), b1(static_cast<T>(p.beta1)), b2(static_cast<T>(p.beta2)),
        eps(static_cast<T>(p.eps)), wd(static_cast<T>(p.weight_decay)), c1(static_cast<T>(p.bias1)),
        c2(static_cast<T>(p.bias2)), decoupled(p.decoupled) {}
  AG_HD void operator()(T& w, T g, T& m, T& v) const {
    if (wd != T(0)) {
      if (decoupled) w -= lr * wd * w;
      else g += wd * w;
    }
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const T mhat = m / c1, vhat = v / c2;
    w -= lr * mhat / (std::sqrt(vhat) + eps);
  }
};

// Calls f(step) with the functor of `kind` for elements of type T.
template <class T, class F> void visit(Kind kind, const Params& p, F&& f) {
  switch (kind) {
    case Kind::sgd: f(Sgd<T>(p)); return;
    case Kind::momentum: f(Momentum<T>(p)); return;
    case Kind::adagrad: f(AdaGrad<T>(p)); return;
    case Kind::rmsprop: f(RMSProp<T>(p)); return;
    case Kind::adam: f(Adam<T>(p)); return;
  }
}

}  // namespace ag::optim_ops
