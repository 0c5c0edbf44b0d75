// The numerical-gradient checker: analytic gradients from backward compared
// with central differences computed in float64. Three levels:
//   gradcheck / gradgradcheck  a whole function of tensors (full Jacobian or fast random probes)
//   check_nodes               every node of a recorded model, each in isolation (any device)
//   check_nodes_compare       the same, on several devices side by side
//   op_check_inputs           the sampled inputs of each op in the index (the op test suite)
// See docs/gradcheck.md.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "tensor.hpp"

namespace ag {

struct OpInfo;  // a row of the op index (ops/op.hpp)

enum class CheckMode {
  full,  // the whole Jacobian: one backward per output element, two evaluations per input element
  fast,  // random directions: v^T J u against the numerical derivative along u (probes x inputs)
};

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step (the reference always runs in float64)
  double atol = 1e-5;  // an element passes when |analytic - numerical| <= atol + rtol * |numerical|
  double rtol = 1e-3;
  CheckMode mode = CheckMode::full;
  int probes = 4;         // fast mode: random directions per input
  uint64_t seed = 0;      // for the random directions and upstream gradients
  double nondet_tol = 0;  // backward runs twice; its results may differ by this much (GPU atomics)

  // The documented tolerances for analytic gradients computed in `dtype`,
  // compared with the float64 reference: float64 atol 1e-5, rtol 1e-3;
  // float32 atol 1e-4, rtol 5e-3; float16 1e-2, 1e-2; bfloat16 5e-2, 5e-2.
  static GradcheckOptions for_dtype(DType dtype);
  // The op suite's options for `op` (a row of ops.def) in `dtype`, to first or
  // second order (order 2: for gradgradcheck): for_dtype(dtype) with the row's
  // eps, atol at least 1e-4 where that eps is above 1e-6 (the op rounds, as a
  // cast to float32 does), and for second order eps at least 1e-5 and atol at
  // least 1e-4. The tests, the device tests and op_coverage all use it.
  static GradcheckOptions for_op(const OpInfo& op, DType dtype, int order = 1);
};

// How one input fared.
struct InputCheck {
  size_t input = 0;
  double max_abs_error = 0, max_rel_error = 0;
  bool ok = true;
  // The worst element (the largest excess over the tolerance), and the first failing one.
  int64_t worst_index = -1, worst_output = -1;  // flat input index, and output index (full mode)
  double analytic = 0, numeric = 0;
  int64_t first_bad_index = -1, first_bad_output = -1;
  double first_analytic = 0, first_numeric = 0;
};

struct GradcheckReport {
  bool ok = true;
  std::vector<InputCheck> inputs;
  GradcheckOptions options;
  std::string failure;  // a problem that is not an element (e.g. backward not reentrant)
  // A readable summary: per input the errors and, on failure, the worst element with both values.
  std::string to_string() const;
};

using TensorFn = std::function<Tensor(std::span<const Tensor>)>;

namespace detail {
// Fresh leaves for an analytic pass (gradcheck, vjp, jvp): the inputs detached,
// the floating ones requiring grad in their own dtype, int64 ones as they are.
std::vector<Tensor> grad_leaves(std::span<const Tensor> inputs);
}  // namespace detail

// Checks fn's gradient at `inputs`. Float inputs are differentiated: float64
// ones against the float64 numerical Jacobian, float32 ones (analytic in
// float32) against the same float64 reference with float32 tolerances, so fn
// must work in both dtypes. int64 inputs pass through unchanged.
GradcheckReport gradcheck(const TensorFn& fn, std::span<const Tensor> inputs, const GradcheckOptions& opts = {});

// Checks second derivatives: the gradient of <u, d(v . fn)/dx> for random u, v,
// whose analytic value comes from a create_graph backward.
GradcheckReport gradgradcheck(const TensorFn& fn, std::span<const Tensor> inputs, const GradcheckOptions& opts = {});

// ---- Per-node checking of a whole model ----------------------------------------------

struct NodeCheckOptions {
  int64_t full_limit = 512;  // inputs up to this many elements are checked element by element,
                             // larger ones along `probes` random directions (then sampled
                             // element by element when a direction fails, to name the worst)
  int probes = 3;
  uint64_t seed = 0;
  double eps = 1e-6;
};

// One node of the model, checked in isolation.
struct NodeCheck {
  int step = 0;             // recording order
  std::string op;           // the op's name (a user-defined op's own name)
  std::string scope;        // its NameScope path
  std::vector<Shape> input_shapes;
  DType dtype = DType::float64;
  Device device;            // where the model ran it (its rule ran there too)
  double max_abs_error = 0, max_rel_error = 0;
  bool ok = true;
  bool sampled = false;     // some input was checked along random directions
  // The worst element: which input, its flat index, both values, the step used.
  int worst_input = -1;
  int64_t worst_index = -1;
  double analytic = 0, numeric = 0;
  std::string error;        // the rule threw: its message
};

