// Unary pointwise kernels: neg abs relu exp log sqrt rsqrt sin cos tanh sigmoid silu
// erf gelu. One input (any dtype, any strides, broadcast to the output), one output.
// attrs: [computeDType] (dtype code of lib/dtype.ts; inputs are converted to it and
// results converted to the output's dtype, e.g. float16 storage computes in float32).
// "gelu" attrs: [computeDType, approximate] with approximate 0 = 'none' (erf), 1 = 'tanh'.
// Float-only ops accept compute dtype float32; neg/abs/relu also int32 and int64.
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/kernel.h"
#include "kernels/fused/vm_ops.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "kernels/pointwise/elem.h"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/pointwise/unary.cc"
#include "simd/foreach_isa.h"
#else
#include "kernels/math/vmath.h"
#include "kernels/pointwise/functors.h"
#include "kernels/pointwise/pointwise_loop.h"

namespace tensorjit {
namespace TJ_ISA_NS {
namespace pw {
namespace {

// Runs y = f(x) with f a Vec functor for float32 and a scalar one for integers.
template <class Op>
void runUnary(const char* op, const KernelArgs& args, DType c) {
  const TensorView* ins[1] = {&args.in(0)};
  const DType ic[1] = {c};
  auto typed = [&](auto zero) {
    using T = decltype(zero);
    runPointwise<1>(op, args.out(0), c, ins, ic, [](void* y, const void* const* x, const int64_t* s, int64_t n, bool stream) {
      withUnitStrides1(s, [&](auto a) {
        constexpr bool kA = decltype(a)::value;
        if constexpr (std::is_same_v<T, float>) {
          unaryRowF32<Vec, kA>(static_cast<float*>(y), static_cast<const float*>(x[0]), n, VecUnary<Op>{}, stream);
        } else {
          (void)stream;
          unaryRowScalar<T, T, kA>(static_cast<T*>(y), static_cast<const T*>(x[0]), n, ScalarUnary<Op, T>{});
        }
      });
    });
  };
  switch (c) {
    case DType::Float32: typed(float{}); break;
    case DType::Int32: if constexpr ((Op::kTypes & kI32) != 0) typed(int32_t{}); break;
    case DType::Int64: if constexpr ((Op::kTypes & kI64) != 0) typed(int64_t{}); break;
    default: break;
  }
}

template <class Op>
void unaryKernel(const char* op, const KernelArgs& args) {
  checkArity(op, args, 1, 1, 1);
  runUnary<Op>(op, args, computeDTypeAttr(op, args, Op::kTypes));
}

#define TJ_UNARY_KERNEL(name, Op)                                                 \
  void Op##Kernel(const KernelArgs& args) { unaryKernel<Op>(name, args); }        \
  TJ_REGISTER_KERNEL(name, Op##Kernel);                                           \
  TJ_REGISTER_FUSION(name, ::tensorjit::FusionForm::Unary, ::tensorjit::VmOp::Op);
TJ_UNARY_KERNEL("neg", Neg)
TJ_UNARY_KERNEL("abs", Abs)
TJ_UNARY_KERNEL("relu", Relu)
TJ_UNARY_KERNEL("exp", Exp)
TJ_UNARY_KERNEL("log", Log)
TJ_UNARY_KERNEL("sqrt", Sqrt)
TJ_UNARY_KERNEL("rsqrt", Rsqrt)
TJ_UNARY_KERNEL("sin", Sin)
TJ_UNARY_KERNEL("cos", Cos)
TJ_UNARY_KERNEL("tanh", Tanh)
TJ_UNARY_KERNEL("sigmoid", Sigmoid)
TJ_UNARY_KERNEL("silu", Silu)
TJ_UNARY_KERNEL("erf", Erf)
#undef TJ_UNARY_KERNEL

void geluKernel(const KernelArgs& args) {
  if (args.numInputs != 1 || args.numOutputs != 1 || args.numAttrs != 2)
    throwRangeError("gelu: wrong number of operands or attributes");
  const DType c = computeDTypeAttr("gelu", args, kF32);
  const double approximate = args.attr(1);
  if (approximate == 0) runUnary<Gelu>("gelu", args, c);
  else if (approximate == 1) runUnary<GeluTanh>("gelu", args, c);
  else throwRangeError("gelu: approximate attribute must be 0 (none) or 1 (tanh)");
}
TJ_REGISTER_KERNEL("gelu", geluKernel);
TJ_REGISTER_FUSION("gelu", ::tensorjit::FusionForm::Gelu, ::tensorjit::VmOp::Gelu);

}  // namespace
}  // namespace pw
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
