// "fused_pointwise": runs a VM program (vm_ops.h) over float32 blocks.
// inputs: any number of tensors broadcastable to outputs[0]'s shape (any strides);
// outputs: contiguous float32 tensors of one shape. attrs: the program.
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/kernel.h"
#include "core/thread_pool.h"
#include "kernels/common/strided_loop.h"
#include "kernels/fused/fused_pointwise.h"
#include "kernels/fused/vm_ops.h"
#include "kernels/pointwise/elem.h"

#ifndef TJ_ISA_PASS
// Baseline helpers (compiled once), then the per-ISA bodies below.
namespace tensorjit {
namespace {

// Floats per register. A pass's head, its block operands and its destination (3-4 x 8 KiB)
// stay in L1; a program's other registers in L2 (32 x 8 KiB). Larger blocks spread the
// per-pass dispatch over more elements (2048 measured 7% faster than 1024 on the bench chain).
constexpr int64_t kBlock = 2048;
// Registers are kBlock + 32 floats apart, not a multiple of 4 KiB: an op reading register r and
// writing r + 1 would hit the same offset modulo 4 KiB on every access, where the CPU's
// store-to-load check stalls loads behind unrelated stores (4K aliasing).
constexpr int64_t kRegStride = kBlock + 32;

struct DecodedInstr {
  int op, dst, a, b, c;
  float imm;
  // Filled in by planExecution:
  bool skip = false;        // a Const only read as an immediate, a Store done by its writer, or a chained step
  bool aImm = false, bImm = false;  // binary operand is a constant: a broadcast register, no block
  float aVal = 0.f, bVal = 0.f;
  int toOutput = -1;        // this op's pass writes output[toOutput] directly (its Store is skipped)
  int firstStep = 0, numSteps = 0;  // steps chained onto this op's pass: VmProgram::steps[first, +num)
  int passDst = -1;         // the register the pass leaves its result in (the last step's dst)
};

// A cheap op applied in registers to the running value of a pass, right after the op
// that heads it: the value between them never goes through a block. The code names the
// op and where the running value sits (L: first operand, R: second, Self: both); the
// other operand is register `reg`'s block, or the constant `imm` when reg < 0.
enum class StepCode : uint8_t {
  AddL, AddR, AddSelf, SubL, SubR, SubSelf, MulL, MulR, MulSelf,
  MaxL, MaxR, MaxSelf, MinL, MinR, MinSelf, Neg, Abs, Relu,
};
struct ChainStep {
  StepCode code;
  float imm;
  int reg;
};

// The code of a step: op (a cheap binary or unary VmOp) with the running value on the
// left, the right, or both sides.
StepCode stepCode(int op, bool valueLeft, bool valueRight) {
  auto pick = [&](StepCode left, StepCode right, StepCode self) {
    return valueLeft && valueRight ? self : valueLeft ? left : right;
  };
  switch (static_cast<VmOp>(op)) {
    case VmOp::Add: return pick(StepCode::AddL, StepCode::AddR, StepCode::AddSelf);
    case VmOp::Sub: return pick(StepCode::SubL, StepCode::SubR, StepCode::SubSelf);
    case VmOp::Mul: return pick(StepCode::MulL, StepCode::MulR, StepCode::MulSelf);
    case VmOp::Maximum: return pick(StepCode::MaxL, StepCode::MaxR, StepCode::MaxSelf);
    case VmOp::Minimum: return pick(StepCode::MinL, StepCode::MinR, StepCode::MinSelf);
    case VmOp::Neg: return StepCode::Neg;
    case VmOp::Abs: return StepCode::Abs;
    default: return StepCode::Relu;  // isCheapStep admits no other op
  }
}

struct VmProgram {
  int numRegs = 0;
  std::vector<DecodedInstr> code;
  std::vector<ChainStep> steps;
  // Filled in by planExecution:
  std::vector<int> runOrder;  // the instructions that run (not skipped), in order
  int numPasses = 0;          // those that take time (not Load): prefetches are spread over them
  int maxSteps = 0;           // the most steps one pass chains
};

// Ops that cost about one instruction per vector: chained onto the op before them
// instead of running their own pass over the block.
bool isCheapStep(int op) {
  switch (static_cast<VmOp>(op)) {
    case VmOp::Add: case VmOp::Sub: case VmOp::Mul: case VmOp::Maximum: case VmOp::Minimum:
    case VmOp::Neg: case VmOp::Abs: case VmOp::Relu:
      return true;
    default:
      return false;
  }
}

bool isComputeOp(int op) { return vmIsUnary(op) || vmIsBinary(op) || vmIsTernary(op); }

int checkedIndex(double v, int limit, const char* what) {
  if (!(v >= 0 && v < limit) || v != std::floor(v))
    throwRangeError(std::string("fused_pointwise: bad ") + what + " " + std::to_string(v));
  return static_cast<int>(v);
}

// attrs: the program words (numAttrs of them) of a call with numInputs inputs and
// numOutputs outputs.
VmProgram decode(const double* attrs, int numAttrs, int numInputs, int numOutputs) {
  if (numAttrs < 2) throwRangeError("fused_pointwise: missing program");
  VmProgram p;
  p.numRegs = checkedIndex(attrs[0], kVmMaxRegs + 1, "register count");
  const int n = checkedIndex(attrs[1], 1 << 16, "instruction count");
  if (numAttrs != 2 + n * kVmInstrWords) throwRangeError("fused_pointwise: program length mismatch");
  // Registers hold a block only once written: reading one earlier is a malformed program.
  std::vector<bool> written(static_cast<size_t>(p.numRegs), false);
  auto readReg = [&](double v) {
    const int r = checkedIndex(v, p.numRegs, "register");
    if (!written[r]) throwRangeError("fused_pointwise: register " + std::to_string(r) + " is read before it is written");
    return r;
  };
  for (int i = 0; i < n; ++i) {
    const double* w = attrs + 2 + i * kVmInstrWords;
    // range-checked before the cast (casting NaN or a huge double to int is undefined)
    if (!(w[0] >= 0 && w[0] < 1024) || w[0] != std::floor(w[0])) throwRangeError("fused_pointwise: bad opcode " + std::to_string(w[0]));
    DecodedInstr d{static_cast<int>(w[0]), 0, 0, 0, 0, 0.f};
    const int op = d.op;
    if (op == static_cast<int>(VmOp::Load)) {
      d.dst = checkedIndex(w[1], p.numRegs, "register");
      d.a = checkedIndex(w[2], numInputs, "input index");
    } else if (op == static_cast<int>(VmOp::Const)) {
      d.dst = checkedIndex(w[1], p.numRegs, "register");
      d.imm = static_cast<float>(w[2]);
    } else if (op == static_cast<int>(VmOp::Store)) {
      d.dst = readReg(w[1]);
      d.a = checkedIndex(w[2], numOutputs, "output index");
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

// Chaining: a cheap op (isCheapStep) that reads the value the op before it wrote, when no
// other instruction reads that value, becomes a step of that op's pass. Steps apply in
// registers, vector by vector, so a chain of cheap ops costs one pass over the block, not
// one each. Uses per written value, one backward pass: useCount[i] = instructions (and
// Stores) reading the value instruction i writes, firstUse[i] = the first of them.
void chainCheapOps(VmProgram& p) {
  const int n = static_cast<int>(p.code.size());
  std::vector<int> useCount(static_cast<size_t>(n), 0), firstUse(static_cast<size_t>(n), -1);
  std::vector<int> readers(static_cast<size_t>(p.numRegs), 0), firstReader(static_cast<size_t>(p.numRegs), -1);
  for (int i = n - 1; i >= 0; --i) {
    const DecodedInstr& d = p.code[i];
    if (d.skip && d.op == static_cast<int>(VmOp::Const)) continue;
    if (d.op != static_cast<int>(VmOp::Store)) {
      useCount[i] = readers[d.dst];
      firstUse[i] = firstReader[d.dst];
      readers[d.dst] = 0;
      firstReader[d.dst] = -1;
    }
    // registers read (once per instruction even when read twice)
    int reads[3], numReads = 0;
    auto read = [&](int r) {
      for (int k = 0; k < numReads; ++k)
        if (reads[k] == r) return;
      reads[numReads++] = r;
    };
    if (d.op == static_cast<int>(VmOp::Store) || vmIsUnary(d.op)) {
      read(d.op == static_cast<int>(VmOp::Store) ? d.dst : d.a);
    } else if (vmIsBinary(d.op)) {
      if (!d.aImm) read(d.a);
      if (!d.bImm) read(d.b);
    } else if (vmIsTernary(d.op)) {
      read(d.a), read(d.b), read(d.c);
    }
    for (int k = 0; k < numReads; ++k) {
      ++readers[reads[k]];
      firstReader[reads[k]] = i;
    }
  }
  for (int i = 0; i < n;) {
    DecodedInstr& head = p.code[i];
    if (head.skip || !isComputeOp(head.op)) {
      ++i;
      continue;
    }
    head.firstStep = static_cast<int>(p.steps.size());
    head.passDst = head.dst;
    int last = i;  // the instruction whose value the pass holds
    int j = i + 1;
    for (;; ++j) {
      while (j < n && p.code[j].skip && p.code[j].op == static_cast<int>(VmOp::Const)) ++j;
      if (j >= n || !isCheapStep(p.code[j].op) || useCount[last] != 1 || firstUse[last] != j) break;
      DecodedInstr& d = p.code[j];
      const int value = p.code[last].dst;
      ChainStep st{stepCode(d.op, true, false), 0.f, -1};
      if (vmIsBinary(d.op)) {
        const bool aIsValue = !d.aImm && d.a == value, bIsValue = !d.bImm && d.b == value;
        st.code = stepCode(d.op, aIsValue, bIsValue);
        if (!(aIsValue && bIsValue)) {
          if (aIsValue ? d.bImm : d.aImm) st.imm = aIsValue ? d.bVal : d.aVal;
          else st.reg = aIsValue ? d.b : d.a;
        }
      }
      p.steps.push_back(st);
      d.skip = true;
      ++head.numSteps;
      head.passDst = d.dst;
      last = j;
    }
    i = j;
  }
}

// Store fusion: the Store's register is written by the instruction right before it, an
// op (not Load, which may alias the input, nor Const), and no later instruction reads
// that value. Liveness, one backward pass: live[r] = r's current value is read later.
void fuseStoresIntoWriters(VmProgram& p) {
  const int n = static_cast<int>(p.code.size());
  // the pass each op runs in (its own index, or its head's when chained)
  std::vector<int> headOf(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) headOf[i] = i;
  for (int i = 0; i < n; ++i) {
    const DecodedInstr& d = p.code[i];
    for (int k = 1, j = i + 1; k <= d.numSteps; ++j)
      if (p.code[j].skip && p.code[j].op != static_cast<int>(VmOp::Const)) headOf[j] = i, ++k;
  }
  std::vector<bool> live(static_cast<size_t>(p.numRegs), false);
  for (int i = n - 1; i >= 0; --i) {
    DecodedInstr& d = p.code[i];
    if (d.op == static_cast<int>(VmOp::Store)) {
      DecodedInstr* src = i > 0 ? &p.code[i - 1] : nullptr;
      const bool isOp = src && isComputeOp(src->op);
      if (isOp && src->dst == d.dst && !live[d.dst]) {
        p.code[headOf[i - 1]].toOutput = d.a;
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

// Saves passes over the block (each costs about as much as a cheap op):
//  - a binary operand written by Const is used as a broadcast register, and a Const whose
//    every reader takes it that way is not filled;
//  - cheap ops are chained onto the op before them (chainCheapOps);
//  - an op whose result is only stored writes the output directly, and the Store is skipped.
// It also lists what runs (runOrder, numPasses, maxSteps), so a call only binds operands.
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

  chainCheapOps(p);
  if (fuseStores) fuseStoresIntoWriters(p);
  p.runOrder.clear();
  p.numPasses = p.maxSteps = 0;
  for (int i = 0; i < n; ++i) {
    const DecodedInstr& d = p.code[i];
    if (d.skip) continue;
    p.runOrder.push_back(i);
    p.numPasses += d.op != static_cast<int>(VmOp::Load);
    p.maxSteps = std::max(p.maxSteps, d.numSteps);
  }
}

// Whether an output shares memory with an input: then stores stay where the program puts
// them (writing an output early could change an input a later instruction reads).
bool outputsAliasInputs(const KernelArgs& args) {
  for (int j = 0; j < args.numOutputs; ++j)
    for (int i = 0; i < args.numInputs; ++i)
      if (overlaps(args.out(j), args.in(i))) return true;
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

// A program decoded once and planned for both cases a call can be in (see planExecution).
struct PlannedProgram {
  VmProgram storesFused;  // outputs do not overlap inputs
  VmProgram storesKept;   // an output overlaps an input
  int numInputs = 0, numOutputs = 0;
};

// Runs a planned program over a call's operands: one per ISA pass, registered below it.
using ProgramRunner = void (*)(const VmProgram&, const KernelArgs&);
IsaCompanions<ProgramRunner>& runners() {
  static IsaCompanions<ProgramRunner> table("fused_pointwise");
  return table;
}
struct RunnerRegistration {
  RunnerRegistration(Isa isa, ProgramRunner run) { runners().set(isa, run); }
};

}  // namespace

std::function<void(const KernelArgs&)> prepareFusedPointwise(const std::vector<double>& attrs, int numInputs,
                                                             int numOutputs) {
  auto planned = std::make_shared<PlannedProgram>();
  planned->storesFused = decode(attrs.data(), static_cast<int>(attrs.size()), numInputs, numOutputs);
  planned->storesKept = planned->storesFused;
  planExecution(planned->storesFused, true);
  planExecution(planned->storesKept, false);
  planned->numInputs = numInputs;
  planned->numOutputs = numOutputs;
  const ProgramRunner run = runners().forActiveIsa();
  return [planned, run](const KernelArgs& args) {
    if (args.numInputs != planned->numInputs || args.numOutputs != planned->numOutputs)
      throwRangeError("fused_pointwise: called with " + std::to_string(args.numInputs) + " inputs and " +
                      std::to_string(args.numOutputs) + " outputs, prepared for " + std::to_string(planned->numInputs) +
                      " and " + std::to_string(planned->numOutputs));
    checkOperands(args);
    run(outputsAliasInputs(args) ? planned->storesKept : planned->storesFused, args);
  };
}

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

// GCC 12 reports the self-initialised placeholder of _mm512_undefined_ps (inside
// _mm512_max_ps and others) as "may be used uninitialized" once runPass's vector arrays are
// flattened into one function: a false positive, silenced for this file's ISA code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// A chained step resolved for the current block: its other operand is `block`, or the
// constant `imm` when block is null (Self and unary steps read neither).
struct RunStep {
  StepCode code;
  float imm;
  const float* block;
};

// A step's other operand for G vectors.
template <int G>
struct StepOperands {
  Reg r[G];
};
template <int G>
inline StepOperands<G> operandsOf(const RunStep& st, int64_t i, int tail) {
  StepOperands<G> o;
  if (!st.block) {
    const Reg c = V::set1(st.imm);
    for (int g = 0; g < G; ++g) o.r[g] = c;
  } else {
    const float* p = st.block + i;
    for (int g = 0; g < G; ++g) o.r[g] = tail ? V::loadPartial(p, tail) : V::load(p + g * V::kLanes);
  }
  return o;
}

template <class Op, int G>
inline void valueLeft(Reg (&v)[G], const StepOperands<G>& o) {
  for (int g = 0; g < G; ++g) v[g] = Op::template apply<V>(v[g], o.r[g]);
}
template <class Op, int G>
inline void valueRight(Reg (&v)[G], const StepOperands<G>& o) {
  for (int g = 0; g < G; ++g) v[g] = Op::template apply<V>(o.r[g], v[g]);
}
template <class Op, int G>
inline void valueSelf(Reg (&v)[G]) {
  for (int g = 0; g < G; ++g) v[g] = Op::template apply<V>(v[g], v[g]);
}
template <class Op, int G>
inline void valueUnary(Reg (&v)[G]) {
  for (int g = 0; g < G; ++g) v[g] = Op::template apply<V>(v[g]);
}

// Applies the steps to G vectors held in registers: v[g] covers elements
// [i + g kLanes, + kLanes), or only the first `tail` of them when tail > 0 (G = 1).
// One switch per step per G vectors.
template <int G>
inline void applySteps(Reg (&v)[G], const RunStep* steps, int numSteps, int64_t i, int tail) {
  for (int s = 0; s < numSteps; ++s) {
    const RunStep& st = steps[s];
    switch (st.code) {
      case StepCode::AddL: valueLeft<pw::Add>(v, operandsOf<G>(st, i, tail)); break;
      case StepCode::AddR: valueRight<pw::Add>(v, operandsOf<G>(st, i, tail)); break;
      case StepCode::AddSelf: valueSelf<pw::Add>(v); break;
      case StepCode::SubL: valueLeft<pw::Sub>(v, operandsOf<G>(st, i, tail)); break;
      case StepCode::SubR: valueRight<pw::Sub>(v, operandsOf<G>(st, i, tail)); break;
      case StepCode::SubSelf: valueSelf<pw::Sub>(v); break;
      case StepCode::MulL: valueLeft<pw::Mul>(v, operandsOf<G>(st, i, tail)); break;
      case StepCode::MulR: valueRight<pw::Mul>(v, operandsOf<G>(st, i, tail)); break;
      case StepCode::MulSelf: valueSelf<pw::Mul>(v); break;
      case StepCode::MaxL: valueLeft<pw::Maximum>(v, operandsOf<G>(st, i, tail)); break;
      case StepCode::MaxR: valueRight<pw::Maximum>(v, operandsOf<G>(st, i, tail)); break;
      case StepCode::MaxSelf: valueSelf<pw::Maximum>(v); break;
      case StepCode::MinL: valueLeft<pw::Minimum>(v, operandsOf<G>(st, i, tail)); break;
      case StepCode::MinR: valueRight<pw::Minimum>(v, operandsOf<G>(st, i, tail)); break;
      case StepCode::MinSelf: valueSelf<pw::Minimum>(v); break;
      case StepCode::Neg: valueUnary<pw::Neg>(v); break;
      case StepCode::Abs: valueUnary<pw::Abs>(v); break;
      case StepCode::Relu: valueUnary<pw::Relu>(v); break;
    }
  }
}

// Where a pass writes: n floats at y (output memory written with non-temporal stores when
// `stream`; the caller fences), after applying `steps` to each head result.
struct PassOut {
  float* y;
  int64_t n;
  bool stream;
  const RunStep* steps;
  int numSteps;
};

// y = steps(head) over n floats, eight vectors at a time: the steps' dispatch is paid once
// per eight (measured 3% faster than four on the bench chain), and long heads (tanh,
// sigmoid) still overlap across vectors.
template <bool kStream, class Full, class Partial>
__attribute__((flatten)) inline void runPass(const PassOut& out, Full full, Partial partial) {
  constexpr int G = 8;
  constexpr int64_t L = V::kLanes;
  float* y = out.y;
  const int64_t n = out.n;
  int64_t i = 0;
  auto one = [&](int r) {  // one vector at i, r lanes (r = L: full)
    Reg v[1] = {r == L ? full(i) : partial(i, r)};
    applySteps<1>(v, out.steps, out.numSteps, i, r == L ? 0 : r);
    if (r < L) V::storePartial(y + i, v[0], r);
    else if (kStream) V::storeStream(y + i, v[0]);
    else V::store(y + i, v[0]);
    i += r;
  };
  if constexpr (kStream) {  // non-temporal stores need aligned vectors
    const int64_t misaligned = static_cast<int64_t>((reinterpret_cast<uintptr_t>(y) / sizeof(float)) % L);
    if (misaligned) one(static_cast<int>(std::min<int64_t>(n, L - misaligned)));
  }
  for (; i + G * L <= n; i += G * L) {
    Reg v[G];
    for (int g = 0; g < G; ++g) v[g] = full(i + g * L);
    applySteps<G>(v, out.steps, out.numSteps, i, 0);
    for (int g = 0; g < G; ++g) {
      if (kStream) V::storeStream(y + i + g * L, v[g]);
      else V::store(y + i + g * L, v[g]);
    }
  }
  while (i + L <= n) one(static_cast<int>(L));
  if (i < n) one(static_cast<int>(n - i));
}

// y[i] = steps(f(xs[i]...)) over n floats; without steps, pw::storeRow (full vectors, then
// one masked tail).
template <class F, class... X>
inline void mapRows(const PassOut& out, F f, const X*... xs) {
  auto full = [&](int64_t i) { return f(V::load(xs + i)...); };
  auto partial = [&](int64_t i, int r) { return f(V::loadPartial(xs + i, r)...); };
  if (out.numSteps > 0) {
    if (out.stream) runPass<true>(out, full, partial);
    else runPass<false>(out, full, partial);
  } else {
    if (out.stream) pw::storeRow<V, true, false>(out.y, out.n, full, partial, [](int64_t) {});
    else pw::storeRow<V, false, false>(out.y, out.n, full, partial, [](int64_t) {});
  }
}

// A binary op's operand: a block, or a constant broadcast in a register.
struct Operand {
  const float* p;
  bool imm;
  float value;
};

template <class F>
inline void mapBinary(const PassOut& out, const Operand& a, const Operand& b, F f) {
  if (b.imm) {
    const Reg cb = V::set1(b.value);
    mapRows(out, [&](Reg x) { return f(x, cb); }, a.p);
  } else if (a.imm) {
    const Reg ca = V::set1(a.value);
    mapRows(out, [&](Reg z) { return f(ca, z); }, b.p);
  } else {
    mapRows(out, f, a.p, b.p);
  }
}

// Every op runs the same functor as its eager kernel (kernels/pointwise/functors.h),
// so fused and unfused programs give the same bits.
inline Reg boolToFloat(typename V::Mask m) { return V::select(m, V::set1(1.f), V::zero()); }

template <class Op>
void unary(const PassOut& out, const float* a) {
  mapRows(out, [](Reg x) { return Op::template apply<V>(x); }, a);
}
template <class Op>
void binary(const PassOut& out, const Operand& a, const Operand& b) {
  mapBinary(out, a, b, [](Reg x, Reg z) { return Op::template apply<V>(x, z); });
}
template <class Op>
void compare(const PassOut& out, const Operand& a, const Operand& b) {
  mapBinary(out, a, b, [](Reg x, Reg z) { return boolToFloat(Op::template mask<V>(x, z)); });
}

void runUnary(VmOp op, const PassOut& out, const float* a) {
  switch (op) {
    case VmOp::Neg: return unary<pw::Neg>(out, a);
    case VmOp::Abs: return unary<pw::Abs>(out, a);
    case VmOp::Exp: return unary<pw::Exp>(out, a);
    case VmOp::Log: return unary<pw::Log>(out, a);
    case VmOp::Sqrt: return unary<pw::Sqrt>(out, a);
    case VmOp::Rsqrt: return unary<pw::Rsqrt>(out, a);
    case VmOp::Sin: return unary<pw::Sin>(out, a);
    case VmOp::Cos: return unary<pw::Cos>(out, a);
    case VmOp::Tanh: return unary<pw::Tanh>(out, a);
    case VmOp::Sigmoid: return unary<pw::Sigmoid>(out, a);
    case VmOp::Relu: return unary<pw::Relu>(out, a);
    case VmOp::Gelu: return unary<pw::Gelu>(out, a);
    case VmOp::GeluTanh: return unary<pw::GeluTanh>(out, a);
    case VmOp::Silu: return unary<pw::Silu>(out, a);
    case VmOp::Erf: return unary<pw::Erf>(out, a);
    default: throwRangeError("fused_pointwise: not a unary opcode");
  }
}

void runBinary(VmOp op, const PassOut& out, const Operand& a, const Operand& b) {
  switch (op) {
    case VmOp::Add: return binary<pw::Add>(out, a, b);
    case VmOp::Sub: return binary<pw::Sub>(out, a, b);
    case VmOp::Mul: return binary<pw::Mul>(out, a, b);
    case VmOp::Div: return binary<pw::Div>(out, a, b);
    case VmOp::Pow: return binary<pw::Pow>(out, a, b);
    case VmOp::Maximum: return binary<pw::Maximum>(out, a, b);
    case VmOp::Minimum: return binary<pw::Minimum>(out, a, b);
    case VmOp::Eq: return compare<pw::Eq>(out, a, b);
    case VmOp::Ne: return compare<pw::Ne>(out, a, b);
    case VmOp::Lt: return compare<pw::Lt>(out, a, b);
    case VmOp::Le: return compare<pw::Le>(out, a, b);
    case VmOp::Gt: return compare<pw::Gt>(out, a, b);
    case VmOp::Ge: return compare<pw::Ge>(out, a, b);
    default: throwRangeError("fused_pointwise: not a binary opcode");
  }
}

void runTernary(VmOp op, const PassOut& out, const float* a, const float* b, const float* c) {
  if (op == VmOp::Clamp) {
    mapRows(out, [](Reg x, Reg lo, Reg hi) { return pw::clampF32<V>(x, lo, hi); }, a, b, c);
  } else {
    mapRows(out, [](Reg m, Reg x, Reg z) { return V::select(V::cmpNe(m, V::zero()), x, z); }, a, b, c);
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

void runProgram(const VmProgram& prog, const KernelArgs& args) {
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
  // Dense inputs too large for the cache are prefetched one block ahead: the VM spends a
  // block's time in L1 passes, so the hardware prefetcher alone leaves each block's first
  // pass waiting on memory. (Inputs in cache do not need it; it cost them 8%.)
  std::vector<const char*> dense;
  for (int i = 0; i < args.numInputs; ++i) {
    const TensorView& in = args.in(i);
    if (in.dtype == DType::Float32 && in.isContiguous() && in.numel() == numel && stream) dense.push_back(in.ptr<char>());
  }
  const int64_t blockLines = kBlock * static_cast<int64_t>(sizeof(float)) / 64;
  const int64_t passes = std::max(1, prog.numPasses);
  const int64_t linesPerPass = (blockLines + passes - 1) / passes;
  // ~32K elements per thread at least, so small tensors stay on one thread.
  parallelFor(blocks, 32768 / kBlock, [&](int64_t b0, int64_t b1) {
    // the registers' blocks: kept per thread across calls (a fresh zeroed 8 KiB per register
    // cost small calls more than their compute)
    static thread_local std::vector<float> scratch;
    const size_t scratchFloats = static_cast<size_t>(prog.numRegs) * kRegStride;
    if (scratch.size() < scratchFloats) scratch.resize(scratchFloats);
    std::vector<const float*> regs(static_cast<size_t>(prog.numRegs), nullptr);
    std::vector<RunStep> steps(static_cast<size_t>(prog.maxSteps));
    auto reg = [&](int r) { return scratch.data() + static_cast<size_t>(r) * kRegStride; };
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t b = blk * kBlock, e = std::min(numel, b + kBlock), n = e - b;
      // the next block's lines, spread over this block's passes (a burst of 64 prefetches
      // would stall on the line fill buffers)
      const int64_t aheadEnd = (e + std::min(numel - e, kBlock)) * static_cast<int64_t>(sizeof(float));
      int64_t nextLine = e * static_cast<int64_t>(sizeof(float));
      for (const int i : prog.runOrder) {
        const DecodedInstr& in = prog.code[static_cast<size_t>(i)];
        const VmOp op = static_cast<VmOp>(in.op);
        if (op != VmOp::Load)
          for (int64_t k = 0; k < linesPerPass && nextLine < aheadEnd; ++k, nextLine += 64)
            for (const char* base : dense) __builtin_prefetch(base + nextLine, 0, 3);
        if (op == VmOp::Load) {
          regs[in.dst] = loadBlock(loops[in.a], args.in(in.a), b, e, reg(in.dst));
          continue;
        }
        if (op == VmOp::Const) {
          std::fill(reg(in.dst), reg(in.dst) + n, in.imm);
          regs[in.dst] = reg(in.dst);
          continue;
        }
        if (op == VmOp::Store) {
          const PassOut copy{args.out(in.a).ptr<float>() + b, n, stream, nullptr, 0};
          mapRows(copy, [](Reg v) { return v; }, regs[in.dst]);
          continue;
        }
        // an op heads a pass: its chained steps, then the pass's register or, fused with
        // its Store, the output (streamed when large)
        for (int k = 0; k < in.numSteps; ++k) {
          const ChainStep& st = prog.steps[static_cast<size_t>(in.firstStep + k)];
          steps[static_cast<size_t>(k)] = RunStep{st.code, st.imm, st.reg >= 0 ? regs[st.reg] : nullptr};
        }
        float* dst = in.toOutput >= 0 ? args.out(in.toOutput).ptr<float>() + b : reg(in.passDst);
        const PassOut out{dst, n, stream && in.toOutput >= 0, steps.data(), in.numSteps};
        if (vmIsUnary(in.op)) {
          runUnary(op, out, regs[in.a]);
        } else if (vmIsBinary(in.op)) {
          const Operand x{in.aImm ? nullptr : regs[in.a], in.aImm, in.aVal};
          const Operand z{in.bImm ? nullptr : regs[in.b], in.bImm, in.bVal};
          runBinary(op, out, x, z);
        } else {
          runTernary(op, out, regs[in.a], regs[in.b], regs[in.c]);
        }
        regs[in.passDst] = dst;
      }
    }
    if (stream) V::streamFence();  // once per thread: a fence per block would wait for each block to drain
  });
}

// The registered kernel decodes and plans on every call (programs built outside the graph
// passes); the passes prepare theirs once (prepareFusedPointwise).
void fusedPointwiseKernel(const KernelArgs& args) {
  checkOperands(args);
  VmProgram prog = decode(args.attrs, args.numAttrs, args.numInputs, args.numOutputs);
  planExecution(prog, !outputsAliasInputs(args));
  runProgram(prog, args);
}

TJ_REGISTER_KERNEL("fused_pointwise", fusedPointwiseKernel);
const RunnerRegistration kRunnerRegistration(TJ_ISA_ENUM, &runProgram);

}  // namespace
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
#endif
