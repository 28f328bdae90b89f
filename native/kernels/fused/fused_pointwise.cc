// "fused_pointwise": runs a VM program (vm_ops.h) over float32 blocks.
// inputs: any number of tensors broadcastable to outputs[0]'s shape (any strides);
// outputs: contiguous float32 tensors of one shape. attrs: the program.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernel.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "kernels/fused/vm_ops.h"

#ifndef TJ_ISA_PASS
// Baseline helpers (compiled once), then the per-ISA bodies below.
namespace tensorjit {
namespace {

constexpr int64_t kBlock = 1024;  // floats per register: 32 registers x 4 KiB stay in L1/L2

struct DecodedInstr {
  int op, dst, a, b, c;
  float imm;
};

struct VmProgram {
  int numRegs = 0;
  std::vector<DecodedInstr> code;
};

int checkedIndex(double v, int limit, const char* what) {
  if (!(v >= 0 && v < limit) || v != std::floor(v))
    throwRangeError(std::string("fused_pointwise: bad ") + what + " " + std::to_string(v));
  return static_cast<int>(v);
}

VmProgram decode(const KernelArgs& args) {
  if (args.numAttrs < 2) throwRangeError("fused_pointwise: missing program");
  VmProgram p;
  p.numRegs = checkedIndex(args.attr(0), kVmMaxRegs + 1, "register count");
  const int n = checkedIndex(args.attr(1), 1 << 16, "instruction count");
  if (args.numAttrs != 2 + n * kVmInstrWords) throwRangeError("fused_pointwise: program length mismatch");
  for (int i = 0; i < n; ++i) {
    const double* w = args.attrs + 2 + i * kVmInstrWords;
    DecodedInstr d{static_cast<int>(w[0]), 0, 0, 0, 0, 0.f};
    if (w[0] != std::floor(w[0])) throwRangeError("fused_pointwise: bad opcode");
    const int op = d.op;
    if (op == static_cast<int>(VmOp::Load)) {
      d.dst = checkedIndex(w[1], p.numRegs, "register");
      d.a = checkedIndex(w[2], args.numInputs, "input index");
    } else if (op == static_cast<int>(VmOp::Const)) {
      d.dst = checkedIndex(w[1], p.numRegs, "register");
      d.imm = static_cast<float>(w[2]);
    } else if (op == static_cast<int>(VmOp::Store)) {
      d.dst = checkedIndex(w[1], p.numRegs, "register");
      d.a = checkedIndex(w[2], args.numOutputs, "output index");
    } else if (vmIsUnary(op) || vmIsBinary(op) || vmIsTernary(op)) {
      d.dst = checkedIndex(w[1], p.numRegs, "register");
      d.a = checkedIndex(w[2], p.numRegs, "register");
      if (!vmIsUnary(op)) d.b = checkedIndex(w[3], p.numRegs, "register");
      if (vmIsTernary(op)) d.c = checkedIndex(w[4], p.numRegs, "register");
    } else {
      throwRangeError("fused_pointwise: unknown opcode " + std::to_string(op));
    }
    p.code.push_back(d);
  }
  return p;
}

void checkOperands(const KernelArgs& args) {
  if (args.numOutputs < 1) throwRangeError("fused_pointwise: needs an output");
  const TensorView& o = args.out(0);
  for (int j = 0; j < args.numOutputs; ++j) {
    const TensorView& out = args.out(j);
    if (out.dtype != DType::Float32 || !out.isContiguous() || out.ndim != o.ndim)
      throwTypeError("fused_pointwise: outputs must be contiguous float32 of one shape");
    for (int d = 0; d < o.ndim; ++d)
      if (out.shape[d] != o.shape[d]) throwRangeError("fused_pointwise: outputs must share one shape");
  }
  for (int i = 0; i < args.numInputs; ++i) {
    const TensorView& in = args.in(i);
    if (in.dtype != DType::Float32 && in.dtype != DType::Bool && in.dtype != DType::Int32)
      throwTypeError(std::string("fused_pointwise: input dtype ") + dtypeName(in.dtype) + " is not supported");
    if (in.ndim > o.ndim) throwRangeError("fused_pointwise: input " + in.shapeString() + " does not broadcast to " + o.shapeString());
    for (int d = 0; d < in.ndim; ++d) {
      const int64_t od = o.shape[o.ndim - in.ndim + d];
      if (in.shape[d] != 1 && in.shape[d] != od)
        throwRangeError("fused_pointwise: input " + in.shapeString() + " does not broadcast to " + o.shapeString());
    }
  }
}

}  // namespace
}  // namespace tensorjit

