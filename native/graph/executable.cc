#include "graph/executable.h"

#include "core/allocator.h"
#include "core/error.h"
#include "core/kernel.h"

namespace tensorjit {
namespace graph {

Executable::Executable(Program program, std::vector<ConstBuffer> consts)
    : program_(std::move(program)), consts_(std::move(consts)) {
  passStats_ = optimize(program_, consts_);
  plan_ = planMemory(program_);
  inputValue_.assign(program_.numInputs, -1);
  for (size_t v = 0; v < program_.values.size(); ++v)
    if (program_.values[v].kind == ValueKind::Input) inputValue_[program_.values[v].index] = static_cast<int>(v);
}

Executable::~Executable() {
  for (void* a : freeArenas_) releaseBytes(a, static_cast<size_t>(plan_.arenaBytes));
}

void* Executable::acquireArena() {
  if (plan_.arenaBytes == 0) return nullptr;
  {
    std::lock_guard<std::mutex> lk(arenaMu_);
    if (!freeArenas_.empty()) {
      void* a = freeArenas_.back();
      freeArenas_.pop_back();
      return a;
    }
  }
  return allocateBytes(static_cast<size_t>(plan_.arenaBytes));
}

void Executable::releaseArena(void* arena) {
  if (!arena) return;
  std::lock_guard<std::mutex> lk(arenaMu_);
  freeArenas_.push_back(arena);
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

std::vector<OutputBuffer> Executable::run(const std::vector<TensorView>& inputs) {
  const Program& p = program_;
  if (static_cast<int>(inputs.size()) != p.numInputs)
    throwRangeError("executable: expected " + std::to_string(p.numInputs) + " inputs, got " +
                    std::to_string(inputs.size()));
  struct ArenaLease {
    Executable* self;
    void* arena;
    ~ArenaLease() { self->releaseArena(arena); }
  } lease{this, acquireArena()};
  Blocks outputBlocks, stagingBlocks;
  std::vector<TensorView> views(p.values.size());

  for (size_t vi = 0; vi < p.values.size(); ++vi) {
    const Value& v = p.values[vi];
    TensorView& tv = views[vi];
    switch (v.kind) {
      case ValueKind::Input: {
        const TensorView& in = inputs[v.index];
        if (in.dtype != v.dtype || in.ndim != v.ndim)
          throwTypeError("executable: input " + std::to_string(v.index) + " must be " + dtypeName(v.dtype) + shapeOf(v) +
                         ", got " + dtypeName(in.dtype) + in.shapeString());
        for (int d = 0; d < v.ndim; ++d)
          if (in.shape[d] != v.shape[d])
            throwRangeError("executable: input " + std::to_string(v.index) + " must have shape " + shapeOf(v) +
                            ", got " + in.shapeString());
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
      case ValueKind::Output:
        tv = contiguousView(outputBlocks.add(v.bytes()), v.dtype, v.ndim, v.shape);
        break;
      case ValueKind::View: {
        const int root = p.rootOf(static_cast<int>(vi));
        if (p.values[root].kind == ValueKind::Input && !views[root].isContiguous()) {
          // View strides assume a contiguous source: stage a strided input once per run.
          const Value& rv = p.values[root];
          TensorView staged = contiguousView(stagingBlocks.add(rv.bytes()), rv.dtype, rv.ndim, rv.shape);
          KernelArgs copyArgs{&views[root], 1, &staged, 1, nullptr, 0};
          runKernel(KernelRegistry::instance().idOf("copy"), copyArgs);
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
    if (in.run) in.run(ka);
    else runKernel(in.kernelId, ka);
  }

  std::vector<OutputBuffer> result;
  for (int v : p.outputs) result.push_back(outputBlocks.take(views[v].data));
  return result;  // Output values that are not program outputs go back with outputBlocks
}

}  // namespace graph
}  // namespace tensorjit
