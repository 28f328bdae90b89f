// AArch64 NEON (Advanced SIMD) table: 4 float lanes. Same API as simd/vec_scalar.h,
// with x86's semantics where the kernels rely on them: min/max return their second
// operand when either is NaN (maxps/minps), so every table gives the same answers.
// Included by simd/foreach_isa.h on aarch64, where NEON is part of the base ISA.
#pragma once
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

namespace tensorjit {
namespace neon {

struct VecF32 {
  using Reg = float32x4_t;
  using Mask = uint32x4_t;
  using IReg = int32x4_t;
  static constexpr int kLanes = 4;
  static constexpr const char* kName = "neon";

  static inline Reg load(const float* p) { return vld1q_f32(p); }
  static inline void store(float* p, Reg v) { vst1q_f32(p, v); }
  // Through a stack copy: never touches memory past the n floats (the tail may end a page).
  static inline size_t tailBytes(int n) { return static_cast<size_t>(n < 0 ? 0 : (n > 4 ? 4 : n)) * sizeof(float); }
  static inline Reg loadPartial(const float* p, int n) {
    float buf[4] = {0.f, 0.f, 0.f, 0.f};
    std::memcpy(buf, p, tailBytes(n));
    return vld1q_f32(buf);
  }
  static inline void storePartial(float* p, Reg v, int n) {
    float buf[4];
    vst1q_f32(buf, v);
    std::memcpy(p, buf, tailBytes(n));
  }
  static inline Reg set1(float x) { return vdupq_n_f32(x); }
  static inline Reg zero() { return vdupq_n_f32(0.f); }

  static inline Reg add(Reg a, Reg b) { return vaddq_f32(a, b); }
  static inline Reg sub(Reg a, Reg b) { return vsubq_f32(a, b); }
  static inline Reg mul(Reg a, Reg b) { return vmulq_f32(a, b); }
  static inline Reg div(Reg a, Reg b) { return vdivq_f32(a, b); }
  // fmin/fmax (vminq/vmaxq) propagate NaN from either side; the kernels count on b.
  static inline Reg min(Reg a, Reg b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
  static inline Reg max(Reg a, Reg b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
  static inline Reg fma(Reg a, Reg b, Reg c) { return vfmaq_f32(c, a, b); }
  static inline Reg fnma(Reg a, Reg b, Reg c) { return vfmsq_f32(c, a, b); }
  static inline Reg sqrt(Reg a) { return vsqrtq_f32(a); }
  static inline Reg abs(Reg a) { return vabsq_f32(a); }
  static inline Reg neg(Reg a) { return vnegq_f32(a); }
  static inline Reg floor(Reg a) { return vrndmq_f32(a); }
  static inline Reg roundEven(Reg a) { return vrndnq_f32(a); }

  static inline Mask cmpLt(Reg a, Reg b) { return vcltq_f32(a, b); }
  static inline Mask cmpLe(Reg a, Reg b) { return vcleq_f32(a, b); }
  static inline Mask cmpEq(Reg a, Reg b) { return vceqq_f32(a, b); }
  static inline Mask cmpNe(Reg a, Reg b) { return vmvnq_u32(vceqq_f32(a, b)); }  // true for NaN
  static inline Mask cmpGt(Reg a, Reg b) { return vcgtq_f32(a, b); }
  static inline Mask cmpGe(Reg a, Reg b) { return vcgeq_f32(a, b); }
  static inline Mask isNan(Reg a) { return vmvnq_u32(vceqq_f32(a, a)); }
  static inline Mask maskAnd(Mask a, Mask b) { return vandq_u32(a, b); }
  static inline Mask maskOr(Mask a, Mask b) { return vorrq_u32(a, b); }
  static inline Reg select(Mask m, Reg a, Reg b) { return vbslq_f32(m, a, b); }

  // Pairwise like the x86 tables: (a0 + a2) + (a1 + a3).
  static inline float reduceAdd(Reg a) {
    const Reg s = vaddq_f32(a, vextq_f32(a, a, 2));
    return vgetq_lane_f32(s, 0) + vgetq_lane_f32(s, 1);
  }
  static inline float reduceMax(Reg a) {
    const Reg s = max(a, vextq_f32(a, a, 2));
    return vgetq_lane_f32(max(s, vextq_f32(s, s, 1)), 0);
  }
  static inline float reduceMin(Reg a) {
    const Reg s = min(a, vextq_f32(a, a, 2));
    return vgetq_lane_f32(min(s, vextq_f32(s, s, 1)), 0);
  }

  static inline IReg toIntRound(Reg a) { return vcvtnq_s32_f32(a); }
  static inline Reg cvtIntToFloat(IReg a) { return vcvtq_f32_s32(a); }
  static inline IReg bitsOf(Reg a) { return vreinterpretq_s32_f32(a); }
  static inline Reg fromBits(IReg i) { return vreinterpretq_f32_s32(i); }
  static inline IReg iadd(IReg a, IReg b) { return vaddq_s32(a, b); }
  static inline IReg isub(IReg a, IReg b) { return vsubq_s32(a, b); }
  static inline IReg iand(IReg a, IReg b) { return vandq_s32(a, b); }
  static inline IReg iset1(int32_t x) { return vdupq_n_s32(x); }
  template <int N> static inline IReg ishl(IReg a) { return vshlq_n_s32(a, N); }
  template <int N> static inline IReg isra(IReg a) {
    if constexpr (N == 0) return a;
    else return vshrq_n_s32(a, N);
  }
  template <int N> static inline IReg isrl(IReg a) {
    if constexpr (N == 0) return a;
    else return vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(a), N));
  }
  static inline IReg ior(IReg a, IReg b) { return vorrq_s32(a, b); }
  static inline IReg ixor(IReg a, IReg b) { return veorq_s32(a, b); }
  static inline Mask icmpEq(IReg a, IReg b) { return vceqq_s32(a, b); }
  static inline Mask icmpGt(IReg a, IReg b) { return vcgtq_s32(a, b); }
  // A byte table lookup over the 64-byte table: lane index i becomes bytes 4i .. 4i + 3.
  static inline Reg lookup16(const float* table, IReg idx) {
    const auto* t = reinterpret_cast<const uint8_t*>(table);
    const uint8x16x4_t bytes = {{vld1q_u8(t), vld1q_u8(t + 16), vld1q_u8(t + 32), vld1q_u8(t + 48)}};
    const uint32x4_t first = vshlq_n_u32(vandq_u32(vreinterpretq_u32_s32(idx), vdupq_n_u32(15)), 2);
    const uint32x4_t byteIdx = vaddq_u32(vmulq_n_u32(first, 0x01010101u), vdupq_n_u32(0x03020100u));
    return vreinterpretq_f32_u8(vqtbl4q_u8(bytes, vreinterpretq_u8_u32(byteIdx)));
  }
  static inline Mask maskNot(Mask a) { return vmvnq_u32(a); }
  static inline bool anyTrue(Mask a) { return vmaxvq_u32(a) != 0; }

