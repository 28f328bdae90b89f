// Packing constant weights at compile time, so each run only streams the activations:
// linear's and matmul's weight into the GEMM's B panels, conv2d's into the direct conv
// kernel's panels or, for convs that run as GEMMs (1x1, depthwise, few channels per
// group, many taps), into the GEMM's A panels.
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"
#include "graph/passes.h"
#include "graph/shared_packs.h"
#include "kernels/conv/conv2d.h"
#include "kernels/fused/vm_ops.h"
#include "kernels/gemm/gemm.h"
#include "kernels/reduce/scratch.h"

namespace tensorjit {
namespace graph {
namespace {

// Rows of x ([..., K]) as a strided matrix; false when the leading dims don't collapse.
bool rowsOf(const TensorView& x, int64_t K, MatrixRef* out, int64_t* rows) {
  *rows = K == 0 ? 0 : x.numel() / K;
  const int last = x.ndim - 1;
  out->data = x.ptr<float>();
  out->colStride = x.strides[last];
  if (x.ndim == 1) {
    out->rowStride = 0;
    return true;
  }
  // Leading dims must form one arithmetic sequence of row starts.
  int64_t stride = 0;
  bool set = false;
  for (int d = last - 1; d >= 0; --d) {
    if (x.shape[d] == 1) continue;
    if (!set) {
      stride = x.strides[d];
      set = true;
      continue;
    }
    int64_t inner = 1;
    for (int e = d + 1; e < last; ++e) inner *= x.shape[e];
    if (x.strides[d] != stride * inner) return false;
  }
  out->rowStride = set ? stride : K;
  return true;
}

// linear (x W^T + b) or matmul (x W) with W packed as the GEMM's B.
struct PrepackedLinear {
  const char* op = "linear";
  std::string weightShape;  // as the program gave it, for errors
  std::shared_ptr<const PackedB> weight;
  const float* constBias = nullptr;  // when the bias is a contiguous constant
  bool hasBias = false;
  Activation act = Activation::None;
  int residualInput = -1;  // operand index of a fused residual add
  bool residualFirst = false;  // added before the activation

