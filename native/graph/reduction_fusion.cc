// Folds the pointwise ops around layerNorm, softmax and conv2d into those kernels'
// optional prologue/epilogue operands (see reduction_fusion.h), so the intermediate
// never goes through memory: BERT's post-norm residual, attention's scale and mask,
// and a conv's activation and residual add.
#include "graph/reduction_fusion.h"

#include <string>
#include <vector>

#include "core/kernel.h"
#include "kernels/fused/vm_ops.h"
#include "kernels/gemm/gemm.h"

namespace tensorjit {
namespace graph {
namespace {

// Who reads and writes each buffer root.
struct Uses {
  std::vector<int> readers, writers;
  std::vector<bool> external;  // program outputs and roots of views: read outside instruction operands
  explicit Uses(const Program& p) : readers(p.values.size(), 0), writers(p.values.size(), 0), external(p.values.size(), false) {
    for (const Instr& in : p.instrs) {
      for (int v : in.inputs) ++readers[p.rootOf(v)];
      for (int v : in.outputs) ++writers[p.rootOf(v)];
    }
    for (int v : p.outputs) external[p.rootOf(v)] = true;
    for (size_t v = 0; v < p.values.size(); ++v)
      if (p.values[v].kind == ValueKind::View) external[p.rootOf(static_cast<int>(v))] = true;
  }
  // t is a temp written once, read by exactly one operand of one instruction and nowhere else.
  bool privateTemp(const Program& p, int t) const {
    return p.values[t].kind == ValueKind::Temp && !external[t] && readers[t] == 1 && writers[t] == 1;
  }
};

bool isF32(const Program& p, int v) { return p.values[v].dtype == DType::Float32; }

// NumPy broadcasting of `a` to exactly `target`'s shape.
bool broadcastsTo(const Value& a, const Value& target) {
  if (a.ndim > target.ndim) return false;
  const int lead = target.ndim - a.ndim;
  for (int d = 0; d < a.ndim; ++d)
    if (a.shape[d] != 1 && a.shape[d] != target.shape[lead + d]) return false;
  return true;
}

FusionInfo fusionOf(const Instr& in) { return KernelRegistry::instance().fusionOf(in.kernelId); }

// float32 tensor + tensor: inputs (a, b), attrs [float32].
bool isTensorAdd(const Program& p, const Instr& in) {
  const FusionInfo f = fusionOf(in);
  return !in.run && f.form == static_cast<int>(FusionForm::Binary) && static_cast<VmOp>(f.vmOp) == VmOp::Add &&
         in.inputs.size() == 2 && in.outputs.size() == 1 && in.attrs.size() == 1 &&
         in.attrs[0] == static_cast<double>(DType::Float32) && isF32(p, in.inputs[0]) && isF32(p, in.inputs[1]) &&
         isF32(p, in.outputs[0]);
}

// float32 tensor * scalar or tensor / scalar: inputs (x), attrs [float32, s].
bool isScalarScale(const Program& p, const Instr& in) {
  const FusionInfo f = fusionOf(in);
  const VmOp op = static_cast<VmOp>(f.vmOp);
  return !in.run && f.form == static_cast<int>(FusionForm::Binary) && (op == VmOp::Mul || op == VmOp::Div) &&
         in.inputs.size() == 1 && in.outputs.size() == 1 && in.attrs.size() == 2 &&
         in.attrs[0] == static_cast<double>(DType::Float32) && isF32(p, in.inputs[0]) && isF32(p, in.outputs[0]) &&
         sameShape(p.values[in.inputs[0]], p.values[in.outputs[0]]);
}

Activation activationOf(const Program& p, const Instr& in) {
  const FusionInfo f = fusionOf(in);
  if (in.run || in.attrs.empty() || in.attrs[0] != static_cast<double>(DType::Float32) || in.inputs.size() != 1 ||
      in.outputs.size() != 1 || !isF32(p, in.inputs[0]) || !isF32(p, in.outputs[0]) ||
      !sameShape(p.values[in.inputs[0]], p.values[in.outputs[0]]))
    return Activation::None;
  switch (static_cast<VmOp>(f.vmOp)) {
    case VmOp::Relu: return f.form == static_cast<int>(FusionForm::Unary) ? Activation::Relu : Activation::None;
    case VmOp::Sigmoid: return f.form == static_cast<int>(FusionForm::Unary) ? Activation::Sigmoid : Activation::None;
    case VmOp::Tanh: return f.form == static_cast<int>(FusionForm::Unary) ? Activation::Tanh : Activation::None;
    case VmOp::Silu: return f.form == static_cast<int>(FusionForm::Unary) ? Activation::Silu : Activation::None;
    case VmOp::Gelu:
      if (f.form != static_cast<int>(FusionForm::Gelu)) return Activation::None;
      return in.attrs.size() > 1 && in.attrs[1] != 0 ? Activation::GeluTanh : Activation::GeluErf;
    default: return Activation::None;
  }
}

class Rewriter {
 public:
  explicit Rewriter(Program& p) : p_(p), uses_(p), producer_(p.values.size(), -1), removed_(p.instrs.size(), false) {
    for (size_t i = 0; i < p.instrs.size(); ++i)
      for (int v : p.instrs[i].outputs) producer_[p.rootOf(v)] = static_cast<int>(i);
  }