  // No non-temporal store intrinsic: plain stores (the fence is then not needed).
  static inline void storeStream(float* p, Reg v) { vst1q_f32(p, v); }
  static inline void streamFence() {}
  // two exact-range factors 2^(n>>1) 2^(n-(n>>1)): the first product is exact, the second rounds once
  static inline Reg scaleByPow2(Reg x, Reg n) {
    const int32x4_t ni = vcvtnq_s32_f32(n);
    const int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1), bias = vdupq_n_s32(127);
    const Reg s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    const Reg s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(x, s1), s2);
  }

  static inline Mask loadMaskBytes(const uint8_t* p) {
    uint32_t word;
    std::memcpy(&word, p, 4);
    const uint16x8_t wide = vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(word)));
    const uint32x4_t lanes = vmovl_u16(vget_low_u16(wide));
    return vtstq_u32(lanes, lanes);
  }
  static inline void storeMaskBytes(uint8_t* p, Mask m) {
    const uint16x4_t words = vmovn_u32(vandq_u32(m, vdupq_n_u32(1)));
    const uint8x8_t bytes = vmovn_u16(vcombine_u16(words, words));
    const uint32_t word = vget_lane_u32(vreinterpret_u32_u8(bytes), 0);
    std::memcpy(p, &word, 4);
  }
  // The conversions round to nearest even and quiet NaNs (the FPCR defaults Linux and
  // macOS run with).
  static inline Reg loadF16(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
  static inline void storeF16(uint16_t* p, Reg v) { vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v))); }
  static inline Reg loadBF16(const uint16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
  static inline void storeBF16(uint16_t* p, Reg v) {
    const uint32x4_t bits = vreinterpretq_u32_f32(v);
    const uint32x4_t lsb = vandq_u32(vshrq_n_u32(bits, 16), vdupq_n_u32(1));
    uint32x4_t r = vshrq_n_u32(vaddq_u32(bits, vaddq_u32(lsb, vdupq_n_u32(0x7fff))), 16);
    r = vbslq_u32(isNan(v), vdupq_n_u32(0x7fc0), r);
    vst1_u16(p, vmovn_u32(r));
  }
};

using Vec = VecF32;

}  // namespace neon
}  // namespace tensorjit
