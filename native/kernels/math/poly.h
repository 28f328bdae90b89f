// Small helpers for kernels/math/*.h. Include inside an ISA pass (see vmath.h).
namespace tensorjit {
namespace TJ_ISA_NS {
namespace vmath {

// c0 + x*(c1 + x*(c2 + ...)): Horner with FMA, lowest order first. One template (clang
// finds a separate one-coefficient overload ambiguous with this one).
template <class V, class... Cs>
inline typename V::Reg horner(typename V::Reg x, float c0, Cs... rest) {
  if constexpr (sizeof...(rest) == 0) {
    (void)x;
    return V::set1(c0);
  } else {
    return V::fma(horner<V>(x, rest...), x, V::set1(c0));
  }
}

// |mag| with the sign bit of `sign` (mag must be >= 0 or NaN).
template <class V>
inline typename V::Reg orSignOf(typename V::Reg mag, typename V::Reg sign) {
  return V::fromBits(V::ior(V::bitsOf(mag), V::iand(V::bitsOf(sign), V::iset1(INT32_MIN))));
}

// -|x| in one instruction (sets the sign bit; NaN stays NaN).
template <class V>
inline typename V::Reg negAbs(typename V::Reg x) {
  return V::fromBits(V::ior(V::bitsOf(x), V::iset1(INT32_MIN)));
}

template <class V>
inline typename V::Reg infinity() {
  return V::fromBits(V::iset1(0x7f800000));
}
template <class V>
inline typename V::Reg quietNaN() {
  return V::fromBits(V::iset1(0x7fc00000));
}

// n = round-to-nearest-even(x * scale) as a float and as int32 lanes, valid while
// |x * scale| < 2^22: adding 1.5*2^23 inside one FMA leaves the integer in the low
// mantissa bits. Unlike a float->int conversion this is defined for every input
// (NaN/inf give garbage integers, never UB).
template <class V>
struct RoundedInt {
  typename V::Reg asFloat;
  typename V::IReg asInt;
};
template <class V>
inline RoundedInt<V> roundScaled(typename V::Reg x, float scale) {
  const auto shifter = V::set1(12582912.0f);  // 1.5 * 2^23
  const auto t = V::fma(x, V::set1(scale), shifter);
  return {V::sub(t, shifter), V::isub(V::bitsOf(t), V::bitsOf(shifter))};
}

}  // namespace vmath
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
