#include "graph/executable.h"

#include <string>
#include <utility>

#include "core/allocator.h"
#include "core/error.h"
#include "core/kernel.h"

namespace tensorjit {
namespace graph {

namespace {

// A run needs its arena and its outputs at once: a program that needs more than the machine
// has would only be killed by the OS (Linux overcommits, then the OOM killer ends the
// process), so it is refused with an error. Checked per value before the passes (constant
// folding allocates values), then for the plan.
void checkFitsInMemory(const Program& p, const MemoryPlan* plan) {
  const int64_t physical = physicalMemoryBytes();
  if (physical <= 0) return;
  int64_t outputs = 0;
  for (size_t v = 0; v < p.values.size(); ++v) {
    const Value& val = p.values[v];
    if (val.kind != ValueKind::Temp && val.kind != ValueKind::Output) continue;
    if (val.bytes() > physical)
      throwRangeError("program: value %" + std::to_string(v) + " of " + std::to_string(val.numel()) + " elements needs " + std::to_string(val.bytes()) +
                      " bytes, more than this machine's physical memory (" + std::to_string(physical) + " bytes)");
    if (val.kind == ValueKind::Output) outputs += val.bytes();
  }
  if (plan && plan->arenaBytes + outputs > physical)
    throwRangeError("program: a run needs " + std::to_string(plan->arenaBytes + outputs) + " bytes (arena " +
                    std::to_string(plan->arenaBytes) + ", outputs " + std::to_string(outputs) +
                    "), more than this machine's physical memory (" + std::to_string(physical) + " bytes)");
}

}  // namespace

Executable::Executable(Program program, std::vector<ConstBuffer> consts)
    : program_(std::move(program)), consts_(std::move(consts)) {
  checkFitsInMemory(program_, nullptr);
  passStats_ = optimize(program_, consts_, folded_);
  plan_ = planMemory(program_);
  checkFitsInMemory(program_, &plan_);
  // a dynamic graph keeps an executable per shape: no growth slack left from the passes
  program_.values.shrink_to_fit();
  program_.instrs.shrink_to_fit();
  inputValue_.assign(program_.numInputs, -1);
  for (size_t v = 0; v < program_.values.size(); ++v)
    if (program_.values[v].kind == ValueKind::Input) inputValue_[program_.values[v].index] = static_cast<int>(v);
  outputSlot_.assign(program_.values.size(), -1);
  for (size_t i = 0; i < program_.outputs.size(); ++i) outputSlot_[program_.outputs[i]] = static_cast<int>(i);  // distinct (decodeProgram)
}

namespace {
std::string shapeOf(const Value& v) {
  std::string s = "[";
  for (int d = 0; d < v.ndim; ++d) s += (d ? ", " : "") + std::to_string(v.shape[d]);
  return s + "]";
}
}  // namespace

namespace {
// Allocator blocks released at scope exit unless taken.
class Blocks {
 public:
  ~Blocks() { for (auto& b : blocks_) releaseBytes(b.data, static_cast<size_t>(b.bytes)); }
  void* add(int64_t bytes) {
    void* data = allocateBytes(static_cast<size_t>(bytes));
    blocks_.push_back({data, bytes});
    return data;
  }
  // Hands over the block at `data` to the caller (it will not be released here).
  OutputBuffer take(void* data) {
    for (size_t i = 0; i < blocks_.size(); ++i)
      if (blocks_[i].data == data) {
        OutputBuffer b = blocks_[i];
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
        return b;
      }
    throwRangeError("executable: output buffer not found");
  }

