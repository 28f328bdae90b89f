// A private vectorized float32 exp for softmax/logSoftmax, one body per ISA.
// TODO(merge): native/kernels/math/ is getting the shared vectorized exp/log; once it
// lands, softmax should call that one and this file goes away.
//
// Include INSIDE an ISA pass (no include guard, like reduce_row.h).
//
// Method: n = round(x·log2 e); r = x − n·ln2 (Cody–Waite, two constants);
// exp(r) by the Cephes degree-6 polynomial on |r| <= ln2/2; the result is scaled by
// 2^n as two factors 2^(n>>1)·2^(n−(n>>1)) so no exponent field overflows and
// +inf starts exactly where exp exceeds FLT_MAX. Results below the normal range are
// flushed: x < −87 gives 0 (the exact value is < 1.7e-38), because subnormal
// arithmetic costs ~100 cycles per operation on x86 (softmax rows with large gaps,
// e.g. masked logits, would hit it on every element).
// Error, measured against double exp on every 97th float in [−87, 89] plus 10M
// random inputs (scalar and AVX-512 tables give identical bits: both use FMA):
// max 1.26 ulp (relative error < 1.2e-7). exp(NaN) = NaN, exp(−inf) = 0,
// exp(+inf) = +inf.
namespace tensorjit {
namespace TJ_ISA_NS {
namespace reduce_row {

template <class V>
inline typename V::Reg expApprox(typename V::Reg x) {
  // NaN turns into the upper clamp here (min/max return their second operand on
  // NaN) so the integer conversion below stays defined; it is restored at the end.
  const auto lo = V::set1(-87.0f);
  const auto xc = V::max(V::min(x, V::set1(88.8f)), lo);
  const auto n = V::roundEven(V::mul(xc, V::set1(1.44269504088896341f)));
  auto r = V::fnma(n, V::set1(0.693359375f), xc);
  r = V::fnma(n, V::set1(-2.12194440e-4f), r);
  auto p = V::set1(1.9875691500e-4f);
  p = V::fma(p, r, V::set1(1.3981999507e-3f));
  p = V::fma(p, r, V::set1(8.3334519073e-3f));
  p = V::fma(p, r, V::set1(4.1665795894e-2f));
  p = V::fma(p, r, V::set1(1.6666665459e-1f));
  p = V::fma(p, r, V::set1(5.0000001201e-1f));
  p = V::fma(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
  const auto ni = V::toIntRound(n);
  const auto n1 = V::template isra<1>(ni);
  const auto n2 = V::isub(ni, n1);
  const auto bias = V::iset1(127);
  const auto s1 = V::fromBits(V::template ishl<23>(V::iadd(n1, bias)));
  const auto s2 = V::fromBits(V::template ishl<23>(V::iadd(n2, bias)));
  const auto y = V::select(V::cmpLt(x, lo), V::zero(), V::mul(V::mul(p, s1), s2));
  return V::select(V::isNan(x), x, y);
}

// exp for x <= 0 (or NaN): what softmax needs after subtracting the row max. Same
// polynomial and error as expApprox (max 1.26 ulp, checked on every float in
// [-87, 0]); the result never overflows, so 2^n is one
// factor and the upper clamp goes (about 20% fewer instructions). x > 0 is outside
// the contract (results are wrong above 88.7).
template <class V>
inline typename V::Reg expNonPositive(typename V::Reg x) {
  const auto lo = V::set1(-87.0f);
  const auto xc = V::max(x, lo);  // NaN -> -87 (second operand), restored at the end
  const auto n = V::roundEven(V::mul(xc, V::set1(1.44269504088896341f)));
  auto r = V::fnma(n, V::set1(0.693359375f), xc);
  r = V::fnma(n, V::set1(-2.12194440e-4f), r);
  auto p = V::set1(1.9875691500e-4f);
  p = V::fma(p, r, V::set1(1.3981999507e-3f));
  p = V::fma(p, r, V::set1(8.3334519073e-3f));
  p = V::fma(p, r, V::set1(4.1665795894e-2f));
  p = V::fma(p, r, V::set1(1.6666665459e-1f));
  p = V::fma(p, r, V::set1(5.0000001201e-1f));
  p = V::fma(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
  const auto scale = V::fromBits(V::template ishl<23>(V::iadd(V::toIntRound(n), V::iset1(127))));
  const auto y = V::select(V::cmpLt(x, lo), V::zero(), V::mul(p, scale));
  return V::select(V::isNan(x), x, y);
}

}  // namespace reduce_row
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
