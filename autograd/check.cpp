#include "autograd/check.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <sstream>

#include <optional>

#include "autograd/backend.hpp"
#include "autograd/function.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/op.hpp"
#include "autograd/tape.hpp"

namespace ag {

namespace {

// All elements of t as doubles (a device tensor is copied to the host once).
std::vector<double> values_of(const Tensor& t) {
  const Tensor h = t.device().is_cpu() ? t : t.to(Device::cpu());
  if (h.dtype() == DType::float64) return std::vector<double>(h.impl()->data<double>(), h.impl()->data<double>() + h.numel());
  std::vector<double> v(static_cast<size_t>(h.numel()));
  for (int64_t i = 0; i < h.numel(); ++i) v[static_cast<size_t>(i)] = h.value_at(i);
  return v;
}

// Writes a float64 reference copy's values: in place on the cpu, through a host copy on a device.
void store(Tensor& x, const std::vector<double>& values) {
  if (x.device().is_cpu()) std::copy(values.begin(), values.end(), x.impl()->data<double>());
  else x.copy_(from_vector(values, x.shape(), DType::float64));
}

// Sets element j of a float64 reference copy to v; `values` mirrors its elements.
void poke(Tensor& x, std::vector<double>& values, int64_t j, double v) {
  values[static_cast<size_t>(j)] = v;
  if (x.device().is_cpu()) x.impl()->data<double>()[j] = v;
  else store(x, values);
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// A float64 copy we may perturb in place (int64 tensors are shared as they are).
Tensor reference_copy(const Tensor& t) {
  GradModeGuard off(false);
  if (!is_floating(t.dtype())) return t.detach();
  if (t.dtype() == DType::float64) return t.detach().clone();
  return cast(t.detach(), DType::float64);
}

// A node's name in reports: its NameScope path, then its op ("affine1/matmul").
std::string node_name(const std::string& scope, const std::string& op) { return scope.empty() ? op : scope + "/" + op; }

std::string index_text(const Shape& shape, int64_t flat) {
  if (flat < 0) return "-";
  Shape idx(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    idx[k] = flat % shape[k];
    flat /= shape[k];
  }
  return fmt::format("{}", idx);
}

// Accumulates element comparisons for one input.
struct Tally {
  InputCheck& c;
  double atol, rtol;
  void add(double analytic, double numeric, int64_t index, int64_t output) {
    const double err = std::abs(analytic - numeric);
    const double allowed = atol + rtol * std::abs(numeric);
    const bool bad = !(err <= allowed);  // NaN fails
    c.max_abs_error = std::max(c.max_abs_error, err);
    if (std::abs(numeric) >= atol) c.max_rel_error = std::max(c.max_rel_error, err / std::abs(numeric));
    const double excess = err - allowed;
    const double worst = c.worst_index < 0 ? -INFINITY
                                           : std::abs(c.analytic - c.numeric) - (atol + rtol * std::abs(c.numeric));
    if (c.worst_index < 0 || excess > worst || std::isnan(err)) {
      c.worst_index = index;
      c.worst_output = output;
      c.analytic = analytic;
      c.numeric = numeric;
    }
    if (bad && c.ok) {
      c.ok = false;
      c.first_bad_index = index;
      c.first_bad_output = output;
      c.first_analytic = analytic;
      c.first_numeric = numeric;
    }
  }
};

// The analytic side: y = fn(leaves) and the leaves' gradients for an upstream v.
struct Analytic {
  std::vector<Tensor> xs;
  std::vector<Tensor> wrt;
  Tensor y;

  Analytic(const TensorFn& fn, std::span<const Tensor> inputs, const std::vector<size_t>& checked)
      : xs(detail::grad_leaves(inputs)) {
    for (size_t i : checked) wrt.push_back(xs[i]);
    y = fn(xs);
    if (!y.defined() || !is_floating(y.dtype())) fail("gradcheck", "the function must return a floating tensor");
  }
  // Gradients of v . y for each checked input, as doubles (zeros where unused).
  std::vector<std::vector<double>> vjp(const std::vector<double>& v) {
    std::vector<std::vector<double>> out(wrt.size());
    std::vector<Tensor> gs;
    if (y.requires_grad()) {
      Tensor seed = from_vector(v, y.shape(), y.dtype(), y.device());
      Tensor seeds[1] = {seed};
      gs = grad({&y, 1}, wrt, seeds, {.retain_graph = true}, true);
    }
    for (size_t k = 0; k < wrt.size(); ++k)
      out[k] = !gs.empty() && gs[k].defined() ? values_of(gs[k]) : std::vector<double>(static_cast<size_t>(wrt[k].numel()), 0.0);
    return out;
  }
};

// The float64 reference: v . fn(x) with one input perturbed.
struct Numeric {
  const TensorFn& fn;
  std::vector<Tensor> xs;
  double eps;
  std::vector<double> eval() { return values_of(fn(xs)); }
  // d/dt v . f(x + t u) at t = 0, with u along input i (u empty: the unit vector of element j).
  double directional(size_t i, const std::vector<double>& v, const std::vector<double>& u, int64_t j) {
    const std::vector<double> saved = values_of(xs[i]);
    std::vector<double> moved = saved;
    auto shift = [&](double t) {
      if (u.empty()) moved[static_cast<size_t>(j)] = saved[static_cast<size_t>(j)] + t;
      else for (size_t k = 0; k < moved.size(); ++k) moved[k] = saved[k] + t * u[k];
      store(xs[i], moved);
    };
    shift(eps);
    double fp = dot(v, eval());
    shift(-eps);
    double fm = dot(v, eval());
    store(xs[i], saved);
    return (fp - fm) / (2 * eps);
  }
};

std::vector<double> random_vector(Generator& gen, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = gen.normal();
  return v;
}

}  // namespace

namespace detail {
std::vector<Tensor> grad_leaves(std::span<const Tensor> inputs) {
  std::vector<Tensor> xs;
  for (const Tensor& x : inputs) {
    Tensor d = x.detach();
    if (is_floating(d.dtype())) d.requires_grad_();
    xs.push_back(d);
  }
  return xs;
}
}  // namespace detail

GradcheckOptions GradcheckOptions::for_dtype(DType dtype) {
  GradcheckOptions o;
  switch (dtype) {
    case DType::float32: o.atol = 1e-4, o.rtol = 5e-3; break;
    // one rounding costs 2^-11 (float16) or 2^-8 (bfloat16) relative, and a
    // rule's result is rounded once per node it goes through
    case DType::float16: o.atol = 1e-2, o.rtol = 1e-2; break;
    case DType::bfloat16: o.atol = 5e-2, o.rtol = 5e-2; break;
    default: break;
  }
  return o;
}

GradcheckOptions GradcheckOptions::for_op(const OpInfo& op, DType dtype, int order) {
  if (order != 1 && order != 2) fail("for_op", "order must be 1 or 2, got {}", order);
  GradcheckOptions o = for_dtype(dtype);
  o.eps = op.eps;
  // An op that rounds its result declares a larger step; the rounding error it
  // leaves in the central differences needs a larger atol in every dtype.
  if (op.eps > 1e-6) o.atol = std::max(o.atol, 1e-4);
  if (order == 2) {
    // the function differenced is a backward pass, not the op: never a step below 1e-5
    o.eps = std::max(op.eps, 1e-5);
    o.atol = std::max(o.atol, 1e-4);
  }
  return o;
}

GradcheckReport gradcheck(const TensorFn& fn, std::span<const Tensor> inputs, const GradcheckOptions& opts) {
  GradcheckReport rep;
  rep.options = opts;
  std::vector<size_t> checked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) fail("gradcheck", "input {} is undefined", i);
    if (is_floating(inputs[i].dtype())) checked.push_back(i);
  }
  if (checked.empty()) fail("gradcheck", "no floating input to check");
  if (!(opts.eps > 0)) fail("gradcheck", "eps must be positive, got {}", opts.eps);

