// Tensor: a cheap handle to shared, row-major, contiguous storage with a shape,
// a dtype and a device, plus what autograd needs (requires_grad, grad, and the
// tape node that produced it).
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/random/mersenne_twister.hpp>
#include <fmt/format.h>

#include "dtype.hpp"
#include "error.hpp"
#include "storage.hpp"

namespace ag {

struct Graph;
class Tensor;

// The shared state behind a Tensor handle. Library code reads it directly;
// user code goes through Tensor.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  int64_t numel = 0;
  DType dtype = DType::float32;
  bool requires_grad = false;  // leaves: set by the user; recorded outputs: true
  bool retains_grad = false;   // a non-leaf whose gradient backward keeps
  // Where the tensor was recorded: graph (null for leaves and constants),
  // node index on it. See Note [Graph lifetime] in tape.hpp.
  std::shared_ptr<Graph> graph;
  int32_t node = -1;
  std::shared_ptr<TensorImpl> grad;
  std::string name;

  template <class T> T* data() const { return static_cast<T*>(storage->data); }
};

namespace detail {
// Throws the error for a use of an undefined tensor, with the reason a .grad() recorded
// (Note [Why a gradient is undefined], tensor.cpp).
[[noreturn]] void undefined_use(const std::shared_ptr<TensorImpl>& impl);
}  // namespace detail

// A new, empty TensorImpl (pooled).
inline std::shared_ptr<TensorImpl> new_impl() { return std::allocate_shared<TensorImpl>(PoolAllocator<TensorImpl>{}); }

// Backward options: retain_graph keeps the tape for another backward;
// create_graph records the backward pass itself (for higher-order gradients).
struct BackwardOptions {
  bool retain_graph = false;
  bool create_graph = false;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  const Shape& shape() const { return checked().shape; }
  int64_t dim() const { return static_cast<int64_t>(checked().shape.size()); }
  // Size of one axis (negative counts from the end).
  int64_t size(int64_t axis) const;
  int64_t numel() const { return checked().numel; }
  DType dtype() const { return checked().dtype; }
  Device device() const { return checked().storage->device; }

  // Autograd.
  bool requires_grad() const { return checked().requires_grad; }
  // Marks a leaf as a parameter whose gradient backward accumulates.
  Tensor& requires_grad_(bool on = true);
  // True for tensors not produced by a recorded op (parameters, inputs, constants).
  bool is_leaf() const { return checked().node < 0; }
  // The accumulated gradient. Undefined until a backward reaches this tensor, and
  // always for a non-leaf without retain_grad(); printing or using it says why.
  Tensor grad() const;
  void set_grad(const Tensor& g);
  // Forgets the gradient (the next backward starts from zero). An error on a
  // non-leaf without retain_grad(), which never has one (docs/autograd.md, "Updating parameters").
  void zero_grad();
  // Keep this non-leaf's gradient during backward (leaves always keep theirs).
  Tensor& retain_grad();
  // Seeds dL/dL = 1 and runs backward through the tape; see ag::backward.
  void backward(const BackwardOptions& opts = {}) const;
  // Backward from a non-scalar output with an explicit upstream gradient.
  void backward(const Tensor& grad, const BackwardOptions& opts = {}) const;
  // The same data, cut off from the tape (a new leaf that does not require grad).
  Tensor detach() const;
  // A differentiable copy with its own storage.
  Tensor clone() const;
  // A copy on `device` (this tensor when it is already there). Not recorded: the copy is a new leaf.
  Tensor to(Device device) const;

  // Element access (the dtype must match T). data() needs a cpu tensor; item, at,
  // to_vector and value_at copy from a device.
  template <class T> T* data();
  template <class T> const T* data() const;
  template <class T> T item() const;
  template <class T> T at(std::initializer_list<int64_t> index) const;
  template <class T> std::vector<T> to_vector() const;
  // Any floating or integer element as double (for printing and tests).
  double value_at(int64_t flat_index) const;

