// Thread pool, allocator and kernel registry behaviour.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <cstdint>
#include <cstring>
#include <vector>

#ifdef __linux__
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#endif

#include "core/allocator.h"
#include "core/kernel.h"
#include "core/short_slice.h"
#include "core/thread_pool.h"
#include "testing/check.h"

using namespace tensorjit;

TJ_TEST(parallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3}) {
    setNumThreads(threads);
    for (int64_t n : {0, 1, 7, 1000, 100003}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      parallelFor(n, 16, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      });
      bool once = true;
      for (auto& h : hits) once &= h.load() == 1;
      TJ_CHECK(once);
    }
  }
  setNumThreads(2);
}

// Workers poll for the next region for a while before they sleep (TENSORJIT_SPIN_US):
// regions that come back to back, after gaps inside and beyond the polling window, and
// across a resize must each run every chunk once.
TJ_TEST(regionsAfterAnyIdleGapRunEveryChunk) {
  for (int threads : {2, 3}) {
    setNumThreads(threads);
    int bad = 0;
    for (int r = 0; r < 3000; ++r) {
      const int gapMicros = r % 7 == 0 ? 400 : r % 3 == 0 ? 60 : 0;
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(gapMicros);
      while (std::chrono::steady_clock::now() < until) {
      }
      std::atomic<int64_t> covered{0};
      std::atomic<int> calls{0};
      parallelFor(threads, 1, [&](int64_t b, int64_t e) {
        covered += e - b;
        ++calls;
      });
      bad += covered.load() != threads || calls.load() != threads;
    }
    TJ_CHECK(bad == 0);
  }
  setNumThreads(2);
}

#ifdef __linux__
// A worker that cannot run (here: held in a signal handler, as a thread preempted by
// other processes would be) must not hold up a region: its chunks go to the owner.
std::atomic<bool> gWorkerHeld{false}, gReleaseWorker{false};
void holdWorker(int) {
  gWorkerHeld.store(true);
  for (int i = 0; i < 20000 && !gReleaseWorker.load(); ++i) usleep(100);  // at most ~2 s
  gWorkerHeld.store(false);
}

TJ_TEST(aRegionDoesNotWaitForAWorkerThatCannotRun) {
  setNumThreads(2);
  const pthread_t owner = pthread_self();
  pthread_t worker{};
  bool found = false;
  for (int attempt = 0; attempt < 50 && !found; ++attempt) {
    std::mutex mu;
    parallelFor(2, 1, [&](int64_t, int64_t) {
      usleep(2000);  // long enough for the worker to wake and claim the other chunk
      std::lock_guard<std::mutex> lk(mu);
      if (!pthread_equal(pthread_self(), owner)) worker = pthread_self(), found = true;
    });
  }
  TJ_CHECK(found);
  if (!found) return;
  struct sigaction action {}, previous {};
  action.sa_handler = holdWorker;
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, &previous);
  gReleaseWorker.store(false);
  pthread_kill(worker, SIGUSR1);
  while (!gWorkerHeld.load()) usleep(50);
  std::atomic<int64_t> covered{0};
  parallelFor(1000, 1, [&](int64_t b, int64_t e) { covered += e - b; });
  const bool finishedWhileHeld = gWorkerHeld.load();
  gReleaseWorker.store(true);
  while (gWorkerHeld.load()) usleep(50);
  sigaction(SIGUSR1, &previous, nullptr);
  TJ_CHECK(covered.load() == 1000);
  TJ_CHECK(finishedWhileHeld);
}
#endif

TJ_TEST(parallelChunksAreDeterministic) {
  setNumThreads(2);
  std::vector<int64_t> first, second;
  for (auto* out : {&first, &second}) {
    out->assign(static_cast<size_t>(numChunks(1000, 10)), -1);
    parallelChunks(1000, 10, [&](int c, int64_t b, int64_t) { (*out)[static_cast<size_t>(c)] = b; });
  }
  TJ_CHECK(first == second);
  TJ_CHECK(first.size() == 2 && first[0] == 0 && first[1] == 500);
}

TJ_TEST(nestedParallelForRunsSerially) {
  setNumThreads(2);
  std::atomic<int64_t> total{0};
  parallelFor(4, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      parallelFor(100, 1, [&](int64_t b2, int64_t e2) { total += e2 - b2; });
  });
  TJ_CHECK(total.load() == 400);
}

TJ_TEST(allocatorReusesFreedBlocks) {
  const MemoryStats before = memoryStats();
  void* a = allocateBytes(1000);
  TJ_CHECK(reinterpret_cast<uintptr_t>(a) % 64 == 0);
  TJ_CHECK(memoryStats().liveBytes == before.liveBytes + 1000);
  releaseBytes(a, 1000);
  void* b = allocateBytes(990);  // same size class
  TJ_CHECK(a == b);
  releaseBytes(b, 990);
  void* big = allocateBytes(size_t(8) << 20);
  TJ_CHECK(reinterpret_cast<uintptr_t>(big) % 64 == 0);
  static_cast<char*>(big)[(size_t(8) << 20) - 1] = 1;
  releaseBytes(big, size_t(8) << 20);
  TJ_CHECK(memoryStats().liveBytes == before.liveBytes);
  emptyCache();
  TJ_CHECK(memoryStats().cachedBytes == 0);
}