  int run() {
    const KernelRegistry& reg = KernelRegistry::instance();
    const int layerNormId = reg.idOf("layerNorm"), softmaxId = reg.idOf("softmax"),
              logSoftmaxId = reg.idOf("logSoftmax"), convId = reg.idOf("conv2d");
    for (size_t i = 0; i < p_.instrs.size(); ++i) {
      const Instr& in = p_.instrs[i];
      if (removed_[i] || in.run) continue;
      if (in.kernelId == layerNormId) fuseLayerNorm(static_cast<int>(i));
      else if (in.kernelId == softmaxId || in.kernelId == logSoftmaxId) fuseSoftmax(static_cast<int>(i));
      else if (in.kernelId == convId) fuseConv(static_cast<int>(i));
    }
    std::vector<Instr> kept;
    for (size_t i = 0; i < p_.instrs.size(); ++i)
      if (!removed_[i]) kept.push_back(std::move(p_.instrs[i]));
    p_.instrs = std::move(kept);
    return absorbed_;
  }

 private:
  // The instruction producing temp t when t's only use is instruction `reader`.
  int privateProducer(int t, int reader) const {
    if (!uses_.privateTemp(p_, t)) return -1;
    const int i = producer_[t];
    if (i < 0 || i >= reader || removed_[i] || p_.instrs[i].outputs.size() != 1) return -1;
    return i;
  }
  // No instruction strictly between `from` and `to` writes v's buffer.
  bool unchangedBetween(int v, int from, int to) const {
    const int root = p_.rootOf(v);
    for (int j = from + 1; j < to; ++j)
      for (int o : p_.instrs[j].outputs)
        if (p_.rootOf(o) == root) return false;
    return true;
  }
  bool aliases(int a, int b) const { return p_.rootOf(a) == p_.rootOf(b); }
  // The only instruction reading value t (directly, once), after `after`; -1 otherwise.
  int soleReaderAfter(int t, int after) const {
    if (!uses_.privateTemp(p_, t)) return -1;
    for (int j = after + 1; j < static_cast<int>(p_.instrs.size()); ++j) {
      if (removed_[j]) continue;
      for (int v : p_.instrs[j].inputs)
        if (v == t) return j;
    }
    return -1;
  }
  std::string name(int kernelId) const { return KernelRegistry::instance().names()[kernelId]; }

  // The add writing t, which other instructions also read, when the layerNorm at li can
  // write t as its second output instead: nothing between the two touches t's buffer.
  int sharedAdd(int t, int li) const {
    const Value& tv = p_.values[t];
    if ((tv.kind != ValueKind::Temp && tv.kind != ValueKind::Output) || uses_.writers[t] != 1) return -1;
    const int ai = producer_[t];
    if (ai < 0 || ai >= li || removed_[ai]) return -1;
    for (int j = ai + 1; j < li; ++j) {
      if (removed_[j]) continue;
      for (int v : p_.instrs[j].inputs)
        if (p_.rootOf(v) == t) return -1;
      for (int v : p_.instrs[j].outputs)
        if (p_.rootOf(v) == t) return -1;
    }
    return ai;
  }

