#include "autograd/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <type_traits>

#include <boost/random/normal_distribution.hpp>
#include <boost/random/uniform_int_distribution.hpp>
#include <boost/random/uniform_real_distribution.hpp>

#include "autograd/backend.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/op.hpp"
#include "autograd/tape.hpp"

namespace ag {

namespace detail {
void dtype_mismatch(std::string_view what, DType have, DType want) {
  fail(what, "the tensor holds {} but {} was requested", have, want);
}
void not_on_cpu(std::string_view what, Device device) {
  fail(what, "the tensor is on {}; copy it to the host first with .to(ag::Device::cpu())", device);
}
void index_error(std::string_view what, const Shape& shape, std::initializer_list<int64_t> index) {
  Shape idx(index.begin(), index.end());
  fail(what, "index {} is out of range for shape {}", idx, shape);
}
}  // namespace detail

int64_t normalize_axis(int64_t axis, int64_t ndim, std::string_view op) {
  int64_t a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) fail(op, "axis {} is out of range for a tensor with {} axes", axis, ndim);
  return a;
}

// ---- Tensor methods ------------------------------------------------------------

int64_t Tensor::size(int64_t axis) const { return shape()[static_cast<size_t>(normalize_axis(axis, dim(), "size"))]; }

Tensor& Tensor::requires_grad_(bool on) {
  checked();
  TensorImpl& t = *impl_;
  if (!is_leaf())
    fail("requires_grad_", "only leaves can be marked; this tensor was computed by a recorded op (use detach() first)");
  if (on && !is_floating(checked().dtype)) fail("requires_grad_", "an {} tensor cannot require grad", t.dtype);
  t.requires_grad = on;
  return *this;
}

// Note [Why a gradient is undefined]
// A learner who prints x.grad() and sees nothing needs to know why: backward
// has not run yet, x does not require grad, or x is an intermediate whose
// gradient backward does not keep. So grad() of a tensor without a gradient
// returns an undefined tensor that carries the reason: a null impl pointer
// whose control block holds a NoGradReason as its (no-op) deleter. defined()
// is false as for any undefined tensor; to_string prints the reason, and an
// op given the tensor reports it (detail::undefined_use).
namespace {

struct NoGradReason {
  std::string text;
  void operator()(TensorImpl*) const {}
};

// "'W' ((2, 3) float32, computed by sub)", or "this tensor (...)" when unnamed, for error messages.
std::string describe(const TensorImpl& t) {
  std::string s = t.name.empty() ? "this tensor" : fmt::format("'{}'", t.name);
  s += fmt::format(" ({} {}", t.shape, t.dtype);
  if (t.graph && !t.graph->released && t.node >= 0 && static_cast<size_t>(t.node) < t.graph->nodes.size())
    s += fmt::format(", computed by {}", op_name(t.graph->nodes[static_cast<size_t>(t.node)].op));
  return s + ')';
}

// The W = W - lr * W.grad() pitfall, for the messages about a non-leaf's gradient.
constexpr std::string_view kReassignedParameter =
    "If it is a parameter reassigned while recording, as in W = W - lr * W.grad(), the new W is a result, not "
    "the leaf backward fills: update the leaf in place inside a NoGradGuard scope "
    "({ NoGradGuard g; W.add_(W.grad(), -lr); }) or let an optimiser do it (docs/autograd.md, \"Updating "
    "parameters\")";

std::string no_grad_reason(const TensorImpl& t) {
  if (t.node >= 0 && !t.retains_grad)
    return fmt::format(
        "{} is not a leaf, and backward() keeps only the gradients of leaves; call retain_grad() on it before "
        "backward() to keep its gradient. {}",
        describe(t), kReassignedParameter);
  if (t.node >= 0) return "no gradient yet: retain_grad() is set; call backward() on a result computed from it";
  if (!t.requires_grad)
    return "this tensor does not require grad; call requires_grad_() on it before the forward pass, then backward()";
  return "no gradient yet: no backward() has reached this tensor (since zero_grad(), if that was called); call "
         "backward() on a result computed from it";
}

const NoGradReason* reason_of(const std::shared_ptr<TensorImpl>& impl) {
  return std::get_deleter<NoGradReason>(impl);
}

}  // namespace

namespace detail {
void undefined_use(const std::shared_ptr<TensorImpl>& impl) {
  if (const NoGradReason* r = reason_of(impl)) fail("tensor", "use of an undefined tensor, a .grad(): {}", r->text);
  fail("tensor", "use of an undefined tensor (default-constructed, or a gradient that was never computed)");
}
}  // namespace detail

