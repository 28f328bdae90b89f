// Pointwise prologues and epilogues folded into reductions and conv (graph pass).
#pragma once
#include "graph/program.h"

namespace tensorjit {
namespace graph {

// Rewrites, when each intermediate is a temp read only by the next instruction:
//   layerNorm(a + b)               -> layerNorm with a residual input   ("layerNorm+add");
//                                     if a + b has later readers too, the layerNorm also
//                                     writes it as a second output     ("layerNorm+add+sum")
//   softmax(x * s + mask), softmax(x / s + mask), softmax(x + mask), softmax(x * s)
//   (and logSoftmax)               -> softmax with a prologue           ("softmax+mul+add", ...)
//   act(conv2d(..)), act(conv2d(..)) + r, act(conv2d(..) + r)
//                                  -> conv2d with an epilogue           ("conv2d+relu+add", ...)
// The rewritten instructions still run their registered kernels (with the optional
// attrs documented beside them), so they are validated at run time like any call.
// Returns how many pointwise instructions were absorbed.
int fuseReductionPrologues(Program& p);

}  // namespace graph
}  // namespace tensorjit
