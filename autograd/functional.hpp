// Functional transforms built on the engine, as users of Stan Math, autodiff
// or CppAD expect them: vector-Jacobian and Jacobian-vector products, full
// Jacobians and Hessians, and Hessian-vector products.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <functional>
#include <span>
#include <vector>

#include "check.hpp"
#include "tensor.hpp"

namespace ag {

using UnaryFn = std::function<Tensor(const Tensor&)>;

struct VjpResult {
  Tensor output;              // f(inputs)
  std::vector<Tensor> grads;  // v^T J for each input (zeros where an input does not matter)
};
// f(inputs) and v^T (df/dinputs), by one backward pass.
VjpResult vjp(const TensorFn& f, std::span<const Tensor> inputs, const Tensor& v, bool create_graph = false);

struct JvpResult {
  Tensor output;   // f(inputs)
  Tensor tangent;  // (df/dinputs) u, the shape of the output
};
// f(inputs) and the directional derivative along u (one tensor per input), by
// the double-backward trick: J u = d/dw <J^T w, u>.
JvpResult jvp(const TensorFn& f, std::span<const Tensor> inputs, std::span<const Tensor> u);

// The Jacobian of f at x: shape f(x).shape + x.shape.
Tensor jacobian(const UnaryFn& f, const Tensor& x);
// The Hessian of a scalar f at x: shape x.shape + x.shape.
Tensor hessian(const UnaryFn& f, const Tensor& x);
// The Hessian of a scalar f at x times v (shape of x), without forming the Hessian.
Tensor hvp(const UnaryFn& f, const Tensor& x, const Tensor& v);

}  // namespace ag

#endif  // TAPEGRAD_CXX20