Tensor Tensor::grad() const {
  const TensorImpl& t = checked();
  if (t.grad) return Tensor(t.grad);
  return Tensor(std::shared_ptr<TensorImpl>(nullptr, NoGradReason{no_grad_reason(t)}));
}
void Tensor::set_grad(const Tensor& g) {
  if (g.defined() && (g.shape() != shape() || g.dtype() != dtype()))
    fail("set_grad", "gradient of shape {} and dtype {} for a tensor of shape {} and dtype {}", g.shape(), g.dtype(),
         shape(), dtype());
  impl_->grad = g.impl_ptr();
}
void Tensor::zero_grad() {
  const TensorImpl& t = checked();
  if (t.node >= 0 && !t.retains_grad)
    fail("zero_grad", "{} is not a leaf, so backward() never stores a gradient in it and zero_grad() has nothing "
         "to forget. {}", describe(t), kReassignedParameter);
  impl_->grad.reset();
}

Tensor Tensor::detach() const {
  const TensorImpl& t = checked();
  auto d = new_impl();
  d->storage = t.storage;
  d->shape = t.shape;
  d->numel = t.numel;
  d->dtype = t.dtype;
  d->name = t.name;
  return Tensor(std::move(d));
}

Tensor& Tensor::set_name(std::string name) {
  checked();
  impl_->name = std::move(name);
  return *this;
}

double Tensor::value_at(int64_t i) const {
  if (i < 0 || i >= numel()) fail("value_at", "flat index {} out of range for {} elements", i, numel());
  if (!device().is_cpu()) {
    const size_t size = dtype_size(dtype());
    Tensor one = empty({}, dtype());
    copy_bytes(one.impl()->storage->data, Device::cpu(),
               static_cast<const char*>(impl_->storage->data) + static_cast<size_t>(i) * size, device(), size,
               "value_at");
    return one.value_at(0);
  }
  return visit_dtype(dtype(), [&](auto z) { return static_cast<double>(impl_->data<decltype(z)>()[i]); });
}

static void check_inplace(const Tensor& self, std::string_view op) {
  if (self.requires_grad() && grad_mode_enabled())
    fail(op,
         "in-place update of a tensor that requires grad while recording is on; do the update inside a "
         "NoGradGuard scope (as optimisers do)");
}

static void check_same(const Tensor& self, const Tensor& other, std::string_view op, bool same_device = true) {
  if (other.shape() != self.shape() || other.dtype() != self.dtype())
    fail(op, "shapes/dtypes differ: self {} {}, other {} {}", self.shape(), self.dtype(), other.shape(),
         other.dtype());
  if (same_device && other.device() != self.device())
    fail(op, "inputs are on different devices: {} and {}; move one with .to()", self.device(), other.device());
}

// Note [In-place updates are ops]
// fill_, add_, mul_ (and the optimisers' optim_step, ops/inplace.cpp) are rows
// of ops.def, found in the (op, device, dtype) table as every op is
// (dispatch_inplace): the tensor they update is their kernel's `out`, read and
// written, and `in` holds the other operands only (add_'s x; nothing for
// fill_), so that a call copies no handle: they run on every gradient
// accumulation and optimiser step. They are never recorded; each write bumps
// the storage's version (Note [Versions]).
static Tensor& update(Op op, Tensor& self, std::span<const Tensor> in, double scalar) {
  Attrs a;
  a.scalar = scalar;
  dispatch_inplace(op, self, in, a);
  return self;
}

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  check_inplace(*this, "add_");
  check_same(*this, other, "add_");
  return update(Op::add_, *this, {&other, 1}, alpha);
}

Tensor& Tensor::mul_(const Tensor& other) {
  check_inplace(*this, "mul_");
  check_same(*this, other, "mul_");
  return update(Op::mul_, *this, {&other, 1}, 1.0);
}

Tensor& Tensor::mul_(double factor) {
  check_inplace(*this, "mul_");
  return update(Op::mul_scalar_, *this, {}, factor);
}

Tensor& Tensor::fill_(double value) {
  check_inplace(*this, "fill_");
  if (dtype() == DType::int64) checked_int64(value, "fill_", "fill value");
  return update(Op::fill_, *this, {}, value);
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace(*this, "copy_");
  check_same(*this, src, "copy_", false);
  if (src.impl()->storage != impl_->storage)
    copy_bytes(impl_->storage->data, device(), src.impl()->storage->data, src.device(),
               static_cast<size_t>(numel()) * dtype_size(dtype()), "copy_");
  ++impl_->storage->version;
  return *this;
}

