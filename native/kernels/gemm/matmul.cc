// The matmul-family kernels over the GEMM (float32).
//
// "matmul"  inputs: a, b; output: out. torch.matmul semantics: a 1-D a is [1, K] and a
//           1-D b is [K, 1] (the promoted dim is absent from out); batch dims (all but
//           the last two) broadcast. Serves matmul and bmm. attrs: none.
// "linear"  inputs: x [..., in], weight [out, in], optional bias [out]; output
//           [..., out] = x @ weight^T + bias. attrs: [hasBias (0|1)].
// Any input strides: the GEMM packs through them. The output may be strided too, as
// long as its last dim has unit stride.
// Epilogue (graph pass prepack_pass.cc, for weights that are not constants): matmul
// attrs [activation, residualMode] and linear attrs [hasBias, activation, residualMode],
// applied per output tile in the GEMM. activation is a gemm.h Activation; residualMode 0 =
// none, 1 = act(product + bias) + residual, 2 = act(product + bias + residual) (as conv2d);
// the residual is the last input, float32 of out's shape.
#include <string>
#include <vector>

#include "core/error.h"
#include "core/kernel_registration.h"
#include "core/tensor_view.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/view_util.h"
#include "kernels/reduce/scratch.h"

namespace tensorjit {
namespace {

std::string shapes(const TensorView& a, const TensorView& b) { return a.shapeString() + " and " + b.shapeString(); }

void expectFloat(const char* op, const char* arg, const TensorView& v) {
  if (v.dtype != DType::Float32)
    throwTypeError(std::string(op) + ": argument '" + arg + "' must be float32, got " + dtypeName(v.dtype));
}

// The epilogue of a call: activation, the residual input (or null) and its order, from
// attrs [first, first + 1] when present.
struct CallEpilogue {
  Activation act = Activation::None;
  const TensorView* residual = nullptr;
  bool residualFirst = false;
};

CallEpilogue epilogueOf(const char* op, const KernelArgs& args, int first, int operands) {
  CallEpilogue e;
  if (args.numAttrs <= first) return e;
  if (args.numAttrs != first + 2)
    throwRangeError(std::string(op) + ": expects " + std::to_string(first) + " attrs, or " + std::to_string(first + 2) +
                    " with an epilogue [activation, residualMode]");
  const double act = args.attr(first), mode = args.attr(first + 1);
  if (!(act >= 0 && act <= static_cast<double>(Activation::Tanh)) || act != static_cast<int64_t>(act) ||
      (mode != 0 && mode != 1 && mode != 2))
    throwRangeError(std::string(op) + ": epilogue activation " + std::to_string(act) + " or residual mode " +
                    std::to_string(mode) + " is out of range");
  e.act = static_cast<Activation>(static_cast<int>(act));
  if (mode != 0) {
    if (args.numInputs != operands + 1) throwRangeError(std::string(op) + ": the epilogue's residual input is missing");
    e.residual = &args.in(operands);
    e.residualFirst = mode == 2;
  }
  return e;
}

// out = a @ b + bias per column, then the call's epilogue; a and b as torch.matmul operands.
void matmulViews(const GemmImpl& g, const char* op, const TensorView& a, const TensorView& b, const float* bias,
                 const TensorView& out, const CallEpilogue& epilogue = CallEpilogue()) {
  if (a.ndim < 1 || b.ndim < 1) throwRangeError(std::string(op) + ": both arguments need at least 1 dim, got " + shapes(a, b));
  const int64_t M = a.ndim >= 2 ? a.shape[a.ndim - 2] : 1, K = a.shape[a.ndim - 1];
  const int64_t Kb = b.ndim >= 2 ? b.shape[b.ndim - 2] : b.shape[0], N = b.ndim >= 2 ? b.shape[b.ndim - 1] : 1;
  if (K != Kb)
    throwRangeError(std::string(op) + ": shapes " + shapes(a, b) + " cannot be multiplied (" + std::to_string(K) +
                    " vs " + std::to_string(Kb) + ")");
  const int aBatch = a.ndim > 2 ? a.ndim - 2 : 0, bBatch = b.ndim > 2 ? b.ndim - 2 : 0;
  const int nb = aBatch > bBatch ? aBatch : bBatch;
  int64_t bshape[kMaxDims] = {}, aStr[kMaxDims] = {}, bStr[kMaxDims] = {};
  int64_t count = 1;
  for (int d = 0; d < nb; ++d) {
    const int da = d - (nb - aBatch), db = d - (nb - bBatch);
    const int64_t sa = da >= 0 ? a.shape[da] : 1, sb = db >= 0 ? b.shape[db] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      throwRangeError(std::string(op) + ": batch dims of " + shapes(a, b) + " are not broadcastable");
    bshape[d] = sa == 1 ? sb : sa;
    aStr[d] = (da >= 0 && sa != 1) ? a.strides[da] : 0;
    bStr[d] = (db >= 0 && sb != 1) ? b.strides[db] : 0;
    count *= bshape[d];
  }
  // out is [batch..., M (if a is n-D), N (if b is n-D)].
  std::vector<int64_t> want(bshape, bshape + nb);
  if (a.ndim >= 2) want.push_back(M);
  if (b.ndim >= 2) want.push_back(N);
  bool same = static_cast<int>(want.size()) == out.ndim;
  for (int d = 0; same && d < out.ndim; ++d) same = want[d] == out.shape[d];
  if (!same) throwRangeError(std::string(op) + ": output " + out.shapeString() + " does not match inputs " + shapes(a, b));
  if (out.dtype != DType::Float32) throwTypeError(std::string(op) + ": output must be float32");
  if (out.numel() == 0) return;
  // The output may be a strided view (the graph executor writes into slices) as long
  // as its rows are unit-stride: C(i, j) at C + i*ldc + j.
  const int outM = a.ndim >= 2 ? nb : -1, outN = b.ndim >= 2 ? out.ndim - 1 : -1;
  if (outN >= 0 && N > 1 && out.strides[outN] != 1)
    throwRangeError(std::string(op) + ": output " + out.shapeString() + " needs unit stride along its last dim");
  const int64_t ldc = outM >= 0 && M > 1 ? out.strides[outM] : N;
  int64_t oStr[kMaxDims] = {};
  for (int d = 0; d < nb; ++d) oStr[d] = out.strides[d];

  const MatrixRef A0 = a.ndim >= 2 ? MatrixRef{a.ptr<float>(), a.strides[a.ndim - 2], a.strides[a.ndim - 1]}
                                   : MatrixRef{a.ptr<float>(), 0, a.strides[0]};
  const MatrixRef B0 = b.ndim >= 2 ? MatrixRef{b.ptr<float>(), b.strides[b.ndim - 2], b.strides[b.ndim - 1]}
                                   : MatrixRef{b.ptr<float>(), b.strides[0], 0};
  float* C = out.ptr<float>();
  GemmEpilogue ep;
  ep.bias = bias;
  ep.act = epilogue.act;
  // The residual is read as a contiguous tensor of out's shape, staged when it is not or
  // when it shares memory with out (the GEMM writes partial sums before it reads it).
  ScratchBuffer residualCopy;
  const float* residual = nullptr;
  if (epilogue.residual) {
    const TensorView& r = *epilogue.residual;
    bool same = r.dtype == DType::Float32 && r.ndim == out.ndim;
    for (int d = 0; same && d < r.ndim; ++d) same = r.shape[d] == out.shape[d];
    if (!same)
      throwRangeError(std::string(op) + ": residual " + r.shapeString() + " (" + dtypeName(r.dtype) +
                      ") must be float32 of the output's shape " + out.shapeString());
    residual = r.ptr<float>();
    if (!r.isContiguous() || overlaps(r, out)) residual = contiguousCopy(r, residualCopy).ptr<float>();
    ep.residual = residual;
    ep.ldResidual = N;
    ep.residualFirst = epilogue.residualFirst;
  }

  // b shared by every batch entry and the batch rows of a and out evenly strided:
  // one tall GEMM.
  int64_t rowStride, outRowStride = ldc;
  if (bBatch == 0 && aBatch > 0 && collapseDims(a, 0, a.ndim - 2, &rowStride) &&
      (outM < 0 ? nb == 0 : collapseDims(out, 0, outM, &outRowStride))) {
    GemmProblem p;
    p.M = count * M;
    p.N = N;
    p.K = K;
    p.A = MatrixRef{A0.data, rowStride, A0.colStride};
    p.B = B0;
    p.C = C;
    p.ldc = count * M > 1 ? outRowStride : N;
    p.ep = ep;
    runGemm(g, p);
    return;
  }
  runGemmList(g, count, [&](int64_t i, GemmProblem& p) {
    int64_t offA = 0, offB = 0, offC = 0, rem = i;
    for (int d = nb - 1; d >= 0; --d) {
      const int64_t idx = rem % bshape[d];
      rem /= bshape[d];
      offA += idx * aStr[d];
      offB += idx * bStr[d];
      offC += idx * oStr[d];
    }
    p.M = M;
    p.N = N;
    p.K = K;
    p.A = MatrixRef{A0.data + offA, A0.rowStride, A0.colStride};
    p.B = MatrixRef{B0.data + offB, B0.rowStride, B0.colStride};
    p.C = C + offC;
    p.ldc = ldc;
    p.ep = ep;
    if (residual) p.ep.residual = residual + i * M * N;  // entry i of the contiguous residual
  });
}

template <Isa I>
void matmulKernel(const KernelArgs& args) {
  const CallEpilogue ep = epilogueOf("matmul", args, 0, 2);
  if (args.numInputs != (ep.residual ? 3 : 2) || args.numOutputs != 1)
    throwRangeError("matmul: expects 2 inputs (3 with a residual) and 1 output");
  expectFloat("matmul", "input", args.in(0));
  expectFloat("matmul", "other", args.in(1));
  matmulViews(gemmImpl(I), "matmul", args.in(0), args.in(1), nullptr, args.out(0), ep);
}

template <Isa I>
void linearKernel(const KernelArgs& args) {
  const bool hasBias = args.numAttrs > 0 && args.attr(0) != 0;
  const CallEpilogue ep = epilogueOf("linear", args, 1, hasBias ? 3 : 2);
  if (args.numInputs != (hasBias ? 3 : 2) + (ep.residual ? 1 : 0) || args.numOutputs != 1)
    throwRangeError("linear: expects x, weight" + std::string(hasBias ? ", bias" : "") +
                    std::string(ep.residual ? ", residual" : "") + " and 1 output");
  const TensorView& x = args.in(0);
  const TensorView& w = args.in(1);
  expectFloat("linear", "input", x);
  expectFloat("linear", "weight", w);
  if (w.ndim != 2 || x.ndim < 1 || x.shape[x.ndim - 1] != w.shape[1])
    throwRangeError("linear: input " + x.shapeString() + " and weight " + w.shapeString() +
                    " do not match (weight must be [out, in])");
  TensorView wt = w;  // weight^T as the GEMM's B: [in, out]
  wt.shape[0] = w.shape[1];
  wt.shape[1] = w.shape[0];
  wt.strides[0] = w.strides[1];
  wt.strides[1] = w.strides[0];
  std::vector<float> biasCopy;
  const float* bias = nullptr;
  if (hasBias) {
    const TensorView& b = args.in(2);
    expectFloat("linear", "bias", b);
    if (b.ndim != 1 || b.shape[0] != w.shape[0])
      throwRangeError("linear: bias " + b.shapeString() + " must be [" + std::to_string(w.shape[0]) + "]");
    bias = b.ptr<float>();
    if (b.shape[0] > 1 && b.strides[0] != 1) {
      biasCopy.resize(static_cast<size_t>(b.shape[0]));
      for (int64_t i = 0; i < b.shape[0]; ++i) biasCopy[i] = bias[i * b.strides[0]];
      bias = biasCopy.data();
    }
  }
  matmulViews(gemmImpl(I), "linear", x, wt, bias, args.out(0), ep);
}

TJ_REGISTER_GEMM_KERNEL("matmul", matmulKernel);
TJ_REGISTER_GEMM_KERNEL("linear", linearKernel);

}  // namespace
}  // namespace tensorjit
