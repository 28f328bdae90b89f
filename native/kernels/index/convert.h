// Element conversion between dtypes for the data-movement kernels (cat, copy_).
// Floating sources go through float, integral and bool sources through int64, so
// int64 values are never rounded through a float on an int -> int copy.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"

namespace tensorjit {
namespace index_kernels {

// Distinct storage types for the dtypes that share a C++ representation.
struct Bool8 { uint8_t v; };
struct Half { uint16_t v; };
struct BFloat16 { uint16_t v; };

inline float halfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0) {  // zero or subnormal: exact in float
    const float mag = std::ldexp(static_cast<float>(man), -24);
    return sign ? -mag : mag;
  }
  uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (man << 13)) : (sign | ((exp + 112) << 23) | (man << 13));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t floatToHalfBits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  x &= 0x7fffffff;
  if (x > 0x7f800000) return static_cast<uint16_t>(sign | 0x7e00);     // NaN
  if (x >= 0x477ff000) return static_cast<uint16_t>(sign | 0x7c00);    // overflow -> inf
  if (x < 0x38800000) {                                                // subnormal or zero
    float a;
    std::memcpy(&a, &x, 4);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  return static_cast<uint16_t>(sign | ((x + 0xfff + ((x >> 13) & 1) - 0x38000000) >> 13));  // round to even
}

inline float bfloat16BitsToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t floatToBFloat16Bits(float f) {
  if (std::isnan(f)) return 0x7fc0;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7fff + ((bits >> 16) & 1);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

// ---- widening loads
inline float wide(float v) { return v; }
inline float wide(Half v) { return halfBitsToFloat(v.v); }
inline float wide(BFloat16 v) { return bfloat16BitsToFloat(v.v); }
inline int64_t wide(int32_t v) { return v; }
inline int64_t wide(int64_t v) { return v; }
inline int64_t wide(Bool8 v) { return v.v != 0; }

// Float to integer like x86's truncating convert (what torch's static_cast compiles to):
// NaN and out-of-range values give the type's minimum instead of undefined behaviour.
template <class I>
inline I truncToInt(float f) {
  constexpr float kLimit = static_cast<float>(sizeof(I) == 4 ? 2147483648.0 : 9223372036854775808.0);
  if (!(f >= -kLimit && f < kLimit)) return static_cast<I>(sizeof(I) == 4 ? INT32_MIN : INT64_MIN);
  return static_cast<I>(f);
}

// ---- narrowing stores
template <class D> D narrow(float f);
template <> inline float narrow<float>(float f) { return f; }
template <> inline Half narrow<Half>(float f) { return Half{floatToHalfBits(f)}; }
template <> inline BFloat16 narrow<BFloat16>(float f) { return BFloat16{floatToBFloat16Bits(f)}; }
template <> inline int32_t narrow<int32_t>(float f) { return truncToInt<int32_t>(f); }
template <> inline int64_t narrow<int64_t>(float f) { return truncToInt<int64_t>(f); }
template <> inline Bool8 narrow<Bool8>(float f) { return Bool8{static_cast<uint8_t>(f != 0.f)}; }

template <class D> D narrow(int64_t i);
template <> inline float narrow<float>(int64_t i) { return static_cast<float>(i); }
template <> inline Half narrow<Half>(int64_t i) { return Half{floatToHalfBits(static_cast<float>(i))}; }
template <> inline BFloat16 narrow<BFloat16>(int64_t i) { return BFloat16{floatToBFloat16Bits(static_cast<float>(i))}; }
template <> inline int32_t narrow<int32_t>(int64_t i) { return static_cast<int32_t>(static_cast<uint32_t>(i)); }  // wraps
template <> inline int64_t narrow<int64_t>(int64_t i) { return i; }
template <> inline Bool8 narrow<Bool8>(int64_t i) { return Bool8{static_cast<uint8_t>(i != 0)}; }

// Calls f(T{}) with the storage type of `dtype`.
template <class F>
inline void withStorageType(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32: f(float{}); break;
    case DType::Int32: f(int32_t{}); break;
    case DType::Int64: f(int64_t{}); break;
    case DType::Bool: f(Bool8{}); break;
    case DType::Float16: f(Half{}); break;
    case DType::BFloat16: f(BFloat16{}); break;
  }
}

}  // namespace index_kernels
}  // namespace tensorjit
