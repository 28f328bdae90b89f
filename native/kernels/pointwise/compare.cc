// Comparison kernels eq ne lt le gt ge: bool (0/1 byte) output.
// inputs: (a, b) broadcast to the output, or (a) with a JS number in attrs.
// attrs: [computeDType] or [computeDType, scalar]; operands are compared in the
// compute dtype (float32, int32, int64 or bool). NaN compares unequal to everything.
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/kernel.h"
#include "kernels/fused/vm_ops.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "kernels/pointwise/elem.h"

#ifndef TJ_ISA_PASS
#define TJ_ISA_SELF "kernels/pointwise/compare.cc"
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
void runCompareTyped(const char* op, TensorView& out, const TensorView* const* ins, DType c) {
  const DType ic[2] = {c, c};
  runPointwise<2>(op, out, DType::Bool, ins, ic, [](void* y, const void* const* x, const int64_t* s, int64_t n, bool stream) {
    (void)stream;  // byte outputs are a quarter of the traffic: plain stores
    withUnitStrides2(s, [&](auto a, auto b) {
      constexpr bool kA = decltype(a)::value, kB = decltype(b)::value;
      if constexpr (std::is_same_v<T, float>) {
        compareRowF32<Vec, kA, kB>(static_cast<uint8_t*>(y), static_cast<const float*>(x[0]),
                                   static_cast<const float*>(x[1]), n, VecCompare<Op>{});
      } else {
        binaryRowScalar<T, uint8_t, kA, kB>(static_cast<uint8_t*>(y), static_cast<const T*>(x[0]),
                                            static_cast<const T*>(x[1]), n, ScalarBinary<Op, T, uint8_t>{});
      }
    });
  });
}

template <class Op>
void compareKernel(const char* op, const KernelArgs& args) {
  checkArity(op, args, 1, 2, 1);
  const DType c = computeDTypeAttr(op, args, Op::kTypes);
  const ScalarOperand scalar(args.numInputs == 1 ? args.attr(1) : 0.0, c);
  const TensorView* ins[2] = {&args.in(0), args.numInputs == 2 ? &args.in(1) : &scalar.view};
  switch (c) {
    case DType::Float32: runCompareTyped<Op, float>(op, args.out(0), ins, c); break;
    case DType::Int32: runCompareTyped<Op, int32_t>(op, args.out(0), ins, c); break;
    case DType::Int64: runCompareTyped<Op, int64_t>(op, args.out(0), ins, c); break;
    case DType::Bool: runCompareTyped<Op, uint8_t>(op, args.out(0), ins, c); break;
    default: break;
  }
}

#define TJ_COMPARE_KERNEL(name, Op)                                           \
  void Op##Kernel(const KernelArgs& args) { compareKernel<Op>(name, args); }  \
  TJ_REGISTER_KERNEL(name, Op##Kernel);                                    \
  TJ_REGISTER_FUSION(name, ::tensorjit::FusionForm::Compare, ::tensorjit::VmOp::Op);
TJ_COMPARE_KERNEL("eq", Eq)
TJ_COMPARE_KERNEL("ne", Ne)
TJ_COMPARE_KERNEL("lt", Lt)
TJ_COMPARE_KERNEL("le", Le)
TJ_COMPARE_KERNEL("gt", Gt)
TJ_COMPARE_KERNEL("ge", Ge)
#undef TJ_COMPARE_KERNEL

}  // namespace
}  // namespace pw
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
