// Prepacked constant weights shared between the executables built from the same
// constants: a compiled function gets one executable per input shape, and each would
// otherwise pack (and hold) its own copy of every weight: a server seeing many batch sizes
// held the model's weights once more per size, and spent the packing time again.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace tensorjit {
namespace graph {

// What a packed weight was made from: the constant's memory and version (its content),
// and the packing's parameters (kind, sizes, strides, attrs, ISA).
struct PackKey {
  const void* data = nullptr;
  uint64_t version = 0;
  std::vector<int64_t> layout;
  bool operator<(const PackKey& o) const;
};

// The pack for `key`: one still held by a live executable, or make()'s result, remembered
// for the next. Entries live only while an executable holds them, and an executable pins
// the constants it was built from, so a key's memory cannot be reused for other data while
// its entry lives. Thread-safe; make() runs outside the lock. *reused says whether the
// pack came from another executable.
std::shared_ptr<const void> sharedPack(const PackKey& key, const std::function<std::shared_ptr<const void>()>& make,
                                       bool* reused);

template <class T>
std::shared_ptr<const T> sharedPack(const PackKey& key, const std::function<std::shared_ptr<const T>()>& make,
                                    bool* reused) {
  return std::static_pointer_cast<const T>(sharedPack(key, std::function<std::shared_ptr<const void>()>(make), reused));
}

// Packs alive in the cache (tests).
size_t sharedPackCount();

}  // namespace graph
}  // namespace tensorjit