  Generator gen(opts.seed);
  Analytic ana(fn, inputs, checked);
  Numeric num{fn, {}, opts.eps};
  for (const Tensor& x : inputs) num.xs.push_back(reference_copy(x));
  const std::vector<double> y_ref = num.eval();
  if (static_cast<int64_t>(y_ref.size()) != ana.y.numel())
    fail("gradcheck", "the function returns {} elements in {} but {} in float64", ana.y.numel(), ana.y.dtype(),
         y_ref.size());
  const int64_t m = ana.y.numel();

  // Backward must give the same result twice (up to nondet_tol).
  {
    std::vector<double> v = random_vector(gen, m);
    auto g1 = ana.vjp(v), g2 = ana.vjp(v);
    for (size_t k = 0; k < g1.size(); ++k)
      for (size_t j = 0; j < g1[k].size(); ++j)
        if (!(std::abs(g1[k][j] - g2[k][j]) <= opts.nondet_tol)) {
          rep.ok = false;
          rep.failure = fmt::format("backward is not reentrant: two runs differ by {:.3e} at input {} index {} "
                                    "(nondet_tol {}); raise nondet_tol for nondeterministic kernels",
                                    std::abs(g1[k][j] - g2[k][j]), checked[k], j, opts.nondet_tol);
          return rep;
        }
  }

