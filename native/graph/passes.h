// Graph passes over a decoded Program, run once per compile before memory planning.
#pragma once
#include <string>

#include "graph/program.h"

namespace tensorjit {
namespace graph {

struct PassStats {
  int deadInstrs = 0;
  int commonSubexpressions = 0;
  std::string describe() const;
};

// Removes instructions whose results nobody reads (writes into mutable inputs stay).
int eliminateDeadCode(Program& p);
// Reuses the result of an identical earlier instruction (same kernel, operands, attrs
// and result types). Skipped for programs with in-place writes, where two identical
// calls may see different data.
int eliminateCommonSubexpressions(Program& p);

PassStats optimize(Program& p);

}  // namespace graph
}  // namespace tensorjit