  void operator()(const KernelArgs& a) const {
    const TensorView& x = a.in(0);
    TensorView& out = a.out(0);
    const int64_t K = weight->k(), N = weight->n();
    if (x.dtype != DType::Float32 || x.ndim < 1 || x.shape[x.ndim - 1] != K)
      throwRangeError(std::string(op) + ": input " + x.shapeString() + " (" + dtypeName(x.dtype) +
                      ") does not match the prepacked weight " + weightShape);
    // The program is not trusted: the output must be exactly x's rows by N, contiguous float32.
    bool outFits = a.numOutputs == 1 && out.dtype == DType::Float32 && out.ndim == x.ndim && out.isContiguous() &&
                   out.shape[out.ndim - 1] == N;
    for (int d = 0; outFits && d + 1 < x.ndim; ++d) outFits = out.shape[d] == x.shape[d];
    if (!outFits)
      throwRangeError(std::string(op) + ": output " + out.shapeString() + " does not match input " + x.shapeString() +
                      " times the prepacked weight " + weightShape);
    GemmEpilogue ep;
    std::vector<float> biasCopy;
    if (hasBias) {
      if (constBias) {
        ep.bias = constBias;
      } else {
        const TensorView& b = a.in(2);
        if (b.dtype != DType::Float32 || b.ndim != 1 || b.shape[0] != N)
          throwRangeError("linear: bias " + b.shapeString() + " must be float32 [" + std::to_string(N) + "]");
        biasCopy.resize(static_cast<size_t>(N));
        for (int64_t j = 0; j < N; ++j) biasCopy[j] = b.ptr<float>()[j * b.strides[0]];
        ep.bias = biasCopy.data();
      }
    }
    MatrixRef A;
    int64_t M;
    ScratchBuffer staged;
    if (!rowsOf(x, K, &A, &M)) A = MatrixRef{contiguousCopy(x, staged).ptr<float>(), K, 1};
    if (M == 0) return;
    ep.act = act;
    std::vector<float> residualCopy;
    if (residualInput >= 0) {
      // The residual must cover out's shape row-major and not share memory with it (the
      // GEMM writes partial sums first); otherwise stage it.
      const TensorView& r = a.in(residualInput);
      MatrixRef R;
      int64_t rows;
      if (r.numel() == out.numel() && rowsOf(r, N, &R, &rows) && R.colStride == 1 && rows == M && !overlaps(r, out)) {
        ep.residual = R.data;
        ep.ldResidual = M == 1 ? N : R.rowStride;
      } else {
        residualCopy.resize(static_cast<size_t>(out.numel()));
        TensorView dst = contiguousView(residualCopy.data(), DType::Float32, out.ndim, out.shape);
        TensorView src = r;
        KernelArgs copy{&src, 1, &dst, 1, nullptr, 0};
        runKernel(KernelRegistry::instance().idOf("copy"), copy);
        ep.residual = residualCopy.data();
        ep.ldResidual = N;
      }
      ep.residualFirst = residualFirst;
    }
    sgemmPacked(M, A, *weight, out.ptr<float>(), N, ep);
  }
};

// The sharing key of a pack made from constant value `v` with these parameters, or an
// unshareable key (null data) when its memory is the executable's own.
PackKey packKey(const Program& p, const std::vector<ConstBuffer>& consts, int v, const TensorView& w,
                std::vector<int64_t> layout) {
  PackKey key;
  const ConstBuffer* src = constantSource(p, consts, v);
  if (!src || !src->versioned) return key;
  key.data = w.data;
  key.version = src->version;
  layout.push_back(static_cast<int64_t>(KernelRegistry::instance().selectedIsa()));
  for (int d = 0; d < w.ndim; ++d) layout.push_back(w.shape[d]), layout.push_back(w.strides[d]);
  key.layout = std::move(layout);
  return key;
}

// The pack for key, shared when the key allows, else made for this executable alone;
// counts those that came from another executable.
template <class T>
std::shared_ptr<const T> packOnce(const PackKey& key, const std::function<std::shared_ptr<const T>()>& make,
                                  int* shared) {
  if (!key.data) return make();
  bool reused = false;
  std::shared_ptr<const T> pack = sharedPack<T>(key, make, &reused);
  *shared += reused;
  return pack;
}

}  // namespace

namespace {

// Readers of each buffer root, and roots the program reads outside instructions.
struct Uses {
  std::vector<std::vector<int>> readers;
  std::vector<bool> external;
  std::vector<int> definedAt;  // instruction index writing the root first, -1 if none
  explicit Uses(const Program& p)
      : readers(p.values.size()), external(p.values.size(), false), definedAt(p.values.size(), -1) {
    for (size_t i = 0; i < p.instrs.size(); ++i) {
      for (int v : p.instrs[i].inputs) readers[p.rootOf(v)].push_back(static_cast<int>(i));
      for (int v : p.instrs[i].outputs)
        if (definedAt[p.rootOf(v)] < 0) definedAt[p.rootOf(v)] = static_cast<int>(i);
    }
    for (int v : p.outputs) external[p.rootOf(v)] = true;
    for (size_t v = 0; v < p.values.size(); ++v)
      if (p.values[v].kind == ValueKind::View) external[p.rootOf(static_cast<int>(v))] = true;
  }
  // t is a Temp read by exactly one instruction, directly, and nowhere else.
  int soleReader(const Program& p, int t) const {
    if (p.values[t].kind != ValueKind::Temp || external[t] || readers[t].size() != 1) return -1;
    return readers[t][0];
  }
};

Activation activationOf(const Instr& in) {
  const FusionInfo f = KernelRegistry::instance().fusionOf(in.kernelId);
  if (in.attrs.empty() || in.attrs[0] != static_cast<double>(DType::Float32) || in.inputs.size() != 1) return Activation::None;
  switch (static_cast<VmOp>(f.vmOp)) {
    case VmOp::Relu: return Activation::Relu;
    case VmOp::Sigmoid: return Activation::Sigmoid;
    case VmOp::Tanh: return Activation::Tanh;
    case VmOp::Silu: return Activation::Silu;
    case VmOp::Gelu:
    case VmOp::GeluTanh:
      return in.attrs.size() > 1 && in.attrs[1] != 0 ? Activation::GeluTanh : Activation::GeluErf;
    default: return Activation::None;
  }
}

bool isTensorAdd(const Instr& in) {
  const FusionInfo f = KernelRegistry::instance().fusionOf(in.kernelId);
  return f.form == static_cast<int>(FusionForm::Binary) && static_cast<VmOp>(f.vmOp) == VmOp::Add &&
         in.inputs.size() == 2 && !in.attrs.empty() && in.attrs[0] == static_cast<double>(DType::Float32);
}

// A GEMM's epilogue found in the program: an activation and/or a residual add, in either
// order, each the sole reader of the value before it.
struct GemmEpilogueMatch {
  Activation act = Activation::None;
  int residual = -1;           // the value added
  bool residualFirst = false;  // added before the activation
  std::vector<int> absorbed;   // the instructions it replaces, in program order
  int output = -1;             // the value the GEMM writes then
  std::string label;           // e.g. "+gelu+add"
};

GemmEpilogueMatch matchEpilogue(const Program& p, const Uses& uses, const std::vector<bool>& removed, int gemm) {
  const Instr& in = p.instrs[gemm];
  GemmEpilogueMatch m;
  m.output = in.outputs[0];
  auto next = [&]() {
    const int r = uses.soleReader(p, m.output);
    return r >= 0 && !removed[r] ? r : -1;
  };
  auto tryAct = [&]() {
    const int r = next();
    if (r < 0) return false;
    const Activation act = activationOf(p.instrs[r]);
    if (act == Activation::None || !sameType(p.values[p.instrs[r].outputs[0]], p.values[m.output])) return false;
    m.act = act;
    m.output = p.instrs[r].outputs[0];
    m.absorbed.push_back(r);
    m.label += "+" + KernelRegistry::instance().names()[p.instrs[r].kernelId];
    return true;
  };
  auto tryAdd = [&]() {
    const int r = next();
    if (r < 0 || !isTensorAdd(p.instrs[r])) return false;
    const Instr& add = p.instrs[r];
    const int other = add.inputs[0] == m.output ? add.inputs[1] : add.inputs[0];
    const int otherRoot = p.rootOf(other);
    // The residual must exist when the GEMM runs and have the result's shape.
    bool ready = uses.definedAt[otherRoot] < gemm && p.values[otherRoot].kind != ValueKind::Output;
    for (int j = gemm + 1; j < r && ready; ++j)  // not rewritten in between
      for (int v : p.instrs[j].outputs) ready &= p.rootOf(v) != otherRoot;
    if (other == m.output || !ready || !sameType(p.values[other], p.values[add.outputs[0]]) ||
        !sameType(p.values[add.outputs[0]], p.values[m.output]))
      return false;
    m.residual = other;
    m.output = add.outputs[0];
    m.absorbed.push_back(r);
    m.label += "+add";
    return true;
  };
  if (tryAct()) tryAdd();
  else if (tryAdd()) m.residualFirst = tryAct();
  if (m.absorbed.empty()) return m;
  // The GEMM now writes the final value early, partial sums first (K in slices): nothing
  // in between may touch that buffer, and it must not overlap the GEMM's operands.
  const int outRoot = p.rootOf(m.output);
  bool safe = m.residual < 0 || p.rootOf(m.residual) != outRoot;
  for (int v : in.inputs) safe &= p.rootOf(v) != outRoot;
  for (int j = gemm + 1; safe && j < m.absorbed.back(); ++j) {
    if (removed[j] || j == m.absorbed.front()) continue;
    for (int v : p.instrs[j].inputs) safe &= p.rootOf(v) != outRoot;
    for (int v : p.instrs[j].outputs) safe &= p.rootOf(v) != outRoot;
  }
  if (!safe) {
    GemmEpilogueMatch none;
    none.output = in.outputs[0];
    return none;
  }
  return m;
}

}  // namespace

int prepackConstantWeights(Program& p, const std::vector<ConstBuffer>& consts, int64_t* packedBytes,
                           int* fusedEpilogues, int* sharedWeights) {
  const KernelRegistry& reg = KernelRegistry::instance();
  const int linearId = reg.idOf("linear"), matmulId = reg.idOf("matmul"), convId = reg.idOf("conv2d");
  const Uses uses(p);
  std::vector<bool> removed(p.instrs.size(), false);
  int count = 0;
  for (size_t i = 0; i < p.instrs.size(); ++i) {
    Instr& in = p.instrs[i];
    if (in.run || in.outputs.size() != 1 || in.inputs.size() < 2) continue;
    if (in.kernelId == convId) {
      // Any operand layout the kernel does not take is left to it, to reject at run time.
      const TensorView w = constantView(p, consts, in.inputs[1]);
      std::vector<int64_t> layout = {2};  // conv; its attrs, bit for bit
      for (double a : in.attrs) {
        int64_t bits;
        std::memcpy(&bits, &a, sizeof bits);
        layout.push_back(bits);
      }
      std::shared_ptr<const PackedConvWeights> packed =
          w.data ? packOnce<PackedConvWeights>(packKey(p, consts, in.inputs[1], w, std::move(layout)),
                                               [&] { return packConvWeights(w, in.attrs); }, sharedWeights)
                 : nullptr;
      if (!packed) continue;
      *packedBytes += static_cast<int64_t>(packed->bytes());
      in.run = [packed](const KernelArgs& a) { conv2dPrepacked(a, *packed); };
      const std::string shape = std::to_string(w.shape[0]) + "x" + std::to_string(w.shape[1]) + "x" +
                                std::to_string(w.shape[2]) + "x" + std::to_string(w.shape[3]);
      // after reduction_fusion.cc, whose label ("conv2d+relu+add") names the epilogue
      const std::string epilogue = in.label.rfind("conv2d", 0) == 0 ? in.label.substr(6) : "";
      in.label = "conv2d[prepacked " + shape + "]" + epilogue;
      ++count;
      continue;
    }
    // Only calls in the kernels' own layouts: linear attrs [hasBias], inputs x, weight[, bias];
    // matmul no attrs, inputs x, weight. Anything else stays a kernel call, which rejects it.
    const bool isLinear = in.kernelId == linearId;
    if (isLinear ? in.attrs.empty() || in.inputs.size() != (in.attrs[0] != 0 ? 3u : 2u)
                 : in.kernelId != matmulId || !in.attrs.empty() || in.inputs.size() != 2)
      continue;
    const GemmEpilogueMatch ep = matchEpilogue(p, uses, removed, static_cast<int>(i));
    auto absorbEpilogue = [&]() {
      for (int r : ep.absorbed) removed[r] = true;
      *fusedEpilogues += static_cast<int>(ep.absorbed.size());
      in.outputs.assign(1, ep.output);
      if (ep.residual >= 0) in.inputs.push_back(ep.residual);
    };
    const char* op = isLinear ? "linear" : "matmul";
    const TensorView w = constantView(p, consts, in.inputs[1]);
    // linear: weight [N, K], B = W^T (B(k, n) = W[n, k]); matmul: weight [K, N] is B.
    const int64_t N = w.ndim == 2 ? (isLinear ? w.shape[0] : w.shape[1]) : 0;
    const int64_t K = w.ndim == 2 ? (isLinear ? w.shape[1] : w.shape[0]) : 0;
    // One row of x: the kernel's GEMV reads the weight as it is, once, faster than the
    // packed panels (whose register tile is mostly empty for a single row).
    const bool singleRow = p.values[in.inputs[0]].numel() == K;
    if (!w.data || w.ndim != 2 || w.dtype != DType::Float32 || N == 0 || K == 0 || singleRow) {
      // A weight computed at run time (or read by the GEMV): the epilogue goes into the kernel's attrs (matmul.cc).
      if (ep.absorbed.empty()) continue;
      if (isLinear) in.attrs.resize(1);
      in.attrs.push_back(static_cast<double>(ep.act));
      in.attrs.push_back(ep.residual < 0 ? 0 : ep.residualFirst ? 2 : 1);  // residualMode
      absorbEpilogue();
      in.label = op + ep.label;
      continue;
    }
    auto state = std::make_shared<PrepackedLinear>();
    state->op = op;
    state->weightShape = w.shapeString();
    state->weight = packOnce<PackedB>(packKey(p, consts, in.inputs[1], w, {isLinear ? 0 : 1}), [&] {
      return std::make_shared<const PackedB>(packBStrided(
          K, N, isLinear ? MatrixRef{w.ptr<float>(), w.strides[1], w.strides[0]} : MatrixRef{w.ptr<float>(), w.strides[0], w.strides[1]}));
    }, sharedWeights);
    state->hasBias = in.inputs.size() == 3;
    if (state->hasBias) {
      const TensorView b = constantView(p, consts, in.inputs[2]);
      if (b.data && b.ndim == 1 && b.shape[0] == N && (N == 1 || b.strides[0] == 1)) state->constBias = b.ptr<float>();
    }
    *packedBytes += static_cast<int64_t>(state->weight->bytes());
    state->act = ep.act;
    if (ep.residual >= 0) state->residualInput = static_cast<int>(in.inputs.size());
    state->residualFirst = ep.residualFirst;
    absorbEpilogue();
    in.run = [state](const KernelArgs& a) { (*state)(a); };
    in.label = std::string(op) + "[prepacked " + std::to_string(w.shape[0]) + "x" + std::to_string(w.shape[1]) +
               ep.label + "]";
    ++count;
  }
  std::vector<Instr> kept;
  for (size_t i = 0; i < p.instrs.size(); ++i)
    if (!removed[i]) kept.push_back(std::move(p.instrs[i]));
  p.instrs = std::move(kept);
  return count;
}

}  // namespace graph
}  // namespace tensorjit
