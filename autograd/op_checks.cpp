// The checks generated from the op index: the sampled inputs of each row
// (domains and shapes columns) and the coverage matrix over ops, dtypes and
// devices (docs/op-coverage.md). The checkers themselves are in check.cpp.
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
  const int64_t n = checked_numel(shape, op);
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
      // 16-bit inputs: drawn in float64 and rounded (the cpu holds 16-bit tensors but does not compute with them)
      Tensor t = sample(op.name, d, s, is_half(dtype) ? DType::float64 : dtype, gen, bound);
      in.push_back(is_half(dtype) && is_floating(t.dtype()) ? cast(t, dtype) : t);
    }
    cases.push_back(std::move(in));
  }
  return cases;
}

// ---- Coverage ---------------------------------------------------------------------------

namespace {

bool has_kernel(Op op, Device::Kind device, DType dtype) {
  try {
    find_kernel(op, device == Device::Kind::cpu ? Device::cpu() : Device::cuda(), dtype);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Whether tensors can live on `device` in this process (the cpu always can).
bool usable(Device device) { return backend_available(device); }

// Runs the op's sampled checks with the inputs on `device`; "PASS" or "FAIL".
std::string run_checks(const OpInfo& op, DType dtype, bool second_order, Device device = Device::cpu()) {
  Generator gen(second_order ? 12 : 11);
  bool ok = true;
  for (auto& host : op_check_inputs(op, dtype, gen)) {
    std::vector<Tensor> in;
    for (const Tensor& x : host) in.push_back(x.to(device));
    const GradcheckOptions o = GradcheckOptions::for_op(op, dtype, second_order ? 2 : 1);
    try {
      ok = ok && (second_order ? gradgradcheck(op.sample, in, o) : gradcheck(op.sample, in, o)).ok;
    } catch (const Error&) {
      ok = false;
    }
  }
  return ok ? "PASS" : "FAIL";
}

}  // namespace

std::vector<OpCoverage> op_coverage() {
  std::vector<OpCoverage> rows;
  for (const OpInfo& op : all_ops()) {
    OpCoverage r;
    r.name = op.name;
    r.family = op.family;
    r.differentiable = op.differentiable;
    // A user-defined op's forward is the user's code, and a composite's its parts: they run wherever those do.
    const Op id = static_cast<Op>(&op - all_ops().data());
    r.cpu.forward = id == Op::custom || op.composite || has_kernel(id, Device::Kind::cpu, DType::float32) ||
                    has_kernel(id, Device::Kind::cpu, DType::int64);
    r.cpu.backward = op.differentiable;
    r.cpu.double_backward = op.differentiable;
    r.cpu.f64 = op.differentiable ? run_checks(op, DType::float64, false) : "-";
    r.cpu.f32 = op.differentiable ? run_checks(op, DType::float32, false) : "-";
    r.cpu.second_order = op.differentiable ? run_checks(op, DType::float64, true) : "-";
    // the device columns: checked where the device is usable, "skipped" where it is not
    for (const Device device : {Device::cuda(), Device::cuda_host()}) {
      OpCoverage::Device& d = device.kind == Device::Kind::cuda ? r.cuda : r.cuda_host;
      d.forward = op.has_cuda();
      d.backward = d.double_backward = op.has_cuda() && op.differentiable;
      const bool run = op.has_cuda() && op.differentiable && usable(device);
      const std::string none = op.has_cuda() && op.differentiable ? "skipped" : "-";
      // first and second order in each dtype
      auto both = [&](DType dt) {
        if (!run) return none;
        const std::string first = run_checks(op, dt, false, device), second = run_checks(op, dt, true, device);
        return first == "PASS" && second == "PASS" ? std::string("PASS") : std::string("FAIL");
      };
      d.f64 = both(DType::float64);
      d.f32 = both(DType::float32);
      d.f16 = both(DType::float16);
      d.bf16 = both(DType::bfloat16);
      d.second_order = d.f64;
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string op_coverage_markdown(const std::vector<OpCoverage>& rows, bool device_results) {
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  // a device cell: its result here, or only whether the check exists
  auto cell = [&](const std::string& result) { return device_results || result == "-" ? result : std::string("yes"); };
  std::string s =
      "| op | family | cpu fwd | cpu bwd | cpu 2nd | cpu f64 | cpu f32 | cpu f64 2nd order | cuda fwd | cuda bwd | "
      "cuda f64 | cuda f32 | cuda f16 | cuda bf16 | cuda_host f64 | cuda_host f32 | cuda_host f16 | cuda_host bf16 |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const OpCoverage& r : rows)
    s += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                     r.name, r.family, yes(r.cpu.forward), yes(r.cpu.backward), yes(r.cpu.double_backward), r.cpu.f64,
                     r.cpu.f32, r.cpu.second_order, yes(r.cuda.forward), yes(r.cuda.backward), cell(r.cuda.f64),
                     cell(r.cuda.f32), cell(r.cuda.f16), cell(r.cuda.bf16), cell(r.cuda_host.f64), cell(r.cuda_host.f32),
                     cell(r.cuda_host.f16), cell(r.cuda_host.bf16));
  return s;
}

}  // namespace ag
