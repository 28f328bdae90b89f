// Instruction set of the fused pointwise VM (kernel "fused_pointwise").
//
// A fused program computes several float32 pointwise ops in one pass over memory:
// the output index space is cut into L1-sized blocks, and each instruction runs over
// a whole block of SIMD vectors (the numexpr idea), so intermediates never leave L1.
// The kernel plans passes from the program (fused_pointwise.cc): cheap ops that consume
// the previous op's value ride along as register steps of its pass.
//
// attrs layout: [numRegs, numInstrs, then numInstrs x (op, dst, a, b, c)].
//   Load      dst <- input[a] (float32, or bool/int32 converted to float), broadcast to the output
//   Const     dst <- a (any double, rounded to float)
//   Store     output[a] <- reg dst
//   unary     dst <- f(reg a)
//   binary    dst <- f(reg a, reg b)
//   Clamp     dst <- min(max(reg a, reg b), reg c) with torch's NaN and min>max rules
//   Where     dst <- reg a != 0 ? reg b : reg c
//   compares  dst <- 1.0 or 0.0
#pragma once
#include <cstdint>

#include "core/kernel_registration.h"

namespace tensorjit {

enum class VmOp : int32_t {
  Load = 0, Const = 1, Store = 2,
  // unary
  Neg = 10, Abs, Exp, Log, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu, Erf,
  // binary
  Add = 40, Sub, Mul, Div, Pow, Maximum, Minimum,
  Eq = 60, Ne, Lt, Le, Gt, Ge,
  // ternary
  Clamp = 80, Where,
};

// Attribute layouts of fusable pointwise kernels (kernels/pointwise/*.cc).
enum class FusionForm : int32_t {
  None = 0,
  Unary = 1,    // inputs (x); attrs [computeDType]
  Binary = 2,   // inputs (a, b) attrs [dt], or (a) attrs [dt, b]
  Compare = 3,  // as Binary, result bool
  Gelu = 4,     // inputs (x); attrs [dt, approximate 0|1]
  Where = 5,    // inputs (cond, x, y) attrs [dt], or (cond, x) attrs [dt, y]
  Clamp = 6,    // inputs (x); attrs [dt, hasMin, min, hasMax, max]
};

constexpr int kVmInstrWords = 5;
constexpr int kVmMaxRegs = 32;

inline bool vmIsUnary(int op) { return op >= static_cast<int>(VmOp::Neg) && op <= static_cast<int>(VmOp::Erf); }
inline bool vmIsBinary(int op) {
  return (op >= static_cast<int>(VmOp::Add) && op <= static_cast<int>(VmOp::Minimum)) ||
         (op >= static_cast<int>(VmOp::Eq) && op <= static_cast<int>(VmOp::Ge));
}
inline bool vmIsTernary(int op) { return op == static_cast<int>(VmOp::Clamp) || op == static_cast<int>(VmOp::Where); }

struct FusionRegistration {
  FusionRegistration(const char* kernel, FusionForm form, VmOp op) {
    KernelRegistry::instance().setFusion(kernel, FusionInfo{static_cast<int>(form), static_cast<int>(op)});
  }
};

}  // namespace tensorjit

// Declares that kernel `name` can run inside a fused pointwise program as `op`.
#define TJ_REGISTER_FUSION(name, form, op)                                                     \
  static const ::tensorjit::FusionRegistration TJ_CONCAT(kFusionRegistration, __LINE__)(name, \
                                                                                      form, op)
