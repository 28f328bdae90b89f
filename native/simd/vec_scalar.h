// One-lane "vector": the portable fallback table, and the reference the SIMD tables
// must agree with. API shared by every simd/vec_*.h:
//   Reg/Mask/IReg types, kLanes, load/store (unaligned), loadPartial/storePartial
//   (first n lanes; other lanes read as 0), set1, zero, add sub mul div min max,
//   fma(a,b,c)=a*b+c, fnma(a,b,c)=c-a*b, sqrt abs neg floor roundEven,
//   cmpLt cmpLe cmpEq cmpNe cmpGt cmpGe isNan -> Mask, select(m,a,b)=m?a:b,
//   reduceAdd reduceMax reduceMin, and int32 lanes for bit tricks:
//   toIntRound cvtIntToFloat bitsOf fromBits iadd isub iand iset1 ishl<n> isra<n>,
//   ior ixor isrl<n> (logical), icmpEq icmpGt -> Mask (signed), maskNot anyTrue,
//   bytes <-> masks: loadMaskBytes (kLanes bytes, nonzero = true), storeMaskBytes (0/1),
//   lookup16(table, idx) = table[idx & 15] per lane (16 floats, 64-byte aligned),
//   scaleByPow2(x, n) = x * 2^n for integral n in [-252, 252] and x * 2^(n>>1) normal,
//   rounded once (also into subnormals),
//   storeStream(p, v): store bypassing the caches (non-temporal; p aligned to 4*kLanes bytes),
//   streamFence() after a run of them (before other threads may read the data),
//   float16/bfloat16 storage: loadF16 storeF16 loadBF16 storeBF16 (kLanes elements;
//   stores round to nearest even, NaN -> quiet NaN; see simd/half.h).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "simd/half.h"

namespace tensorjit {
namespace scalar {

struct VecF32 {
  using Reg = float;
  using Mask = bool;
  using IReg = int32_t;
  static constexpr int kLanes = 1;
  static constexpr const char* kName = "scalar";

  static inline Reg load(const float* p) { return *p; }
  static inline void store(float* p, Reg v) { *p = v; }
  static inline Reg loadPartial(const float* p, int n) { return n > 0 ? *p : 0.f; }
  static inline void storePartial(float* p, Reg v, int n) { if (n > 0) *p = v; }
  static inline Reg set1(float x) { return x; }
  static inline Reg zero() { return 0.f; }

  static inline Reg add(Reg a, Reg b) { return a + b; }
  static inline Reg sub(Reg a, Reg b) { return a - b; }
  static inline Reg mul(Reg a, Reg b) { return a * b; }
  static inline Reg div(Reg a, Reg b) { return a / b; }
  // Hardware semantics: returns b when either is NaN (like maxps/minps).
  static inline Reg min(Reg a, Reg b) { return a < b ? a : b; }
  static inline Reg max(Reg a, Reg b) { return a > b ? a : b; }
  static inline Reg fma(Reg a, Reg b, Reg c) { return std::fma(a, b, c); }
  static inline Reg fnma(Reg a, Reg b, Reg c) { return std::fma(-a, b, c); }
  static inline Reg sqrt(Reg a) { return std::sqrt(a); }
  static inline Reg abs(Reg a) { return std::fabs(a); }
  static inline Reg neg(Reg a) { return -a; }
  static inline Reg floor(Reg a) { return std::floor(a); }
  static inline Reg roundEven(Reg a) { return std::nearbyint(a); }

  static inline Mask cmpLt(Reg a, Reg b) { return a < b; }
  static inline Mask cmpLe(Reg a, Reg b) { return a <= b; }
  static inline Mask cmpEq(Reg a, Reg b) { return a == b; }
  static inline Mask cmpNe(Reg a, Reg b) { return a != b; }
  static inline Mask cmpGt(Reg a, Reg b) { return a > b; }
  static inline Mask cmpGe(Reg a, Reg b) { return a >= b; }
  static inline Mask isNan(Reg a) { return a != a; }
  static inline Mask maskAnd(Mask a, Mask b) { return a && b; }
  static inline Mask maskOr(Mask a, Mask b) { return a || b; }
  static inline Reg select(Mask m, Reg a, Reg b) { return m ? a : b; }

  static inline float reduceAdd(Reg a) { return a; }
  static inline float reduceMax(Reg a) { return a; }
  static inline float reduceMin(Reg a) { return a; }

  static inline IReg toIntRound(Reg a) { return static_cast<int32_t>(std::nearbyint(a)); }
  static inline Reg cvtIntToFloat(IReg a) { return static_cast<float>(a); }
  static inline IReg bitsOf(Reg a) { int32_t i; std::memcpy(&i, &a, 4); return i; }
  static inline Reg fromBits(IReg i) { float f; std::memcpy(&f, &i, 4); return f; }
  static inline IReg iadd(IReg a, IReg b) { return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); }
  static inline IReg isub(IReg a, IReg b) { return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b)); }
  static inline IReg iand(IReg a, IReg b) { return a & b; }
  static inline IReg iset1(int32_t x) { return x; }
  template <int N> static inline IReg ishl(IReg a) { return static_cast<int32_t>(static_cast<uint32_t>(a) << N); }
  template <int N> static inline IReg isra(IReg a) { return a >> N; }
  template <int N> static inline IReg isrl(IReg a) { return static_cast<int32_t>(static_cast<uint32_t>(a) >> N); }
  static inline IReg ior(IReg a, IReg b) { return a | b; }
  static inline IReg ixor(IReg a, IReg b) { return a ^ b; }
  static inline Mask icmpEq(IReg a, IReg b) { return a == b; }
  static inline Mask icmpGt(IReg a, IReg b) { return a > b; }
  static inline Mask maskNot(Mask a) { return !a; }
  static inline Reg lookup16(const float* table, IReg idx) { return table[idx & 15]; }
  static inline bool anyTrue(Mask a) { return a; }

  static inline void storeStream(float* p, Reg v) { *p = v; }
  static inline void streamFence() {}
  static inline Reg scaleByPow2(Reg x, Reg n) { return n == n ? std::ldexp(x, static_cast<int>(n)) : n; }

  static inline Mask loadMaskBytes(const uint8_t* p) { return *p != 0; }
  static inline void storeMaskBytes(uint8_t* p, Mask m) { *p = m ? 1 : 0; }
  static inline Reg loadF16(const uint16_t* p) { return halfBitsToFloat(*p); }
  static inline void storeF16(uint16_t* p, Reg v) { *p = floatToHalfBits(v); }
  static inline Reg loadBF16(const uint16_t* p) { return bfloat16BitsToFloat(*p); }
  static inline void storeBF16(uint16_t* p, Reg v) { *p = floatToBFloat16Bits(v); }
};

using Vec = VecF32;

}  // namespace scalar
}  // namespace tensorjit
