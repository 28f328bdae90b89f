// Binary arithmetic kernels with NumPy broadcasting: add sub mul div pow maximum minimum.
// inputs: (a, b) any dtypes/strides broadcast to the output, or (a) alone with the
// other operand a JS number in attrs.
// attrs: [computeDType] for two tensors, [computeDType, scalar] for tensor op number.
// Operands are converted to the compute dtype (float32, int32, int64, or bool for
// add/mul/maximum/minimum = or/and/or/and) and the result to the output's dtype.
// pow with a number exponent takes exact fast paths for 0, ±0.5, ±1, ±2 and 3 (as torch).
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/kernel.h"
#include "kernels/fused/vm_ops.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "kernels/pointwise/elem.h"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/pointwise/binary.cc"
#include "simd/foreach_isa.h"
#else
#include "kernels/math/vmath.h"
#include "kernels/pointwise/functors.h"
#include "kernels/pointwise/pointwise_loop.h"

namespace tensorjit {
namespace TJ_ISA_NS {
namespace pw {
namespace {

template <class Op, class T>
void runBinaryTyped(const char* op, TensorView& out, const TensorView* const* ins, DType c) {
  const DType ic[2] = {c, c};
  runPointwise<2>(op, out, c, ins, ic, [](void* y, const void* const* x, const int64_t* s, int64_t n, bool stream) {
    withUnitStrides2(s, [&](auto a, auto b) {
      constexpr bool kA = decltype(a)::value, kB = decltype(b)::value;
      if constexpr (std::is_same_v<T, float>) {
        binaryRowF32<Vec, kA, kB>(static_cast<float*>(y), static_cast<const float*>(x[0]),
                                  static_cast<const float*>(x[1]), n, VecBinary<Op>{}, stream);
      } else {
        (void)stream;
        binaryRowScalar<T, T, kA, kB>(static_cast<T*>(y), static_cast<const T*>(x[0]), static_cast<const T*>(x[1]), n,
                                      ScalarBinary<Op, T>{});
      }
    });
  });
}

template <class Op>
void binaryKernel(const char* op, const KernelArgs& args) {
  checkArity(op, args, 1, 2, 1);
  const DType c = computeDTypeAttr(op, args, Op::kTypes);
  const ScalarOperand scalar(args.numInputs == 1 ? args.attr(1) : 0.0, c);
  const TensorView* ins[2] = {&args.in(0), args.numInputs == 2 ? &args.in(1) : &scalar.view};
  switch (c) {
    case DType::Float32: if constexpr ((Op::kTypes & kF32) != 0) runBinaryTyped<Op, float>(op, args.out(0), ins, c); break;
    case DType::Int32: if constexpr ((Op::kTypes & kI32) != 0) runBinaryTyped<Op, int32_t>(op, args.out(0), ins, c); break;
    case DType::Int64: if constexpr ((Op::kTypes & kI64) != 0) runBinaryTyped<Op, int64_t>(op, args.out(0), ins, c); break;
    case DType::Bool: if constexpr ((Op::kTypes & kBool) != 0) runBinaryTyped<Op, uint8_t>(op, args.out(0), ins, c); break;
    default: break;
  }
}

// x^e for a constant float exponent: exact shortcuts where torch takes them, else pow.
struct PowConst {
  enum Kind { kOne, kIdentity, kSquare, kCube, kSqrt, kRsqrt, kRecip, kRecipSquare, kGeneral } kind;
  Vec::Reg e;
  Vec::Reg operator()(Vec::Reg x) const {
    const Vec::Reg one = Vec::set1(1.0f);
    switch (kind) {
      case kOne: return one;
      case kIdentity: return x;
      case kSquare: return Vec::mul(x, x);
      case kCube: return Vec::mul(Vec::mul(x, x), x);
      case kSqrt: return Vec::sqrt(x);
      case kRsqrt: return Vec::div(one, Vec::sqrt(x));
      case kRecip: return Vec::div(one, x);
      case kRecipSquare: return Vec::div(one, Vec::mul(x, x));
      default: return vmath::pow<Vec>(x, e);
    }
  }
};

void powScalarF32(const KernelArgs& args, double exponent) {
  PowConst f{PowConst::kGeneral, Vec::set1(static_cast<float>(exponent))};
  const float e = static_cast<float>(exponent);
  if (e == 0) f.kind = PowConst::kOne;
  else if (e == 1) f.kind = PowConst::kIdentity;
  else if (e == 2) f.kind = PowConst::kSquare;
  else if (e == 3) f.kind = PowConst::kCube;
  else if (e == 0.5f) f.kind = PowConst::kSqrt;
  else if (e == -0.5f) f.kind = PowConst::kRsqrt;
  else if (e == -1) f.kind = PowConst::kRecip;
  else if (e == -2) f.kind = PowConst::kRecipSquare;
  const TensorView* ins[1] = {&args.in(0)};
  const DType ic[1] = {DType::Float32};
  runPointwise<1>("pow", args.out(0), DType::Float32, ins, ic, [&](void* y, const void* const* x, const int64_t* s, int64_t n, bool stream) {
    withUnitStrides1(s, [&](auto a) {
      unaryRowF32<Vec, decltype(a)::value>(static_cast<float*>(y), static_cast<const float*>(x[0]), n, f, stream);
    });
  });
}

void powKernel(const KernelArgs& args) {
  checkArity("pow", args, 1, 2, 1);
  const DType c = computeDTypeAttr("pow", args, Pow::kTypes);
  if (args.numInputs == 1 && c == DType::Float32) return powScalarF32(args, args.attr(1));
  binaryKernel<Pow>("pow", args);
}
TJ_REGISTER_KERNEL("pow", powKernel);

#define TJ_BINARY_KERNEL(name, Op)                                           \
  void Op##Kernel(const KernelArgs& args) { binaryKernel<Op>(name, args); }  \
  TJ_REGISTER_KERNEL(name, Op##Kernel);                                      \
  TJ_REGISTER_FUSION(name, ::tensorjit::FusionForm::Binary, ::tensorjit::VmOp::Op);
TJ_BINARY_KERNEL("add", Add)
TJ_BINARY_KERNEL("sub", Sub)
TJ_BINARY_KERNEL("mul", Mul)
TJ_BINARY_KERNEL("div", Div)
TJ_BINARY_KERNEL("maximum", Maximum)
TJ_BINARY_KERNEL("minimum", Minimum)
#undef TJ_BINARY_KERNEL

}  // namespace
}  // namespace pw
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