Tensor Tensor::to(Device device) const {
  if (this->device() == device) return *this;
  Tensor y = empty(shape(), dtype(), device);
  copy_bytes(y.impl()->storage->data, device, impl_->storage->data, this->device(),
             static_cast<size_t>(numel()) * dtype_size(dtype()), "to");
  y.impl()->name = impl_->name;
  return y;
}

Tensor Tensor::reshape(const Shape& s) const { return ag::reshape(*this, s); }
Tensor Tensor::t() const { return ag::transpose(*this); }

// ---- Creation ---------------------------------------------------------------------

Tensor empty(const Shape& shape, DType dtype, Device device) {
  const size_t bytes = checked_bytes(shape, dtype, "empty");  // Note [Checked sizes]
  auto t = new_impl();
  t->shape = shape;
  t->numel = shape_numel(shape);
  t->dtype = dtype;
  t->storage = Storage::allocate(bytes, device);
  return Tensor(std::move(t));
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  if (dtype == DType::int64) checked_int64(value, "full", "fill value");
  Tensor t = empty(shape, dtype, device);
  Attrs a;
  a.scalar = value;
  find_kernel(Op::fill_, device, dtype)({}, t, a);  // a new tensor: version 0
  return t;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& t) { return full(t.shape(), 0.0, t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return full(t.shape(), 1.0, t.dtype(), t.device()); }
Tensor scalar(double value, DType dtype) { return full({}, value, dtype); }

// v as an element of type T: checked for int64 (naming `op`), rounded once through float for the 16-bit types.
template <class T> static T element(double v, std::string_view op) {
  if constexpr (std::is_same_v<T, int64_t>) return checked_int64(v, op);
  else if constexpr (std::is_floating_point_v<T>) return static_cast<T>(v);
  else return T(static_cast<float>(v));
}

Tensor arange(double start, double stop, double step, DType dtype) {
  if (step == 0.0 || !std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
    fail("arange", "needs finite bounds and a non-zero step, got start {}, stop {}, step {}", start, stop, step);
  const double count = std::max(0.0, std::ceil((stop - start) / step));
  if (!(count < 9223372036854775808.0))
    fail("arange", "[{}, {}) in steps of {} has {} elements, more than int64 can count; use a larger step", start,
         stop, step, count);
  const auto n = static_cast<int64_t>(count);
  Tensor t = empty({n}, dtype);
  visit_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    T* p = t.impl()->data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = element<T>(start + static_cast<double>(i) * step, "arange");
  });
  return t;
}

// The values fill the shape exactly; {} is the 0-d shape, one value, in tensor() and from_vector() alike.
static void check_fill(size_t n, const Shape& shape) {
  if (checked_numel(shape, "tensor") == static_cast<int64_t>(n)) return;
  if (shape.empty())
    fail("tensor", "{} values do not fill shape () (the 0-d shape {{}} holds one value); for a 1-d tensor pass the "
         "shape {{{}}}", n, n);
  fail("tensor", "{} values do not fill shape {} ({} elements)", n, shape, shape_numel(shape));
}

Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  if (!device.is_cpu()) return from_vector(values, shape, dtype).to(device);
  check_fill(values.size(), shape);
  Tensor t = empty(shape, dtype);
  visit_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    T* p = t.impl()->data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = element<T>(values[i], "tensor");
  });
  return t;
}

Tensor tensor(std::initializer_list<double> values) {
  return from_vector(std::vector<double>(values), Shape{static_cast<int64_t>(values.size())});
}

Tensor tensor(std::initializer_list<double> values, const Shape& shape, DType dtype, Device device) {
  return from_vector(std::vector<double>(values), shape, dtype, device);
}

Tensor from_vector(const std::vector<float>& values, const Shape& shape) {
  check_fill(values.size(), shape);
  Tensor t = empty(shape, DType::float32);
  std::copy(values.begin(), values.end(), t.impl()->data<float>());
  return t;
}

Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape) {
  check_fill(values.size(), shape);
  Tensor t = empty(shape, DType::int64);
  std::copy(values.begin(), values.end(), t.impl()->data<int64_t>());
  return t;
}