  rep.inputs.resize(checked.size());
  std::vector<Tally> tallies;
  for (size_t k = 0; k < checked.size(); ++k) {
    rep.inputs[k].input = checked[k];
    GradcheckOptions t = GradcheckOptions::for_dtype(inputs[checked[k]].dtype());
    const bool low = inputs[checked[k]].dtype() != DType::float64;  // never tighter than the dtype allows
    tallies.push_back({rep.inputs[k], low ? std::max(opts.atol, t.atol) : opts.atol,
                       low ? std::max(opts.rtol, t.rtol) : opts.rtol});
  }

  if (opts.mode == CheckMode::full) {
    // Analytic rows (one backward per output element) against numerical columns.
    std::vector<std::vector<std::vector<double>>> rows;  // [output][input k][element]
    for (int64_t o = 0; o < m; ++o) {
      std::vector<double> e(static_cast<size_t>(m), 0.0);
      e[static_cast<size_t>(o)] = 1.0;
      rows.push_back(ana.vjp(e));
    }
    for (size_t k = 0; k < checked.size(); ++k) {
      const size_t i = checked[k];
      std::vector<double> values = values_of(num.xs[i]);
      for (int64_t j = 0; j < num.xs[i].numel(); ++j) {
        // The column j of the Jacobian, from one pair of evaluations.
        const double saved = values[static_cast<size_t>(j)];
        poke(num.xs[i], values, j, saved + opts.eps);
        std::vector<double> fp = num.eval();
        poke(num.xs[i], values, j, saved - opts.eps);
        std::vector<double> fm = num.eval();
        poke(num.xs[i], values, j, saved);
        for (int64_t o = 0; o < m; ++o) {
          const double numeric = (fp[static_cast<size_t>(o)] - fm[static_cast<size_t>(o)]) / (2 * opts.eps);
          tallies[k].add(rows[static_cast<size_t>(o)][k][static_cast<size_t>(j)], numeric, j, o);
        }
      }
    }
  } else {
    for (int probe = 0; probe < std::max(1, opts.probes); ++probe) {
      std::vector<double> v = random_vector(gen, m);
      auto g = ana.vjp(v);
      for (size_t k = 0; k < checked.size(); ++k) {
        const size_t i = checked[k];
        std::vector<double> u = random_vector(gen, num.xs[i].numel());
        InputCheck probe_check;
        Tally t{probe_check, tallies[k].atol, tallies[k].rtol};
        t.add(dot(g[k], u), num.directional(i, v, u, -1), -1, -1);
        rep.inputs[k].max_abs_error = std::max(rep.inputs[k].max_abs_error, probe_check.max_abs_error);
        rep.inputs[k].max_rel_error = std::max(rep.inputs[k].max_rel_error, probe_check.max_rel_error);
        if (probe_check.ok || !rep.inputs[k].ok) continue;
        // A direction failed: compare element by element (up to 4096 of them) to name the worst.
        const int64_t n = num.xs[i].numel();
        const int64_t stride = std::max<int64_t>(1, n / 4096);
        for (int64_t j = 0; j < n; j += stride)
          tallies[k].add(g[k][static_cast<size_t>(j)], num.directional(i, v, {}, j), j, -1);
        rep.inputs[k].ok = false;
      }
    }
  }
  for (const InputCheck& c : rep.inputs) rep.ok = rep.ok && c.ok;
  return rep;
}

