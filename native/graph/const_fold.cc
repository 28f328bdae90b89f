#include "graph/const_fold.h"

#include <algorithm>

#include "core/allocator.h"
#include "core/kernel.h"

namespace tensorjit {
namespace graph {

FoldedBuffers::~FoldedBuffers() {
  for (auto& [data, bytes] : blocks_) releaseBytes(data, static_cast<size_t>(bytes));
}

void* FoldedBuffers::add(int64_t bytes) {
  void* data = allocateBytes(static_cast<size_t>(std::max<int64_t>(bytes, 1)));
  blocks_.emplace_back(data, std::max<int64_t>(bytes, 1));
  return data;
}

int64_t FoldedBuffers::bytes() const {
  int64_t total = 0;
  for (const auto& b : blocks_) total += b.second;
  return total;
}

int foldConstants(Program& p, std::vector<ConstBuffer>& consts, FoldedBuffers& owned) {
  // A root written by several instructions (in-place updates, slices written one by one)
  // is only constant once all of them ran: such roots are left alone.
  std::vector<int> writers(p.values.size(), 0);
  for (const Instr& in : p.instrs)
    for (int v : in.outputs) ++writers[p.rootOf(v)];
  const int probeId = KernelRegistry::instance().idOf("fma_probe");  // a timing tool, not a function

  std::vector<Instr> kept;
  int folded = 0;
  for (Instr& in : p.instrs) {
    bool foldable = !in.run && in.kernelId != probeId && in.outputs.size() == 1;
    int64_t inputBytes = 0;  // of the buffers read (an expanded view reads little)
    for (int v : in.inputs) {
      const Value& root = p.values[p.rootOf(v)];
      foldable = foldable && root.kind == ValueKind::Const;
      inputBytes += root.bytes();
    }
    const int out = in.outputs.empty() ? -1 : in.outputs[0];
    foldable = foldable && p.values[out].kind == ValueKind::Temp && writers[out] == 1;
    foldable = foldable && p.values[out].bytes() <= std::max(inputBytes, kMaxFoldedGrowthBytes);
    if (!foldable) {
      kept.push_back(std::move(in));
      continue;
    }
    std::vector<TensorView> args;
    for (int v : in.inputs) args.push_back(constantView(p, consts, v));
    Value& result = p.values[out];
    void* data = owned.add(result.bytes());
    args.push_back(contiguousView(data, result.dtype, result.ndim, result.shape));
    const KernelArgs ka{args.data(), static_cast<int>(in.inputs.size()), args.data() + in.inputs.size(), 1,
                        in.attrs.data(), static_cast<int>(in.attrs.size())};
    runKernel(in.kernelId, ka);
    result.kind = ValueKind::Const;
    result.index = static_cast<int>(consts.size());
    consts.push_back(ConstBuffer{data, result.bytes()});
    ++p.numConsts;
    ++folded;
  }
  p.instrs = std::move(kept);
  return folded;
}

}  // namespace graph
}  // namespace tensorjit
