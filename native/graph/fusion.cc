// Pointwise fusion: maximal runs of fusable float32 pointwise instructions that
// produce one shape become one "fused_pointwise" instruction running a VM program
// (kernels/fused/vm_ops.h), so their intermediates stay in L1-sized blocks.
//
// Groups are formed in program order. An instruction joins the open group of the
// same shape that produces one of its operands; any other reader of a value made by
// an open group closes that group first, and a closed group is emitted where it
// closes, so every reader still runs after its writer.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/kernel.h"
#include "graph/passes.h"
#include "kernels/fused/fused_pointwise.h"
#include "kernels/fused/vm_ops.h"

namespace tensorjit {
namespace graph {
namespace {

constexpr int kMaxGroupInstrs = 48;

// Operand and attribute counts of each FusionForm (kernels/fused/vm_ops.h).
bool hasFusionLayout(FusionForm form, const Instr& in) {
  const size_t nIn = in.inputs.size(), nAttr = in.attrs.size();
  switch (form) {
    case FusionForm::Unary: return nIn == 1 && nAttr == 1;
    case FusionForm::Gelu: return nIn == 1 && nAttr == 2 && (in.attrs[1] == 0 || in.attrs[1] == 1);
    case FusionForm::Binary:
    case FusionForm::Compare: return (nIn == 2 && nAttr == 1) || (nIn == 1 && nAttr == 2);
    case FusionForm::Where: return (nIn == 3 && nAttr == 1) || (nIn == 2 && nAttr == 2);
    case FusionForm::Clamp: return nIn == 1 && nAttr == 5;
    default: return false;
  }
}

struct Member {
  int index;  // position in the original program
  Instr instr;
  FusionInfo info;
};

struct Group {
  int shapeValue;  // a value with the group's output shape
  std::vector<Member> members;
  std::set<int> produced;
  std::set<int> memberIndices;
  std::set<int> readRoots;  // buffers (roots) the members read
  bool mustClose = false;
};

class Fuser {
 public:
  explicit Fuser(Program& p) : p_(p) {
    // Buffers read outside instructions: program outputs and views.
    for (int v : p_.outputs) escapes_.insert(p_.rootOf(v));
    for (size_t v = 0; v < p_.values.size(); ++v)
      if (p_.values[v].kind == ValueKind::View) escapes_.insert(p_.rootOf(static_cast<int>(v)));
    for (size_t i = 0; i < p_.instrs.size(); ++i)
      for (int v : p_.instrs[i].inputs) readers_[p_.rootOf(v)].push_back(static_cast<int>(i));
    for (const Instr& in : p_.instrs) infos_.push_back(fusable(in));
  }

  int run() {
    std::vector<Instr> out;
    std::vector<Instr> instrs = std::move(p_.instrs);
    for (size_t i = 0; i < instrs.size(); ++i) {
      Instr& in = instrs[i];
      const FusionInfo info = infos_[i];
      int target = -1;
      if (info.form) {
        for (size_t gi = 0; gi < open_.size(); ++gi) {
          const Group& g = open_[gi];
          if (sameShape(p_.values[g.shapeValue], p_.values[in.outputs[0]]) && readsDirectly(in, g) &&
              !readsThroughView(in, g) && g.members.size() < kMaxGroupInstrs)
            target = static_cast<int>(gi);
        }
      }
      // A group is emitted where it closes, later than its members' own positions: an
      // instruction that writes a buffer an open group reads or writes must come after it.
      for (size_t gi = 0; gi < open_.size(); ++gi)
        if (writesInto(in, open_[gi])) {
          if (static_cast<int>(gi) == target) target = -1;
          open_[gi].mustClose = true;
        }
      // Readers of open groups' values that do not join them close those groups first.
      for (size_t gi = 0; gi < open_.size();) {
        if (open_[gi].mustClose || (static_cast<int>(gi) != target && readsRoot(in, open_[gi]))) {
          emit(open_[gi], out);
          open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(gi));
          if (target > static_cast<int>(gi)) --target;
        } else {
          ++gi;
        }
      }
      if (!info.form) {
        out.push_back(std::move(in));
        continue;
      }
      if (target < 0) {
        open_.push_back(Group{in.outputs[0], {}, {}, {}, {}, false});
        target = static_cast<int>(open_.size()) - 1;
      }
      Group& g = open_[target];
      for (int v : in.inputs) g.readRoots.insert(p_.rootOf(v));
      g.produced.insert(in.outputs[0]);
      g.memberIndices.insert(static_cast<int>(i));
      g.members.push_back(Member{static_cast<int>(i), std::move(in), info});
    }
    for (Group& g : open_) emit(g, out);
    open_.clear();
    p_.instrs = std::move(out);
    return fused_;
  }