GradcheckReport gradgradcheck(const TensorFn& fn, std::span<const Tensor> inputs, const GradcheckOptions& opts) {
  // G(x) = sum_i <u_i, d(v . f)/dx_i>: its gradient is a Hessian-vector product.
  Generator gen(opts.seed + 7919);
  std::vector<Tensor> probe;
  for (const Tensor& x : inputs) probe.push_back(x.detach());
  Tensor y0 = fn(probe);
  std::vector<double> v = random_vector(gen, y0.numel());
  std::vector<std::vector<double>> us;
  for (const Tensor& x : inputs) us.push_back(random_vector(gen, x.numel()));
  TensorFn g = [&](std::span<const Tensor> xs_in) {
    std::vector<Tensor> xs(xs_in.begin(), xs_in.end());
    std::vector<Tensor> wrt;
    std::vector<size_t> idx;
    for (size_t i = 0; i < xs.size(); ++i) {
      if (!is_floating(xs[i].dtype())) continue;
      if (!xs[i].requires_grad()) xs[i] = xs[i].detach().requires_grad_();
      wrt.push_back(xs[i]);
      idx.push_back(i);
    }
    Tensor y = fn(xs);
    Tensor total = zeros({}, y.dtype(), y.device());
    if (!y.requires_grad()) return total;
    Tensor vs[1] = {from_vector(v, y.shape(), y.dtype(), y.device())};
    std::vector<Tensor> gs = grad({&y, 1}, wrt, vs, {.retain_graph = true, .create_graph = true}, true);
    for (size_t k = 0; k < gs.size(); ++k)
      if (gs[k].defined()) total = total + sum(gs[k] * from_vector(us[idx[k]], gs[k].shape(), gs[k].dtype(), gs[k].device()));
    return total;
  };
  return gradcheck(g, inputs, opts);
}

std::string GradcheckReport::to_string() const {
  std::string s = fmt::format("gradcheck {} ({} mode, eps {}, atol {}, rtol {})\n", ok ? "passed" : "FAILED",
                              options.mode == CheckMode::full ? "full" : "fast", options.eps, options.atol,
                              options.rtol);
  if (!failure.empty()) s += "  " + failure + "\n";
  for (const InputCheck& c : inputs) {
    s += fmt::format("  input {}: max abs error {:.3e}, max rel error {:.3e}  {}\n", c.input, c.max_abs_error,
                     c.max_rel_error, c.ok ? "ok" : "FAIL");
    if (c.ok) continue;
    auto where = [](int64_t index, int64_t output) {
      return output >= 0 ? fmt::format("element {} (output {})", index, output) : fmt::format("element {}", index);
    };
    s += fmt::format("    first failure at {}: analytic {:.10g}, numerical {:.10g}\n",
                     where(c.first_bad_index, c.first_bad_output), c.first_analytic, c.first_numeric);
    s += fmt::format("    worst at {}: analytic {:.10g}, numerical {:.10g}\n", where(c.worst_index, c.worst_output),
                     c.analytic, c.numeric);
  }
  return s;
}

// ---- Per-node checking -------------------------------------------------------------------