#define TJ_ISA_SELF "kernels/fused/fused_pointwise.cc"
#include "simd/foreach_isa.h"
#else
#include "kernels/math/vmath.h"
namespace tensorjit {
namespace TJ_ISA_NS {
namespace {

using V = Vec;
using Reg = V::Reg;

template <class F>
inline void mapUnary(float* y, const float* a, int64_t n, F f) {
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::store(y + i, f(V::load(a + i)));
  if (i < n) V::storePartial(y + i, f(V::loadPartial(a + i, static_cast<int>(n - i))), static_cast<int>(n - i));
}

template <class F>
inline void mapBinary(float* y, const float* a, const float* b, int64_t n, F f) {
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::store(y + i, f(V::load(a + i), V::load(b + i)));
  if (i < n) {
    const int r = static_cast<int>(n - i);
    V::storePartial(y + i, f(V::loadPartial(a + i, r), V::loadPartial(b + i, r)), r);
  }
}

template <class F>
inline void mapTernary(float* y, const float* a, const float* b, const float* c, int64_t n, F f) {
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) V::store(y + i, f(V::load(a + i), V::load(b + i), V::load(c + i)));
  if (i < n) {
    const int r = static_cast<int>(n - i);
    V::storePartial(y + i, f(V::loadPartial(a + i, r), V::loadPartial(b + i, r), V::loadPartial(c + i, r)), r);
  }
}

inline Reg nanOr(Reg a, Reg b, Reg r) {  // NaN-propagating result of a binary op
  return V::select(V::isNan(a), a, V::select(V::isNan(b), b, r));
}
inline Reg boolToFloat(typename V::Mask m) { return V::select(m, V::set1(1.f), V::zero()); }

void runUnary(VmOp op, float* y, const float* a, int64_t n) {
  switch (op) {
    case VmOp::Neg: mapUnary(y, a, n, [](Reg x) { return V::neg(x); }); break;
    case VmOp::Abs: mapUnary(y, a, n, [](Reg x) { return V::abs(x); }); break;
    case VmOp::Exp: mapUnary(y, a, n, [](Reg x) { return vmath::exp<V>(x); }); break;
    case VmOp::Log: mapUnary(y, a, n, [](Reg x) { return vmath::log<V>(x); }); break;
    case VmOp::Sqrt: mapUnary(y, a, n, [](Reg x) { return V::sqrt(x); }); break;
    case VmOp::Rsqrt: mapUnary(y, a, n, [](Reg x) { return V::div(V::set1(1.f), V::sqrt(x)); }); break;
    case VmOp::Sin: mapUnary(y, a, n, [](Reg x) { return vmath::sin<V>(x); }); break;
    case VmOp::Cos: mapUnary(y, a, n, [](Reg x) { return vmath::cos<V>(x); }); break;
    case VmOp::Tanh: mapUnary(y, a, n, [](Reg x) { return vmath::tanh<V>(x); }); break;
    case VmOp::Sigmoid: mapUnary(y, a, n, [](Reg x) { return vmath::sigmoid<V>(x); }); break;
    case VmOp::Relu: mapUnary(y, a, n, [](Reg x) { return V::select(V::isNan(x), x, V::max(x, V::zero())); }); break;
    case VmOp::Gelu: mapUnary(y, a, n, [](Reg x) { return vmath::gelu<V>(x); }); break;
    case VmOp::GeluTanh: mapUnary(y, a, n, [](Reg x) { return vmath::geluTanh<V>(x); }); break;
    case VmOp::Silu: mapUnary(y, a, n, [](Reg x) { return vmath::silu<V>(x); }); break;
    case VmOp::Erf: mapUnary(y, a, n, [](Reg x) { return vmath::erf<V>(x); }); break;
    default: throwRangeError("fused_pointwise: not a unary opcode");
  }
}

void runBinary(VmOp op, float* y, const float* a, const float* b, int64_t n) {
  switch (op) {
    case VmOp::Add: mapBinary(y, a, b, n, [](Reg x, Reg z) { return V::add(x, z); }); break;
    case VmOp::Sub: mapBinary(y, a, b, n, [](Reg x, Reg z) { return V::sub(x, z); }); break;
    case VmOp::Mul: mapBinary(y, a, b, n, [](Reg x, Reg z) { return V::mul(x, z); }); break;
    case VmOp::Div: mapBinary(y, a, b, n, [](Reg x, Reg z) { return V::div(x, z); }); break;
    case VmOp::Pow: mapBinary(y, a, b, n, [](Reg x, Reg z) { return vmath::pow<V>(x, z); }); break;
    case VmOp::Maximum: mapBinary(y, a, b, n, [](Reg x, Reg z) { return nanOr(x, z, V::max(x, z)); }); break;
    case VmOp::Minimum: mapBinary(y, a, b, n, [](Reg x, Reg z) { return nanOr(x, z, V::min(x, z)); }); break;
    case VmOp::Eq: mapBinary(y, a, b, n, [](Reg x, Reg z) { return boolToFloat(V::cmpEq(x, z)); }); break;
    case VmOp::Ne: mapBinary(y, a, b, n, [](Reg x, Reg z) { return boolToFloat(V::cmpNe(x, z)); }); break;
    case VmOp::Lt: mapBinary(y, a, b, n, [](Reg x, Reg z) { return boolToFloat(V::cmpLt(x, z)); }); break;
    case VmOp::Le: mapBinary(y, a, b, n, [](Reg x, Reg z) { return boolToFloat(V::cmpLe(x, z)); }); break;
    case VmOp::Gt: mapBinary(y, a, b, n, [](Reg x, Reg z) { return boolToFloat(V::cmpGt(x, z)); }); break;
    case VmOp::Ge: mapBinary(y, a, b, n, [](Reg x, Reg z) { return boolToFloat(V::cmpGe(x, z)); }); break;
    default: throwRangeError("fused_pointwise: not a binary opcode");
  }
}

void runTernary(VmOp op, float* y, const float* a, const float* b, const float* c, int64_t n) {
  if (op == VmOp::Clamp) {
    // torch: NaN stays NaN; min > max gives max everywhere
    mapTernary(y, a, b, c, n, [](Reg x, Reg lo, Reg hi) {
      return V::select(V::isNan(x), x, V::min(V::max(x, lo), hi));
    });
  } else {
    mapTernary(y, a, b, c, n, [](Reg m, Reg x, Reg z) { return V::select(V::cmpNe(m, V::zero()), x, z); });
  }
}

// Reads input `in` over output linear range [b, e) into dst (or returns a direct pointer).
const float* loadBlock(const StridedLoop<1>& loop, const TensorView& in, int64_t b, int64_t e, float* dst) {
  const int64_t n = e - b;
  if (in.dtype == DType::Float32 && loop.innerStride(0) == 1) {
    // A block inside one contiguous row needs no copy.
    const char* p = nullptr;
    int pieces = 0;
    loop.forRange(b, e, [&](char* const* ptrs, int64_t) {
      if (pieces++ == 0) p = ptrs[0];
    });
    if (pieces == 1) return reinterpret_cast<const float*>(p);
  }
  int64_t k = 0;
  loop.forRange(b, e, [&](char* const* ptrs, int64_t len) {
    const int64_t s = loop.innerStride(0);
    switch (in.dtype) {
      case DType::Float32: {
        const float* x = reinterpret_cast<const float*>(ptrs[0]);
        if (s == 0) std::fill(dst + k, dst + k + len, x[0]);
        else for (int64_t i = 0; i < len; ++i) dst[k + i] = x[i * s];
        break;
      }
      case DType::Bool: {
        const uint8_t* x = reinterpret_cast<const uint8_t*>(ptrs[0]);
        for (int64_t i = 0; i < len; ++i) dst[k + i] = x[i * s] ? 1.f : 0.f;
        break;
      }
      default: {
        const int32_t* x = reinterpret_cast<const int32_t*>(ptrs[0]);
        for (int64_t i = 0; i < len; ++i) dst[k + i] = static_cast<float>(x[i * s]);
        break;
      }
    }
    k += len;
  });
  (void)n;
  return dst;
}

void fusedPointwiseKernel(const KernelArgs& args) {
  checkOperands(args);
  const VmProgram prog = decode(args);
  const TensorView& out0 = args.out(0);
  std::vector<StridedLoop<1>> loops;
  loops.reserve(static_cast<size_t>(args.numInputs));
  for (int i = 0; i < args.numInputs; ++i) {
    const TensorView* v[1] = {&args.in(i)};
    loops.emplace_back(v, out0.ndim, out0.shape);
  }
  const int64_t numel = out0.numel();
  const int64_t blocks = (numel + kBlock - 1) / kBlock;
  // ~32K elements per thread at least, so small tensors stay on one thread.
  parallelFor(blocks, 32, [&](int64_t b0, int64_t b1) {
    std::vector<float> scratch(static_cast<size_t>(prog.numRegs) * kBlock);
    std::vector<const float*> regs(static_cast<size_t>(prog.numRegs), nullptr);
    auto reg = [&](int r) { return scratch.data() + static_cast<size_t>(r) * kBlock; };
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t b = blk * kBlock, e = std::min(numel, b + kBlock), n = e - b;
      for (const DecodedInstr& in : prog.code) {
        const VmOp op = static_cast<VmOp>(in.op);
        if (op == VmOp::Load) {
          regs[in.dst] = loadBlock(loops[in.a], args.in(in.a), b, e, reg(in.dst));
        } else if (op == VmOp::Const) {
          std::fill(reg(in.dst), reg(in.dst) + n, in.imm);
          regs[in.dst] = reg(in.dst);
        } else if (op == VmOp::Store) {
          std::memcpy(args.out(in.a).ptr<float>() + b, regs[in.dst], static_cast<size_t>(n) * sizeof(float));
        } else if (vmIsUnary(in.op)) {
          runUnary(op, reg(in.dst), regs[in.a], n);
          regs[in.dst] = reg(in.dst);
        } else if (vmIsBinary(in.op)) {
          runBinary(op, reg(in.dst), regs[in.a], regs[in.b], n);
          regs[in.dst] = reg(in.dst);
        } else {
          runTernary(op, reg(in.dst), regs[in.a], regs[in.b], regs[in.c], n);
          regs[in.dst] = reg(in.dst);
        }
      }
    }
  });
}

TJ_REGISTER_KERNEL("fused_pointwise", fusedPointwiseKernel);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
