// The driver of every eager pointwise kernel, and the row loops it calls.
// Include INSIDE an ISA pass, once (no include guard on purpose), after functors.h.
//
// runPointwise walks the broadcast output with StridedLoop (dims coalesced), split
// over threads with parallelFor (grain kGrain elements, so small tensors stay on one
// thread). Each row piece goes one of two ways:
//  - direct: every operand already has its compute dtype and unit or zero inner
//    stride, and the output is unit-stride in its compute dtype: the row function
//    runs on the tensors' memory (full-width SIMD, masked tail, broadcast operands
//    kept in a register);
//  - blocked: operands with other strides or dtypes are gathered and converted into
//    kBlock-element scratch buffers first (and the output scattered back), so the
//    same row function serves views, mixed dtypes and float16/bfloat16 storage.
// A row function is `row(void* y, const void* const* x, const int64_t* s, int64_t n, bool stream)`
// with s[k] in {0, 1}: 0 means operand k is one broadcast element. `stream` asks float
// rows to write with non-temporal stores: set for outputs of at least kStreamBytes, where
// the output cannot stay in cache anyway and a plain store would first read each line
// (read-for-ownership), moving 12 bytes per element of a unary op instead of 8.
#include <cstdint>
#include <cstring>

#include "kernels/common/store_row.h"

