#include "autograd/check.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <sstream>

#include "autograd/ops.hpp"
#include "autograd/tape.hpp"

namespace ag {

namespace {

double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  const double* p = a.data<double>();
  const double* q = b.data<double>();
  for (int64_t i = 0; i < a.numel(); ++i) s += p[i] * q[i];
  return s;
}

// Leaves for the analytic pass: float inputs become fresh leaves requiring grad.
std::vector<Tensor> as_leaves(std::span<const Tensor> inputs, bool requires_grad) {
  std::vector<Tensor> xs;
  for (const Tensor& x : inputs) {
    Tensor d = x.detach();
    if (requires_grad && is_floating(x.dtype())) d.requires_grad_();
    xs.push_back(d);
  }
  return xs;
}

}  // namespace

GradcheckReport gradcheck(const TensorFn& fn, std::span<const Tensor> inputs, const GradcheckOptions& opts) {
  GradcheckReport rep;
  rep.options = opts;
  std::vector<size_t> checked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) fail("gradcheck", "input {} is undefined", i);
    if (inputs[i].dtype() == DType::float32)
      fail("gradcheck", "input {} is float32; check in float64 (ag::cast(x, DType::float64)) so that central "
                        "differences are accurate", i);
    if (inputs[i].dtype() == DType::float64) checked.push_back(i);
  }
  if (checked.empty()) fail("gradcheck", "no float64 input to check");

  Generator gen(opts.seed);
  std::vector<InputCheck> worst(checked.size());
  for (size_t k = 0; k < checked.size(); ++k) worst[k].input = checked[k];

  for (int probe = 0; probe < opts.probes; ++probe) {
    // Analytic: J^T v by one backward.
    std::vector<Tensor> xs = as_leaves(inputs, true);
    Tensor y = fn(xs);
    if (!y.defined() || y.dtype() != DType::float64)
      fail("gradcheck", "the function must return a float64 tensor");
    Tensor v = randn(y.shape(), gen, DType::float64);
    std::vector<Tensor> analytic(checked.size());
    if (y.requires_grad()) {
      std::vector<Tensor> wrt;
      for (size_t i : checked) wrt.push_back(xs[i]);
      Tensor vs[1] = {v};
      analytic = grad({&y, 1}, wrt, vs, {}, true);
    }
    // Numerical: (v . f(x + eps e_j) - v . f(x - eps e_j)) / 2 eps, for every element j.
    std::vector<Tensor> probe_in = as_leaves(inputs, false);
    for (size_t k = 0; k < checked.size(); ++k) {
      Tensor x = probe_in[checked[k]].clone();
      probe_in[checked[k]] = x;
      double* p = x.impl()->data<double>();
      for (int64_t j = 0; j < x.numel(); ++j) {
        const double saved = p[j];
        p[j] = saved + opts.eps;
        double fp = dot(fn(probe_in).detach(), v);
        p[j] = saved - opts.eps;
        double fm = dot(fn(probe_in).detach(), v);
        p[j] = saved;
        const double num = (fp - fm) / (2 * opts.eps);
        const double ana = analytic[k].defined() ? analytic[k].impl()->data<double>()[j] : 0.0;
        const double abs_err = std::abs(ana - num);
        const double rel_err = abs_err / std::max(std::abs(num), 1e-12);
        const bool ok = abs_err <= opts.atol + opts.rtol * std::abs(num);
        InputCheck& w = worst[k];
        const double excess = abs_err - (opts.atol + opts.rtol * std::abs(num));
        const double worst_excess = w.worst_index < 0 ? -INFINITY : std::abs(w.analytic - w.numeric) -
                                                                         (opts.atol + opts.rtol * std::abs(w.numeric));
        w.max_abs_error = std::max(w.max_abs_error, abs_err);
        w.max_rel_error = std::max(w.max_rel_error, std::abs(num) > opts.atol ? rel_err : 0.0);
        if (excess > worst_excess) {
          w.worst_index = j;
          w.analytic = ana;
          w.numeric = num;
        }
        if (!ok) w.ok = false;
      }
    }
  }
  rep.inputs = worst;
  rep.ok = std::all_of(worst.begin(), worst.end(), [](const InputCheck& c) { return c.ok; });
  return rep;
}