  // layerNorm(a + b) -> layerNorm(a, .., residual b); when a + b has other readers, the
  // layerNorm also writes it (second output, label "+sum").
  void fuseLayerNorm(int li) {
    Instr& ln = p_.instrs[li];
    if (ln.attrs.size() != 4 || ln.outputs.size() != 1 || ln.inputs.empty()) return;
    const int t = ln.inputs[0];
    for (size_t k = 1; k < ln.inputs.size(); ++k)
      if (ln.inputs[k] == t) return;
    int ai = privateProducer(t, li);
    const bool storeSum = ai < 0;
    if (storeSum) ai = sharedAdd(t, li);
    if (ai < 0 || !isTensorAdd(p_, p_.instrs[ai])) return;
    const Instr& add = p_.instrs[ai];
    const Value& sum = p_.values[t];
    int full = add.inputs[0], res = add.inputs[1];
    if (!sameShape(p_.values[full], sum)) std::swap(full, res);
    if (!sameShape(p_.values[full], sum) || !broadcastsTo(p_.values[res], sum)) return;
    for (int v : {full, res})
      if (!unchangedBetween(v, ai, li) || aliases(v, ln.outputs[0])) return;
    if (storeSum && (aliases(full, t) || aliases(res, t) || aliases(ln.outputs[0], t))) return;
    ln.inputs[0] = full;
    ln.inputs.push_back(res);
    ln.attrs.push_back(1);
    if (storeSum) ln.outputs.push_back(t);
    ln.label = storeSum ? "layerNorm+add+sum" : "layerNorm+add";
    removed_[ai] = true;
    ++absorbed_;
  }

  // softmax(x * s + mask) -> softmax(x, mask) with attrs [dim, s, 1]; x / s adds attr divide = 1.
  void fuseSoftmax(int si) {
    Instr& sm = p_.instrs[si];
    if (sm.attrs.size() != 1 || sm.inputs.size() != 1 || sm.outputs.size() != 1) return;
    const int t = sm.inputs[0];
    const Value& tv = p_.values[t];
    int pi = privateProducer(t, si);
    if (pi < 0) return;
    int x = -1, mask = -1, addAt = -1, mulAt = -1;
    double scale = 1.0;
    if (isTensorAdd(p_, p_.instrs[pi])) {
      addAt = pi;
      const Instr& add = p_.instrs[pi];
      // The operand with t's shape is x; prefer one made by a private scalar mul or div.
      for (int k = 0; k < 2 && x < 0; ++k) {
        const int u = add.inputs[k], other = add.inputs[1 - k];
        if (!sameShape(p_.values[u], tv) || !broadcastsTo(p_.values[other], tv) || u == other) continue;
        const int mi = privateProducer(u, pi);
        if (mi >= 0 && isScalarScale(p_, p_.instrs[mi])) {
          x = u;
          mask = other;
          mulAt = mi;
        }
      }
      if (x < 0) {
        for (int k = 0; k < 2 && x < 0; ++k) {
          const int u = add.inputs[k], other = add.inputs[1 - k];
          if (sameShape(p_.values[u], tv) && broadcastsTo(p_.values[other], tv)) {
            x = u;
            mask = other;
          }
        }
      }
      if (x < 0) return;
      if (mulAt >= 0) {
        scale = p_.instrs[mulAt].attrs[1];
        x = p_.instrs[mulAt].inputs[0];
      }
    } else if (isScalarScale(p_, p_.instrs[pi])) {
      mulAt = pi;
      x = p_.instrs[pi].inputs[0];
      scale = p_.instrs[pi].attrs[1];
    } else {
      return;
    }
    const int first = mulAt >= 0 ? mulAt : addAt;
    if (!sameShape(p_.values[x], tv) || !isF32(p_, x)) return;
    for (int v : {x, mask})
      if (v >= 0 && (!unchangedBetween(v, first, si) || aliases(v, sm.outputs[0]))) return;
    sm.inputs.assign(1, x);
    if (mask >= 0) sm.inputs.push_back(mask);
    sm.attrs.push_back(scale);
    sm.attrs.push_back(mask >= 0 ? 1 : 0);
    const bool divide = mulAt >= 0 && static_cast<VmOp>(fusionOf(p_.instrs[mulAt]).vmOp) == VmOp::Div;
    if (divide) sm.attrs.push_back(1);
    sm.label = name(sm.kernelId) + (mulAt >= 0 ? (divide ? "+div" : "+mul") : "") + (addAt >= 0 ? "+add" : "");
    for (int r : {mulAt, addAt})
      if (r >= 0) {
        removed_[r] = true;
        ++absorbed_;
      }
  }

