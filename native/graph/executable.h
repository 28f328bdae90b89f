// A validated, planned program ready to run many times, from any thread.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "graph/const_fold.h"
#include "graph/memory_plan.h"
#include "graph/passes.h"
#include "graph/program.h"

namespace tensorjit {
namespace graph {


// Output memory comes from the caching allocator; the caller owns it after run().
struct OutputBuffer {
  void* data;
  int64_t bytes;
};

class Executable {
 public:
  // consts must stay alive as long as the Executable (the binding holds references).
  Executable(Program program, std::vector<ConstBuffer> consts);

  // Runs once. `inputs` are the caller's views (any strides); shapes and dtypes must
  // match the program's inputs exactly. Safe to call concurrently: each run takes its own
  // arena from the caching allocator and gives it back after. Results go into `outputs`
  // when given (contiguous, one per program output, exact dtype and shape; nothing is
  // returned), else into fresh blocks.
  std::vector<OutputBuffer> run(const std::vector<TensorView>& inputs, const std::vector<TensorView>* outputs = nullptr);

  const Program& program() const { return program_; }
  const MemoryPlan& plan() const { return plan_; }
  const PassStats& passStats() const { return passStats_; }

 private:
  Program program_;
  FoldedBuffers folded_;  // before consts_, which points into it
  PassStats passStats_;
  MemoryPlan plan_;
  std::vector<ConstBuffer> consts_;
  std::vector<int> inputValue_;  // input index -> value id
  std::vector<int> outputSlot_;  // value id -> its index in program outputs, -1 if none
};

}  // namespace graph
}  // namespace tensorjit
