// Row store loops shared by the eager pointwise kernels and the row kernels (norms,
// softmax): plain or non-temporal stores, software prefetch of the sources.
// Include INSIDE an ISA pass, once per translation unit (no include guard on purpose).
#include <cstdint>

namespace tensorjit {
namespace TJ_ISA_NS {
namespace pw {

// Outputs of at least this size are written with non-temporal stores: they cannot stay
// in cache anyway, and a plain store first reads each line (read-for-ownership), moving
// 12 bytes per element of a unary op instead of 8.
constexpr int64_t kStreamBytes = int64_t(16) << 20;

// Software prefetch distance for streamed rows (bytes ahead of the current position):
// the hardware prefetcher alone leaves the compute-heavier rows waiting on memory.
constexpr int64_t kPrefetchBytes = 2048;

// Touches the cache lines of [p + ahead, + count floats) (one prefetch per line).
inline void prefetchAhead(const float* p, int count, int64_t ahead = kPrefetchBytes) {
  const char* q = reinterpret_cast<const char*>(p) + ahead;
  for (int off = 0; off < count * static_cast<int>(sizeof(float)); off += 64) __builtin_prefetch(q + off, 0, 3);
}

// Writes y[0, n) from full(i) (the vector for elements [i, i + kLanes)) and partial(i, r)
// (the first r lanes valid), two vectors per iteration. kStream: non-temporal stores,
// after peeling the head up to the vector alignment, and a fence at the end unless
// !kFence (callers writing many rows per thread fence once, after the last).
// flatten: everything `full` calls is inlined into the loop, so the vector bodies of long
// functions (tanh, sigmoid, gelu) overlap across iterations instead of running as one
// out-of-line call per vector.
template <class V, bool kStream, bool kFence = kStream, class Full, class Partial, class Prefetch>
__attribute__((flatten)) inline void storeRow(float* y, int64_t n, Full full, Partial partial, Prefetch prefetch) {
  int64_t i = 0;
  if constexpr (kStream) {
    const int64_t misaligned = static_cast<int64_t>((reinterpret_cast<uintptr_t>(y) / sizeof(float)) % V::kLanes);
    if (misaligned) {
      const int r = static_cast<int>(n < V::kLanes - misaligned ? n : V::kLanes - misaligned);
      V::storePartial(y, partial(0, r), r);
      i = r;
    }
    for (; i + 2 * V::kLanes <= n; i += 2 * V::kLanes) {
      if constexpr (V::kLanes >= 8) prefetch(i);
      const auto v0 = full(i), v1 = full(i + V::kLanes);
      V::storeStream(y + i, v0);
      V::storeStream(y + i + V::kLanes, v1);
    }
    for (; i + V::kLanes <= n; i += V::kLanes) V::storeStream(y + i, full(i));
  } else {
    for (; i + 2 * V::kLanes <= n; i += 2 * V::kLanes) {
      const auto v0 = full(i), v1 = full(i + V::kLanes);
      V::store(y + i, v0);
      V::store(y + i + V::kLanes, v1);
    }
    for (; i + V::kLanes <= n; i += V::kLanes) V::store(y + i, full(i));
  }
  if (i < n) {
    const int r = static_cast<int>(n - i);
    V::storePartial(y + i, partial(i, r), r);
  }
  if constexpr (kStream && kFence) V::streamFence();
}

}  // namespace pw
}  // namespace TJ_ISA_NS
}  // namespace tensorjit