double Generator::normal(double mean, double stddev) {
  return boost::random::normal_distribution<double>(mean, stddev)(engine_);
}
double Generator::uniform(double lo, double hi) {
  return boost::random::uniform_real_distribution<double>(lo, hi)(engine_);
}
int64_t Generator::randint(int64_t lo, int64_t hi) {
  if (hi <= lo) fail("randint", "empty range [{}, {})", lo, hi);
  return boost::random::uniform_int_distribution<int64_t>(lo, hi - 1)(engine_);
}

std::string Generator::state() const {
  std::ostringstream out;
  out << seed_ << ' ' << engine_ << " end";  // Boost's reader needs a word after the engine's last
  return out.str();
}
void Generator::set_state(const std::string& state) {
  std::istringstream in(state);
  uint64_t seed = 0;
  boost::random::mt19937_64 engine;
  std::string end;
  in >> seed >> engine >> end;
  if (in.fail() || end != "end") fail("Generator", "set_state: '{}...' is not a generator state", state.substr(0, 40));
  seed_ = seed;
  engine_ = engine;
}

// Note [Random numbers on devices]
// Random creation draws on the CPU, in the engine's order, and copies the
// result to the device. That is what makes a seed portable: the CPU and every
// device get the very same numbers, so a model initialised on cuda:0 equals the
// one initialised on the cpu and then moved, and a test can compare them. The
// copy costs one transfer per creation, which is paid at initialisation, not
// per step; dropout, the one op that needs fresh randomness every step, makes
// its mask on the device from a counter-based hash (the dropout row in ops.def).
template <class Draw>
static Tensor random_fill(const Shape& shape, DType dtype, std::string_view op, Draw&& draw) {
  if (!is_floating(dtype)) fail(op, "needs a floating dtype, got {}", dtype);
  if (is_half(dtype)) return cast(random_fill(shape, DType::float32, op, draw), dtype);
  Tensor t = empty(shape, dtype);
  const int64_t n = t.numel();
  if (dtype == DType::float32) {
    float* p = t.impl()->data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(draw());
  } else {
    double* p = t.impl()->data<double>();
    for (int64_t i = 0; i < n; ++i) p[i] = draw();
  }
  return t;
}

static Tensor on(Tensor t, Device device) { return device.is_cpu() ? t : t.to(device); }

Tensor randn(const Shape& shape, Generator& gen, DType dtype, double mean, double stddev, Device device) {
  if (!(stddev >= 0)) fail("randn", "stddev must be >= 0, got {}", stddev);
  boost::random::normal_distribution<double> dist(mean, stddev);
  return on(random_fill(shape, dtype, "randn", [&] { return dist(gen.engine()); }), device);
}

Tensor rand(const Shape& shape, Generator& gen, DType dtype, double lo, double hi, Device device) {
  if (!(hi > lo)) fail("rand", "needs lo < hi, got [{}, {})", lo, hi);
  boost::random::uniform_real_distribution<double> dist(lo, hi);
  return on(random_fill(shape, dtype, "rand", [&] { return dist(gen.engine()); }), device);
}

Tensor randint(const Shape& shape, int64_t lo, int64_t hi, Generator& gen, Device device) {
  if (hi <= lo) fail("randint", "empty range [{}, {})", lo, hi);
  boost::random::uniform_int_distribution<int64_t> dist(lo, hi - 1);
  Tensor t = empty(shape, DType::int64);
  int64_t* p = t.impl()->data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(gen.engine());
  return on(t, device);
}

Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype, Device device) {
  if (!(p >= 0 && p <= 1)) fail("bernoulli", "needs 0 <= p <= 1, got {}", p);
  boost::random::uniform_real_distribution<double> dist(0.0, 1.0);
  if (dtype == DType::int64) {
    Tensor t = empty(shape, DType::int64);
    int64_t* q = t.impl()->data<int64_t>();
    for (int64_t i = 0; i < t.numel(); ++i) q[i] = dist(gen.engine()) < p ? 1 : 0;
    return on(t, device);
  }
  return on(random_fill(shape, dtype, "bernoulli", [&] { return dist(gen.engine()) < p ? 1.0 : 0.0; }), device);
}

// ---- Printing ----------------------------------------------------------------------

namespace {

constexpr int64_t kSummariseOver = 1000;  // elements, as NumPy's threshold
constexpr int64_t kEdgeItems = 3;

struct Printer {
  const Tensor& t;
  bool summarise;
  bool scientific = false;
  size_t width = 0;
  std::string out;

