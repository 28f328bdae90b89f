// Graph passes over a decoded Program, run once per compile before memory planning.
#pragma once
#include <string>
#include <vector>

#include "graph/program.h"

namespace tensorjit {
namespace graph {

struct ConstBuffer {
  const void* data;
  int64_t bytes;
  // Set for the caller's constants when it tracks their content by a version (a write
  // bumps it): their prepacked forms are then shared between executables (shared_packs.h).
  // Unset for memory an executable owns (folded constants), which another could reuse.
  bool versioned = false;
  uint64_t version = 0;
};

class FoldedBuffers;  // graph/const_fold.h

struct PassStats {
  int deadInstrs = 0;
  int foldedConstants = 0;
  int64_t foldedBytes = 0;
  int commonSubexpressions = 0;
  int prepackedWeights = 0;
  int64_t prepackedBytes = 0;
  int sharedWeights = 0;  // of those, packs another executable had made
  int fusedEpilogues = 0;
  int fusedPointwise = 0;
  std::string describe() const;
};

// Removes instructions whose results nobody reads (writes into mutable inputs stay).
int eliminateDeadCode(Program& p);
// Reuses the result of an identical earlier instruction (same kernel, operands, attrs
// and result types). Skipped for programs with in-place writes, where two identical
// calls may see different data.
int eliminateCommonSubexpressions(Program& p);

// Linear and matmul instructions absorb a following activation and residual add into the
// GEMM epilogue when they are its sole readers; those whose weight is a constant get it
// packed once into the GEMM's panel layout (bias read from the constant), the others take
// the epilogue as kernel attrs. conv2d with a constant weight gets it packed for its
// direct kernel (its epilogues: reduction_fusion.h). Packs of versioned constants are
// shared with other executables (shared_packs.h; *sharedWeights counts those reused).
// Returns the number of weights packed.
int prepackConstantWeights(Program& p, const std::vector<ConstBuffer>& consts, int64_t* packedBytes,
                           int* fusedEpilogues, int* sharedWeights);

// The view of value `v` when its root is a constant (nullptr data otherwise).
TensorView constantView(const Program& p, const std::vector<ConstBuffer>& consts, int v);
// The constant that value `v` views (nullptr when its root is not a constant).
const ConstBuffer* constantSource(const Program& p, const std::vector<ConstBuffer>& consts, int v);

// Runs of fusable pointwise instructions become fused_pointwise VM programs;
// returns how many instructions were fused.
int fusePointwise(Program& p);

// Runs every pass in order. Folded constants are appended to `consts`, their memory kept in `folded`.
PassStats optimize(Program& p, std::vector<ConstBuffer>& consts, FoldedBuffers& folded);

}  // namespace graph
}  // namespace tensorjit
