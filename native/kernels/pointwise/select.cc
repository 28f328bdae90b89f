// "where" and "clamp".
// where: inputs (cond, x, y) broadcast together, or (cond, x) with y a JS number in attrs.
//   attrs: [computeDType] or [computeDType, y]. cond is read as bool (nonzero = take x);
//   x and y are converted to the compute dtype (float32, int32, int64 or bool).
// clamp: input (x). attrs: [computeDType, hasMin, min, hasMax, max]; min(max(x, min), max)
//   with torch's rules: NaN x stays NaN, min > max gives max, a NaN bound gives NaN.
//   compute dtype float32, int32 or int64.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/kernel.h"
#include "kernels/fused/vm_ops.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "kernels/pointwise/elem.h"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/pointwise/select.cc"
#include "simd/foreach_isa.h"
#else
#include "kernels/math/vmath.h"
#include "kernels/pointwise/functors.h"
#include "kernels/pointwise/pointwise_loop.h"

namespace tensorjit {
namespace TJ_ISA_NS {
namespace pw {
namespace {

template <class T>
void runWhereTyped(TensorView& out, const TensorView* const* ins, DType c) {
  const DType ic[3] = {DType::Bool, c, c};
  runPointwise<3>("where", out, c, ins, ic, [](void* o, const void* const* x, const int64_t* s, int64_t n, bool stream) {
    withUnitStrides3(s, [&](auto kc, auto kx, auto ky) {
      constexpr bool kC = decltype(kc)::value, kX = decltype(kx)::value, kY = decltype(ky)::value;
      const uint8_t* cond = static_cast<const uint8_t*>(x[0]);
      if constexpr (std::is_same_v<T, float>) {
        whereRowF32<Vec, kC, kX, kY>(static_cast<float*>(o), cond, static_cast<const float*>(x[1]),
                                     static_cast<const float*>(x[2]), n, stream);
      } else {
        (void)stream;
        whereRowScalar<T, kC, kX, kY>(static_cast<T*>(o), cond, static_cast<const T*>(x[1]), static_cast<const T*>(x[2]), n);
      }
    });
  });
}

void whereKernel(const KernelArgs& args) {
  if (args.numInputs < 2 || args.numInputs > 3 || args.numOutputs != 1 || args.numAttrs != 1 + (3 - args.numInputs))
    throwRangeError("where: wrong number of operands or attributes");
  const DType c = computeDTypeAttr("where", args, kAllTypes);
  const ScalarOperand scalar(args.numInputs == 2 ? args.attr(1) : 0.0, c);
  const TensorView* ins[3] = {&args.in(0), &args.in(1), args.numInputs == 3 ? &args.in(2) : &scalar.view};
  switch (c) {
    case DType::Float32: runWhereTyped<float>(args.out(0), ins, c); break;
    case DType::Int32: runWhereTyped<int32_t>(args.out(0), ins, c); break;
    case DType::Int64: runWhereTyped<int64_t>(args.out(0), ins, c); break;
    default: runWhereTyped<uint8_t>(args.out(0), ins, c); break;
  }
}
TJ_REGISTER_KERNEL("where", whereKernel);
TJ_REGISTER_FUSION("where", ::tensorjit::FusionForm::Where, ::tensorjit::VmOp::Where);

struct ClampF32 {
  Vec::Reg lo, hi;
  Vec::Reg operator()(Vec::Reg x) const { return clampF32<Vec>(x, lo, hi); }
};
template <class T>
struct ClampInt {
  T lo, hi;
  T operator()(T x) const { return clampScalar(x, lo, hi); }
};

template <class T, class F>
void runClampTyped(const KernelArgs& args, DType c, F f) {
  const TensorView* ins[1] = {&args.in(0)};
  const DType ic[1] = {c};
  runPointwise<1>("clamp", args.out(0), c, ins, ic, [&](void* y, const void* const* x, const int64_t* s, int64_t n, bool stream) {
    withUnitStrides1(s, [&](auto a) {
      constexpr bool kA = decltype(a)::value;
      if constexpr (std::is_same_v<T, float>)
        unaryRowF32<Vec, kA>(static_cast<float*>(y), static_cast<const float*>(x[0]), n, f, stream);
      else
        unaryRowScalar<T, T, kA>(static_cast<T*>(y), static_cast<const T*>(x[0]), n, f);
    });
  });
}

void clampKernel(const KernelArgs& args) {
  if (args.numInputs != 1 || args.numOutputs != 1 || args.numAttrs != 5)
    throwRangeError("clamp: wrong number of operands or attributes");
  const DType c = computeDTypeAttr("clamp", args, kNumeric);
  const bool hasLo = args.attr(1) != 0, hasHi = args.attr(3) != 0;
  const double lo = args.attr(2), hi = args.attr(4);
  if (c == DType::Float32) {
    const float inf = std::numeric_limits<float>::infinity();
    float flo = hasLo ? static_cast<float>(lo) : -inf, fhi = hasHi ? static_cast<float>(hi) : inf;
    if (std::isnan(flo) || std::isnan(fhi)) flo = fhi = std::numeric_limits<float>::quiet_NaN();
    // a NaN bound: min(NaN, max(NaN, x)) returns x, so make NaN win explicitly
    if (std::isnan(flo)) {
      struct AllNaN {
        Vec::Reg operator()(Vec::Reg) const { return Vec::set1(std::numeric_limits<float>::quiet_NaN()); }
      };
      return runClampTyped<float>(args, c, AllNaN{});
    }
    return runClampTyped<float>(args, c, ClampF32{Vec::set1(flo), Vec::set1(fhi)});
  }
  auto ints = [&](auto zero) {
    using T = decltype(zero);
    const T tlo = hasLo ? scalarFromDouble<T>(std::ceil(lo)) : std::numeric_limits<T>::min();
    const T thi = hasHi ? scalarFromDouble<T>(std::floor(hi)) : std::numeric_limits<T>::max();
    runClampTyped<T>(args, c, ClampInt<T>{tlo, thi});
  };
  if (c == DType::Int32) ints(int32_t{});
  else ints(int64_t{});
}
TJ_REGISTER_KERNEL("clamp", clampKernel);
TJ_REGISTER_FUSION("clamp", ::tensorjit::FusionForm::Clamp, ::tensorjit::VmOp::Clamp);

}  // namespace
}  // namespace pw
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
