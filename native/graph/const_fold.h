// Constant folding: instructions whose operands are all constants run once when the
// executable is built, and their results become constants of the executable
// (causal masks built from ones().tril(), scaled or transposed weights, arange tables).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "graph/passes.h"
#include "graph/program.h"

namespace tensorjit {
namespace graph {

// Owns the memory of folded results for the lifetime of the executable.
class FoldedBuffers {
 public:
  FoldedBuffers() = default;
  FoldedBuffers(const FoldedBuffers&) = delete;
  FoldedBuffers& operator=(const FoldedBuffers&) = delete;
  ~FoldedBuffers();
  void* add(int64_t bytes);
  int64_t bytes() const;

 private:
  std::vector<std::pair<void*, int64_t>> blocks_;
};

// Folded results larger than this and than the constants they are made from stay
// per-run temps: folding them would trade a reused arena slot for resident memory.
constexpr int64_t kMaxFoldedGrowthBytes = int64_t{1} << 20;

// Runs foldable instructions now; their single Temp result turns into a new constant
// (appended to `consts`, memory kept in `owned`). Returns how many were folded.
int foldConstants(Program& p, std::vector<ConstBuffer>& consts, FoldedBuffers& owned);

}  // namespace graph
}  // namespace tensorjit