namespace {

// The node's forward in float64 on the cpu, from its op's cpu kernel (or the
// user's forward), whatever device the model ran on.
Tensor node_forward(const Node& node, const Trace::Step& st, std::span<const Tensor> xs) {
  if (node.function) {
    NoGradGuard off;
    return apply(node.function, xs);
  }
  Attrs a = st.attrs;
  if (st.op == Op::cast) a.dtype = DType::float64;
  Tensor out = empty(node.out_shape, DType::float64);
  dispatch(st.op, xs, out, a);
  return out;
}

// One device's per-node check, and per node the analytic gradient of each
// checked input (empty where an input is not checked), for the cross-device
// comparison.
struct NodeRun {
  NodeCheckReport report;
  Device device;
  std::vector<std::vector<std::vector<double>>> grads;  // [node][input][element]
};

NodeRun run_node_checks(const std::function<Tensor()>& build_loss, const NodeCheckOptions& opts, const char* who) {
  NodeRun run;
  NodeCheckReport& rep = run.report;
  rep.options = opts;
  Tensor loss;
  std::optional<Trace> trace;
  trace.emplace();
  loss = build_loss();
  if (!loss.defined() || !loss.requires_grad())
    fail(who, "the function recorded nothing: its result does not require grad (mark the parameters "
              "with requires_grad_())");
  run.device = loss.device();
  std::shared_ptr<Graph> graph = current_graph();
  const auto& steps = trace->steps();
  const auto& values = trace->values();
  for (size_t s = 0; s < steps.size(); ++s) {
    const Trace::Step& st = steps[s];
    if (st.graph != graph.get()) continue;  // recorded on a graph build_loss released
    const Node& node = graph->nodes[static_cast<size_t>(st.node)];
    NodeCheck nc;
    nc.step = static_cast<int>(s);
    nc.op = st.label;
    nc.scope = st.scope;
    nc.dtype = node.out_dtype;
    nc.device = node.out_device;
    std::vector<Tensor> xs;
    for (int id : st.inputs) {
      const Trace::Value& v = values[static_cast<size_t>(id)];
      nc.input_shapes.push_back(v.shape);
      // the numerical reference runs on the cpu kernels, whatever device the model ran on
      xs.push_back(reference_copy(v.data.detach().to(Device::cpu())));
    }
    std::vector<std::vector<double>> grads(xs.size());
    const GradcheckOptions tol = GradcheckOptions::for_dtype(node.out_dtype);
    // Each node draws from its own generator, so that a node gets the same
    // upstream gradient and directions on every device whatever came before.
    Generator gen(opts.seed + 0x9E3779B97F4A7C15ull * (s + 1));
    try {
      // Analytic: the node's own rule, on its saved tensors (on the node's
      // device), for a random upstream gradient made there too.
      std::vector<double> v = random_vector(gen, shape_numel(node.out_shape));
      Grads gx(node.inputs.size());
      BackwardCtx ctx(node, nullptr);
      {
        NoGradGuard off;
        op_info(st.op).backward(ctx, from_vector(v, node.out_shape, node.out_dtype, node.out_device), gx);
      }
      TensorFn f = [&](std::span<const Tensor> in) { return node_forward(node, st, in); };
      Numeric num{f, xs, opts.eps};
      for (size_t j = 0; j < xs.size(); ++j) {
        if (!ctx.needs_grad(static_cast<int>(j)) || !is_floating(xs[j].dtype())) continue;
        InputCheck c;
        c.input = j;
        Tally t{c, tol.atol, tol.rtol};
        std::vector<double> g = gx[j].defined() ? values_of(gx[j]) : std::vector<double>(static_cast<size_t>(xs[j].numel()), 0.0);
        const int64_t n = xs[j].numel();
        if (n <= opts.full_limit) {
          for (int64_t k = 0; k < n; ++k) t.add(g[static_cast<size_t>(k)], num.directional(j, v, {}, k), k, -1);
        } else {
          nc.sampled = true;
          for (int p = 0; p < std::max(1, opts.probes) && c.ok; ++p) {
            std::vector<double> u = random_vector(gen, n);
            InputCheck pc;
            Tally pt{pc, tol.atol, tol.rtol};
            pt.add(dot(g, u), num.directional(j, v, u, -1), -1, -1);
            c.max_abs_error = std::max(c.max_abs_error, pc.max_abs_error);
            c.max_rel_error = std::max(c.max_rel_error, pc.max_rel_error);
            if (pc.ok) continue;
            const int64_t stride = std::max<int64_t>(1, n / 2048);
            for (int64_t k = 0; k < n; k += stride) t.add(g[static_cast<size_t>(k)], num.directional(j, v, {}, k), k, -1);
            c.ok = false;
          }
        }
        nc.max_abs_error = std::max(nc.max_abs_error, c.max_abs_error);
        nc.max_rel_error = std::max(nc.max_rel_error, c.max_rel_error);
        if (!c.ok && nc.ok) {
          nc.ok = false;
          nc.worst_input = static_cast<int>(j);
          nc.worst_index = c.worst_index;
          nc.analytic = c.analytic;
          nc.numeric = c.numeric;
        }
        grads[j] = std::move(g);
      }
    } catch (const Error& e) {
      nc.ok = false;
      nc.error = e.what();
      grads.assign(xs.size(), {});
    }
    rep.ok = rep.ok && nc.ok;
    rep.nodes.push_back(std::move(nc));
    run.grads.push_back(std::move(grads));
  }
  return run;
}

}  // namespace

