// erf, gelu (erf and tanh forms). Include inside an ISA pass (see vmath.h).
namespace tensorjit {
namespace TJ_ISA_NS {
namespace vmath {

// erf(z) - 2/sqrt(pi) z  on |z| <= 1, as z * (c0lo + z^2 P(z^2)): with the leading
// coefficient split off, erf(z) = fma(z, C0, erfSmallTail(z)) keeps C0's rounding out.
template <class V>
inline typename V::Reg erfSmallTail(typename V::Reg z) {
  const auto z2 = V::mul(z, z);
  const auto q = horner<V>(z2, -0x1.f7fef8p-25f, -0x1.812746p-2f, 0x1.ce2eeap-4f, -0x1.b8269cp-6f, 0x1.56041ap-8f,
                           -0x1.bafd0ep-11f, 0x1.cd9f6ep-14f, -0x1.2adf1cp-17f);
  return V::mul(z, q);
}
constexpr float kTwoOverSqrtPi = 0x1.20dd76p+0f;

// erfcx(z) = e^(z^2) erfc(z) for z in [0, 10.5]: t P(t), t = 1 / (1 + z/2), degree-10
// minimax (relative error 5e-9 before float rounding).
template <class V>
inline typename V::Reg erfcx(typename V::Reg z) {
  const auto t = V::div(V::set1(1.0f), V::fma(z, V::set1(0.5f), V::set1(1.0f)));
  const auto p = horner<V>(t, 0x1.20dbfcp-2f, 0x1.2102c6p-2f, 0x1.f670d8p-3f, 0x1.7a4f58p-3f, 0x1.db3924p-5f,
                           0x1.caa9f8p-6f, -0x1.4ed42ep-7f, -0x1.352c68p-2f, 0x1.8f0406p-2f, -0x1.8dbc1cp-3f,
                           0x1.29639ep-5f);
  return V::mul(t, p);
}

// e^(-s^2 / 2) * ... helper: e^(-(hi + lo)) for hi + lo = w exactly, |lo| tiny.
template <class V>
inline typename V::Reg expNegSplit(typename V::Reg hi, typename V::Reg lo) {
  const auto e = exp<V>(V::neg(hi));
  return V::fnma(e, lo, e);  // e^-hi (1 - lo)
}

// erf. ERROR <= 1.5 ulp (measured max 1.28 ulp). erf(±inf) = ±1, erf(±0) = ±0, NaN kept.
// Method: |x| < 1: x C0 + x (c0lo + x^2 P(x^2)); |x| >= 1: 1 - e^(-x^2) erfcx(|x|)
// with x^2 carried as an exact float pair, the sign of x restored.
template <class V>
inline typename V::Reg erf(typename V::Reg x) {
  using R = typename V::Reg;
  const R ax = V::abs(x);
  const R small = V::fma(x, V::set1(kTwoOverSqrtPi), erfSmallTail<V>(x));
  const R z = V::min(V::set1(10.5f), ax);  // beyond, erf rounds to 1 anyway (NaN passes through)
  const R sq = V::mul(z, z);
  const R sqLo = V::fma(z, z, V::neg(sq));
  const R erfc = V::mul(expNegSplit<V>(sq, sqLo), erfcx<V>(z));
  const R large = orSignOf<V>(V::sub(V::set1(1.0f), erfc), x);
  const R y = V::select(V::cmpLt(ax, V::set1(1.0f)), small, large);
  return V::select(V::cmpEq(x, V::zero()), x, y);  // keeps -0 (the FMA form gives +0)
}

// gelu, exact form, evaluated through erfc: x Phi(x) = x/2 (1 + erf(x / sqrt 2))
// = x/2 erfc(-x / sqrt 2). ERROR <= 7 ulp over the whole range (measured max 6.0 ulp, near
// 0 and in the tail): Phi comes from erfc everywhere (2 - erfc for x >= 0), so the
// negative tail keeps relative accuracy where 1 + erf would cancel. gelu(+inf) = +inf,
// gelu(-inf) = NaN (-inf * 0, as torch), NaN kept. gelu below takes this form for x < -3.
template <class V>
inline typename V::Reg geluErfc(typename V::Reg x) {
  using R = typename V::Reg;
  // erfc(|z|), z = x / sqrt 2; beyond |x| = 14.5 the tail underflows (x < 0) or vanishes
  // against 2 (x > 0). min returns its 2nd operand on NaN, so NaN passes through.
  const R at = V::min(V::set1(14.5f), V::abs(x));
  const R halfAt = V::mul(at, V::set1(0.5f));
  // z^2 = x^2 / 2 as the exact pair hi + lo, and e^-(hi + lo) with lo folded into exp's
  // reduced argument (hi <= 105.2: in exp's range, no clamp needed)
  const R hi = V::mul(at, halfAt);
  const R lo = V::fma(at, halfAt, V::neg(hi));
  const ExpReduced<V> e = expReduceInRange<V, true>(V::neg(hi), lo);
  const R erfc = V::mul(V::scaleByPow2(e.er, e.n), erfcx<V>(V::mul(at, V::set1(0x1.6a09e6p-1f))));
  // 1 + erf(z): 2 - erfc(z) for z >= 0, erfc(-z) for z < 0
  const R onePlusErf = V::select(V::cmpLt(x, V::zero()), erfc, V::sub(V::set1(2.0f), erfc));
  return V::mul(V::mul(x, V::set1(0.5f)), onePlusErf);
}

#include "kernels/math/gelu_phi_table.h"

// gelu, exact form: x Phi(x). ERROR <= 2.5 ulp for x >= -3 (measured max 2.36 ulp over
// every float of [-3, 6.5]), <= 7 ulp below (geluErfc). Same special values as geluErfc.
// Method: for x >= -3, Phi from a table of 16 degree-6 polynomials on pieces of width 1/2
// (looked up per lane with Vec::lookup16: 21 instructions, against 39 for geluErfc, which
// needs an exp, a divide and a degree-10 polynomial); x >= 5.5 uses the last piece at
// 5.5, where it rounds to exactly 1, so gelu(x) = x. A vector with a lane below -3 (or
// NaN) also evaluates geluErfc and takes it for those lanes: a lane's result never
// depends on its neighbours, only the time does.
template <class V>
inline typename V::Reg gelu(typename V::Reg x) {
  using R = typename V::Reg;
  const auto onPieces = V::cmpGe(x, V::set1(-3.0f));  // false for NaN
  if (!V::anyTrue(onPieces)) return geluErfc<V>(x);
  // piece index round(2x + 5.5) = floor(2x + 6) but at piece ends, where either piece
  // holds; x >= 5 stays on the last piece
  const auto idx = V::toIntRound(V::fma(V::min(x, V::set1(4.99f)), V::set1(2.0f), V::set1(5.5f)));
  const R s = V::sub(V::min(x, V::set1(5.5f)), V::lookup16(kGeluPhiCentres, idx));
  R phi = V::lookup16(kGeluPhiPoly[6], idx);
  for (int k = 5; k >= 0; --k) phi = V::fma(phi, s, V::lookup16(kGeluPhiPoly[k], idx));
  const R y = V::mul(x, phi);
  if (!V::anyTrue(V::maskNot(onPieces))) return y;
  return V::select(onPieces, y, geluErfc<V>(x));
}

// gelu, tanh form: x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as
// x sigmoid(2u) so the negative tail keeps relative precision. ERROR <= 3 ulp for x >= -1
// (measured 2.85); below, the float32 rounding of u itself (as in torch) dominates:
// <= 35 ulp on [-5, -1), <= 250 ulp below -5 (measured 30 and 193; |results| < 3e-7 there).
// gelu(+inf) = +inf, gelu(-inf) = NaN (as torch), NaN kept.
template <class V>
inline typename V::Reg geluTanh(typename V::Reg x) {
  using R = typename V::Reg;
  const R x2 = V::mul(x, x);
  // 2u = x (2 sqrt(2/pi) + 2 * 0.044715 sqrt(2/pi) x^2)
  const R twoU = V::mul(x, V::fma(x2, V::set1(2.0f * 0.035677408136300125f), V::set1(2.0f * 0.7978845608028654f)));
  const R e = expNegAbs<V>(twoU);
  const R num = V::select(V::cmpLt(twoU, V::zero()), V::mul(x, e), x);
  return V::div(num, V::add(V::set1(1.0f), e));
}

}  // namespace vmath
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
