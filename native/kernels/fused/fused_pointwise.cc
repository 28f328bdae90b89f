// "fused_pointwise": runs a VM program (vm_ops.h) over float32 blocks.
// inputs: any number of tensors broadcastable to outputs[0]'s shape (any strides);
// outputs: contiguous float32 tensors of one shape. attrs: the program.
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/kernel.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "kernels/fused/vm_ops.h"
#include "kernels/pointwise/elem.h"

#ifndef TJ_ISA_PASS
// Baseline helpers (compiled once), then the per-ISA bodies below.
namespace tensorjit {
namespace {

constexpr int64_t kBlock = 1024;  // floats per register: 32 registers x 4 KiB stay in L1/L2
// Registers are kBlock + 32 floats apart, not exactly 4 KiB: an op reading register r and
// writing r + 1 would hit the same offset modulo 4 KiB on every access, where the CPU's
// store-to-load check stalls loads behind unrelated stores (4K aliasing).
constexpr int64_t kRegStride = kBlock + 32;

struct DecodedInstr {
  int op, dst, a, b, c;
  float imm;
  // Filled in by planExecution:
  bool skip = false;        // a Const only read as an immediate, or a Store done by its writer
  bool aImm = false, bImm = false;  // binary operand is a constant: a broadcast register, no block
  float aVal = 0.f, bVal = 0.f;
  int toOutput = -1;        // this op writes output[toOutput] directly (its Store is skipped)
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
  // Registers hold a block only once written: reading one earlier is a malformed program.
  std::vector<bool> written(static_cast<size_t>(p.numRegs), false);
  auto readReg = [&](double v) {
    const int r = checkedIndex(v, p.numRegs, "register");
    if (!written[r]) throwRangeError("fused_pointwise: register " + std::to_string(r) + " is read before it is written");
    return r;
  };
  for (int i = 0; i < n; ++i) {
    const double* w = args.attrs + 2 + i * kVmInstrWords;
    // range-checked before the cast (casting NaN or a huge double to int is undefined)
    if (!(w[0] >= 0 && w[0] < 1024) || w[0] != std::floor(w[0])) throwRangeError("fused_pointwise: bad opcode " + std::to_string(w[0]));
    DecodedInstr d{static_cast<int>(w[0]), 0, 0, 0, 0, 0.f};
    const int op = d.op;
    if (op == static_cast<int>(VmOp::Load)) {
      d.dst = checkedIndex(w[1], p.numRegs, "register");
      d.a = checkedIndex(w[2], args.numInputs, "input index");
    } else if (op == static_cast<int>(VmOp::Const)) {
      d.dst = checkedIndex(w[1], p.numRegs, "register");
      d.imm = static_cast<float>(w[2]);
    } else if (op == static_cast<int>(VmOp::Store)) {
      d.dst = readReg(w[1]);
      d.a = checkedIndex(w[2], args.numOutputs, "output index");
    } else if (vmIsUnary(op) || vmIsBinary(op) || vmIsTernary(op)) {
      d.dst = checkedIndex(w[1], p.numRegs, "register");
      d.a = readReg(w[2]);
      if (!vmIsUnary(op)) d.b = readReg(w[3]);
      if (vmIsTernary(op)) d.c = readReg(w[4]);
    } else {
      throwRangeError("fused_pointwise: unknown opcode " + std::to_string(op));
    }
    if (op != static_cast<int>(VmOp::Store)) written[d.dst] = true;
    p.code.push_back(d);
  }
  return p;
}

// Saves passes over the block (each costs about as much as a cheap op):
//  - a binary operand written by Const is used as a broadcast register, and a Const whose
//    every reader takes it that way is not filled;
//  - an op whose result is only stored writes the output directly, and the Store is skipped.
void planExecution(VmProgram& p, bool fuseStores) {
  const int n = static_cast<int>(p.code.size());
  std::vector<int> writer(static_cast<size_t>(p.numRegs), -1);  // last instruction writing a register
  std::vector<bool> constNeeded(static_cast<size_t>(n), false);
  auto isConst = [&](int reg) { return writer[reg] >= 0 && p.code[writer[reg]].op == static_cast<int>(VmOp::Const); };
  auto readsBlock = [&](int reg) {
    if (isConst(reg)) constNeeded[writer[reg]] = true;
  };
  for (int i = 0; i < n; ++i) {
    DecodedInstr& d = p.code[i];
    if (d.op == static_cast<int>(VmOp::Store)) {
      readsBlock(d.dst);
      continue;
    }
    if (vmIsBinary(d.op)) {
      if (isConst(d.b)) {
        d.bImm = true;
        d.bVal = p.code[writer[d.b]].imm;
      } else {
        readsBlock(d.b);
      }
      if (isConst(d.a) && !d.bImm) {
        d.aImm = true;
        d.aVal = p.code[writer[d.a]].imm;
      } else {
        readsBlock(d.a);
      }
    } else if (vmIsUnary(d.op)) {
      readsBlock(d.a);
    } else if (vmIsTernary(d.op)) {
      readsBlock(d.a);
      readsBlock(d.b);
      readsBlock(d.c);
    }
    writer[d.dst] = i;
  }
  for (int i = 0; i < n; ++i)
    if (p.code[i].op == static_cast<int>(VmOp::Const) && !constNeeded[i]) p.code[i].skip = true;

  // Store fusion: the Store's register is written by the instruction right before it, an
  // op (not Load, which may alias the input, nor Const), and no later instruction reads
  // that value. Liveness, one backward pass: live[r] = r's current value is read later.
  if (!fuseStores) return;
  std::vector<bool> live(static_cast<size_t>(p.numRegs), false);
  for (int i = n - 1; i >= 0; --i) {
    DecodedInstr& d = p.code[i];
    if (d.op == static_cast<int>(VmOp::Store)) {
      DecodedInstr* src = i > 0 ? &p.code[i - 1] : nullptr;
      const bool isOp = src && (vmIsUnary(src->op) || vmIsBinary(src->op) || vmIsTernary(src->op));
      if (isOp && src->dst == d.dst && !live[d.dst]) {
        src->toOutput = d.a;
        d.skip = true;
      } else {
        live[d.dst] = true;
      }
      continue;
    }
    live[d.dst] = false;
    if (vmIsUnary(d.op)) {
      live[d.a] = true;
    } else if (vmIsBinary(d.op)) {
      if (!d.aImm) live[d.a] = true;
      if (!d.bImm) live[d.b] = true;
    } else if (vmIsTernary(d.op)) {
      live[d.a] = live[d.b] = live[d.c] = true;
    }
  }
}

// [first, last] byte addresses a view touches (empty views: an empty range).
std::pair<uintptr_t, uintptr_t> byteSpan(const TensorView& v) {
  const uintptr_t base = reinterpret_cast<uintptr_t>(v.data);
  if (v.numel() == 0) return {base, base};
  intptr_t lo = 0, hi = 0;
  for (int d = 0; d < v.ndim; ++d) {
    const intptr_t reach = static_cast<intptr_t>((v.shape[d] - 1) * v.strides[d]) * static_cast<intptr_t>(itemSize(v.dtype));
    (reach < 0 ? lo : hi) += reach;
  }
  return {base + lo, base + hi + itemSize(v.dtype) - 1};
}

// Whether an output shares memory with an input: then stores stay where the program puts
// them (writing an output early could change an input a later instruction reads).
bool outputsAliasInputs(const KernelArgs& args) {
  for (int j = 0; j < args.numOutputs; ++j) {
    const auto o = byteSpan(args.out(j));
    for (int i = 0; i < args.numInputs; ++i) {
      if (args.in(i).numel() == 0) continue;
      const auto x = byteSpan(args.in(i));
      if (x.first <= o.second && o.first <= x.second) return true;
    }
  }
  return false;
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
#include "kernels/pointwise/functors.h"
#include "kernels/pointwise/pointwise_loop.h"  // kStreamBytes
namespace tensorjit {
namespace TJ_ISA_NS {
namespace {

using V = Vec;
using Reg = V::Reg;

// y[i] = f(xs[i]...) over n floats (pw::storeRow: full vectors, then one masked tail).
// kStream: y is output memory, written with non-temporal stores (the caller fences).
template <bool kStream, class F, class... X>
inline void mapRows(float* y, int64_t n, F f, const X*... xs) {
  pw::storeRow<V, kStream, false>(
      y, n, [&](int64_t i) { return f(V::load(xs + i)...); },
      [&](int64_t i, int r) { return f(V::loadPartial(xs + i, r)...); }, [](int64_t) {});
}

// A binary op's operand: a block, or a constant broadcast in a register.
struct Operand {
  const float* p;
  bool imm;
  float value;
};

template <bool kStream, class F>
inline void mapBinary(float* y, const Operand& a, const Operand& b, int64_t n, F f) {
  if (b.imm) {
    const Reg cb = V::set1(b.value);
    mapRows<kStream>(y, n, [&](Reg x) { return f(x, cb); }, a.p);
  } else if (a.imm) {
    const Reg ca = V::set1(a.value);
    mapRows<kStream>(y, n, [&](Reg z) { return f(ca, z); }, b.p);
  } else {
    mapRows<kStream>(y, n, f, a.p, b.p);
  }
}

// Every op runs the same functor as its eager kernel (kernels/pointwise/functors.h),
// so fused and unfused programs give the same bits.
inline Reg boolToFloat(typename V::Mask m) { return V::select(m, V::set1(1.f), V::zero()); }

template <class Op>
void unary(float* y, const float* a, int64_t n, bool stream) {
  auto f = [](Reg x) { return Op::template apply<V>(x); };
  if (stream) mapRows<true>(y, n, f, a);
  else mapRows<false>(y, n, f, a);
}
template <class Op>
void binary(float* y, const Operand& a, const Operand& b, int64_t n, bool stream) {
  auto f = [](Reg x, Reg z) { return Op::template apply<V>(x, z); };
  if (stream) mapBinary<true>(y, a, b, n, f);
  else mapBinary<false>(y, a, b, n, f);
}
template <class Op>
void compare(float* y, const Operand& a, const Operand& b, int64_t n, bool stream) {
  auto f = [](Reg x, Reg z) { return boolToFloat(Op::template mask<V>(x, z)); };
  if (stream) mapBinary<true>(y, a, b, n, f);
  else mapBinary<false>(y, a, b, n, f);
}

void runUnary(VmOp op, float* y, const float* a, int64_t n, bool stream) {
  switch (op) {
    case VmOp::Neg: return unary<pw::Neg>(y, a, n, stream);
    case VmOp::Abs: return unary<pw::Abs>(y, a, n, stream);
    case VmOp::Exp: return unary<pw::Exp>(y, a, n, stream);
    case VmOp::Log: return unary<pw::Log>(y, a, n, stream);
    case VmOp::Sqrt: return unary<pw::Sqrt>(y, a, n, stream);
    case VmOp::Rsqrt: return unary<pw::Rsqrt>(y, a, n, stream);
    case VmOp::Sin: return unary<pw::Sin>(y, a, n, stream);
    case VmOp::Cos: return unary<pw::Cos>(y, a, n, stream);
    case VmOp::Tanh: return unary<pw::Tanh>(y, a, n, stream);
    case VmOp::Sigmoid: return unary<pw::Sigmoid>(y, a, n, stream);
    case VmOp::Relu: return unary<pw::Relu>(y, a, n, stream);
    case VmOp::Gelu: return unary<pw::Gelu>(y, a, n, stream);
    case VmOp::GeluTanh: return unary<pw::GeluTanh>(y, a, n, stream);
    case VmOp::Silu: return unary<pw::Silu>(y, a, n, stream);
    case VmOp::Erf: return unary<pw::Erf>(y, a, n, stream);
    default: throwRangeError("fused_pointwise: not a unary opcode");
  }
}

void runBinary(VmOp op, float* y, const Operand& a, const Operand& b, int64_t n, bool stream) {
  switch (op) {
    case VmOp::Add: return binary<pw::Add>(y, a, b, n, stream);
    case VmOp::Sub: return binary<pw::Sub>(y, a, b, n, stream);
    case VmOp::Mul: return binary<pw::Mul>(y, a, b, n, stream);
    case VmOp::Div: return binary<pw::Div>(y, a, b, n, stream);
    case VmOp::Pow: return binary<pw::Pow>(y, a, b, n, stream);
    case VmOp::Maximum: return binary<pw::Maximum>(y, a, b, n, stream);
    case VmOp::Minimum: return binary<pw::Minimum>(y, a, b, n, stream);
    case VmOp::Eq: return compare<pw::Eq>(y, a, b, n, stream);
    case VmOp::Ne: return compare<pw::Ne>(y, a, b, n, stream);
    case VmOp::Lt: return compare<pw::Lt>(y, a, b, n, stream);
    case VmOp::Le: return compare<pw::Le>(y, a, b, n, stream);
    case VmOp::Gt: return compare<pw::Gt>(y, a, b, n, stream);
    case VmOp::Ge: return compare<pw::Ge>(y, a, b, n, stream);
    default: throwRangeError("fused_pointwise: not a binary opcode");
  }
}

template <bool kStream>
void ternary(VmOp op, float* y, const float* a, const float* b, const float* c, int64_t n) {
  if (op == VmOp::Clamp) {
    mapRows<kStream>(y, n, [](Reg x, Reg lo, Reg hi) { return pw::clampF32<V>(x, lo, hi); }, a, b, c);
  } else {
    mapRows<kStream>(y, n, [](Reg m, Reg x, Reg z) { return V::select(V::cmpNe(m, V::zero()), x, z); }, a, b, c);
  }
}
void runTernary(VmOp op, float* y, const float* a, const float* b, const float* c, int64_t n, bool stream) {
  if (stream) ternary<true>(op, y, a, b, c, n);
  else ternary<false>(op, y, a, b, c, n);
}

// y[0, n) <- r[0, n) with non-temporal stores (the caller fences).
inline void streamBlock(float* y, const float* r, int64_t n) {
  mapRows<true>(y, n, [](Reg v) { return v; }, r);
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
  VmProgram prog = decode(args);
  planExecution(prog, !outputsAliasInputs(args));
  const TensorView& out0 = args.out(0);
  std::vector<StridedLoop<1>> loops;
  loops.reserve(static_cast<size_t>(args.numInputs));
  for (int i = 0; i < args.numInputs; ++i) {
    const TensorView* v[1] = {&args.in(i)};
    loops.emplace_back(v, out0.ndim, out0.shape);
  }
  const int64_t numel = out0.numel();
  const int64_t blocks = (numel + kBlock - 1) / kBlock;
  // Large outputs are written with non-temporal stores, as the eager kernels do (no read
  // for ownership: a unary program moves 8 bytes per element instead of 12).
  const bool stream = numel * static_cast<int64_t>(sizeof(float)) >= pw::kStreamBytes;
  // Dense inputs are prefetched one block ahead: the VM spends a block's time in L1 passes,
  // so the hardware prefetcher alone leaves each block's first pass waiting on memory.
  std::vector<const char*> dense;
  for (int i = 0; i < args.numInputs; ++i) {
    const TensorView& in = args.in(i);
    if (in.dtype == DType::Float32 && in.isContiguous() && in.numel() == numel) dense.push_back(in.ptr<char>());
  }
  const int64_t blockLines = kBlock * static_cast<int64_t>(sizeof(float)) / 64;
  const int64_t numInstrs = std::max<int64_t>(1, static_cast<int64_t>(prog.code.size()));
  const int64_t linesPerInstr = (blockLines + numInstrs - 1) / numInstrs;
  // ~32K elements per thread at least, so small tensors stay on one thread.
  parallelFor(blocks, 32, [&](int64_t b0, int64_t b1) {
    std::vector<float> scratch(static_cast<size_t>(prog.numRegs) * kRegStride);
    std::vector<const float*> regs(static_cast<size_t>(prog.numRegs), nullptr);
    auto reg = [&](int r) { return scratch.data() + static_cast<size_t>(r) * kRegStride; };
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t b = blk * kBlock, e = std::min(numel, b + kBlock), n = e - b;
      // the next block's lines, spread over this block's instructions (a burst of 64
      // prefetches would stall on the line fill buffers)
      const int64_t aheadEnd = (e + std::min(numel - e, kBlock)) * static_cast<int64_t>(sizeof(float));
      int64_t nextLine = e * static_cast<int64_t>(sizeof(float));
      for (const DecodedInstr& in : prog.code) {
        for (int64_t k = 0; k < linesPerInstr && nextLine < aheadEnd; ++k, nextLine += 64)
          for (const char* base : dense) __builtin_prefetch(base + nextLine, 0, 3);
        if (in.skip) continue;
        const VmOp op = static_cast<VmOp>(in.op);
        // an op fused with its Store writes the output (streamed when large)
        float* dst = in.toOutput >= 0 ? args.out(in.toOutput).ptr<float>() + b : reg(in.dst);
        const bool streamDst = stream && in.toOutput >= 0;
        if (op == VmOp::Load) {
          regs[in.dst] = loadBlock(loops[in.a], args.in(in.a), b, e, reg(in.dst));
        } else if (op == VmOp::Const) {
          std::fill(reg(in.dst), reg(in.dst) + n, in.imm);
          regs[in.dst] = reg(in.dst);
        } else if (op == VmOp::Store) {
          const float* r = regs[in.dst];
          float* y = args.out(in.a).ptr<float>() + b;
          if (stream) {
            streamBlock(y, r, n);
          } else {
            std::memcpy(y, r, static_cast<size_t>(n) * sizeof(float));
          }
        } else if (vmIsUnary(in.op)) {
          runUnary(op, dst, regs[in.a], n, streamDst);
          regs[in.dst] = dst;
        } else if (vmIsBinary(in.op)) {
          const Operand x{in.aImm ? nullptr : regs[in.a], in.aImm, in.aVal};
          const Operand z{in.bImm ? nullptr : regs[in.b], in.bImm, in.bVal};
          runBinary(op, dst, x, z, n, streamDst);
          regs[in.dst] = dst;
        } else {
          runTernary(op, dst, regs[in.a], regs[in.b], regs[in.c], n, streamDst);
          regs[in.dst] = dst;
        }
      }
    }
    if (stream) V::streamFence();  // once per thread: a fence per block waited for every 4 KiB to drain
  });
}

TJ_REGISTER_KERNEL("fused_pointwise", fusedPointwiseKernel);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
