// Static memory planning: every Temp value gets an offset in one arena, reused by
// values whose lifetimes do not overlap (greedy by size, as TFLite's arena planner).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "graph/program.h"

namespace tensorjit {
namespace graph {

struct MemoryPlan {
  std::vector<int64_t> offsets;  // per value: byte offset in the arena, -1 if not an arena value
  int64_t arenaBytes = 0;        // what the arena needs
  int64_t unplannedBytes = 0;    // sum of all Temp sizes (what naive allocation would need)
  std::string describe(const Program& p) const;
};

MemoryPlan planMemory(const Program& p);

}  // namespace graph
}  // namespace tensorjit
