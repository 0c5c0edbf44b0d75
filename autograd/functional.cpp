#include "autograd/functional.hpp"

#include <cstring>

#include "autograd/ops.hpp"
#include "autograd/tape.hpp"

namespace ag {

namespace {

std::vector<Tensor> floating(const std::vector<Tensor>& xs) {
  std::vector<Tensor> out;
  for (const Tensor& x : xs)
    if (is_floating(x.dtype())) out.push_back(x);
  return out;
}

void zero_fill(std::vector<Tensor>& gs, const std::vector<Tensor>& like) {
  for (size_t i = 0; i < gs.size(); ++i)
    if (!gs[i].defined()) gs[i] = zeros_like(like[i].detach());
}

}  // namespace

VjpResult vjp(const TensorFn& f, std::span<const Tensor> inputs, const Tensor& v, bool create_graph) {
  std::vector<Tensor> xs = detail::grad_leaves(inputs);
  std::vector<Tensor> wrt = floating(xs);
  Tensor y = f(xs);
  if (v.shape() != y.shape())
    fail("vjp", "v has shape {} but f's output has shape {}", v.shape(), y.shape());
  VjpResult r;
  if (y.requires_grad()) {
    Tensor vs[1] = {v};
    r.grads = grad({&y, 1}, wrt, vs, {.retain_graph = create_graph, .create_graph = create_graph}, true);
  } else {
    r.grads.resize(wrt.size());
  }
  zero_fill(r.grads, wrt);
  r.output = create_graph ? y : y.detach();
  return r;
}

JvpResult jvp(const TensorFn& f, std::span<const Tensor> inputs, std::span<const Tensor> u) {
  std::vector<Tensor> xs = detail::grad_leaves(inputs);
  std::vector<Tensor> wrt = floating(xs);
  if (u.size() != wrt.size())
    fail("jvp", "needs one direction per floating input: {} inputs, {} directions", wrt.size(), u.size());
  for (size_t i = 0; i < u.size(); ++i)
    if (u[i].shape() != wrt[i].shape())
      fail("jvp", "direction {} has shape {} but its input has shape {}", i, u[i].shape(), wrt[i].shape());
  Tensor y = f(xs);
  JvpResult r;
  r.output = y.detach();
  if (!y.requires_grad()) {
    r.tangent = zeros_like(r.output);
    return r;
  }
  // g(w) = J^T w is linear in w; its gradient along u, d<g(w), u>/dw, is J u.
  Tensor w = zeros_like(r.output).requires_grad_();
  Tensor ws[1] = {w};
  std::vector<Tensor> g = grad({&y, 1}, wrt, ws, {.retain_graph = true, .create_graph = true}, true);
  Tensor total = scalar(0.0, y.dtype());
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i].defined() && g[i].requires_grad()) total = total + sum(g[i] * u[i]);
  if (!total.requires_grad()) {
    r.tangent = zeros_like(r.output);
    return r;
  }
  Tensor t[1] = {total};
  r.tangent = grad(t, ws, {}, {}, true)[0];
  if (!r.tangent.defined()) r.tangent = zeros_like(r.output);
  return r;
}

Tensor jacobian(const UnaryFn& f, const Tensor& x) {
  Tensor leaf = x.detach().requires_grad_();
  Tensor y = f(leaf);
  const int64_t m = y.numel(), n = x.numel();
  Tensor jac = zeros({m, n}, x.dtype());
  if (y.requires_grad()) {
    Tensor ins[1] = {leaf};
    const size_t row_bytes = static_cast<size_t>(n) * dtype_size(x.dtype());
    for (int64_t i = 0; i < m; ++i) {
      std::vector<double> one(static_cast<size_t>(m), 0.0);
      one[static_cast<size_t>(i)] = 1.0;
      Tensor seed[1] = {from_vector(one, y.shape(), y.dtype())};
      Tensor g = grad({&y, 1}, ins, seed, {.retain_graph = true}, true)[0];
      if (g.defined())  // row i of the Jacobian
        std::memcpy(static_cast<char*>(jac.impl()->storage->data) + static_cast<size_t>(i) * row_bytes,
                    g.impl()->storage->data, row_bytes);
    }
  }
  Shape s = y.shape();
  s.insert(s.end(), x.shape().begin(), x.shape().end());
  return reshape(jac, s);
}

Tensor hessian(const UnaryFn& f, const Tensor& x) {
  UnaryFn gradient = [&](const Tensor& z) {
    Tensor y = f(z);
    if (y.numel() != 1) fail("hessian", "f must return a scalar, got shape {}", y.shape());
    if (!y.requires_grad()) return zeros_like(z.detach());
    Tensor ins[1] = {z};
    Tensor g = grad({&y, 1}, ins, {}, {.retain_graph = true, .create_graph = true}, true)[0];
    return g.defined() ? g : zeros_like(z.detach());
  };
  return jacobian(gradient, x);
}

Tensor hvp(const UnaryFn& f, const Tensor& x, const Tensor& v) {
  if (v.shape() != x.shape()) fail("hvp", "v has shape {} but x has shape {}", v.shape(), x.shape());
  Tensor leaf = x.detach().requires_grad_();
  Tensor y = f(leaf);
  if (y.numel() != 1) fail("hvp", "f must return a scalar, got shape {}", y.shape());
  if (!y.requires_grad()) return zeros_like(leaf.detach());
  Tensor ins[1] = {leaf};
  Tensor g = grad({&y, 1}, ins, {}, {.retain_graph = true, .create_graph = true}, true)[0];
  if (!g.defined() || !g.requires_grad()) return zeros_like(leaf.detach());
  Tensor gv[1] = {sum(g * v)};
  Tensor h = grad(gv, ins, {}, {}, true)[0];
  return h.defined() ? h : zeros_like(leaf.detach());
}

}  // namespace ag
