// exp, log and pow. Include inside an ISA pass (see vmath.h).
namespace tensorjit {
namespace TJ_ISA_NS {
namespace vmath {

// e^x = er * 2^n with er = e^r, |r| <= ln2/2 (er in [0.7, 1.42]) and n integral in
// [-159, 128]: the shared core of exp, expTimes and silu (method: see exp below).
template <class V>
struct ExpReduced {
  typename V::Reg er, n;
};
// e^(x - lo) for x in [-110, 88.8] (no clamp here) and |lo| tiny (a low-order part of
// the argument, folded into the reduced r); kWithLo = false skips it.
template <class V, bool kWithLo>
inline ExpReduced<V> expReduceInRange(typename V::Reg x, typename V::Reg lo) {
  using R = typename V::Reg;
  const R n = roundScaled<V>(x, 1.44269504088896341f).asFloat;
  // ln2hi has 16 significant bits: n*ln2hi and x - n*ln2hi are exact
  R r = V::fnma(n, V::set1(0x1.62e4p-1f), x);
  r = V::fnma(n, V::set1(0x1.7f7d1cp-20f), r);
  if constexpr (kWithLo) r = V::sub(r, lo);
  const R p = horner<V>(r, 0x1.fffffcp-2f, 0x1.555492p-3f, 0x1.5558bp-5f, 0x1.123986p-7f, 0x1.6a4cb2p-10f);
  return {V::add(V::fma(p, V::mul(r, r), r), V::set1(1.0f)), n};
}

template <class V>
inline ExpReduced<V> expReduce(typename V::Reg x) {
  // the clamp keeps n in range; the table's max/min return their 2nd operand on NaN, so
  // NaN passes through (and makes er NaN)
  const auto xc = V::min(V::set1(88.8f), V::max(V::set1(-110.0f), x));
  return expReduceInRange<V, false>(xc, xc);
}

// expReduce for x <= 0 (or NaN), as -|y| from negAbs: only the lower clamp is needed,
// and the result has the same bits as expReduce's.
template <class V>
inline ExpReduced<V> expReduceNonPositive(typename V::Reg x) {
  const auto xc = V::max(V::set1(-110.0f), x);  // max returns its 2nd operand on NaN
  return expReduceInRange<V, false>(xc, xc);
}

// e^-|x| (the form sigmoid, silu and geluTanh need), same bits as exp(-|x|).
template <class V>
inline typename V::Reg expNegAbs(typename V::Reg x) {
  const ExpReduced<V> e = expReduceNonPositive<V>(negAbs<V>(x));
  return V::scaleByPow2(e.er, e.n);
}

// e^x. ERROR <= 1.05 ulp (measured max 1.00 ulp); subnormal results (x < -87.34) are
// within 1 ulp of the subnormal spacing.
// exp(-inf) = 0, exp(+inf) = +inf, exp(NaN) = NaN, overflow (x > 88.7228) = +inf.
// Method: n = round(x log2 e), r = x - n ln2 (two-constant Cody-Waite; the first step
// is exact), e^r = 1 + r + r^2 P(r) on |r| <= ln2/2 (degree-6 minimax), then 2^n by
// Vec::scaleByPow2 (vscalefps on AVX-512), which rounds once into the subnormal range.
template <class V>
inline typename V::Reg exp(typename V::Reg x) {
  const ExpReduced<V> e = expReduce<V>(x);
  return V::scaleByPow2(e.er, e.n);
}

// m * e^x with m applied before the power-of-two scaling, so a result that lands in the
// subnormal range is rounded once (silu's x e^x for x < -87). |m| <= 2^24; same special
// values as exp.
template <class V>
inline typename V::Reg expTimes(typename V::Reg x, typename V::Reg m) {
  const ExpReduced<V> e = expReduce<V>(x);
  return V::scaleByPow2(V::mul(e.er, m), e.n);
}

// Splits positive x into e and f with x = 2^e (1 + f), 1 + f in [2/3, 4/3) (f exact);
// subnormals are scaled first. Only meaningful for finite x > 0.
template <class V>
struct LogReduced {
  typename V::Reg e;
  typename V::Reg f;
};
template <class V>
inline LogReduced<V> logReduce(typename V::Reg x) {
  using R = typename V::Reg;
  const auto tiny = V::cmpLt(x, V::set1(0x1p-126f));
  const R xs = V::select(tiny, V::mul(x, V::set1(0x1p23f)), x);
  const auto ix = V::isub(V::bitsOf(xs), V::iset1(0x3f2aaaab));  // bits of 2/3
  const R m = V::fromBits(V::iadd(V::iand(ix, V::iset1(0x007fffff)), V::iset1(0x3f2aaaab)));
  const R e = V::add(V::cvtIntToFloat(V::template isra<23>(ix)), V::select(tiny, V::set1(-23.0f), V::zero()));
  return {e, V::sub(m, V::set1(1.0f))};
}

// log1p(f) - f for f in [-1/3, 1/3], as f^2 Q(f) (degree-9 minimax Q).
template <class V>
inline typename V::Reg log1pTail(typename V::Reg f) {
  const auto q = horner<V>(f, -0x1p-1f, 0x1.555556p-2f, -0x1.ffff16p-3f, 0x1.9997ecp-3f, -0x1.5597eep-3f,
                           0x1.24ebc8p-3f, -0x1.f3a4bap-4f, 0x1.b9151cp-4f, -0x1.06dd7p-3f, 0x1.e9fd66p-4f);
  return V::mul(V::mul(f, f), q);
}

// Natural log. ERROR <= 1 ulp (measured max 0.88 ulp). log(0) = -inf, log(x < 0) = NaN,
// log(+inf) = +inf, log(NaN) = NaN; subnormal inputs are exact-scaled first.
// Method: x = 2^e (1 + f) with 1 + f in [2/3, 4/3), log = e ln2 + f + f^2 Q(f).
template <class V>
inline typename V::Reg log(typename V::Reg x) {
  using R = typename V::Reg;
  const LogReduced<V> red = logReduce<V>(x);
  // e*ln2hi is exact; the small terms are summed first
  const R small = V::fma(red.e, V::set1(0x1.7f7d1cp-20f), V::add(red.f, log1pTail<V>(red.f)));
  R y = V::fma(red.e, V::set1(0x1.62e4p-1f), small);
  y = V::select(V::cmpEq(x, V::zero()), V::neg(infinity<V>()), y);
  y = V::select(V::cmpLt(x, V::zero()), quietNaN<V>(), y);
  y = V::select(V::cmpEq(x, infinity<V>()), x, y);
  return V::select(V::isNan(x), x, y);
}

// x^y with C99/torch special cases: pow(x, ±0) = 1 and pow(1, y) = 1 even for NaN,
// pow(-1, ±inf) = 1, pow(x < 0 finite, non-integer y) = NaN, the sign of x kept for
// odd integer y (incl. ±0 and -inf), zeros and infinities as C99 Annex F.
// Method: ln|x| as a float-float pair (e ln2hi + f, then the small terms), y ln|x|
// as a float-float product, e^(hi) (1 + lo). ERROR <= 2 + |y ln|x|| / 2 ulp (measured:
// max error / that bound = 0.88; e.g. 15 ulp for 1.356^100): the float-float ln|x| still
// carries ~2^-29 absolute error, which |y| scales.
template <class V>
inline typename V::Reg pow(typename V::Reg x, typename V::Reg y) {
  using R = typename V::Reg;
  const R one = V::set1(1.0f);
  const R ax = V::abs(x);
  const LogReduced<V> red = logReduce<V>(ax);
  // ln|x| = hi + lo: e*ln2hi + f is summed exactly (fast two-sum: |e ln2hi| >= |f| or e = 0)
  const R big = V::mul(red.e, V::set1(0x1.62e4p-1f));
  const R lhi = V::add(big, red.f);
  const R lerr = V::sub(red.f, V::sub(lhi, big));
  const R llo = V::add(lerr, V::fma(red.e, V::set1(0x1.7f7d1cp-20f), log1pTail<V>(red.f)));
  const R hi = V::add(lhi, llo);
  const R lo = V::sub(llo, V::sub(hi, lhi));
  // y * (hi + lo) as phi + plo
  const R phi = V::mul(y, hi);
  const R plo = V::fma(y, lo, V::fma(y, hi, V::neg(phi)));
  R r = exp<V>(phi);
  // the correction only where phi is finite and ln|x| was (x finite, nonzero)
  const auto regular = V::maskAnd(V::maskAnd(V::cmpLt(V::abs(phi), V::set1(104.0f)), V::cmpLt(r, infinity<V>())),
                                  V::maskAnd(V::cmpGt(ax, V::zero()), V::cmpLt(ax, infinity<V>())));
  r = V::select(regular, V::fma(r, plo, r), r);
  // |x| = 0 or inf: e^(y * ln|x|) from the exact infinities
  const auto zeroX = V::cmpEq(ax, V::zero());
  const auto infX = V::cmpEq(ax, infinity<V>());
  const auto yPos = V::cmpGt(y, V::zero());
  r = V::select(zeroX, V::select(yPos, V::zero(), infinity<V>()), r);
  r = V::select(infX, V::select(yPos, infinity<V>(), V::zero()), r);
  // integer / odd-integer exponents (every float >= 2^24 is even; inf counts as even)
  const R fy = V::floor(y);
  const auto yInt = V::cmpEq(fy, y);
  const R halfY = V::mul(y, V::set1(0.5f));
  const auto yOdd = V::maskAnd(yInt, V::cmpNe(V::floor(halfY), halfY));
  const auto xNeg = V::icmpGt(V::iset1(0), V::bitsOf(x));  // sign bit set, -0 included
  r = V::select(V::maskAnd(xNeg, yOdd), V::neg(r), r);
  const auto negFinite = V::maskAnd(V::cmpLt(x, V::zero()), V::cmpGt(x, V::neg(infinity<V>())));
  const auto yFinite = V::cmpLt(V::abs(y), infinity<V>());
  r = V::select(V::maskAnd(negFinite, V::maskAnd(yFinite, V::maskNot(yInt))), quietNaN<V>(), r);
  r = V::select(V::isNan(y), y, r);
  r = V::select(V::isNan(x), x, r);
  const auto isOne = V::maskOr(V::maskOr(V::cmpEq(y, V::zero()), V::cmpEq(x, one)),
                               V::maskAnd(V::cmpEq(ax, one), V::cmpEq(V::abs(y), infinity<V>())));
  return V::select(isOne, one, r);
}

}  // namespace vmath
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