namespace tensorjit {
namespace TJ_ISA_NS {
namespace pw {

using ::tensorjit::pw::convertElem;
using ::tensorjit::pw::scalarFromDouble;
using ::tensorjit::pw::withElemType;

constexpr int64_t kGrain = 1 << 15;
constexpr int64_t kBlock = 512;

// dst[i * ds] = convert(src[i * ss]) for i < n, any dtype pair (the `to` semantics).
template <class To, class From>
inline void convertRun(To* dst, int64_t ds, const From* src, int64_t ss, int64_t n) {
  if (ds == 1 && ss == 1) {
    for (int64_t i = 0; i < n; ++i) dst[i] = convertElem<To>(src[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i * ds] = convertElem<To>(src[i * ss]);
  }
}
inline void convertStrided(void* dst, DType dt, int64_t ds, const void* src, DType st, int64_t ss, int64_t n) {
  withElemType(dt, [&](auto d) {
    withElemType(st, [&](auto s) {
      using To = decltype(d);
      using From = decltype(s);
      convertRun(static_cast<To*>(dst), ds, static_cast<const From*>(src), ss, n);
    });
  });
}

// Throws unless `in` broadcasts to `out` (StridedLoop would read out of bounds otherwise).
inline void checkBroadcastsTo(const char* op, const TensorView& in, const TensorView& out) {
  bool ok = in.ndim <= out.ndim;
  for (int d = 0; ok && d < in.ndim; ++d) {
    const int64_t od = out.shape[out.ndim - in.ndim + d];
    ok = in.shape[d] == od || in.shape[d] == 1;
  }
  if (!ok) throwRangeError(std::string(op) + ": input " + in.shapeString() + " does not broadcast to the output " + out.shapeString());
}

// A JS number operand as a 0-d tensor of the compute dtype (broadcast like any tensor).
struct ScalarOperand {
  union {
    float f;
    int32_t i32;
    int64_t i64;
    uint8_t b;
  } value;
  TensorView view;
  ScalarOperand(double v, DType compute) {
    view.dtype = compute;
    view.ndim = 0;
    view.data = &value;
    switch (compute) {
      case DType::Float32: value.f = scalarFromDouble<float>(v); break;
      case DType::Int32: value.i32 = scalarFromDouble<int32_t>(v); break;
      case DType::Int64: value.i64 = scalarFromDouble<int64_t>(v); break;
      default: value.b = scalarFromDouble<uint8_t>(v); break;
    }
  }
  ScalarOperand(const ScalarOperand&) = delete;
};

template <int K, class Row>
void runPointwise(const char* op, TensorView& out, DType outCompute, const TensorView* const* ins,
                  const DType* inCompute, Row&& row) {
  for (int k = 0; k < K; ++k) checkBroadcastsTo(op, *ins[k], out);
  const TensorView* views[K + 1];
  views[0] = &out;
  for (int k = 0; k < K; ++k) views[k + 1] = ins[k];
  const StridedLoop<K + 1> loop(views, out.ndim, out.shape);
  if (loop.numel == 0) return;
  bool inSameType[K];
  int64_t inSize[K];
  for (int k = 0; k < K; ++k) {
    inSameType[k] = ins[k]->dtype == inCompute[k];
    inSize[k] = static_cast<int64_t>(itemSize(ins[k]->dtype));
  }
  const bool outSameType = out.dtype == outCompute;
  const int64_t outSize = static_cast<int64_t>(itemSize(out.dtype));
  const bool stream = loop.numel * outSize >= kStreamBytes;

  parallelFor(loop.numel, kGrain, [&](int64_t begin, int64_t end) {
    loop.forRange(begin, end, [&](char* const* p, int64_t n) {
      const int64_t so = loop.innerStride(0);
      int64_t s[K];
      bool direct = outSameType && so == 1;
      for (int k = 0; k < K; ++k) {
        s[k] = loop.innerStride(k + 1);
        direct = direct && inSameType[k] && (s[k] == 0 || s[k] == 1);
      }
      if (direct) {
        const void* xs[K];
        for (int k = 0; k < K; ++k) xs[k] = p[k + 1];
        row(p[0], xs, s, n, stream);
        return;
      }
      alignas(64) unsigned char scratch[K][kBlock * 8];
      alignas(64) unsigned char outScratch[kBlock * 8];
      for (int64_t j = 0; j < n; j += kBlock) {
        const int64_t m = n - j < kBlock ? n - j : kBlock;
        const void* xs[K];
        int64_t bs[K];
        for (int k = 0; k < K; ++k) {
          const char* src = p[k + 1] + j * s[k] * inSize[k];
          if (inSameType[k] && (s[k] == 0 || s[k] == 1)) {
            xs[k] = src;
            bs[k] = s[k];
          } else if (s[k] == 0) {
            convertStrided(scratch[k], inCompute[k], 1, src, ins[k]->dtype, 0, 1);
            xs[k] = scratch[k];
            bs[k] = 0;
          } else {
            convertStrided(scratch[k], inCompute[k], 1, src, ins[k]->dtype, s[k], m);
            xs[k] = scratch[k];
            bs[k] = 1;
          }
        }
        char* dst = p[0] + j * so * outSize;
        if (outSameType && so == 1) {
          row(dst, xs, bs, m, false);
        } else {
          row(outScratch, xs, bs, m, false);
          convertStrided(dst, out.dtype, so, outScratch, outCompute, 1, m);
        }
      }
    });
  });
}

// Functor objects calling an op's Vec/scalar form (named structs rather than lambdas:
// GCC gives lambdas returning vector registers a baseline-ABI thunk and warns).
template <class Op>
struct VecUnary {
  Vec::Reg operator()(Vec::Reg x) const { return Op::template apply<Vec>(x); }
};
template <class Op>
struct VecBinary {
  Vec::Reg operator()(Vec::Reg a, Vec::Reg b) const { return Op::template apply<Vec>(a, b); }
};
template <class Op>
struct VecCompare {
  Vec::Mask operator()(Vec::Reg a, Vec::Reg b) const { return Op::template mask<Vec>(a, b); }
};
template <class Op, class T>
struct ScalarUnary {
  T operator()(T x) const { return Op::template scalar<T>(x); }
};
template <class Op, class T, class O = T>
struct ScalarBinary {
  O operator()(T a, T b) const { return static_cast<O>(Op::template scalar<T>(a, b)); }
};

// ---- float32 rows over Vec (A/B/C: operand is a full row, else one broadcast element)

template <class V, bool A, class F>
inline void unaryRowF32(float* y, const float* a, int64_t n, F f, bool stream = false) {
  if constexpr (!A) {
    float lanes[V::kLanes];
    V::store(lanes, f(V::set1(*a)));
    for (int64_t i = 0; i < n; ++i) y[i] = lanes[0];
  } else {
    auto full = [&](int64_t i) { return f(V::load(a + i)); };
    auto partial = [&](int64_t i, int r) { return f(V::loadPartial(a + i, r)); };
    auto prefetch = [&](int64_t i) { prefetchAhead(a + i, 2 * V::kLanes); };
    if (stream) storeRow<V, true>(y, n, full, partial, prefetch);
    else storeRow<V, false>(y, n, full, partial, prefetch);
  }
}

template <class V, bool A, bool B, class F>
inline void binaryRowF32(float* y, const float* a, const float* b, int64_t n, F f, bool stream = false) {
  using R = typename V::Reg;
  const R ca = A ? V::zero() : V::set1(*a);
  const R cb = B ? V::zero() : V::set1(*b);
  auto full = [&](int64_t i) {
    R x, z;
    if constexpr (A) x = V::load(a + i); else x = ca;
    if constexpr (B) z = V::load(b + i); else z = cb;
    return f(x, z);
  };
  auto partial = [&](int64_t i, int r) {
    return f(A ? V::loadPartial(a + i, r) : ca, B ? V::loadPartial(b + i, r) : cb);
  };
  auto prefetch = [&](int64_t i) {
    if constexpr (A) prefetchAhead(a + i, 2 * V::kLanes);
    if constexpr (B) prefetchAhead(b + i, 2 * V::kLanes);
  };
  if (stream) storeRow<V, true>(y, n, full, partial, prefetch);
  else storeRow<V, false>(y, n, full, partial, prefetch);
}

template <class V>
inline typename V::Mask allLanes(bool on) {
  return on ? V::cmpEq(V::zero(), V::zero()) : V::cmpLt(V::zero(), V::zero());
}

// Comparison rows write one 0/1 byte per element.
template <class V, bool A, bool B, class F>
inline void compareRowF32(uint8_t* y, const float* a, const float* b, int64_t n, F f) {
  using R = typename V::Reg;
  const R ca = A ? V::zero() : V::set1(*a);
  const R cb = B ? V::zero() : V::set1(*b);
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) {
    const R x = A ? V::load(a + i) : ca;
    const R z = B ? V::load(b + i) : cb;
    V::storeMaskBytes(y + i, f(x, z));
  }
  if (i < n) {
    const int r = static_cast<int>(n - i);
    uint8_t tmp[V::kLanes];
    V::storeMaskBytes(tmp, f(A ? V::loadPartial(a + i, r) : ca, B ? V::loadPartial(b + i, r) : cb));
    std::memcpy(y + i, tmp, static_cast<size_t>(r));
  }
}

template <class V, bool C, bool X, bool Y>
inline void whereRowF32(float* o, const uint8_t* c, const float* x, const float* y, int64_t n, bool stream = false) {
  using R = typename V::Reg;
  const auto cc = allLanes<V>(!C && *c != 0);
  const R cx = X ? V::zero() : V::set1(*x);
  const R cy = Y ? V::zero() : V::set1(*y);
  auto full = [&](int64_t i) {
    const auto m = C ? V::loadMaskBytes(c + i) : cc;
    return V::select(m, X ? V::load(x + i) : cx, Y ? V::load(y + i) : cy);
  };
  auto partial = [&](int64_t i, int r) {
    uint8_t tmp[V::kLanes] = {};
    if (C) std::memcpy(tmp, c + i, static_cast<size_t>(r));
    const auto m = C ? V::loadMaskBytes(tmp) : cc;
    return V::select(m, X ? V::loadPartial(x + i, r) : cx, Y ? V::loadPartial(y + i, r) : cy);
  };
  auto prefetch = [&](int64_t i) {
    if constexpr (X) prefetchAhead(x + i, 2 * V::kLanes);
    if constexpr (Y) prefetchAhead(y + i, 2 * V::kLanes);
  };
  if (stream) storeRow<V, true>(o, n, full, partial, prefetch);
  else storeRow<V, false>(o, n, full, partial, prefetch);
}

// ---- integer / bool rows: plain loops, vectorized by the compiler for this pass

template <class T, class O, bool A, class F>
inline void unaryRowScalar(O* y, const T* a, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[A ? i : 0]);
}
template <class T, class O, bool A, bool B, class F>
inline void binaryRowScalar(O* y, const T* a, const T* b, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(a[A ? i : 0], b[B ? i : 0]);
}
template <class T, bool C, bool X, bool Y>
inline void whereRowScalar(T* o, const uint8_t* c, const T* x, const T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = c[C ? i : 0] ? x[X ? i : 0] : y[Y ? i : 0];
}

// Calls f(integral_constant<bool, s[0] == 1>, ...) for K = 1, 2, 3 operands.
template <class F>
inline void withUnitStrides1(const int64_t* s, F&& f) {
  if (s[0]) f(std::true_type{});
  else f(std::false_type{});
}
template <class F>
inline void withUnitStrides2(const int64_t* s, F&& f) {
  withUnitStrides1(s, [&](auto a) {
    if (s[1]) f(a, std::true_type{});
    else f(a, std::false_type{});
  });
}
template <class F>
inline void withUnitStrides3(const int64_t* s, F&& f) {
  withUnitStrides2(s, [&](auto a, auto b) {
    if (s[2]) f(a, b, std::true_type{});
    else f(a, b, std::false_type{});
  });
}

// ---- attribute helpers shared by the kernel files

inline DType computeDTypeAttr(const char* op, const KernelArgs& args, unsigned allowed) {
  if (args.numAttrs < 1) throwRangeError(std::string(op) + ": missing compute dtype attribute");
  const double code = args.attr(0);
  if (!(code >= 0 && code < kNumDTypes) || code != static_cast<int>(code))
    throwRangeError(std::string(op) + ": bad compute dtype attribute");
  const DType t = static_cast<DType>(static_cast<int>(code));
  if (!(typeBit(t) & allowed)) throwTypeError(std::string(op) + ": not implemented for dtype " + dtypeName(t));
  return t;
}

inline void checkArity(const char* op, const KernelArgs& args, int minIn, int maxIn, int numAttrsBase) {
  if (args.numInputs < minIn || args.numInputs > maxIn || args.numOutputs != 1)
    throwRangeError(std::string(op) + ": wrong number of operands");
  // every missing tensor operand is a scalar attribute after the fixed ones
  if (args.numAttrs != numAttrsBase + (maxIn - args.numInputs))
    throwRangeError(std::string(op) + ": wrong number of attributes");
}

}  // namespace pw
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
