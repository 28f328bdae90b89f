#include "graph/shared_packs.h"

#include <map>
#include <mutex>
#include <tuple>

namespace tensorjit {
namespace graph {

bool PackKey::operator<(const PackKey& o) const {
  return std::tie(data, version, layout) < std::tie(o.data, o.version, o.layout);
}

namespace {
struct Cache {
  std::mutex mu;
  std::map<PackKey, std::weak_ptr<const void>> packs;
  // Drops entries no executable holds (called on insert, so the map stays small).
  void prune() {
    for (auto it = packs.begin(); it != packs.end();) it = it->second.expired() ? packs.erase(it) : std::next(it);
  }
};
Cache& cache() {
  static Cache* c = new Cache();  // leaked: executables may be destroyed during teardown
  return *c;
}
}  // namespace

std::shared_ptr<const void> sharedPack(const PackKey& key, const std::function<std::shared_ptr<const void>()>& make,
                                       bool* reused) {
  Cache& c = cache();
  *reused = true;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.packs.find(key);
    if (it != c.packs.end())
      if (auto held = it->second.lock()) return held;
  }
  *reused = false;
  std::shared_ptr<const void> made = make();
  if (!made) return made;
  std::lock_guard<std::mutex> lk(c.mu);
  auto it = c.packs.find(key);
  if (it != c.packs.end())
    if (auto raced = it->second.lock()) {  // another build packed it meanwhile
      *reused = true;
      return raced;
    }
  c.prune();
  c.packs[key] = made;
  return made;
}

size_t sharedPackCount() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  c.prune();
  return c.packs.size();
}

}  // namespace graph
}  // namespace tensorjit
