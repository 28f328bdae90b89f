#include "core/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace tensorjit {
namespace {

int defaultThreads() {
  if (const char* env = std::getenv("TENSORJIT_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

thread_local bool tInParallelRegion = false;

class Pool {
 public:
  Pool() { resize(defaultThreads()); }
  ~Pool() { stopWorkers(); }

  int size() const { return threads_; }

  void resize(int n) {
    std::lock_guard<std::mutex> own(owner_);
    stopWorkers();
    threads_ = std::max(1, n);
    stop_ = false;
    // New workers must not pick up a job that finished before they existed.
    const uint64_t current = generation_;
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i, current] { workerLoop(i, current); });
  }

  void run(int64_t n, int64_t grain, RangeFn fn) {
    const int chunks = chunkCount(n, grain, threads_);
    std::unique_lock<std::mutex> own(owner_, std::try_to_lock);
    if (chunks <= 1 || tInParallelRegion || !own.owns_lock()) {
      fn(0, n);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &fn;
      jobN_ = n;
      jobChunks_ = chunks;
      pending_.store(chunks - 1, std::memory_order_relaxed);
      ++generation_;
    }
    cv_.notify_all();
    tInParallelRegion = true;
    fn(0, n / chunks);
    tInParallelRegion = false;
    // Workers finish in microseconds for the sizes that reach here: spin, then yield.
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins)
      if (spins > 1000) std::this_thread::yield();
  }

  static int chunkCount(int64_t n, int64_t grain, int threads) {
    if (n <= 0) return 0;
    grain = std::max<int64_t>(1, grain);
    const int64_t byGrain = (n + grain - 1) / grain;
    return static_cast<int>(std::min<int64_t>(threads, byGrain));
  }

 private:
  void workerLoop(int index, uint64_t seen) {
    tInParallelRegion = true;
    for (;;) {
      RangeFn* job;
      int64_t n;
      int chunks;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
        n = jobN_;
        chunks = jobChunks_;
      }
      if (index < chunks) {
        (*job)(n * index / chunks, n * (index + 1) / chunks);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  void stopWorkers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex owner_;  // held by the thread running a parallel region
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  RangeFn* job_ = nullptr;
  int64_t jobN_ = 0;
  int jobChunks_ = 0;
  uint64_t generation_ = 0;
  std::atomic<int> pending_{0};
  bool stop_ = false;
  int threads_ = 1;
};

Pool& pool() {
  static Pool* p = new Pool();  // leaked on purpose: workers must outlive static destructors
  return *p;
}

}  // namespace

void setNumThreads(int n) { pool().resize(n); }
int numThreads() { return pool().size(); }
int numChunks(int64_t n, int64_t grain) { return Pool::chunkCount(n, grain, pool().size()); }
void parallelForImpl(int64_t n, int64_t grain, RangeFn fn) { pool().run(n, grain, fn); }

}  // namespace tensorjit