  // A display name for graph dumps and error messages.
  const std::string& name() const { return checked().name; }
  Tensor& set_name(std::string name);

  // In-place updates (for optimisers). They are never recorded; each bumps the
  // storage's version so that backward can detect a stale saved tensor.
  Tensor& add_(const Tensor& other, double alpha = 1.0);
  Tensor& sub_(const Tensor& other) { return add_(other, -1.0); }
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(double factor);
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);
  uint32_t version() const { return checked().storage->version; }

  // Shape helpers as methods, for chaining.
  Tensor reshape(const Shape& shape) const;
  Tensor t() const;  // transpose of the last two axes

  // ---- Raw bytes and moving in place (file formats, Module::to) ----------------
  // The elements as raw bytes, row-major: numel() * dtype_size(dtype()) of them.
  // For file formats such as safetensors, which store exactly this. Needs a cpu
  // tensor ("[bytes] the tensor is on ..." otherwise). As with data<T>(),
  // writing through the span is not recorded and does not bump version().
  std::span<const std::byte> bytes() const;
  std::span<std::byte> bytes();
  // Moves the data to `device` in place: the same tensor (every handle to it,
  // its name and requires_grad) on a new storage there; a no-op when it is
  // already there. Its gradient is dropped (it lived on the old device), as
  // zero_grad() does. For parameters (Module::to); a non-leaf without
  // retain_grad() is an error, and tensors that share the old storage (a
  // detach()) keep it. Use .to(device) for a copy.
  Tensor& move_to_(Device device);

 private:
  const TensorImpl& checked() const {
    if (!impl_) detail::undefined_use(impl_);
    return *impl_;
  }
  std::shared_ptr<TensorImpl> impl_;
};

// ---- Creation ---------------------------------------------------------------

// A new tensor with uninitialised values.
Tensor empty(const Shape& shape, DType dtype = DType::float32, Device device = Device::cpu());
// Filled with 0, 1 or `value`, on `device`.
Tensor zeros(const Shape& shape, DType dtype = DType::float32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::float32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::float32, Device device = Device::cpu());
// Zeros / ones of t's shape, dtype and device.
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
// A 0-d tensor holding one value.
Tensor scalar(double value, DType dtype = DType::float32);
// start, start+step, ... below stop (like numpy.arange).
Tensor arange(double start, double stop, double step = 1.0, DType dtype = DType::float32);
// From values in row-major order, as a 1-d float32 tensor (n,).
Tensor tensor(std::initializer_list<double> values);
// From values in row-major order, filling `shape` exactly, on `device`. As in
// from_vector, {} is the 0-d shape and holds one value: tensor({1, 2}, {2}, DType::int64).
Tensor tensor(std::initializer_list<double> values, const Shape& shape, DType dtype = DType::float32,
              Device device = Device::cpu());
// From values in row-major order, filling `shape` exactly ({} holds one value), on `device`.
Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::float32,
                   Device device = Device::cpu());
Tensor from_vector(const std::vector<float>& values, const Shape& shape);
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape);

// A seeded random number generator: the same seed gives the same numbers on
// every run and platform (Boost.Random's portable engines and distributions).
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed), engine_(seed) {}
  uint64_t seed() const { return seed_; }
  void manual_seed(uint64_t seed) { seed_ = seed; engine_.seed(seed); }
  double normal(double mean = 0.0, double stddev = 1.0);
  double uniform(double lo = 0.0, double hi = 1.0);
  int64_t randint(int64_t lo, int64_t hi);  // in [lo, hi)
  boost::random::mt19937_64& engine() { return engine_; }
  // The engine's whole state as text, and back: a checkpoint saves it so that
  // a resumed run draws the numbers the uninterrupted run would have drawn.
  std::string state() const;
  void set_state(const std::string& state);

 private:
  uint64_t seed_;
  boost::random::mt19937_64 engine_;
};

