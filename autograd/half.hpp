// The 16-bit storage types (the textbook's section on bit precision): Half is
// IEEE 754 binary16 (float16: 5 exponent bits, 10 mantissa bits, largest
// finite 65504, about 3 decimal digits); BFloat16 is the top half of a float32
// (8 exponent bits, 7 mantissa bits: float32's range with about 2 digits).
//
// Note [16-bit storage, float32 arithmetic]
// Both types are storage only: every kernel converts to float on load, does
// its math in float (sums and matrix products accumulate in float32 or
// wider), and rounds to nearest-even once on store. The conversions are plain
// bit arithmetic, written once for the host and the device (AG_HD), so the
// cuda_host emulation rounds exactly as the GPU does. Their bit layouts are
// those of CUDA's __half and __nv_bfloat16, so cuBLAS reads them directly.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <cstring>

#include "cpu/scalar_ops.hpp"  // AG_HD

namespace ag {

namespace half_bits {

AG_HD inline uint32_t bits_of(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}
AG_HD inline float float_of(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// float -> binary16, round to nearest even; overflow gives inf, NaN stays NaN.
AG_HD inline uint16_t from_float(float f) {
  const uint32_t u = bits_of(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u));
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (a < 0x38800000u) {
    // below 2^-14: a subnormal half. Adding 0.5 puts float's last mantissa bit
    // at 2^-24, the half subnormal step, so the float addition rounds for us.
    const float v = float_of(a) + 0.5f;
    return static_cast<uint16_t>(sign | (bits_of(v) - 0x3f000000u));
  }
  // normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to even
  a += 0xc8000fffu + ((a >> 13) & 1u);
  return static_cast<uint16_t>(sign | (a >> 13));
}

// binary16 -> float (exact).
AG_HD inline float to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t em = h & 0x7fffu;
  if (em >= 0x7c00u) return float_of(sign | 0x7f800000u | ((em & 0x3ffu) << 13));  // inf, NaN
  if (em < 0x400u) {  // zero or subnormal: em * 2^-24
    const float v = static_cast<float>(em) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return float_of(sign | ((em << 13) + 0x38000000u));
}

// float -> bfloat16, round to nearest even; NaN stays NaN (quiet).
AG_HD inline uint16_t bf16_from_float(float f) {
  uint32_t u = bits_of(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

AG_HD inline float bf16_to_float(uint16_t b) { return float_of(static_cast<uint32_t>(b) << 16); }

}  // namespace half_bits

// float16 storage: reads as a float implicitly; made from a float explicitly
// (a rounding), so that mixed expressions such as `cond ? double : Half` are
// never ambiguous (CUB's reductions build those).
struct Half {
  uint16_t bits;
  Half() = default;
  AG_HD explicit Half(float f) : bits(half_bits::from_float(f)) {}
  AG_HD operator float() const { return half_bits::to_float(bits); }
  static AG_HD Half from_bits(uint16_t b) {
    Half h;
    h.bits = b;
    return h;
  }
};

// bfloat16 storage, likewise.
struct BFloat16 {
  uint16_t bits;
  BFloat16() = default;
  AG_HD explicit BFloat16(float f) : bits(half_bits::bf16_from_float(f)) {}
  AG_HD operator float() const { return half_bits::bf16_to_float(bits); }
  static AG_HD BFloat16 from_bits(uint16_t b) {
    BFloat16 h;
    h.bits = b;
    return h;
  }
};

// The type arithmetic happens in: float for the 16-bit types, T itself otherwise.
template <class T> struct compute_type { using type = T; };
template <> struct compute_type<Half> { using type = float; };
template <> struct compute_type<BFloat16> { using type = float; };
template <class T> using compute_t = typename compute_type<T>::type;

}  // namespace ag

#endif  // TAPEGRAD_CXX20
