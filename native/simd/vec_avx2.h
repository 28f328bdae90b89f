// AVX2 + FMA table: 8 float lanes. Same API as simd/vec_scalar.h.
// Included by simd/foreach_isa.h inside `#pragma GCC target("avx2,fma,...")`.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace tensorjit {
namespace avx2 {

struct VecF32 {
  using Reg = __m256;
  using Mask = __m256;
  using IReg = __m256i;
  static constexpr int kLanes = 8;
  static constexpr const char* kName = "avx2";

  static inline __m256i tailMask(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
  }
  static inline Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static inline Reg loadPartial(const float* p, int n) { return _mm256_maskload_ps(p, tailMask(n)); }
  static inline void storePartial(float* p, Reg v, int n) { _mm256_maskstore_ps(p, tailMask(n), v); }
  static inline Reg set1(float x) { return _mm256_set1_ps(x); }
  static inline Reg zero() { return _mm256_setzero_ps(); }

  static inline Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static inline Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  static inline Reg min(Reg a, Reg b) { return _mm256_min_ps(a, b); }
  static inline Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static inline Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static inline Reg fnma(Reg a, Reg b, Reg c) { return _mm256_fnmadd_ps(a, b, c); }
  static inline Reg sqrt(Reg a) { return _mm256_sqrt_ps(a); }
  static inline Reg abs(Reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), a); }
  static inline Reg neg(Reg a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.f)); }
  static inline Reg floor(Reg a) { return _mm256_floor_ps(a); }
  static inline Reg roundEven(Reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

  static inline Mask cmpLt(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static inline Mask cmpLe(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  static inline Mask cmpEq(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static inline Mask cmpNe(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_NEQ_UQ); }
  static inline Mask cmpGt(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static inline Mask cmpGe(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  static inline Mask isNan(Reg a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
  static inline Mask maskAnd(Mask a, Mask b) { return _mm256_and_ps(a, b); }
  static inline Mask maskOr(Mask a, Mask b) { return _mm256_or_ps(a, b); }
  static inline Reg select(Mask m, Reg a, Reg b) { return _mm256_blendv_ps(b, a, m); }

  static inline float reduceAdd(Reg a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static inline float reduceMax(Reg a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static inline float reduceMin(Reg a) {
    __m128 s = _mm_min_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_min_ps(s, _mm_movehl_ps(s, s));
    s = _mm_min_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  static inline IReg toIntRound(Reg a) { return _mm256_cvtps_epi32(a); }
  static inline Reg cvtIntToFloat(IReg a) { return _mm256_cvtepi32_ps(a); }
  static inline IReg bitsOf(Reg a) { return _mm256_castps_si256(a); }
  static inline Reg fromBits(IReg i) { return _mm256_castsi256_ps(i); }
  static inline IReg iadd(IReg a, IReg b) { return _mm256_add_epi32(a, b); }
  static inline IReg isub(IReg a, IReg b) { return _mm256_sub_epi32(a, b); }
  static inline IReg iand(IReg a, IReg b) { return _mm256_and_si256(a, b); }
  static inline IReg iset1(int32_t x) { return _mm256_set1_epi32(x); }
  template <int N> static inline IReg ishl(IReg a) { return _mm256_slli_epi32(a, N); }
  template <int N> static inline IReg isra(IReg a) { return _mm256_srai_epi32(a, N); }
  template <int N> static inline IReg isrl(IReg a) { return _mm256_srli_epi32(a, N); }
  static inline IReg ior(IReg a, IReg b) { return _mm256_or_si256(a, b); }
  static inline IReg ixor(IReg a, IReg b) { return _mm256_xor_si256(a, b); }
  static inline Mask icmpEq(IReg a, IReg b) { return _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b)); }
  static inline Mask icmpGt(IReg a, IReg b) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(a, b)); }
  // two 8-entry permutes, chosen by bit 3 of idx (moved to the sign bit for blendv)
  static inline Reg lookup16(const float* table, IReg idx) {
    const Reg lo = _mm256_permutevar8x32_ps(_mm256_load_ps(table), idx);
    const Reg hi = _mm256_permutevar8x32_ps(_mm256_load_ps(table + 8), idx);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
  }
  static inline Mask maskNot(Mask a) { return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(-1))); }
  static inline bool anyTrue(Mask a) { return _mm256_movemask_ps(a) != 0; }

  static inline void storeStream(float* p, Reg v) { _mm256_stream_ps(p, v); }
  static inline void streamFence() { _mm_sfence(); }
  // two exact-range factors 2^(n>>1) 2^(n-(n>>1)): the first product is exact, the second rounds once
  static inline Reg scaleByPow2(Reg x, Reg n) {
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1), bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(x, s1), s2);
  }

  static inline Mask loadMaskBytes(const uint8_t* p) {
    const __m256i wide = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(wide, _mm256_setzero_si256()));
  }
  static inline void storeMaskBytes(uint8_t* p, Mask m) {
    const __m256i ones = _mm256_and_si256(_mm256_castps_si256(m), _mm256_set1_epi32(1));
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(ones), _mm256_extracti128_si256(ones, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packs_epi16(words, words));
  }
  static inline Reg loadF16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static inline void storeF16(uint16_t* p, Reg v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  static inline Reg loadBF16(const uint16_t* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static inline void storeBF16(uint16_t* p, Reg v) {
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    r = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(r), _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc0)),
                                             _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    // values fit 16 bits, so the unsigned-saturating pack is exact; fix the lane order after it
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
  }
};

using Vec = VecF32;

}  // namespace avx2
}  // namespace tensorjit