 private:
  FusionInfo fusable(const Instr& in) const {
    if (in.run || in.outputs.size() != 1 || in.inputs.empty()) return {};
    const FusionInfo info = KernelRegistry::instance().fusionOf(in.kernelId);
    if (!info.form || in.attrs.empty() || in.attrs[0] != static_cast<double>(DType::Float32)) return {};
    // Only calls in the kernel's exact operand/attribute layout (vm_ops.h FusionForm) are fused;
    // anything else stays a kernel call, which rejects it at run time.
    if (!hasFusionLayout(static_cast<FusionForm>(info.form), in)) return {};
    const Value& outV = p_.values[in.outputs[0]];
    if (outV.kind != ValueKind::Temp && outV.kind != ValueKind::Output) return {};
    const bool isCompare = info.form == static_cast<int>(FusionForm::Compare);
    if (outV.dtype != (isCompare ? DType::Bool : DType::Float32)) return {};
    if (isCompare) {
      // only when every reader is a `where` condition (the VM cannot store a bool buffer)
      if (escapes_.count(in.outputs[0])) return {};
      auto it = readers_.find(in.outputs[0]);
      if (it == readers_.end()) return {};
      for (int r : it->second) {
        const Instr& reader = p_.instrs[r];
        if (KernelRegistry::instance().fusionOf(reader.kernelId).form != static_cast<int>(FusionForm::Where) ||
            reader.inputs[0] != in.outputs[0] ||
            std::count(reader.inputs.begin(), reader.inputs.end(), in.outputs[0]) != 1)
          return {};
      }
    }
    for (size_t k = 0; k < in.inputs.size(); ++k) {
      const DType dt = p_.values[in.inputs[k]].dtype;
      const bool cond = info.form == static_cast<int>(FusionForm::Where) && k == 0;
      if (!(dt == DType::Float32 || (cond && dt == DType::Bool))) return {};
    }
    return info;
  }

  bool readsDirectly(const Instr& in, const Group& g) const {
    for (int v : in.inputs)
      if (g.produced.count(v)) return true;
    return false;
  }
  bool readsThroughView(const Instr& in, const Group& g) const {
    for (int v : in.inputs)
      if (p_.rootOf(v) != v && g.produced.count(p_.rootOf(v))) return true;
    return false;
  }
  bool writesInto(const Instr& in, const Group& g) const {
    for (int v : in.outputs) {
      const int r = p_.rootOf(v);
      if (g.readRoots.count(r) || g.produced.count(r)) return true;
    }
    return false;
  }
  bool readsRoot(const Instr& in, const Group& g) const {
    for (int v : in.inputs)
      if (g.produced.count(p_.rootOf(v))) return true;
    return false;
  }

  // A value made in g that anyone outside g reads (or the program returns) is stored.
  bool escapes(const Group& g, int v) const {
    if (escapes_.count(v)) return true;
    auto it = readers_.find(v);
    if (it == readers_.end()) return false;
    for (int r : it->second)
      if (!g.memberIndices.count(r)) return true;
    return false;
  }