// Random creation. Every sample is drawn on the CPU from `gen` and the tensor
// is then copied to `device`, so one seed gives the same numbers on every
// device (Note [Random numbers on devices] in tensor.cpp).
//
// Normal(mean, stddev) samples.
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::float32, double mean = 0.0,
             double stddev = 1.0, Device device = Device::cpu());
// Uniform samples in [lo, hi).
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::float32, double lo = 0.0, double hi = 1.0,
            Device device = Device::cpu());
// Integers in [lo, hi) (int64).
Tensor randint(const Shape& shape, int64_t lo, int64_t hi, Generator& gen, Device device = Device::cpu());
// 1 with probability p, else 0 (a mask, in `dtype`; int64 allowed).
Tensor bernoulli(const Shape& shape, double p, Generator& gen, DType dtype = DType::float32,
                 Device device = Device::cpu());

// NumPy-style text: values (elided when large), shape and dtype.
std::string to_string(const Tensor& t);

// ---- Helpers shared by ops ---------------------------------------------------

// Normalises a possibly negative axis for a tensor of `ndim` axes; `op` names the caller in errors.
int64_t normalize_axis(int64_t axis, int64_t ndim, std::string_view op);

// ---- Template definitions ----------------------------------------------------

namespace detail {
[[noreturn]] void dtype_mismatch(std::string_view what, DType have, DType want);
[[noreturn]] void not_on_cpu(std::string_view what, Device device);
[[noreturn]] void index_error(std::string_view what, const Shape& shape, std::initializer_list<int64_t> index);
}  // namespace detail

template <class T> T* Tensor::data() {
  if (dtype() != dtype_of<T>()) detail::dtype_mismatch("data", dtype(), dtype_of<T>());
  if (!device().is_cpu()) detail::not_on_cpu("data", device());
  return impl_->data<T>();
}
template <class T> const T* Tensor::data() const {
  if (dtype() != dtype_of<T>()) detail::dtype_mismatch("data", dtype(), dtype_of<T>());
  if (!device().is_cpu()) detail::not_on_cpu("data", device());
  return impl_->data<T>();
}
template <class T> T Tensor::item() const {
  if (numel() != 1) fail("item", "needs a tensor with one element, got shape {}", shape());
  if (dtype() != dtype_of<T>()) detail::dtype_mismatch("item", dtype(), dtype_of<T>());
  if (!device().is_cpu()) return to(Device::cpu()).item<T>();
  return impl_->data<T>()[0];
}
template <class T> T Tensor::at(std::initializer_list<int64_t> index) const {
  if (dtype() != dtype_of<T>()) detail::dtype_mismatch("at", dtype(), dtype_of<T>());
  if (!device().is_cpu()) return to(Device::cpu()).at<T>(index);
  const Shape& s = shape();
  if (index.size() != s.size()) detail::index_error("at", s, index);
  int64_t flat = 0;
  size_t k = 0;
  for (int64_t i : index) {
    if (i < 0 || i >= s[k]) detail::index_error("at", s, index);
    flat = flat * s[k++] + i;
  }
  return data<T>()[flat];
}
template <class T> std::vector<T> Tensor::to_vector() const {
  if (dtype() != dtype_of<T>()) detail::dtype_mismatch("to_vector", dtype(), dtype_of<T>());
  if (!device().is_cpu()) return to(Device::cpu()).to_vector<T>();
  const T* p = impl_->data<T>();
  return std::vector<T>(p, p + numel());
}

// The gradients a backward rule returns, one per input (undefined: none).
using Grads = boost::container::small_vector<Tensor, 4>;

}  // namespace ag

template <>
struct fmt::formatter<ag::Tensor> : fmt::formatter<std::string_view> {
  auto format(const ag::Tensor& t, format_context& ctx) const {
    return fmt::format_to(ctx.out(), "{}", ag::to_string(t));
  }
};

#endif  // TAPEGRAD_CXX20
