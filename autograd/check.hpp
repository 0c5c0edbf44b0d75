// The numerical-gradient checker: analytic gradients from backward compared
// with central differences computed in float64.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "autograd/ops/op.hpp"
#include "autograd/tensor.hpp"

namespace ag {

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-5;  // pass when |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-3;
  int probes = 2;      // random upstream gradients v; each checks v^T J against the numerical J^T v
  uint64_t seed = 0;
};

// How one input fared: its worst element and the two values there.
struct InputCheck {
  size_t input = 0;
  double max_abs_error = 0, max_rel_error = 0;
  int64_t worst_index = -1;  // flat index
  double analytic = 0, numeric = 0;
  bool ok = true;
};

struct GradcheckReport {
  bool ok = true;
  std::vector<InputCheck> inputs;
  GradcheckOptions options;
  // A readable summary: per input, the errors and (on failure) the worst element.
  std::string to_string() const;
};

using TensorFn = std::function<Tensor(std::span<const Tensor>)>;

// Checks the gradient of fn at `inputs` (float64; int64 inputs pass through unchecked).
GradcheckReport gradcheck(const TensorFn& fn, std::span<const Tensor> inputs, const GradcheckOptions& opts = {});

// Checks second derivatives: the gradient of <u, d(v . fn)/dx> for random u, v,
// computed through a create_graph backward.
GradcheckReport gradgradcheck(const TensorFn& fn, std::span<const Tensor> inputs, const GradcheckOptions& opts = {});

// The inputs of an op's sampled gradient checks (one list per case of its
// ops.def row), drawn from its declared domains in `dtype`.
std::vector<std::vector<Tensor>> op_check_inputs(const OpInfo& op, DType dtype, Generator& gen);

}  // namespace ag
