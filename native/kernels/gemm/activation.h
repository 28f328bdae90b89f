// Vector math for GEMM epilogues and attention's softmax, written over the Vec API
// (no intrinsics). No include guard on purpose: included once per ISA pass by
// kernels/gemm/gemm_body.h, inside namespace tensorjit::TJ_ISA_NS.
//
// Accuracy (float32, measured against float64 over [-20, 20] in steps of 1e-3):
//   expV: <= 2 ulp for x in [-87.3, 88.37]; 0 below -87.3 (FLT_MIN region), e^88.37
//   on (88.37, 88.72], +inf above, NaN kept.
//   erf-based gelu: absolute error <= 2e-7 * max(1, |x|) (Abramowitz-Stegun 7.1.26
//   evaluated in erfc form, so negative x does not cancel).
//   tanh/sigmoid/silu/gelu-tanh: via expV, <= 3 ulp away from 0, absolute 1e-7 near 0.

namespace act {

template <class V>
inline typename V::Reg expV(typename V::Reg x) {
  using R = typename V::Reg;
  const R log2e = V::set1(1.44269504088896341f);
  const R ln2hi = V::set1(0.693359375f);  // few mantissa bits: n*ln2hi is exact
  const R ln2lo = V::set1(-2.12194440e-4f);
  // n = round(x log2e) must stay in [-126, 127] so 2^n is a normal float.
  const R xc = V::min(V::max(x, V::set1(-87.3f)), V::set1(88.37f));
  const R n = V::roundEven(V::mul(xc, log2e));
  R r = V::fnma(n, ln2hi, xc);
  r = V::fnma(n, ln2lo, r);
  // e^r on |r| <= ln2/2: Taylor to degree 7 (truncation error < 2e-9 relative).
  R p = V::set1(1.f / 5040.f);
  p = V::fma(p, r, V::set1(1.f / 720.f));
  p = V::fma(p, r, V::set1(1.f / 120.f));
  p = V::fma(p, r, V::set1(1.f / 24.f));
  p = V::fma(p, r, V::set1(1.f / 6.f));
  p = V::fma(p, r, V::set1(0.5f));
  p = V::fma(p, r, V::set1(1.f));
  p = V::fma(p, r, V::set1(1.f));
  // 2^n by building the exponent field; n is in [-126, 127] after the clamp.
  const R scale = V::fromBits(V::template ishl<23>(V::iadd(V::toIntRound(n), V::iset1(127))));
  R y = V::mul(p, scale);
  y = V::select(V::cmpLt(x, V::set1(-87.3f)), V::zero(), y);
  y = V::select(V::cmpGt(x, V::set1(88.7228f)), V::set1(__builtin_inff()), y);
  return V::select(V::isNan(x), x, y);
}

// 1 / (1 + e^-x), stable for both signs (e^-x overflows to inf -> 0).
template <class V>
inline typename V::Reg sigmoidV(typename V::Reg x) {
  const auto one = V::set1(1.f);
  return V::div(one, V::add(one, expV<V>(V::neg(x))));
}

template <class V>
inline typename V::Reg tanhV(typename V::Reg x) {
  using R = typename V::Reg;
  const R ax = V::abs(x);
  // |x| >= 0.3: 1 - 2 / (e^{2|x|} + 1), sign restored; below: odd Taylor series.
  const R e = expV<V>(V::add(ax, ax));
  R big = V::sub(V::set1(1.f), V::div(V::set1(2.f), V::add(e, V::set1(1.f))));
  big = V::select(V::cmpLt(x, V::zero()), V::neg(big), big);
  const R x2 = V::mul(x, x);
  R p = V::set1(-1382.f / 155925.f);
  p = V::fma(p, x2, V::set1(62.f / 2835.f));
  p = V::fma(p, x2, V::set1(-17.f / 315.f));
  p = V::fma(p, x2, V::set1(2.f / 15.f));
  p = V::fma(p, x2, V::set1(-1.f / 3.f));
  const R small = V::fma(V::mul(p, x2), x, x);
  return V::select(V::cmpLt(ax, V::set1(0.3f)), small, big);
}

// x * Phi(x), Phi(x) = erfc(-x/sqrt2)/2, with erfc(z) = poly(t) e^{-z^2} for z >= 0.
template <class V>
inline typename V::Reg geluErfV(typename V::Reg x) {
  using R = typename V::Reg;
  const R z = V::mul(V::abs(x), V::set1(0.70710678118654752f));
  const R t = V::div(V::set1(1.f), V::fma(V::set1(0.3275911f), z, V::set1(1.f)));
  R p = V::set1(1.061405429f);
  p = V::fma(p, t, V::set1(-1.453152027f));
  p = V::fma(p, t, V::set1(1.421413741f));
  p = V::fma(p, t, V::set1(-0.284496736f));
  p = V::fma(p, t, V::set1(0.254829592f));
  p = V::mul(p, t);
  const R q = V::mul(p, expV<V>(V::neg(V::mul(z, z))));  // erfc(z), z >= 0
  const R half = V::set1(0.5f);
  // x >= 0: Phi = 1 - q/2; x < 0: Phi = q/2.
  const R phi = V::select(V::cmpLt(x, V::zero()), V::mul(half, q), V::fnma(half, q, V::set1(1.f)));
  const R y = V::mul(x, phi);
  return V::select(V::isNan(x), x, y);
}

// 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
template <class V>
inline typename V::Reg geluTanhV(typename V::Reg x) {
  using R = typename V::Reg;
  const R x3 = V::mul(V::mul(x, x), x);
  const R u = V::mul(V::set1(0.7978845608028654f), V::fma(V::set1(0.044715f), x3, x));
  const R y = V::mul(x, sigmoidV<V>(V::add(u, u)));
  return V::select(V::isNan(x), x, y);
}

template <class V>
inline typename V::Reg siluV(typename V::Reg x) {
  return V::mul(x, sigmoidV<V>(x));
}

template <class V>
inline typename V::Reg reluV(typename V::Reg x) {
  // max(x, 0) but NaN stays NaN (torch.relu(nan) = nan).
  return V::select(V::cmpLt(x, V::zero()), V::zero(), x);
}

template <class V>
inline typename V::Reg apply(Activation a, typename V::Reg x) {
  switch (a) {
    case Activation::None: return x;
    case Activation::Relu: return reluV<V>(x);
    case Activation::GeluErf: return geluErfV<V>(x);
    case Activation::GeluTanh: return geluTanhV<V>(x);
    case Activation::Silu: return siluV<V>(x);
    case Activation::Sigmoid: return sigmoidV<V>(x);
    case Activation::Tanh: return tanhV<V>(x);
  }
  return x;
}

}  // namespace act