 private:
  std::vector<OutputBuffer> blocks_;
};
}  // namespace

std::vector<OutputBuffer> Executable::run(const std::vector<TensorView>& inputs, const std::vector<TensorView>* outputs) {
  const Program& p = program_;
  if (static_cast<int>(inputs.size()) != p.numInputs)
    throwRangeError("executable: expected " + std::to_string(p.numInputs) + " inputs, got " +
                    std::to_string(inputs.size()));
  if (outputs && outputs->size() != p.outputs.size())
    throwRangeError("executable: expected " + std::to_string(p.outputs.size()) + " output buffers, got " +
                    std::to_string(outputs->size()));
  // The arena comes from the allocator's cache, not a pool of this executable's own: the
  // executables of a dynamic graph (one per shape) then share touched memory, and one no
  // longer run holds none.
  struct ArenaLease {
    void* arena = nullptr;
    size_t capacity = 0;
    explicit ArenaLease(int64_t bytes) {
      if (bytes > 0) arena = allocateAtLeast(static_cast<size_t>(bytes), &capacity);
    }
    ~ArenaLease() { releaseBytes(arena, capacity); }
  } lease(plan_.arenaBytes);
  Blocks outputBlocks, stagingBlocks;
  std::vector<TensorView> views(p.values.size());
  // Mutable inputs staged to contiguous memory: (caller's view, staged copy), written back after the run.
  std::vector<std::pair<TensorView, TensorView>> writeBack;

  for (size_t vi = 0; vi < p.values.size(); ++vi) {
    const Value& v = p.values[vi];
    TensorView& tv = views[vi];
    switch (v.kind) {
      case ValueKind::Input: {
        const TensorView& in = inputs[v.index];
        if (in.dtype != v.dtype)
          throwTypeError("executable: input " + std::to_string(v.index) + " must be " + dtypeName(v.dtype) + shapeOf(v) +
                         ", got " + dtypeName(in.dtype) + in.shapeString());
        // a wrong rank is a shape error (RangeError), like a wrong size
        bool sameShape = in.ndim == v.ndim;
        for (int d = 0; sameShape && d < v.ndim; ++d) sameShape = in.shape[d] == v.shape[d];
        if (!sameShape)
          throwRangeError("executable: input " + std::to_string(v.index) + " must have shape " + shapeOf(v) + ", got " +
                          in.shapeString());
        tv = in;
        break;
      }
      case ValueKind::Const:
        tv = contiguousView(const_cast<void*>(consts_[v.index].data), v.dtype, v.ndim, v.shape);
        break;
      case ValueKind::Temp:
        tv = contiguousView(static_cast<char*>(lease.arena) + std::max<int64_t>(plan_.offsets[vi], 0), v.dtype, v.ndim,
                            v.shape);
        break;
      case ValueKind::Output: {
        if (!outputs || outputSlot_[vi] < 0) {
          tv = contiguousView(outputBlocks.add(v.bytes()), v.dtype, v.ndim, v.shape);
          break;
        }
        const TensorView& given = (*outputs)[outputSlot_[vi]];
        bool fits = given.dtype == v.dtype && given.ndim == v.ndim && given.isContiguous();
        for (int d = 0; fits && d < v.ndim; ++d) fits = given.shape[d] == v.shape[d];
        if (!fits)
          throwRangeError("executable: output buffer " + std::to_string(outputSlot_[vi]) + " must be contiguous " +
                          dtypeName(v.dtype) + shapeOf(v) + ", got " + dtypeName(given.dtype) + given.shapeString());
        tv = given;
        break;
      }
      case ValueKind::View: {
        const int root = p.rootOf(static_cast<int>(vi));
        if (p.values[root].kind == ValueKind::Input && !views[root].isContiguous()) {
          // View strides assume a contiguous source: stage a strided input once per run.
          const Value& rv = p.values[root];
          TensorView staged = contiguousView(stagingBlocks.add(rv.bytes()), rv.dtype, rv.ndim, rv.shape);
          KernelArgs copyArgs{&views[root], 1, &staged, 1, nullptr, 0};
          runKernel(KernelRegistry::instance().idOf("copy"), copyArgs);
          if (rv.mutableInput) writeBack.emplace_back(views[root], staged);
          views[root] = staged;
        }
        // Offsets and strides are in elements of the root buffer.
        tv.dtype = v.dtype;
        tv.ndim = v.ndim;
        for (int d = 0; d < v.ndim; ++d) {
          tv.shape[d] = v.shape[d];
          tv.strides[d] = v.strides[d];
        }
        tv.data = static_cast<char*>(views[root].data) + v.offset * static_cast<int64_t>(itemSize(v.dtype));
        break;
      }
    }
  }

  std::vector<TensorView> args;
  for (const Instr& in : p.instrs) {
    args.clear();
    for (int v : in.inputs) args.push_back(views[v]);
    for (int v : in.outputs) args.push_back(views[v]);
    KernelArgs ka{args.data(), static_cast<int>(in.inputs.size()), args.data() + in.inputs.size(),
                  static_cast<int>(in.outputs.size()), in.attrs.data(), static_cast<int>(in.attrs.size())};
    try {
      if (in.run) in.run(ka);
      else runKernel(in.kernelId, ka);
    } catch (const Error& e) {
      // which kernel refused (an index out of range, say): the binding's caller maps it to ops
      const std::vector<std::string>& names = KernelRegistry::instance().names();
      if (in.kernelId < 0 || static_cast<size_t>(in.kernelId) >= names.size()) throw;
      const std::string& name = names[static_cast<size_t>(in.kernelId)];
      const std::string msg = e.what();
      if (msg.compare(0, name.size() + 1, name + ":") == 0) throw;
      throw Error(e.kind(), name + ": " + msg);
    }
  }

  for (auto& [original, staged] : writeBack) {
    KernelArgs copyArgs{&staged, 1, &original, 1, nullptr, 0};
    runKernel(KernelRegistry::instance().idOf("copy"), copyArgs);
  }

  std::vector<OutputBuffer> result;
  if (outputs) return result;
  for (int v : p.outputs) result.push_back(outputBlocks.take(views[v].data));
  return result;  // Output values that are not program outputs go back with outputBlocks
}

}  // namespace graph
}  // namespace tensorjit