NodeCheckReport check_nodes(const std::function<Tensor()>& build_loss, const NodeCheckOptions& opts) {
  return run_node_checks(build_loss, opts, "check_nodes").report;
}

size_t NodeCheckReport::failures() const {
  return static_cast<size_t>(std::count_if(nodes.begin(), nodes.end(), [](const NodeCheck& n) { return !n.ok; }));
}

NodeCompareReport check_nodes_compare(const std::function<Tensor(Device)>& build_loss,
                                      const std::vector<Device>& devices, const NodeCheckOptions& opts) {
  constexpr const char* who = "check_nodes_compare";
  if (devices.empty())
    fail(who, "no devices to compare: give at least one, e.g. {{Device::cpu(), Device::cuda_host()}}");
  for (size_t d = 0; d < devices.size(); ++d)
    for (size_t e = 0; e < d; ++e)
      if (devices[d] == devices[e]) fail(who, "device {} is listed twice: give each device once", devices[d]);
  std::vector<NodeRun> runs;
  for (Device device : devices) {
    if (!backend_available(device)) fail(who, "device {} is not available in this process", device);
    runs.push_back(run_node_checks([&] { return build_loss(device); }, opts, who));
    if (runs.back().device != device)
      fail(who, "build_loss({}) returned a loss on {}: build the model on the device it is given", device,
           runs.back().device);
  }
  // The same graph on every device: node for node, the same op and input shapes.
  const std::vector<NodeCheck>& first = runs[0].report.nodes;
  for (size_t d = 1; d < runs.size(); ++d) {
    const std::vector<NodeCheck>& other = runs[d].report.nodes;
    if (other.size() != first.size())
      fail(who, "the model records {} nodes on {} but {} on {}: build_loss must build the same graph on every device",
           first.size(), devices[0], other.size(), devices[d]);
    for (size_t k = 0; k < first.size(); ++k) {
      auto name = [](const NodeCheck& n) { return node_name(n.scope, n.op); };
      if (name(first[k]) != name(other[k]))
        fail(who, "node {} is {} on {} but {} on {}: build_loss must build the same graph on every device",
             first[k].step, name(first[k]), devices[0], name(other[k]), devices[d]);
      if (first[k].input_shapes != other[k].input_shapes)
        fail(who, "node {} ({}) has inputs {} on {} but {} on {}: build_loss must build the same graph on every device",
             first[k].step, name(first[k]), fmt::join(first[k].input_shapes, " "), devices[0],
             fmt::join(other[k].input_shapes, " "), devices[d]);
    }
  }

  NodeCompareReport rep;
  rep.devices = devices;
  rep.options = opts;
  for (size_t k = 0; k < first.size(); ++k) {
    NodeCompare nc;
    nc.step = first[k].step;
    nc.op = first[k].op;
    nc.scope = first[k].scope;
    nc.input_shapes = first[k].input_shapes;
    for (const NodeRun& r : runs) nc.devices.push_back(r.report.nodes[k]);
    // Each device's analytic gradients against the first device's, element by
    // element, at the looser tolerance of the two dtypes.
    for (size_t d = 1; d < runs.size(); ++d) {
      GradcheckOptions t0 = GradcheckOptions::for_dtype(nc.devices[0].dtype);
      GradcheckOptions t1 = GradcheckOptions::for_dtype(nc.devices[d].dtype);
      const double atol = std::max(t0.atol, t1.atol), rtol = std::max(t0.rtol, t1.rtol);
      const auto& g0 = runs[0].grads[k];
      const auto& g1 = runs[d].grads[k];
      double worst_excess = -INFINITY;
      for (size_t j = 0; j < std::min(g0.size(), g1.size()); ++j) {
        if (g0[j].size() != g1[j].size()) continue;  // a rule threw on one of them: that device already fails
        for (size_t e = 0; e < g0[j].size(); ++e) {
          double diff = std::abs(g1[j][e] - g0[j][e]);
          if (std::isnan(diff)) diff = INFINITY;  // a NaN on one device is as far off as it gets
          double excess = diff - (atol + rtol * std::abs(g0[j][e]));
          if (std::isnan(excess)) excess = INFINITY;  // NaN on both
          if (!(excess <= 0)) nc.devices_agree = false;
          // the first of equal elements wins, so the report is deterministic
          const NodeCompare::Element here{static_cast<int>(d), static_cast<int>(j), static_cast<int64_t>(e), g0[j][e],
                                          g1[j][e]};
          if (diff > nc.max_device_diff) {
            nc.max_device_diff = diff;
            nc.largest = here;
          }
          if (excess > worst_excess) {
            worst_excess = excess;
            nc.worst = here;
          }
        }
      }
    }
    nc.ok = nc.devices_agree;
    for (const NodeCheck& n : nc.devices) nc.ok = nc.ok && n.ok;
    rep.ok = rep.ok && nc.ok;
    rep.nodes.push_back(std::move(nc));
  }
  return rep;
}

