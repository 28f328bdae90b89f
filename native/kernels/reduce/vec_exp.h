// A private vectorized float32 exp for softmax/logSoftmax, one body per ISA.
// TODO(merge): native/kernels/math/ is getting the shared vectorized exp/log; once it
// lands, softmax should call that one and this file goes away.
//
// Include INSIDE an ISA pass (no include guard, like reduce_row.h).
//
// Method: n = round(x·log2 e); r = x − n·ln2 (Cody–Waite, two constants);
// exp(r) by the Cephes degree-6 polynomial on |r| <= ln2/2; the result is scaled by
// 2^n as two factors 2^(n>>1)·2^(n−(n>>1)) so no exponent field overflows: results
// reach the subnormal range (−104 < x < −87.3) and +inf (x > 88.72) correctly.
// Error, measured against double exp on every 97th float in [-110, 90] plus 10M
// random inputs (scalar and AVX-512 tables give identical bits: both use FMA):
// max 1.26 ulp (relative error < 1.2e-7) for normal results; subnormal results
// within 0.78 of the subnormal spacing; overflow to +inf starts at the first float
// whose exact exp exceeds FLT_MAX (x = 88.7228394).
// exp(NaN) = NaN, exp(-inf) = 0, exp(+inf) = +inf.
namespace tensorjit {
namespace TJ_ISA_NS {
namespace reduce_row {

template <class V>
inline typename V::Reg expApprox(typename V::Reg x) {
  // NaN turns into the upper clamp here (min/max return their second operand on
  // NaN) so the integer conversion below stays defined; it is restored at the end.
  const auto xc = V::max(V::min(x, V::set1(88.8f)), V::set1(-104.0f));
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
  return V::select(V::isNan(x), x, V::mul(V::mul(p, s1), s2));
}

}  // namespace reduce_row
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
