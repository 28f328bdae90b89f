// Element conversion between dtypes for the data-movement kernels (cat, copy_).
// Floating sources go through float, integral and bool sources through int64, so
// int64 values are never rounded through a float on an int -> int copy.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "simd/half.h"

namespace tensorjit {
namespace index_kernels {

// Distinct storage types for the dtypes that share a C++ representation.
struct Bool8 { uint8_t v; };
struct Half { uint16_t v; };
struct BFloat16 { uint16_t v; };

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