  std::string format_value(double v) const {
    if (t.dtype() == DType::int64) return fmt::format("{}", static_cast<int64_t>(v));
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return scientific ? fmt::format("{:.4e}", v) : fmt::format("{:.4f}", v);
  }

  // Visits the flat indices that are printed (all, or the edges of each axis).
  template <class F>
  void for_shown(size_t axis, int64_t offset, F&& f) const {
    const Shape& s = t.shape();
    if (axis == s.size()) return f(offset);
    int64_t stride = 1;
    for (size_t k = axis + 1; k < s.size(); ++k) stride *= s[k];
    for (int64_t i = 0; i < s[axis]; ++i) {
      if (summarise && s[axis] > 2 * kEdgeItems && i == kEdgeItems) i = s[axis] - kEdgeItems;
      for_shown(axis + 1, offset + i * stride, f);
    }
  }

  void print(size_t axis, int64_t offset, size_t indent) {
    const Shape& s = t.shape();
    if (axis == s.size()) {
      std::string v = format_value(t.value_at(offset));
      out.append(width - std::min(width, v.size()), ' ');
      out += v;
      return;
    }
    int64_t stride = 1;
    for (size_t k = axis + 1; k < s.size(); ++k) stride *= s[k];
    out += '[';
    const bool last_axis = axis + 1 == s.size();
    for (int64_t i = 0; i < s[axis]; ++i) {
      if (i > 0) {
        out += ',';
        if (last_axis) {
          out += ' ';
        } else {
          out.append(s.size() - axis - 1, '\n');
          out.append(indent + 1, ' ');
        }
      }
      if (summarise && s[axis] > 2 * kEdgeItems && i == kEdgeItems) {
        out += "...";
        i = s[axis] - kEdgeItems - 1;
        continue;
      }
      print(axis + 1, offset + i * stride, indent + 1);
    }
    out += ']';
  }
};

}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) {
    if (const NoGradReason* r = reason_of(t.impl_ptr())) return fmt::format("tensor(undefined: {})", r->text);
    return "tensor(undefined)";
  }
  if (!t.device().is_cpu()) {
    // printed from a host copy; the suffix names the device
    std::string s = to_string(t.to(Device::cpu()));
    s.pop_back();
    s += fmt::format(", device={}", t.device());
    if (t.requires_grad()) s += ", requires_grad=true";
    return s + ')';
  }
  Printer p{.t = t, .summarise = t.numel() > kSummariseOver, .out = {}};
  if (is_floating(t.dtype())) {
    double hi = 0, lo = INFINITY;
    p.for_shown(0, 0, [&](int64_t i) {
      double a = std::abs(t.value_at(i));
      if (!std::isfinite(a)) return;
      hi = std::max(hi, a);
      if (a > 0) lo = std::min(lo, a);
    });
    p.scientific = hi >= 1e5 || (lo < 1e-4 && lo > 0);
  }
  p.for_shown(0, 0, [&](int64_t i) { p.width = std::max(p.width, p.format_value(t.value_at(i)).size()); });
  p.out = "tensor(";
  p.print(0, 0, 7);
  p.out += fmt::format(", shape={}, dtype={}", t.shape(), t.dtype());
  if (t.requires_grad()) p.out += ", requires_grad=true";
  p.out += ')';
  return p.out;
}

// ---- Raw bytes and moving in place -------------------------------------------------

std::span<const std::byte> Tensor::bytes() const {
  if (!device().is_cpu()) detail::not_on_cpu("bytes", device());
  return {static_cast<const std::byte*>(impl_->storage->data), static_cast<size_t>(numel()) * dtype_size(dtype())};
}

std::span<std::byte> Tensor::bytes() {
  if (!device().is_cpu()) detail::not_on_cpu("bytes", device());
  return {static_cast<std::byte*>(impl_->storage->data), static_cast<size_t>(numel()) * dtype_size(dtype())};
}

Tensor& Tensor::move_to_(Device device) {
  const TensorImpl& t = checked();
  if (t.storage->device == device) return *this;
  if (t.node >= 0 && !t.retains_grad)
    fail("move_to_", "{} is not a leaf, so it cannot move in place (its graph may have saved it on {}); copy it "
         "with .to({}) instead. {}", describe(t), t.storage->device, device, kReassignedParameter);
  impl_->grad.reset();
  impl_->storage = to(device).impl()->storage;
  return *this;
}

}  // namespace ag
