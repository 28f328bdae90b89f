// sin, cos. Include inside an ISA pass (see vmath.h); the including file includes <cmath>
// before the passes (for the libm fallback).

namespace tensorjit {
namespace TJ_ISA_NS {
namespace vmath {

// Beyond this |x| the three-constant reduction loses accuracy; such lanes (and ±inf)
// are recomputed in double with libm (a rare, per-vector branch).
constexpr float kTrigReductionLimit = 0x1p17f;

template <class V>
struct SinCosReduced {
  typename V::Reg sinR, cosR;  // sin and cos of the reduced argument r, |r| <= pi/4
  typename V::IReg quadrant;   // k with x = k pi/2 + r (low bits only are meaningful)
};

// x = k pi/2 + r with pi/2 = P1 + P2 + P3 (FMA Cody-Waite: the first step is exact for
// |x| < 2^22), then sin r = r + r^3 S(r^2) and cos r = 1 - r^2/2 + r^4 C(r^2), both
// degree-8/9 minimax on [-pi/4, pi/4].
template <class V>
inline SinCosReduced<V> sinCosReduce(typename V::Reg x) {
  using R = typename V::Reg;
  const RoundedInt<V> k = roundScaled<V>(x, 0.636619772367581343f);  // 2/pi
  R r = V::fnma(k.asFloat, V::set1(0x1.921fb6p+0f), x);
  r = V::fnma(k.asFloat, V::set1(-0x1.777a5cp-25f), r);
  r = V::fnma(k.asFloat, V::set1(-0x1.ee59dap-50f), r);
  const R r2 = V::mul(r, r);
  const R s = V::fma(V::mul(r2, r), horner<V>(r2, -0x1.555556p-3f, 0x1.111174p-7f, -0x1.a05954p-13f, 0x1.7c2c4ep-19f), r);
  const R c = V::fma(V::mul(r2, r2), horner<V>(r2, 0x1.555556p-5f, -0x1.6c175ep-10f, 0x1.a071bep-16f, -0x1.361852p-22f),
                     V::fnma(r2, V::set1(0.5f), V::set1(1.0f)));
  return {s, c, k.asInt};
}

// Picks ±sin r / ±cos r by quadrant q (sin: q = k, cos: q = k + 1).
template <class V>
inline typename V::Reg sinCosSelect(const SinCosReduced<V>& red, typename V::IReg q) {
  const auto swap = V::icmpEq(V::iand(q, V::iset1(1)), V::iset1(1));
  const auto v = V::select(swap, red.cosR, red.sinR);
  const auto sign = V::template ishl<30>(V::iand(q, V::iset1(2)));
  return V::fromBits(V::ixor(V::bitsOf(v), sign));
}

template <class V, class F>
inline typename V::Reg trigHugeFallback(typename V::Reg x, typename V::Reg y, F libm) {
  if (!V::anyTrue(V::cmpGt(V::abs(x), V::set1(kTrigReductionLimit)))) return y;
  float xs[V::kLanes], ys[V::kLanes];
  V::store(xs, x);
  V::store(ys, y);
  for (int i = 0; i < V::kLanes; ++i)
    if (std::fabs(xs[i]) > kTrigReductionLimit) ys[i] = static_cast<float>(libm(static_cast<double>(xs[i])));
  return V::load(ys);
}

// sin. ERROR <= 2 ulp (measured max 1.54 ulp; |x| > 2^17 via double libm).
// sin(±0) = ±0, sin(±inf) = NaN, NaN kept.
template <class V>
inline typename V::Reg sin(typename V::Reg x) {
  const SinCosReduced<V> red = sinCosReduce<V>(x);
  // x itself for ±0: the reduction's zero-valued FMA steps would turn -0 into +0
  const auto y = V::select(V::cmpEq(x, V::zero()), x, sinCosSelect<V>(red, red.quadrant));
  return trigHugeFallback<V>(x, y, [](double v) { return std::sin(v); });
}

// cos. ERROR <= 2 ulp (measured max 1.56 ulp; |x| > 2^17 via double libm).
// cos(±inf) = NaN, NaN kept.
template <class V>
inline typename V::Reg cos(typename V::Reg x) {
  const SinCosReduced<V> red = sinCosReduce<V>(x);
  const auto y = sinCosSelect<V>(red, V::iadd(red.quadrant, V::iset1(1)));
  return trigHugeFallback<V>(x, y, [](double v) { return std::cos(v); });
}

}  // namespace vmath
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
