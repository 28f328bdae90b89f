#include "graph/memory_plan.h"

#include <algorithm>
#include <numeric>

namespace tensorjit {
namespace graph {

namespace {
constexpr int64_t kAlign = 64;
int64_t alignUp(int64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }
}  // namespace

MemoryPlan planMemory(const Program& p) {
  const int n = static_cast<int>(p.values.size());
  MemoryPlan plan;
  plan.offsets.assign(n, -1);
  // Lifetime of each Temp root: [defining instruction, last instruction reading it or a view of it].
  std::vector<int> first(n, -1), last(n, -1);
  for (int i = 0; i < static_cast<int>(p.instrs.size()); ++i) {
    for (int v : p.instrs[i].outputs) {
      const int r = p.rootOf(v);
      if (first[r] < 0) first[r] = i;
      last[r] = std::max(last[r], i);
    }
    for (int v : p.instrs[i].inputs) last[p.rootOf(v)] = std::max(last[p.rootOf(v)], i);
  }
  std::vector<int> temps;
  for (int v = 0; v < n; ++v)
    if (p.values[v].kind == ValueKind::Temp && first[v] >= 0) {
      temps.push_back(v);
      plan.unplannedBytes += alignUp(p.values[v].bytes());
    }
  std::stable_sort(temps.begin(), temps.end(),
                   [&](int a, int b) { return p.values[a].bytes() > p.values[b].bytes(); });
  struct Placed { int64_t offset, size; int first, last; };
  std::vector<Placed> placed;
  for (int v : temps) {
    const int64_t size = alignUp(std::max<int64_t>(p.values[v].bytes(), 1));
    // Blocks already placed whose lifetimes overlap ours, by offset: take the first gap that fits.
    std::vector<Placed> live;
    for (const Placed& q : placed)
      if (!(q.last < first[v] || last[v] < q.first)) live.push_back(q);
    std::sort(live.begin(), live.end(), [](const Placed& a, const Placed& b) { return a.offset < b.offset; });
    int64_t offset = 0;
    for (const Placed& q : live) {
      if (q.offset >= offset + size) break;
      offset = std::max(offset, q.offset + q.size);
    }
    placed.push_back({offset, size, first[v], last[v]});
    plan.offsets[v] = offset;
    plan.arenaBytes = std::max(plan.arenaBytes, offset + size);
  }
  return plan;
}

std::string MemoryPlan::describe(const Program& p) const {
  std::string s = "memory plan: arena " + std::to_string(arenaBytes) + " bytes (" + std::to_string(unplannedBytes) +
                  " bytes without reuse)\n";
  for (size_t v = 0; v < offsets.size(); ++v)
    if (offsets[v] >= 0)
      s += "  %" + std::to_string(v) + " @" + std::to_string(offsets[v]) + " +" + std::to_string(p.values[v].bytes()) + "\n";
  return s;
}

}  // namespace graph
}  // namespace tensorjit
