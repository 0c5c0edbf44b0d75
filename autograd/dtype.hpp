// Element types, devices and shapes: the small value types every tensor carries.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include <boost/container/small_vector.hpp>
#include <fmt/format.h>

#include "half.hpp"
#include "kinds.hpp"

namespace ag {

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::int64: return "int64";
    case DType::float16: return "float16";
    case DType::bfloat16: return "bfloat16";
  }
  return "?";
}
constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::float32: return 4;
    case DType::float16:
    case DType::bfloat16: return 2;
    default: return 8;
  }
}
constexpr bool is_floating(DType t) { return t != DType::int64; }
// float16 and bfloat16: stored in 16 bits, computed in float32.
constexpr bool is_half(DType t) { return t == DType::float16 || t == DType::bfloat16; }

// Calls f(T{}) with T the C++ type of `t`: float, double, int64_t, Half or
// BFloat16; every branch is instantiated, so f must compile for all five.
template <class F> constexpr decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::float32: return f(float{});
    case DType::float64: return f(double{});
    case DType::int64: return f(int64_t{});
    case DType::float16: return f(Half{});
    case DType::bfloat16: break;
  }
  return f(BFloat16{});
}

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::float32; }
template <> constexpr DType dtype_of<double>() { return DType::float64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::int64; }
template <> constexpr DType dtype_of<Half>() { return DType::float16; }
template <> constexpr DType dtype_of<BFloat16>() { return DType::bfloat16; }

// Where a tensor's data lives. cuda_host is the CUDA backend emulated on the
// host: its memory is host memory behind the device's caching allocator and its
// kernels are the CUDA kernels' sources compiled for the CPU (see docs/cuda.md).
struct Device {
  enum class Kind : uint8_t { cpu, cuda, cuda_host };
  Kind kind = Kind::cpu;
  int index = 0;

  static constexpr Device cpu() { return {}; }
  static constexpr Device cuda(int i = 0) { return {Kind::cuda, i}; }
  // The host emulation of a CUDA device (runs the CUDA kernels' logic without a GPU).
  static constexpr Device cuda_host(int i = 0) { return {Kind::cuda_host, i}; }
  constexpr bool is_cpu() const { return kind == Kind::cpu; }
  constexpr bool operator==(const Device&) const = default;
};
inline constexpr int kNumDeviceKinds = 3;

// Sizes of a tensor's axes, outermost first. Inline for up to 6 axes.
using Shape = boost::container::small_vector<int64_t, 6>;
// A list of axes (negative counts from the end, as in NumPy).
using Axes = Shape;

// Number of elements of a shape (1 for a scalar), for the shape of an existing
// tensor (already checked, Note [Checked sizes]); a new shape goes through checked_numel.
inline int64_t shape_numel(const Shape& s) {
  uint64_t n = 1;  // unsigned: a misuse wraps instead of being undefined
  for (auto d : s) n *= static_cast<uint64_t>(d);
  return static_cast<int64_t>(n);
}

// Note [Checked sizes]: every place that turns a shape that is not yet a
// tensor's (user arguments, file headers, reshape/repeat/slice/concat
// results) into an element count or a byte count calls checked_numel or
// checked_bytes. A negative size, a count above INT64_MAX, or bytes above the
// allocation ceiling (max_alloc_bytes, in storage.hpp) is an ag::Error naming
// `op` and the shape, never a wrapped product and a small buffer.

// Number of elements of `s`; throws if a size is negative or the product overflows int64.
int64_t checked_numel(const Shape& s, std::string_view op);
// Bytes of a `t` tensor of shape `s`; also throws above the allocation ceiling.
size_t checked_bytes(const Shape& s, DType t, std::string_view op);
// a + b for sizes along one axis; throws naming `op` if it overflows int64.
int64_t checked_add(int64_t a, int64_t b, std::string_view op);
// A double converted to int64; NaN, +-inf or a value outside int64's range
// throws naming `op` and `what` (C++ leaves such a conversion undefined).
int64_t checked_int64(double v, std::string_view op, std::string_view what = "value");

}  // namespace ag

template <>
struct fmt::formatter<ag::DType> : fmt::formatter<std::string_view> {
  auto format(ag::DType t, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(ag::dtype_name(t), ctx);
  }
};

template <>
struct fmt::formatter<ag::Device> : fmt::formatter<std::string_view> {
  auto format(ag::Device d, format_context& ctx) const {
    if (d.is_cpu()) return fmt::format_to(ctx.out(), "cpu");
    if (d.kind == ag::Device::Kind::cuda_host) return fmt::format_to(ctx.out(), "cuda_host:{}", d.index);
    return fmt::format_to(ctx.out(), "cuda:{}", d.index);
  }
};

// Shapes print as (2, 3); a scalar as ().
template <>
struct fmt::formatter<ag::Shape> : fmt::formatter<std::string_view> {
  auto format(const ag::Shape& s, format_context& ctx) const {
    auto out = fmt::format_to(ctx.out(), "(");
    for (size_t i = 0; i < s.size(); ++i) out = fmt::format_to(out, fmt::runtime(i ? ", {}" : "{}"), s[i]);
    return fmt::format_to(out, fmt::runtime(s.size() == 1 ? ",)" : ")"));
  }
};

#endif  // TAPEGRAD_CXX20
