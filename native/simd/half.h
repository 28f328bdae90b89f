// Portable float16 / bfloat16 <-> float32 conversions (bit manipulation, no intrinsics).
// The scalar Vec table uses them; the SIMD tables use F16C and integer code that must
// give the same bits (tested in test/ops/pointwise_cast.test.ts under every table):
//  - widening is exact; a float16 NaN becomes a quiet float32 NaN with its payload
//    (what F16C's vcvtph2ps does),
//  - narrowing rounds to nearest even; float16 overflows to inf, keeps subnormals,
//    and turns NaN into a quiet NaN keeping sign and top payload bits (vcvtps2ph);
//    bfloat16 turns every NaN into 0x7fc0 (torch's c10::BFloat16 does the same).
#pragma once
#include <cstdint>
#include <cstring>

namespace tensorjit {

inline float bitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint32_t floatToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

inline float halfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return bitsToFloat(sign | 0x7f800000u | (man ? 0x400000u : 0u) | (man << 13));
  if (exp == 0) {
    // zero or subnormal: man * 2^-24 is exact in float
    const float mag = static_cast<float>(man) * 5.9604644775390625e-8f;
    return bitsToFloat(floatToBits(mag) | sign);
  }
  return bitsToFloat(sign | ((exp + 112u) << 23) | (man << 13));
}

inline uint16_t floatToHalfBits(float f) {
  const uint32_t x = floatToBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf (>= 65520)
  if (a >= 0x38800000u)  // normal float16: drop 13 bits, rounding to nearest even
    return static_cast<uint16_t>(sign | ((a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13));
  // subnormal float16: adding 0.5 puts the value where float's ulp is 2^-24, the
  // float16 subnormal step, so the float addition does the round-to-nearest-even;
  // a value that rounds up to 2^-14 gives 0x400, the smallest normal, as it should.
  const float t = bitsToFloat(a) + 0.5f;
  return static_cast<uint16_t>(sign | (floatToBits(t) - 0x3f000000u));
}

inline float bfloat16BitsToFloat(uint16_t b) { return bitsToFloat(static_cast<uint32_t>(b) << 16); }

inline uint16_t floatToBFloat16Bits(float f) {
  const uint32_t bits = floatToBits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace tensorjit