size_t NodeCompareReport::failures() const {
  return static_cast<size_t>(std::count_if(nodes.begin(), nodes.end(), [](const NodeCompare& n) { return !n.ok; }));
}

std::string NodeCompareReport::table() const {
  auto shapes = [](const std::vector<Shape>& in) { return fmt::format("{}", fmt::join(in, " ")); };
  const auto& name = node_name;
  auto at = [&](const NodeCompare& n, const NodeCompare::Element& e) {
    return index_text(n.input_shapes[static_cast<size_t>(e.input)], e.index);
  };
  auto where = [&](const NodeCompare& n) {
    if (n.largest.input < 0) return std::string("-");
    std::string s = fmt::format("input {} {}", n.largest.input, at(n, n.largest));
    return devices.size() > 2 ? fmt::format("{}: {}", devices[static_cast<size_t>(n.largest.device)], s) : s;
  };
  size_t op_w = 2, in_w = 6, at_w = 2;
  for (const NodeCompare& n : nodes) {
    op_w = std::max(op_w, name(n.scope, n.op).size());
    in_w = std::max(in_w, shapes(n.input_shapes).size());
    at_w = std::max(at_w, where(n).size());
  }
  // Two header lines: each device's group over its two columns, then the columns.
  const std::string lead = fmt::format("{:>4}  {:<{}}  {:<{}}", "", "", op_w, "", in_w);
  std::string group = lead, head = fmt::format("{:>4}  {:<{}}  {:<{}}", "node", "op", op_w, "inputs", in_w);
  for (Device d : devices) {
    group += fmt::format("  {:<23}", fmt::format("{}", d));
    head += fmt::format("  {:>11} {:>11}", "abs err", "rel err");
  }
  if (devices.size() > 1) {
    const std::string across = devices.size() == 2 ? fmt::format("{} vs {}", devices[1], devices[0])
                                                    : fmt::format("vs {}", devices[0]);
    group += fmt::format("  {:<{}}", across, 11 + 2 + at_w);
    head += fmt::format("  {:>11}  {:<{}}", "max diff", "at", at_w);
  }
  std::string s = group;
  while (!s.empty() && s.back() == ' ') s.pop_back();
  s += "\n" + head + "  result\n";
  for (const NodeCompare& n : nodes) {
    s += fmt::format("{:>4}  {:<{}}  {:<{}}", n.step, name(n.scope, n.op), op_w, shapes(n.input_shapes), in_w);
    bool sampled = false;
    for (const NodeCheck& c : n.devices) {
      s += fmt::format("  {:>11.2e} {:>11.2e}", c.max_abs_error, c.max_rel_error);
      sampled = sampled || c.sampled;
    }
    if (devices.size() > 1) s += fmt::format("  {:>11.2e}  {:<{}}", n.max_device_diff, where(n), at_w);
    s += fmt::format("  {}{}\n", n.ok ? "PASS" : "FAIL", sampled ? " (sampled)" : "");
    for (size_t d = 0; d < n.devices.size(); ++d) {
      const NodeCheck& c = n.devices[d];
      if (!c.error.empty()) s += fmt::format("      {}: the rule threw: {}\n", devices[d], c.error);
      else if (!c.ok)
        s += fmt::format("      {}: worst: input {} at {}: analytic {:.6g}, numerical {:.6g} (eps {}, {})\n",
                         devices[d], c.worst_input, index_text(c.input_shapes[static_cast<size_t>(c.worst_input)], c.worst_index),
                         c.analytic, c.numeric, options.eps, c.dtype);
    }
    if (!n.devices_agree)
      s += fmt::format("      the devices differ: input {} at {}: analytic {:.6g} on {}, {:.6g} on {} ({})\n",
                       n.worst.input, at(n, n.worst), n.worst.first, devices[0], n.worst.other,
                       devices[static_cast<size_t>(n.worst.device)], n.devices[0].dtype);
  }
  std::vector<std::string> per_device;
  for (size_t d = 0; d < devices.size(); ++d) {
    size_t passed = 0;
    for (const NodeCompare& n : nodes) passed += n.devices[d].ok ? 1 : 0;
    per_device.push_back(fmt::format("{} {} of {}", devices[d], passed, nodes.size()));
  }
  s += fmt::format("{} of {} nodes passed ({})", nodes.size() - failures(), nodes.size(), fmt::join(per_device, ", "));
  if (devices.size() > 1) {
    double most = 0;
    for (const NodeCompare& n : nodes) most = std::max(most, n.max_device_diff);
    s += fmt::format("; the devices' analytic gradients differ by at most {:.2e}", most);
  }
  return s + "\n";
}

