#include "graph/passes.h"

#include "graph/reduction_fusion.h"

#include "graph/const_fold.h"

#include <map>
#include <tuple>
#include <vector>

namespace tensorjit {
namespace graph {

std::string PassStats::describe() const {
  return "passes: " + std::to_string(deadInstrs) + " dead instructions removed, " +
         std::to_string(commonSubexpressions) + " common subexpressions merged, " + std::to_string(foldedConstants) +
         " constants folded (" + std::to_string(foldedBytes) + " bytes), " + std::to_string(prepackedWeights) +
         " weights prepacked (" + std::to_string(prepackedBytes) + " bytes; " + std::to_string(sharedWeights) +
         " shared with other executables), " +
         std::to_string(fusedEpilogues) + " epilogues fused, " + std::to_string(fusedPointwise) +
         " pointwise instructions fused\n";
}

int eliminateDeadCode(Program& p) {
  const size_t n = p.values.size();
  std::vector<bool> live(n, false);
  for (int v : p.outputs) live[p.rootOf(v)] = true;
  std::vector<bool> keep(p.instrs.size(), false);
  for (size_t i = p.instrs.size(); i-- > 0;) {
    const Instr& in = p.instrs[i];
    bool needed = false;
    for (int v : in.outputs) {
      const Value& root = p.values[p.rootOf(v)];
      needed |= live[p.rootOf(v)] || root.kind == ValueKind::Input;  // in-place writes are effects
    }
    if (!needed) continue;
    keep[i] = true;
    for (int v : in.inputs) live[p.rootOf(v)] = true;
    // An instruction that writes part of a live buffer keeps the buffer's other writers alive too.
    for (int v : in.outputs) live[p.rootOf(v)] = true;
  }
  std::vector<Instr> kept;
  int removed = 0;
  for (size_t i = 0; i < p.instrs.size(); ++i) {
    if (keep[i]) kept.push_back(std::move(p.instrs[i]));
    else ++removed;
  }
  p.instrs = std::move(kept);
  return removed;
}

int eliminateCommonSubexpressions(Program& p) {
  // Any value written twice (in-place) makes "same operands" not mean "same data".
  std::vector<int> writes(p.values.size(), 0);
  for (const Instr& in : p.instrs)
    for (int v : in.outputs)
      if (++writes[p.rootOf(v)] > 1 || p.values[p.rootOf(v)].kind == ValueKind::Input) return 0;

  std::vector<int> replace(p.values.size());
  for (size_t v = 0; v < replace.size(); ++v) replace[v] = static_cast<int>(v);
  auto resolve = [&](int v) {
    while (replace[v] != v) v = replace[v];
    return v;
  };
  using Key = std::tuple<int, std::vector<int>, std::vector<double>>;
  std::map<Key, int> seen;  // key -> instruction index
  std::vector<Instr> kept;
  int merged = 0;
  for (Instr& in : p.instrs) {
    for (int& v : in.inputs) v = resolve(v);
    const bool candidate = in.outputs.size() == 1 && p.values[in.outputs[0]].kind == ValueKind::Temp;
    if (candidate) {
      Key key{in.kernelId, in.inputs, in.attrs};
      auto it = seen.find(key);
      if (it != seen.end()) {
        const int earlier = kept[it->second].outputs[0];
        if (sameType(p.values[earlier], p.values[in.outputs[0]])) {
          replace[in.outputs[0]] = earlier;
          ++merged;
          continue;
        }
      }
      seen.emplace(std::move(key), static_cast<int>(kept.size()));
    }
    kept.push_back(std::move(in));
  }
  p.instrs = std::move(kept);
  // Views and program outputs follow the replacements.
  for (Value& v : p.values)
    if (v.kind == ValueKind::View) v.index = resolve(v.index);
  return merged;
}

PassStats optimize(Program& p, std::vector<ConstBuffer>& consts, FoldedBuffers& folded) {
  PassStats s;
  s.commonSubexpressions = eliminateCommonSubexpressions(p);
  s.deadInstrs = eliminateDeadCode(p);
  // Before prepacking, so a weight computed from constants is packed like any other.
  s.foldedConstants = foldConstants(p, consts, folded);
  s.foldedBytes = folded.bytes();
  // Before pointwise fusion, which would otherwise take the adds and scales into VM programs.
  // Counted with the GEMM epilogues (absorbed pointwise instructions).
  s.fusedEpilogues += fuseReductionPrologues(p);
  // Epilogues first: an activation after a GEMM belongs in its epilogue, not a VM program.
  s.prepackedWeights = prepackConstantWeights(p, consts, &s.prepackedBytes, &s.fusedEpilogues, &s.sharedWeights);
  s.fusedPointwise = fusePointwise(p);
  return s;
}

const ConstBuffer* constantSource(const Program& p, const std::vector<ConstBuffer>& consts, int v) {
  const int root = p.rootOf(v);
  return p.values[root].kind == ValueKind::Const ? &consts[p.values[root].index] : nullptr;
}

TensorView constantView(const Program& p, const std::vector<ConstBuffer>& consts, int v) {
  TensorView tv;
  const int root = p.rootOf(v);
  if (p.values[root].kind != ValueKind::Const) return tv;
  const Value& val = p.values[v];
  const char* base = static_cast<const char*>(consts[p.values[root].index].data);
  if (val.kind == ValueKind::View) {
    tv.data = const_cast<char*>(base) + val.offset * static_cast<int64_t>(itemSize(val.dtype));
    tv.dtype = val.dtype;
    tv.ndim = val.ndim;
    for (int d = 0; d < val.ndim; ++d) {
      tv.shape[d] = val.shape[d];
      tv.strides[d] = val.strides[d];
    }
    return tv;
  }
  return contiguousView(const_cast<char*>(base), val.dtype, val.ndim, val.shape);
}

}  // namespace graph
}  // namespace tensorjit
