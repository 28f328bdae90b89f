// tanh, sigmoid, silu. Include inside an ISA pass (see vmath.h).
namespace tensorjit {
namespace TJ_ISA_NS {
namespace vmath {

// tanh. ERROR <= 2.5 ulp (measured max 2.48 ulp, near |x| = 0.03, from rounding the
// denominator). tanh(±inf) = ±1, tanh(±0) = ±0, NaN kept.
// Method: tanh|x| = m / (m + 2) with m = e^(2|x|) - 1, the sign of x restored. One
// branch-free path for every x: m = 2^n (e^r - 1) + (2^n - 1), with e^r - 1 = r + r^2 P(r)
// fitted for relative accuracy (expm1, not exp), so small |x| keeps full precision
// without a second polynomial. Beyond 2|x| = 20 the quotient rounds to 1.
// (A two-branch form, polynomial below 0.55 and 1 - 2/(e^2|x| + 1) above, was accurate to
// 1.41 ulp but evaluated both branches on every lane: 1.4x the instructions.)
template <class V>
inline typename V::Reg tanh(typename V::Reg x) {
  using R = typename V::Reg;
  const R ax = V::abs(x);
  // min returns its 2nd operand on NaN, so NaN passes through
  const R t = V::min(V::set1(20.0f), V::add(ax, ax));
  const R n = roundScaled<V>(t, 1.44269504088896341f).asFloat;
  R r = V::fnma(n, V::set1(0x1.62e4p-1f), t);  // exact (see expReduceInRange)
  r = V::fnma(n, V::set1(0x1.7f7d1cp-20f), r);
  const R p = horner<V>(r, 0x1.fffffep-2f, 0x1.5554b4p-3f, 0x1.5556f2p-5f, 0x1.12254cp-7f, 0x1.6b9c78p-10f);
  const R erMinus1 = V::fma(p, V::mul(r, r), r);
  const R pow2n = V::scaleByPow2(V::set1(1.0f), n);
  const R m = V::fma(pow2n, erMinus1, V::sub(pow2n, V::set1(1.0f)));
  return orSignOf<V>(V::div(m, V::add(m, V::set1(2.0f))), x);
}

// 1 / (1 + e^-x), computed as e^-|x| / (1 + e^-|x|) for x < 0 so tiny results keep
// full relative precision. ERROR <= 2.5 ulp (measured max 2.30 ulp). sigmoid(-inf) = 0,
// sigmoid(+inf) = 1, NaN kept.
template <class V>
inline typename V::Reg sigmoid(typename V::Reg x) {
  using R = typename V::Reg;
  const R e = expNegAbs<V>(x);
  const R num = V::select(V::cmpLt(x, V::zero()), e, V::set1(1.0f));
  return V::div(num, V::add(V::set1(1.0f), e));
}

// x * sigmoid(x) (one rounding less than multiplying the two). ERROR <= 3.5 ulp (measured
// max 2.92 ulp), relative also for subnormal results (x < -87). silu(+inf) = +inf,
// silu(-inf) = NaN (-inf * 0, as torch's x / (1 + e^-x)), NaN kept.
template <class V>
inline typename V::Reg silu(typename V::Reg x) {
  using R = typename V::Reg;
  // one exp for both e^-|x| and, for x < 0, x e^x scaled after the multiply so it is not
  // rounded through a subnormal e^x (below -128 the result is -0 anyway; the clamp keeps
  // the multiplier small)
  const ExpReduced<V> e = expReduceNonPositive<V>(negAbs<V>(x));
  const R ex = V::scaleByPow2(e.er, e.n);
  const R xe = V::scaleByPow2(V::mul(e.er, V::max(V::set1(-128.0f), x)), e.n);
  const R num = V::select(V::cmpLt(x, V::zero()), xe, x);
  const R y = V::div(num, V::add(V::set1(1.0f), ex));
  return V::select(V::cmpEq(x, V::neg(infinity<V>())), quietNaN<V>(), y);
}

}  // namespace vmath
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