TJ_TEST(allocateAtLeastTakesACachedBlockOfUpToTwiceTheSize) {
  emptyCache();
  const MemoryStats before = memoryStats();
  const size_t mib = size_t(1) << 20;
  void* a = allocateBytes(3 * mib);
  releaseBytes(a, 3 * mib);
  size_t capacity = 0;
  void* b = allocateAtLeast(2 * mib, &capacity);  // 3 MiB is cached: within twice 2 MiB
  TJ_CHECK(b == a);
  TJ_CHECK(capacity == 3 * mib);
  TJ_CHECK(memoryStats().liveBytes == before.liveBytes + static_cast<int64_t>(capacity));
  releaseBytes(b, capacity);
  void* c = allocateAtLeast(mib, &capacity);  // 3 MiB is more than twice 1 MiB: a new block
  TJ_CHECK(c != a);
  TJ_CHECK(capacity == mib);
  releaseBytes(c, capacity);
  void* d = allocateBytes(3 * mib);  // the exact class still finds it
  TJ_CHECK(d == a);
  releaseBytes(d, 3 * mib);
  TJ_CHECK(memoryStats().liveBytes == before.liveBytes);
  emptyCache();
}

TJ_TEST(registryHasTheCopyKernelForEveryIsa) {
  auto& reg = KernelRegistry::instance();
  const int id = reg.idOf("copy");
  TJ_CHECK(id >= 0);
  for (Isa cap : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    reg.selectIsa(cap);
    TJ_CHECK(reg.get(id) != nullptr);
    TJ_CHECK(static_cast<int>(reg.selectedIsa()) <= static_cast<int>(cap));
  }
}

TJ_TEST_MAIN()

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
// the scheduler slice of this thread in ns (0 = default), or -1 where unsupported
static int64_t currentSlice() {
  struct {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
    uint32_t utilMin, utilMax;
  } attr;
  std::memset(&attr, 0, sizeof attr);
  if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return -1;
  return static_cast<int64_t>(attr.runtime);
}

TJ_TEST(shortSliceNestsAndRestores) {
  const int64_t before = currentSlice();
  beginShortSlice();
  const int64_t during = currentSlice();
  beginShortSlice();
  endShortSlice();
  const int64_t nested = currentSlice();
  endShortSlice();
  // kernels without custom slices (before Linux 6.12) keep the default: nothing to check
  if (during != before) {
    TJ_CHECK(during == 200 * 1000);
    TJ_CHECK(nested == during);  // an inner end keeps the outer request
  }
  TJ_CHECK(currentSlice() == before);
}
#endif

#if defined(__linux__)
#include <sys/resource.h>

#include <cstdlib>
#include <stdexcept>
#include <thread>

static int thisThreadsNice() { return getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))); }

TJ_TEST(runInBackgroundRunsOnLowPriorityThreads) {
  setNumThreads(2);
  const std::thread::id caller = std::this_thread::get_id();
  const int callerNice = thisThreadsNice();
  std::thread::id ranOn;
  int runnerNice = -100;
  std::atomic<int64_t> covered{0};
  std::vector<int> workerNice;
  std::mutex mu;
  runInBackground([&] {
    ranOn = std::this_thread::get_id();
    runnerNice = thisThreadsNice();
    // the regions inside use the background pool: both chunks run, the second on its worker
    parallelChunks(2, 1, [&](int, int64_t b, int64_t e) {
      covered += e - b;
      std::lock_guard<std::mutex> lk(mu);
      workerNice.push_back(thisThreadsNice());
    });
    runInBackground([&] { TJ_CHECK(std::this_thread::get_id() == ranOn); });  // nested: inline
  });
  TJ_CHECK(ranOn != caller);
  TJ_CHECK(thisThreadsNice() == callerNice);  // the caller keeps its priority
  if (!std::getenv("TENSORJIT_BACKGROUND_NICE")) TJ_CHECK(backgroundNice() == std::min(19, callerNice + kDefaultBackgroundNice));
  TJ_CHECK(runnerNice == backgroundNice());
  TJ_CHECK(covered.load() == 2 && workerNice.size() == 2);
  for (int n : workerNice) TJ_CHECK(n == runnerNice);

  // an exception reaches the caller
  TJ_CHECK_THROWS(runInBackground([] { throw std::runtime_error("from the background"); }), "from the background");

  // concurrent callers all finish, each with its own result
  std::vector<std::thread> callers;
  std::vector<int64_t> sums(6, 0);
  for (int t = 0; t < 6; ++t)
    callers.emplace_back([&, t] {
      runInBackground([&] {
        std::atomic<int64_t> s{0};
        parallelFor(1000, 10, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) s += i * (t + 1);
        });
        sums[static_cast<size_t>(t)] = s.load();
      });
    });
  for (auto& c : callers) c.join();
  for (int t = 0; t < 6; ++t) TJ_CHECK(sums[static_cast<size_t>(t)] == 499500 * (t + 1));
}
#endif