std::string NodeCheckReport::table() const {
  auto shapes = [](const NodeCheck& n) {
    std::string s;
    for (const Shape& sh : n.input_shapes) s += (s.empty() ? "" : " ") + fmt::format("{}", sh);
    return s;
  };
  size_t op_w = 2, in_w = 6;
  for (const NodeCheck& n : nodes) {
    op_w = std::max(op_w, node_name(n.scope, n.op).size());
    in_w = std::max(in_w, shapes(n).size());
  }
  std::string s = fmt::format("{:>4}  {:<{}}  {:<{}}  {:>11}  {:>11}  {}\n", "node", "op", op_w, "inputs", in_w,
                              "max abs err", "max rel err", "result");
  for (const NodeCheck& n : nodes) {
    std::string op = node_name(n.scope, n.op);
    s += fmt::format("{:>4}  {:<{}}  {:<{}}  {:>11.2e}  {:>11.2e}  {}{}\n", n.step, op, op_w, shapes(n), in_w,
                     n.max_abs_error, n.max_rel_error, n.ok ? "PASS" : "FAIL", n.sampled ? " (sampled)" : "");
    if (!n.error.empty()) s += fmt::format("      the rule threw: {}\n", n.error);
    else if (!n.ok)
      s += fmt::format("      worst: input {} at {}: analytic {:.6g}, numerical {:.6g} (eps {}, {})\n", n.worst_input,
                       index_text(n.input_shapes[static_cast<size_t>(n.worst_input)], n.worst_index), n.analytic,
                       n.numeric, options.eps, n.dtype);
  }
  s += fmt::format("{} of {} nodes passed\n", nodes.size() - failures(), nodes.size());
  return s;
}

}  // namespace ag
