// AVX-512 (F/BW/DQ/VL) table: 16 float lanes, mask registers for tails.
// Same API as simd/vec_scalar.h. Included inside `#pragma GCC target("avx512f,...")`.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace tensorjit {
namespace avx512 {

struct VecF32 {
  using Reg = __m512;
  using Mask = __mmask16;
  using IReg = __m512i;
  static constexpr int kLanes = 16;
  static constexpr const char* kName = "avx512";

  static inline __mmask16 tailMask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static inline Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static inline Reg loadPartial(const float* p, int n) { return _mm512_maskz_loadu_ps(tailMask(n), p); }
  static inline void storePartial(float* p, Reg v, int n) { _mm512_mask_storeu_ps(p, tailMask(n), v); }
  static inline Reg set1(float x) { return _mm512_set1_ps(x); }
  static inline Reg zero() { return _mm512_setzero_ps(); }

  static inline Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static inline Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static inline Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static inline Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  static inline Reg min(Reg a, Reg b) { return _mm512_min_ps(a, b); }
  static inline Reg max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static inline Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static inline Reg fnma(Reg a, Reg b, Reg c) { return _mm512_fnmadd_ps(a, b, c); }
  static inline Reg sqrt(Reg a) { return _mm512_sqrt_ps(a); }
  static inline Reg abs(Reg a) { return _mm512_abs_ps(a); }
  static inline Reg neg(Reg a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MIN))); }
  static inline Reg floor(Reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  static inline Reg roundEven(Reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

  static inline Mask cmpLt(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static inline Mask cmpLe(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static inline Mask cmpEq(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static inline Mask cmpNe(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
  static inline Mask cmpGt(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static inline Mask cmpGe(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static inline Mask isNan(Reg a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  static inline Mask maskAnd(Mask a, Mask b) { return static_cast<Mask>(a & b); }
  static inline Mask maskOr(Mask a, Mask b) { return static_cast<Mask>(a | b); }
  static inline Reg select(Mask m, Reg a, Reg b) { return _mm512_mask_blend_ps(m, b, a); }

  static inline float reduceAdd(Reg a) { return _mm512_reduce_add_ps(a); }
  static inline float reduceMax(Reg a) { return _mm512_reduce_max_ps(a); }
  static inline float reduceMin(Reg a) { return _mm512_reduce_min_ps(a); }

  static inline IReg toIntRound(Reg a) { return _mm512_cvtps_epi32(a); }
  static inline Reg cvtIntToFloat(IReg a) { return _mm512_cvtepi32_ps(a); }
  static inline IReg bitsOf(Reg a) { return _mm512_castps_si512(a); }
  static inline Reg fromBits(IReg i) { return _mm512_castsi512_ps(i); }
  static inline IReg iadd(IReg a, IReg b) { return _mm512_add_epi32(a, b); }
  static inline IReg isub(IReg a, IReg b) { return _mm512_sub_epi32(a, b); }
  static inline IReg iand(IReg a, IReg b) { return _mm512_and_si512(a, b); }
  static inline IReg iset1(int32_t x) { return _mm512_set1_epi32(x); }
  template <int N> static inline IReg ishl(IReg a) { return _mm512_slli_epi32(a, N); }
  template <int N> static inline IReg isra(IReg a) { return _mm512_srai_epi32(a, N); }
  template <int N> static inline IReg isrl(IReg a) { return _mm512_srli_epi32(a, N); }
  static inline IReg ior(IReg a, IReg b) { return _mm512_or_si512(a, b); }
  static inline IReg ixor(IReg a, IReg b) { return _mm512_xor_si512(a, b); }
  static inline Mask icmpEq(IReg a, IReg b) { return _mm512_cmpeq_epi32_mask(a, b); }
  static inline Mask icmpGt(IReg a, IReg b) { return _mm512_cmpgt_epi32_mask(a, b); }
  static inline Reg lookup16(const float* table, IReg idx) { return _mm512_permutexvar_ps(idx, _mm512_load_ps(table)); }
  static inline Mask maskNot(Mask a) { return static_cast<Mask>(~a); }
  static inline bool anyTrue(Mask a) { return a != 0; }

  static inline void storeStream(float* p, Reg v) { _mm512_stream_ps(p, v); }
  static inline void streamFence() { _mm_sfence(); }
  static inline Reg scaleByPow2(Reg x, Reg n) { return _mm512_scalef_ps(x, n); }

  static inline Mask loadMaskBytes(const uint8_t* p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm_test_epi8_mask(b, b);
  }
  static inline void storeMaskBytes(uint8_t* p, Mask m) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_maskz_mov_epi8(m, _mm_set1_epi8(1)));
  }
  static inline Reg loadF16(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static inline void storeF16(uint16_t* p, Reg v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  static inline Reg loadBF16(const uint16_t* p) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  static inline void storeBF16(uint16_t* p, Reg v) {
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    r = _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), r, _mm512_set1_epi32(0x7fc0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(r));
  }
};

using Vec = VecF32;

}  // namespace avx512
}  // namespace tensorjit
