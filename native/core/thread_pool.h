// The intra-op thread pool: persistent workers; a region's chunks go to whichever
// thread claims them first.
//
// parallelFor splits [0, n) into at most numThreads() contiguous chunks of at least
// `grain` items; the split depends only on (n, grain, numThreads), so reductions
// that combine per-chunk partials in chunk order are deterministic for a given
// thread count. Calls from inside a parallel region, or while another thread owns
// the pool (a concurrent runAsync), run serially on the caller.
#pragma once
#include <cstdint>
#include <functional>
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

// Both pools (below). n in [1, kMaxThreads]; throws a RangeError when the system starts
// fewer threads (the pools then run with those it did start).
void setNumThreads(int64_t n);
constexpr int kMaxThreads = 1024;
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

// Runs fn on a background thread and returns when it has finished (rethrowing what it
// threw). Parallel regions inside fn use a second pool of the same size. Background
// threads (the runners and that pool's workers) run at a lower priority: the process's
// nice value plus kDefaultBackgroundNice, capped at 19 (TENSORJIT_BACKGROUND_NICE=0..19
// sets the step). While a run computes on every core, the threads it must not slow
// down -- Node's event loop and V8's garbage-collector threads during runAsync -- take a
// core the moment they need one; when they idle, the background threads have every core.
// They are separate threads because an unprivileged thread cannot raise its priority
// again. Concurrent calls run side by side (up to 8 at once, then they queue).
void runInBackground(const std::function<void()>& fn);
constexpr int kDefaultBackgroundNice = 10;
int backgroundNice();  // the nice value background threads get

}  // namespace tensorjit
