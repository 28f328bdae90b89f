// Element types of the pointwise kernels and the conversions between them (the
// semantics of `x.to(dtype)`, also used when an operand is promoted on the fly).
// Baseline code: inline functions that the per-ISA loops inline and vectorize.
//
// Conversion rules (torch on x86):
//  - float -> int truncates toward zero; NaN, ±inf and out-of-range values give the
//    x86 "integer indefinite" (INT32_MIN / INT64_MIN), never undefined behaviour;
//  - int64 -> int32 wraps (two's complement); anything -> bool is `!= 0` (NaN is true);
//  - int -> float rounds to nearest; float16/bfloat16 go through float32 exactly
//    (narrowing rounds to nearest even, see simd/half.h).
#pragma once
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "simd/half.h"

namespace tensorjit {
namespace pw {

// Storage types for the two 16-bit float dtypes (distinct C++ types).
struct Half16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};
using Bool8 = uint8_t;  // bool tensors hold 0/1 bytes

template <class T>
constexpr DType dtypeOf();
template <> constexpr DType dtypeOf<float>() { return DType::Float32; }
template <> constexpr DType dtypeOf<int32_t>() { return DType::Int32; }
template <> constexpr DType dtypeOf<int64_t>() { return DType::Int64; }
template <> constexpr DType dtypeOf<uint8_t>() { return DType::Bool; }
template <> constexpr DType dtypeOf<Half16>() { return DType::Float16; }
template <> constexpr DType dtypeOf<BFloat16>() { return DType::BFloat16; }

// Calls f(T{}) with T the element type of `t`.
template <class F>
inline void withElemType(DType t, F&& f) {
  switch (t) {
    case DType::Float32: f(float{}); break;
    case DType::Int32: f(int32_t{}); break;
    case DType::Int64: f(int64_t{}); break;
    case DType::Bool: f(uint8_t{}); break;
    case DType::Float16: f(Half16{}); break;
    case DType::BFloat16: f(BFloat16{}); break;
  }
}

inline float toFloat(float v) { return v; }
inline float toFloat(int32_t v) { return static_cast<float>(v); }
inline float toFloat(int64_t v) { return static_cast<float>(v); }
inline float toFloat(uint8_t v) { return v ? 1.0f : 0.0f; }
inline float toFloat(Half16 v) { return halfBitsToFloat(v.bits); }
inline float toFloat(BFloat16 v) { return bfloat16BitsToFloat(v.bits); }

inline int32_t floatToInt32(float v) {
  return (v >= -2147483648.0f && v < 2147483648.0f) ? static_cast<int32_t>(v) : INT32_MIN;
}
inline int64_t floatToInt64(float v) {
  return (v >= -9223372036854775808.0f && v < 9223372036854775808.0f) ? static_cast<int64_t>(v) : INT64_MIN;
}

template <class To, class From>
inline To convertElem(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, float>) {
    return toFloat(v);
  } else if constexpr (std::is_same_v<To, uint8_t>) {
    if constexpr (std::is_same_v<From, int32_t> || std::is_same_v<From, int64_t>) return v != 0 ? 1 : 0;
    else return toFloat(v) != 0.0f ? 1 : 0;
  } else if constexpr (std::is_same_v<To, int32_t>) {
    if constexpr (std::is_same_v<From, int64_t>) return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v)));
    else if constexpr (std::is_same_v<From, uint8_t>) return v;
    else return floatToInt32(toFloat(v));
  } else if constexpr (std::is_same_v<To, int64_t>) {
    if constexpr (std::is_same_v<From, int32_t> || std::is_same_v<From, uint8_t>) return v;
    else return floatToInt64(toFloat(v));
  } else if constexpr (std::is_same_v<To, Half16>) {
    return Half16{floatToHalfBits(toFloat(v))};
  } else {
    static_assert(std::is_same_v<To, BFloat16>, "unknown element type");
    return BFloat16{floatToBFloat16Bits(toFloat(v))};
  }
}

// A JS number (kernel attribute) as an element of T: integers saturate to T's range
// (the TS side has already rejected scalars that do not fit), floats round.
template <class T>
inline T scalarFromDouble(double v) {
  if constexpr (std::is_same_v<T, float>) {
    return static_cast<float>(v);
  } else if constexpr (std::is_same_v<T, uint8_t>) {
    return v != 0 ? 1 : 0;
  } else {
    static_assert(std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>, "integer scalar");
    if (!(v == v)) return 0;
    const double lo = static_cast<double>(INT64_MIN), hiExclusive = 9223372036854775808.0;
    int64_t i = v <= lo ? INT64_MIN : v >= hiExclusive ? INT64_MAX : static_cast<int64_t>(v);
    if constexpr (std::is_same_v<T, int32_t>) i = i < INT32_MIN ? INT32_MIN : i > INT32_MAX ? INT32_MAX : i;
    return static_cast<T>(i);
  }
}

}  // namespace pw
}  // namespace tensorjit