GradcheckReport gradgradcheck(const TensorFn& fn, std::span<const Tensor> inputs, const GradcheckOptions& opts) {
  // G(x) = sum_i <u_i, d(v . f)/dx_i>: its gradient is a Hessian-vector product.
  Generator gen(opts.seed + 7919);
  std::vector<Tensor> probe = as_leaves(inputs, false);
  Tensor y0 = fn(probe);
  Tensor v = randn(y0.shape(), gen, DType::float64);
  std::vector<Tensor> us;
  for (const Tensor& x : inputs)
    us.push_back(x.dtype() == DType::float64 ? randn(x.shape(), gen, DType::float64) : Tensor());
  TensorFn g = [&](std::span<const Tensor> xs_in) {
    std::vector<Tensor> xs(xs_in.begin(), xs_in.end());
    std::vector<Tensor> wrt;
    std::vector<size_t> idx;
    for (size_t i = 0; i < xs.size(); ++i) {
      if (xs[i].dtype() != DType::float64) continue;
      if (!xs[i].requires_grad()) xs[i] = xs[i].detach().requires_grad_();
      wrt.push_back(xs[i]);
      idx.push_back(i);
    }
    Tensor y = fn(xs);
    Tensor total = scalar(0.0, DType::float64);
    if (!y.requires_grad()) return total;
    Tensor vs[1] = {v};
    std::vector<Tensor> gs = grad({&y, 1}, wrt, vs, {.retain_graph = true, .create_graph = true}, true);
    for (size_t k = 0; k < gs.size(); ++k)
      if (gs[k].defined()) total = total + sum(gs[k] * us[idx[k]]);
    return total;
  };
  return gradcheck(g, inputs, opts);
}

std::string GradcheckReport::to_string() const {
  std::string s = fmt::format("gradcheck {} (eps {}, atol {}, rtol {})\n", ok ? "passed" : "FAILED", options.eps,
                              options.atol, options.rtol);
  for (const InputCheck& c : inputs) {
    s += fmt::format("  input {}: max abs error {:.3e}, max rel error {:.3e}", c.input, c.max_abs_error,
                     c.max_rel_error);
    if (!c.ok)
      s += fmt::format(" -- worst at flat index {}: analytic {:.10g}, numerical {:.10g}", c.worst_index, c.analytic,
                       c.numeric);
    s += c.ok ? "  ok\n" : "  FAIL\n";
  }
  return s;
}

// ---- Sampled inputs for op checks ----------------------------------------------------

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view part = s.substr(start, end - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    out.push_back(part);
    start = end + 1;
  }
  return out;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  for (auto w : split(s, ' '))
    if (!w.empty()) out.push_back(w);
  return out;
}

Shape parse_shape(std::string_view op, std::string_view s) {
  Shape shape;
  for (auto d : split(s, 'x')) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
    if (ec != std::errc() || p != d.data() + d.size()) fail(op, "bad shape '{}' in ops.def", s);
    shape.push_back(v);
  }
  return shape;
}

// Values for one input from its domain.
Tensor sample(std::string_view op, std::string_view domain, const Shape& shape, DType dtype, Generator& gen,
              int64_t bound) {
  const int64_t n = shape_numel(shape);
  std::vector<double> v(static_cast<size_t>(n));
  if (domain == "label" || domain == "index") {
    std::vector<int64_t> l(static_cast<size_t>(n));
    for (auto& x : l) x = gen.randint(0, bound);
    return from_vector(l, shape);
  }
  if (domain == "distinct") {
    // a shuffled grid: every pair differs by at least 0.3
    std::vector<size_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), size_t{0});
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[static_cast<size_t>(gen.randint(0, static_cast<int64_t>(i)))]);
    for (size_t i = 0; i < v.size(); ++i) v[i] = -1.5 + 0.3 * static_cast<double>(order[i]) + gen.uniform(-0.05, 0.05);
    return from_vector(v, shape, dtype);
  }
  for (auto& x : v) {
    const double sgn = gen.uniform() < 0.5 ? -1.0 : 1.0;
    if (domain == "real") x = gen.uniform(-2.0, 2.0);
    else if (domain == "positive") x = gen.uniform(0.5, 2.0);
    else if (domain == "unit") x = gen.uniform(0.1, 0.9);
    else if (domain == "nonzero") x = sgn * gen.uniform(0.5, 2.0);
    else if (domain == "spread") x = sgn * (gen.uniform() < 0.5 ? gen.uniform(0.1, 0.4) : gen.uniform(0.6, 1.5));
    else if (domain == "mask") x = gen.uniform() < 0.5 ? 0.0 : 1.0;
    else fail(op, "unknown domain '{}' in ops.def", domain);
  }
  return from_vector(v, shape, dtype);
}

}  // namespace

std::vector<std::vector<Tensor>> op_check_inputs(const OpInfo& op, DType dtype, Generator& gen) {
  std::vector<std::vector<Tensor>> cases;
  auto shape_cases = split(op.shapes, '|');
  auto domain_cases = split(op.domains, '|');
  for (size_t c = 0; c < shape_cases.size(); ++c) {
    auto shapes = words(shape_cases[c]);
    auto domains = words(domain_cases[std::min(c, domain_cases.size() - 1)]);
    std::vector<Tensor> in;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Shape s = parse_shape(op.name, shapes[i]);
      std::string_view d = domains[std::min(i, domains.size() - 1)];
      // labels index the classes (last axis) of input 0; indices its rows
      int64_t bound = 3;
      if (!in.empty() && d == "label") bound = in[0].shape().back();
      if (!in.empty() && d == "index") bound = in[0].shape()[0];
      Tensor t = sample(op.name, d, s, dtype, gen, bound);
      in.push_back(t);
    }
    cases.push_back(std::move(in));
  }
  return cases;
}

}  // namespace ag
