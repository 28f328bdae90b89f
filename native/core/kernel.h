// The kernel calling convention and the one kernel registry of the native side.
//
// A kernel is a plain function over strided views plus numeric attributes whose
// layout is fixed per kernel (documented beside each kernel and in lib/ops).
// Each kernel file registers its bodies once per ISA (see simd/foreach_isa.h);
// the registry picks, per kernel, the best body the CPU supports at load time.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/tensor_view.h"

namespace tensorjit {

struct KernelArgs {
  const TensorView* inputs;
  int numInputs;
  TensorView* outputs;
  int numOutputs;
  const double* attrs;
  int numAttrs;

  // Checked: graph programs are built outside this code, so a call may carry fewer
  // operands or attributes than the kernel reads.
  const TensorView& in(int i) const {
    if (i >= numInputs) missing("input", i, numInputs);
    return inputs[i];
  }
  TensorView& out(int i) const {
    if (i >= numOutputs) missing("output", i, numOutputs);
    return outputs[i];
  }
  double attr(int i) const {
    if (i >= numAttrs) missing("attribute", i, numAttrs);
    return attrs[i];
  }
  int64_t intAttr(int i) const { return static_cast<int64_t>(attr(i)); }

 private:
  [[noreturn]] static void missing(const char* what, int i, int count) {
    throwRangeError(std::string("kernel call has ") + std::to_string(count) + " " + what + "s, the kernel reads " + what +
                    " " + std::to_string(i));
  }
};

using KernelFn = void (*)(const KernelArgs&);

// How the graph executor may fuse a kernel into a pointwise program (see
// kernels/fused/vm_ops.h): its attribute layout and its VM opcode. Declared by the
// kernel file beside the kernel itself.
struct FusionInfo {
  int form = 0;  // kernels/fused/vm_ops.h FusionForm; 0 = not fusable
  int vmOp = -1;
};

class KernelRegistry {
 public:
  static KernelRegistry& instance();

  // Called from static initialisers of the kernel files, once per ISA body.
  void add(const char* name, Isa isa, KernelFn fn);

  // Fixes the ISA used from now on (at most `cap`, at most what the CPU has).
  void selectIsa(Isa cap);
  Isa selectedIsa() const { return selected_; }

  int idOf(const std::string& name) const;  // -1 when unknown
  KernelFn get(int id) const;               // nullptr when unknown
  KernelFn get(const std::string& name) const { return get(idOf(name)); }
  // Which ISA body runs for a kernel (for tests and logs).
  Isa isaOf(int id) const;
  const std::vector<std::string>& names() const { return names_; }
  void setFusion(const char* name, FusionInfo info);
  FusionInfo fusionOf(int id) const;

 private:
  struct Entry {
    KernelFn byIsa[kNumIsas] = {};
    KernelFn active = nullptr;
    Isa activeIsa = Isa::Scalar;
  };
  void resolve(Entry& e) const;
  std::vector<std::string> names_;
  std::vector<Entry> entries_;
  std::vector<std::pair<std::string, FusionInfo>> fusion_;
  Isa selected_ = Isa::Scalar;
};

// Runs a kernel by id, checking arity. Throws tensorjit::Error.
void runKernel(int id, const KernelArgs& args);

}  // namespace tensorjit