  void emit(Group& g, std::vector<Instr>& out) {
    // The VM stores float32 only: a comparison read outside the group (a `where` that did
    // not join it, e.g. once CSE merged two comparisons) keeps the group unfused.
    const bool storesNonFloat = std::any_of(g.members.begin(), g.members.end(), [&](const Member& m) {
      return p_.values[m.instr.outputs[0]].dtype != DType::Float32 && escapes(g, m.instr.outputs[0]);
    });
    if (g.members.size() < 2 || storesNonFloat) {
      for (Member& m : g.members) out.push_back(std::move(m.instr));
      return;
    }
    // Last use of each value inside the group, to recycle registers.
    std::map<int, size_t> lastUse;
    for (size_t i = 0; i < g.members.size(); ++i)
      for (int v : g.members[i].instr.inputs) lastUse[v] = i;

    Instr fused;
    fused.kernelId = KernelRegistry::instance().idOf("fused_pointwise");
    std::vector<double> code;
    std::map<int, int> regOf;  // value -> register
    std::vector<int> freeRegs;
    int numRegs = 0;
    auto newReg = [&]() {
      if (!freeRegs.empty()) {
        int r = freeRegs.back();
        freeRegs.pop_back();
        return r;
      }
      return numRegs++;
    };
    auto put = [&](VmOp op, int dst, double a = 0, double b = 0, double c = 0) {
      code.insert(code.end(), {static_cast<double>(op), static_cast<double>(dst), a, b, c});
    };
    auto operand = [&](int v) {
      auto it = regOf.find(v);
      if (it != regOf.end()) return it->second;
      // an input of the group: load it (broadcast and strides handled by the VM)
      int idx = -1;
      for (size_t k = 0; k < fused.inputs.size(); ++k)
        if (fused.inputs[k] == v) idx = static_cast<int>(k);
      if (idx < 0) {
        idx = static_cast<int>(fused.inputs.size());
        fused.inputs.push_back(v);
      }
      const int r = newReg();
      put(VmOp::Load, r, idx);
      regOf[v] = r;
      return r;
    };
    auto constant = [&](double value) {
      const int r = newReg();
      put(VmOp::Const, r, value);
      return r;
    };
    std::string label = "fused[";
    for (size_t i = 0; i < g.members.size(); ++i) {
      const Instr& in = g.members[i].instr;
      const FusionInfo info = g.members[i].info;
      const FusionForm form = static_cast<FusionForm>(info.form);
      label += (i ? "," : "") + KernelRegistry::instance().names()[in.kernelId];
      std::vector<int> temps;  // constant registers freed after this instruction
      int a = operand(in.inputs[0]);
      int dst = -1;
      VmOp op = static_cast<VmOp>(info.vmOp);
      switch (form) {
        case FusionForm::Unary:
        case FusionForm::Gelu:
          if (form == FusionForm::Gelu) op = in.attrs.size() > 1 && in.attrs[1] != 0 ? VmOp::GeluTanh : VmOp::Gelu;
          dst = newReg();
          put(op, dst, a);
          break;
        case FusionForm::Binary:
        case FusionForm::Compare: {
          const int b = in.inputs.size() > 1 ? operand(in.inputs[1]) : constant(in.attrs[1]);
          if (in.inputs.size() == 1) temps.push_back(b);
          dst = newReg();
          put(op, dst, a, b);
          break;
        }
        case FusionForm::Where: {
          const int x = operand(in.inputs[1]);
          const int y = in.inputs.size() > 2 ? operand(in.inputs[2]) : constant(in.attrs[1]);
          if (in.inputs.size() == 2) temps.push_back(y);
          dst = newReg();
          put(VmOp::Where, dst, a, x, y);
          break;
        }
        case FusionForm::Clamp: {
          const int lo = constant(in.attrs[1] != 0 ? in.attrs[2] : -INFINITY);
          const int hi = constant(in.attrs[3] != 0 ? in.attrs[4] : INFINITY);
          temps.push_back(lo);
          temps.push_back(hi);
          dst = newReg();
          put(VmOp::Clamp, dst, a, lo, hi);
          break;
        }
        default: break;
      }
      const int outV = in.outputs[0];
      regOf[outV] = dst;
      if (escapes(g, outV)) {
        int idx = static_cast<int>(fused.outputs.size());
        fused.outputs.push_back(outV);
        put(VmOp::Store, dst, idx);
      }
      for (int r : temps) freeRegs.push_back(r);
      // registers of values whose last reader was this instruction
      for (int v : in.inputs) {
        auto it = regOf.find(v);
        if (it != regOf.end() && lastUse[v] == i && v != outV) {
          freeRegs.push_back(it->second);
          regOf.erase(it);
        }
      }
    }
    if (numRegs > kVmMaxRegs || fused.outputs.empty()) {
      for (Member& m : g.members) out.push_back(std::move(m.instr));
      return;
    }
    // The VM needs one output shape: every stored value has the group's shape.
    fused.attrs = {static_cast<double>(numRegs), static_cast<double>(code.size() / kVmInstrWords)};
    fused.attrs.insert(fused.attrs.end(), code.begin(), code.end());
    fused.label = label + "]";
    fused.run = prepareFusedPointwise(fused.attrs, static_cast<int>(fused.inputs.size()),
                                      static_cast<int>(fused.outputs.size()));
    fused_ += static_cast<int>(g.members.size());
    out.push_back(std::move(fused));
  }

  Program& p_;
  std::set<int> escapes_;
  std::map<int, std::vector<int>> readers_;  // buffer root -> reading instructions
  std::vector<FusionInfo> infos_;
  std::vector<Group> open_;
  int fused_ = 0;
};

}  // namespace

int fusePointwise(Program& p) { return Fuser(p).run(); }

}  // namespace graph
}  // namespace tensorjit
