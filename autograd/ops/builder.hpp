// Helpers shared by the op builders in this folder (not part of the public API).
#pragma once

#include <array>

#include "autograd/ops.hpp"
#include "autograd/ops/op.hpp"
#include "autograd/tape.hpp"

namespace ag::detail {

inline void check_float(Op op, const Tensor& x, const char* role = "input") {
  if (!is_floating(x.dtype()))
    fail(op_name(op), "needs a floating {}, got an {} tensor of shape {}", role, x.dtype(), x.shape());
}

inline void check_int(Op op, const Tensor& x, const char* role) {
  if (x.dtype() != DType::int64)
    fail(op_name(op), "needs int64 {}, got {} of shape {}", role, x.dtype(), x.shape());
}

// All inputs of an op live on one device.
inline void check_devices(Op op, const Tensor& a, const Tensor& b) {
  if (a.device() != b.device())
    fail(op_name(op), "inputs are on different devices: {} and {}; move one with .to()", a.device(), b.device());
}

// Both operands share dtype and device, or a clear error says how to fix it.
inline void check_pair(Op op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    fail(op_name(op), "dtypes differ: lhs {} {}, rhs {} {}; convert one explicitly with ag::cast(x, ag::DType::{})",
         a.shape(), a.dtype(), b.shape(), b.dtype(), a.dtype());
  check_devices(op, a, b);
}

// Allocates the output and runs op's kernel, recording nothing: for an
// intermediate that a node saves for its backward rule (Note [Saved
// intermediates] in ops/loss.cpp). Ops that users call go through run.
template <size_t N>
inline Tensor compute(Op op, const std::array<Tensor, N>& in, const Shape& shape, DType dtype,
                      const Attrs& attrs = {}) {
  for (size_t i = 1; i < N; ++i) check_devices(op, in[0], in[i]);
  Tensor y = empty(shape, dtype, in[0].device());
  dispatch(op, in, y, attrs);
  return y;
}

// Allocates the output, runs the kernel and records the node; returns it with its node (or nullptr).
template <size_t N>
inline std::pair<Tensor, Node*> run(Op op, const std::array<Tensor, N>& in, const Shape& shape, DType dtype,
                                    const Attrs& attrs = {}) {
  Tensor y = compute(op, in, shape, dtype, attrs);
  Node* n = op_info(op).differentiable ? record(op, in, y, attrs) : nullptr;
  return {std::move(y), n};
}

// Note [No aliases from differentiable ops]
// A differentiable op returns a new handle even when its result equals its
// input (reshape to the same shape, broadcast_to the same shape, cast to the
// same dtype): a view that shares the input's storage, recorded as its own
// node. y.grad() is then the gradient through y's own uses, as in PyTorch,
// never its input's. The node costs no copy and no kernel. dropout is the
// exception, as in PyTorch: in evaluation or with p = 0 it returns x itself
// (ops.hpp).

// An operand broadcast to `shape` inside a builder: x itself when it has that shape already,
// so that broadcasting one operand of a binary op records no node for the other.
inline Tensor broadcast_operand(const Tensor& x, const Shape& shape) {
  return x.shape() == shape ? x : broadcast_to(x, shape);
}

// A new handle on x's storage with `shape` (same number of elements), recorded as `op`.
inline Tensor view(Op op, const Tensor& x, const Shape& shape, const Attrs& attrs) {
  auto impl = new_impl();
  impl->storage = x.impl()->storage;
  impl->shape = shape;
  impl->numel = x.numel();
  impl->dtype = x.dtype();
  Tensor y(std::move(impl));
  std::array<Tensor, 1> in{x};
  record(op, in, y, attrs);
  return y;
}

}  // namespace ag::detail
