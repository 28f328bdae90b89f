// The intra-op thread pool: persistent workers, static partitioning.
//
// parallelFor splits [0, n) into at most numThreads() contiguous chunks of at least
// `grain` items; the split depends only on (n, grain, numThreads), so reductions
// that combine per-chunk partials in chunk order are deterministic for a given
// thread count. Calls from inside a parallel region, or while another thread owns
// the pool (a concurrent runAsync), run serially on the caller.
#pragma once
#include <cstdint>
#include <type_traits>
#include <utility>

namespace tensorjit {

// A non-owning callable reference: no allocation per parallel region.
class RangeFn {
 public:
  template <class F>
  RangeFn(F& f) : obj_(&f), call_([](void* o, int64_t b, int64_t e) { (*static_cast<F*>(o))(b, e); }) {}
  void operator()(int64_t begin, int64_t end) const { call_(obj_, begin, end); }

 private:
  void* obj_;
  void (*call_)(void*, int64_t, int64_t);
};

void setNumThreads(int n);
int numThreads();
// How many chunks parallelFor would use (for callers that keep per-chunk partials).
int numChunks(int64_t n, int64_t grain);
void parallelForImpl(int64_t n, int64_t grain, RangeFn fn);

template <class F>
void parallelFor(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  auto& ref = f;
  parallelForImpl(n, grain, RangeFn(ref));
}

// Runs fn(chunkIndex, begin, end) for each chunk; chunk boundaries as parallelFor.
template <class F>
void parallelChunks(int64_t n, int64_t grain, F&& f) {
  const int chunks = numChunks(n, grain);
  if (chunks <= 0) return;
  auto body = [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
      f(static_cast<int>(c), b, e);
    }
  };
  parallelForImpl(chunks, 1, RangeFn(body));
}

}  // namespace tensorjit