  // conv2d followed by an activation and/or a same-shape residual add, in either order.
  void fuseConv(int ci) {
    Instr& conv = p_.instrs[ci];
    if (conv.attrs.size() != 10 || conv.outputs.size() != 1) return;
    int cur = conv.outputs[0];
    Activation act = Activation::None;
    int mode = 0, residual = -1, last = ci;
    std::vector<int> absorbed;
    std::string label = "conv2d";
    auto tryAct = [&]() {
      const int r = soleReaderAfter(cur, last);
      if (r < 0 || activationOf(p_, p_.instrs[r]) == Activation::None) return false;
      act = activationOf(p_, p_.instrs[r]);
      label += "+" + name(p_.instrs[r].kernelId);
      absorbed.push_back(r);
      cur = p_.instrs[r].outputs[0];
      last = r;
      return true;
    };
    auto tryAdd = [&]() {
      const int r = soleReaderAfter(cur, last);
      if (r < 0 || !isTensorAdd(p_, p_.instrs[r])) return false;
      const Instr& add = p_.instrs[r];
      const int other = add.inputs[0] == cur ? add.inputs[1] : add.inputs[0];
      if (other == cur || !sameShape(p_.values[other], p_.values[cur]) ||
          !sameShape(p_.values[add.outputs[0]], p_.values[cur]))
        return false;
      // The residual must be complete when the conv runs and stay so until the add.
      const int root = p_.rootOf(other);
      if (p_.values[root].kind == ValueKind::Output || producer_[root] >= ci || !unchangedBetween(other, ci, r)) return false;
      for (int v : conv.inputs)
        if (aliases(v, other)) return false;
      residual = other;
      label += "+add";
      absorbed.push_back(r);
      cur = add.outputs[0];
      last = r;
      return true;
    };
    if (tryAct()) {
      if (tryAdd()) mode = 1;
    } else if (tryAdd()) {
      mode = tryAct() ? 2 : 1;
    }
    if (absorbed.empty()) return;
    // The conv now writes the final value early: nothing in between may touch its buffer,
    // and it must not overlap the conv's operands.
    const int outRoot = p_.rootOf(cur);
    for (int j = ci + 1; j < last; ++j) {
      if (removed_[j]) continue;
      for (int v : p_.instrs[j].inputs)
        if (p_.rootOf(v) == outRoot) return;
      for (int v : p_.instrs[j].outputs)
        if (p_.rootOf(v) == outRoot) return;
    }
    for (int v : conv.inputs)
      if (p_.rootOf(v) == outRoot) return;
    if (residual >= 0 && p_.rootOf(residual) == outRoot) return;
    if (residual >= 0) conv.inputs.push_back(residual);
    conv.attrs.push_back(static_cast<double>(act));
    conv.attrs.push_back(mode);
    conv.outputs.assign(1, cur);
    conv.label = label;
    for (int r : absorbed) {
      removed_[r] = true;
      ++absorbed_;
    }
  }

  Program& p_;
  Uses uses_;
  std::vector<int> producer_;  // last instruction writing each root
  std::vector<bool> removed_;
  int absorbed_ = 0;
};

}  // namespace

int fuseReductionPrologues(Program& p) { return Rewriter(p).run(); }

}  // namespace graph
}  // namespace tensorjit
