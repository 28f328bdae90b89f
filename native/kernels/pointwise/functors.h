// One functor per pointwise op: the element semantics shared by the eager kernels
// (kernels/pointwise/*.cc) and any fused executor. Include INSIDE an ISA pass, once,
// after kernels/math/vmath.h (no include guard on purpose, like vmath.h).
//
//  - float32:  `template <class V> static typename V::Reg apply(Reg...)` over the Vec API
//              (comparisons: `mask(Reg, Reg)` -> V::Mask);
//  - int32, int64 and bool (0/1 bytes): `template <class T> static T scalar(T...)`, in
//              plain loops that the compiler vectorizes for the pass's ISA. Integer
//              arithmetic wraps (two's complement), never undefined behaviour.
// `kTypes` lists the compute dtypes an op accepts (the TS op declarations enforce the
// same rules first; the kernels re-check so a bad call can never run).
#include <type_traits>

namespace tensorjit {
namespace TJ_ISA_NS {
namespace pw {

using ::tensorjit::pw::Bool8;

enum TypeBits : unsigned { kF32 = 1, kI32 = 2, kI64 = 4, kBool = 8 };
constexpr unsigned kInts = kI32 | kI64;
constexpr unsigned kNumeric = kF32 | kInts;
constexpr unsigned kAllTypes = kNumeric | kBool;

inline unsigned typeBit(DType t) {
  switch (t) {
    case DType::Float32: return kF32;
    case DType::Int32: return kI32;
    case DType::Int64: return kI64;
    case DType::Bool: return kBool;
    default: return 0;
  }
}

template <class T>
using Unsigned = std::make_unsigned_t<T>;
template <class T>
inline T wrapAdd(T a, T b) { return static_cast<T>(static_cast<Unsigned<T>>(a) + static_cast<Unsigned<T>>(b)); }
template <class T>
inline T wrapSub(T a, T b) { return static_cast<T>(static_cast<Unsigned<T>>(a) - static_cast<Unsigned<T>>(b)); }
template <class T>
inline T wrapMul(T a, T b) { return static_cast<T>(static_cast<Unsigned<T>>(a) * static_cast<Unsigned<T>>(b)); }
template <class T>
inline T wrapNeg(T a) { return static_cast<T>(Unsigned<T>(0) - static_cast<Unsigned<T>>(a)); }
template <class T>
constexpr bool kIsBool = std::is_same_v<T, Bool8>;

// ---- unary

struct Neg {
  static constexpr unsigned kTypes = kNumeric;
  template <class V> static typename V::Reg apply(typename V::Reg x) { return V::neg(x); }
  template <class T> static T scalar(T x) { return wrapNeg(x); }
};
struct Abs {
  static constexpr unsigned kTypes = kNumeric;
  template <class V> static typename V::Reg apply(typename V::Reg x) { return V::abs(x); }
  template <class T> static T scalar(T x) { return x < 0 ? wrapNeg(x) : x; }
};
struct Relu {
  static constexpr unsigned kTypes = kNumeric;
  // max(0, x) returns its 2nd operand on NaN: relu(NaN) = NaN, as torch
  template <class V> static typename V::Reg apply(typename V::Reg x) { return V::max(V::zero(), x); }
  template <class T> static T scalar(T x) { return x > 0 ? x : T(0); }
};

// Float-only unary ops (the TS side promotes integer inputs to float32 first).
#define TJ_FLOAT_UNARY(Name, expr)                                                      \
  struct Name {                                                                         \
    static constexpr unsigned kTypes = kF32;                                            \
    template <class V> static typename V::Reg apply(typename V::Reg x) { return expr; } \
    template <class T> static T scalar(T x) { return x; }                               \
  };
TJ_FLOAT_UNARY(Exp, vmath::exp<V>(x))
TJ_FLOAT_UNARY(Log, vmath::log<V>(x))
TJ_FLOAT_UNARY(Sqrt, V::sqrt(x))
TJ_FLOAT_UNARY(Rsqrt, V::div(V::set1(1.0f), V::sqrt(x)))  // <= 1.5 ulp; rsqrt(0) = inf, rsqrt(inf) = 0
TJ_FLOAT_UNARY(Sin, vmath::sin<V>(x))
TJ_FLOAT_UNARY(Cos, vmath::cos<V>(x))
TJ_FLOAT_UNARY(Tanh, vmath::tanh<V>(x))
TJ_FLOAT_UNARY(Sigmoid, vmath::sigmoid<V>(x))
TJ_FLOAT_UNARY(Silu, vmath::silu<V>(x))
TJ_FLOAT_UNARY(Erf, vmath::erf<V>(x))
TJ_FLOAT_UNARY(Gelu, vmath::gelu<V>(x))
TJ_FLOAT_UNARY(GeluTanh, vmath::geluTanh<V>(x))
#undef TJ_FLOAT_UNARY

// ---- binary arithmetic

struct Add {
  static constexpr unsigned kTypes = kAllTypes;
  template <class V> static typename V::Reg apply(typename V::Reg a, typename V::Reg b) { return V::add(a, b); }
  template <class T> static T scalar(T a, T b) {
    if constexpr (kIsBool<T>) return a | b;  // torch: bool + bool is logical or
    else return wrapAdd(a, b);
  }
};
struct Sub {
  static constexpr unsigned kTypes = kNumeric;  // torch rejects bool subtraction
  template <class V> static typename V::Reg apply(typename V::Reg a, typename V::Reg b) { return V::sub(a, b); }
  template <class T> static T scalar(T a, T b) { return wrapSub(a, b); }
};
struct Mul {
  static constexpr unsigned kTypes = kAllTypes;
  template <class V> static typename V::Reg apply(typename V::Reg a, typename V::Reg b) { return V::mul(a, b); }
  template <class T> static T scalar(T a, T b) {
    if constexpr (kIsBool<T>) return a & b;
    else return wrapMul(a, b);
  }
};
struct Div {
  static constexpr unsigned kTypes = kF32;  // true division: integers are promoted to float32
  template <class V> static typename V::Reg apply(typename V::Reg a, typename V::Reg b) { return V::div(a, b); }
  template <class T> static T scalar(T a, T) { return a; }
};
// Integer powers by squaring (wrapping). Negative exponents: 1 for base 1, ±1 for base
// -1, else 0 (torch's integer pow; the TS side rejects a negative scalar exponent).
struct Pow {
  static constexpr unsigned kTypes = kNumeric;
  template <class V> static typename V::Reg apply(typename V::Reg a, typename V::Reg b) { return vmath::pow<V>(a, b); }
  template <class T> static T scalar(T base, T e) {
    if (e < 0) return base == 1 ? T(1) : base == -1 ? ((e & 1) ? T(-1) : T(1)) : T(0);
    T r = 1;
    while (e) {
      if (e & 1) r = wrapMul(r, base);
      e >>= 1;
      if (e) base = wrapMul(base, base);
    }
    return r;
  }
};
// maximum/minimum propagate NaN from either side (torch.maximum).
struct Maximum {
  static constexpr unsigned kTypes = kAllTypes;
  template <class V> static typename V::Reg apply(typename V::Reg a, typename V::Reg b) {
    return V::select(V::isNan(a), a, V::max(a, b));  // max returns b when b is NaN
  }
  template <class T> static T scalar(T a, T b) { return a > b ? a : b; }
};
struct Minimum {
  static constexpr unsigned kTypes = kAllTypes;
  template <class V> static typename V::Reg apply(typename V::Reg a, typename V::Reg b) {
    return V::select(V::isNan(a), a, V::min(a, b));
  }
  template <class T> static T scalar(T a, T b) { return a < b ? a : b; }
};

// ---- comparisons (float NaN compares unequal to everything, ne is true)

#define TJ_COMPARE(Name, vecCmp, op)                                                                         \
  struct Name {                                                                                              \
    static constexpr unsigned kTypes = kAllTypes;                                                            \
    template <class V> static typename V::Mask mask(typename V::Reg a, typename V::Reg b) { return vecCmp(a, b); } \
    template <class T> static bool scalar(T a, T b) { return a op b; }                                       \
  };
TJ_COMPARE(Eq, V::cmpEq, ==)
TJ_COMPARE(Ne, V::cmpNe, !=)
TJ_COMPARE(Lt, V::cmpLt, <)
TJ_COMPARE(Le, V::cmpLe, <=)
TJ_COMPARE(Gt, V::cmpGt, >)
TJ_COMPARE(Ge, V::cmpGe, >=)
#undef TJ_COMPARE

// ---- clamp: min(max(x, lo), hi); NaN x stays NaN, lo > hi gives hi (torch)

template <class V>
inline typename V::Reg clampF32(typename V::Reg x, typename V::Reg lo, typename V::Reg hi) {
  return V::min(hi, V::max(lo, x));  // both return their 2nd operand on NaN
}
template <class T>
inline T clampScalar(T x, T lo, T hi) {
  const T t = x < lo ? lo : x;
  return t > hi ? hi : t;
}

}  // namespace pw
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