struct NodeCheckReport {
  bool ok = true;
  std::vector<NodeCheck> nodes;
  NodeCheckOptions options;
  // The table: node, op, input shapes, max abs error, max rel error, PASS/FAIL,
  // and below each failure its worst element.
  std::string table() const;
  size_t failures() const;
};

// Runs build_loss once while tracing the tape, then checks every recorded node
// on its own: its backward rule, at the values the forward pass saw and for a
// random upstream gradient, against central differences of the node's forward
// kernel in float64. A wrong rule is reported at its node. The model may live
// on any device: each rule runs there, on its saved tensors and an upstream
// gradient made there, and the reference runs in float64 on the cpu kernels.
NodeCheckReport check_nodes(const std::function<Tensor()>& build_loss, const NodeCheckOptions& opts = {});

// One node of a model checked on several devices (check_nodes_compare).
struct NodeCompare {
  int step = 0;
  std::string op, scope;
  std::vector<Shape> input_shapes;
  std::vector<NodeCheck> devices;  // this node's check on each device, in the order given
  // One element of the analytic gradients on two devices: the other device
  // (an index into `devices`), the input, its flat index, the first device's
  // value and the other's (device -1: none).
  struct Element {
    int device = -1, input = -1;
    int64_t index = -1;
    double first = 0, other = 0;
  };
  // The largest |analytic gradient on a device - on the first device| over all
  // inputs' elements and devices (both rules get the same upstream gradient),
  // and where it is (none when they are all equal).
  double max_device_diff = 0;
  Element largest;
  // Whether every element is within the node dtype's tolerance (atol + rtol
  // |first device's value|, the looser of the two dtypes), and the element
  // furthest over (or nearest to) it.
  bool devices_agree = true;
  Element worst;
  bool ok = true;  // every device passed its numerical check and the devices agree
};

struct NodeCompareReport {
  bool ok = true;
  std::vector<Device> devices;
  std::vector<NodeCompare> nodes;
  NodeCheckOptions options;
  // The side-by-side table: node, op, input shapes, per device the max abs and
  // rel error against the numerical reference, the max difference between the
  // devices' analytic gradients and where it is, PASS/FAIL; below a failure its
  // worst element on each failing device, and where the devices differ.
  std::string table() const;
  size_t failures() const;
};

// Builds the model on each device (build_loss(device) must build it there,
// from the same values) and checks it node by node there, as check_nodes does;
// then compares each node's analytic gradients across devices. An ag::Error
// when `devices` is empty or lists one twice, a device is not available, or the
// model records a different graph (node count, op or input shapes) on two devices.
NodeCompareReport check_nodes_compare(const std::function<Tensor(Device)>& build_loss,
                                      const std::vector<Device>& devices, const NodeCheckOptions& opts = {});

// ---- The op suite ---------------------------------------------------------------------

// The inputs of an op's sampled gradient checks (one list per case of its
// ops.def row), drawn from its declared domains in `dtype` (float16 and
// bfloat16: drawn in float64, then rounded).
std::vector<std::vector<Tensor>> op_check_inputs(const OpInfo& op, DType dtype, Generator& gen);

// One row of the op coverage matrix: what exists for an op on each device,
// and the result of checking it now.
struct OpCoverage {
  std::string_view name, family;
  bool differentiable = false;
  struct Device {
    bool forward = false, backward = false, double_backward = false;
    // "PASS", "FAIL", "-" (not applicable) or "skipped" (no such device here).
    // On the cpu, f64 and f32 are first order and second_order is float64's;
    // on a device each dtype's cell is its first and second order together.
    std::string f64, f32, f16, bf16, second_order;
  };
  // cuda_host: the CUDA kernels compiled for the host (checked wherever the build has them)
  Device cpu, cuda, cuda_host;
};
// Runs every op's sampled checks (cpu: float64 and float32 first order,
// float64 second order; devices: first and second order in float64, float32,
// float16 and bfloat16) on every device and reports the matrix.
std::vector<OpCoverage> op_coverage();
// The matrix as a Markdown table. With device_results false (docs/op-coverage.md)
// the device columns say which checks exist ("yes"/"-"), not how they went here,
// so the table is the same on every machine; with true they show PASS, FAIL or
// "skipped" (no such device in this process).
std::string op_coverage_markdown(const std::vector<OpCoverage>& rows, bool device_results = false);

}  // namespace ag

#endif  // TAPEGRAD_CXX20
