#include "core/allocator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace tensorjit {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kHugeThreshold = size_t(2) << 20;
constexpr size_t kHugePage = size_t(2) << 20;

// Size classes: multiples of 64 B up to 4 KiB, then 4 steps per power of two, so a
// cached block is at most 25% larger than the request.
size_t sizeClass(size_t bytes) {
  if (bytes <= 4096) return (bytes + kAlign - 1) & ~(kAlign - 1);
  size_t pow2 = 4096;
  while (pow2 * 2 < bytes) pow2 *= 2;
  const size_t step = pow2 / 4;
  return (bytes + step - 1) / step * step;
}

void* systemAlloc(size_t cls) {
  if (cls >= kHugeThreshold) {
    const size_t len = (cls + kHugePage - 1) / kHugePage * kHugePage;
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
  }
  return std::aligned_alloc(kAlign, cls);
}

void systemFree(void* p, size_t cls) {
  if (cls >= kHugeThreshold) {
    munmap(p, (cls + kHugePage - 1) / kHugePage * kHugePage);
  } else {
    std::free(p);
  }
}

struct State {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> cache;
  int64_t live = 0, peak = 0, cached = 0, blocks = 0;
};

State& state() {
  static State* s = new State();  // leaked: finalizers may run during teardown
  return *s;
}

// A block of class `cls`, or of the smallest cached class in [cls, maxCls]; *taken gets its class.
void* takeBlock(size_t cls, size_t maxCls, size_t liveBytes, size_t* taken) {
  State& s = state();
  void* p = nullptr;
  *taken = cls;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    for (auto it = s.cache.lower_bound(cls); it != s.cache.end() && it->first <= maxCls; ++it) {
      if (it->second.empty()) continue;
      p = it->second.back();
      it->second.pop_back();
      *taken = it->first;
      s.cached -= static_cast<int64_t>(it->first);
      break;
    }
  }
  if (!p) p = systemAlloc(cls);
  if (!p) throw std::bad_alloc();
  std::lock_guard<std::mutex> lk(s.mu);
  s.live += static_cast<int64_t>(liveBytes == 0 ? *taken : liveBytes);
  s.peak = std::max(s.peak, s.live);
  ++s.blocks;
  return p;
}

}  // namespace

void* allocateBytes(size_t bytes) {
  const size_t cls = sizeClass(std::max<size_t>(bytes, 1));
  size_t taken;
  return takeBlock(cls, cls, bytes, &taken);
}

void* allocateAtLeast(size_t bytes, size_t* capacity) {
  const size_t cls = sizeClass(std::max<size_t>(bytes, 1));
  return takeBlock(cls, 2 * cls, 0, capacity);
}

void releaseBytes(void* ptr, size_t bytes) {
  if (!ptr) return;
  const size_t cls = sizeClass(std::max<size_t>(bytes, 1));
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.live -= static_cast<int64_t>(bytes);
  --s.blocks;
  s.cache[cls].push_back(ptr);
  s.cached += static_cast<int64_t>(cls);
}

MemoryStats memoryStats() {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  return {s.live, s.peak, s.cached, s.blocks};
}

void resetPeakBytes() {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.peak = s.live;
}

void noteParked(size_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.live -= static_cast<int64_t>(bytes);
  s.cached += static_cast<int64_t>(sizeClass(std::max<size_t>(bytes, 1)));
  --s.blocks;
}

void noteUnparked(size_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.live += static_cast<int64_t>(bytes);
  s.peak = std::max(s.peak, s.live);
  s.cached -= static_cast<int64_t>(sizeClass(std::max<size_t>(bytes, 1)));
  ++s.blocks;
}

void emptyCache() {
  State& s = state();
  std::map<size_t, std::vector<void*>> drop;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    drop.swap(s.cache);
    s.cached = 0;
  }
  for (auto& [cls, ptrs] : drop)
    for (void* p : ptrs) systemFree(p, cls);
}

int64_t physicalMemoryBytes() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  if (pages > 0 && pageSize > 0) return static_cast<int64_t>(pages) * pageSize;
#endif
  return 0;
}

}  // namespace tensorjit
