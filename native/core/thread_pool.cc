#include "core/thread_pool.h"

#include "core/error.h"

#include <pthread.h>
#include <sched.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <cstdio>
#include <exception>
#include <string>
#include <system_error>
#include <mutex>
#include <thread>
#include <vector>

namespace tensorjit {

// The nice value of background threads: the process's (its main thread's) plus
// kDefaultBackgroundNice or TENSORJIT_BACKGROUND_NICE, at most 19; worked out once.
int backgroundNice() {
  static const int value = [] {
    int delta = kDefaultBackgroundNice;
    if (const char* env = std::getenv("TENSORJIT_BACKGROUND_NICE")) delta = std::min(19, std::max(0, std::atoi(env)));
#ifdef __linux__
    errno = 0;
    const int base = getpriority(PRIO_PROCESS, static_cast<id_t>(getpid()));
    return std::min(19, (errno == 0 ? base : 0) + delta);
#else
    return delta;
#endif
  }();
  return value;
}

namespace {

int defaultThreads() {
  const char* env = std::getenv("TENSORJIT_NUM_THREADS");
  if (env && *env) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n >= 1 && n <= kMaxThreads) return static_cast<int>(n);
    std::fprintf(stderr, "tensorjit: ignoring TENSORJIT_NUM_THREADS=%s (expected an integer in [1, %d])\n", env, kMaxThreads);
  }
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

// Lowers the calling thread's priority to the background's, for good (Linux nice values
// are per thread; a thread that is already lower keeps its own).
void lowerToBackgroundPriority() {
#ifdef __linux__
  const id_t self = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int current = getpriority(PRIO_PROCESS, self);
  if (errno == 0 && current < backgroundNice()) setpriority(PRIO_PROCESS, self, backgroundNice());
#endif
}

thread_local bool tInParallelRegion = false;

// Names the calling thread (as `top -H`, perf and gdb show it; Linux keeps 15 characters).
void nameThisThread(const char* name) {
#ifdef __linux__
  pthread_setname_np(pthread_self(), name);
#else
  (void)name;
#endif
}

// How long an idle worker polls for the next region before it sleeps on the condition
// variable (TENSORJIT_SPIN_US, 0 to 10000). Waking a sleeping worker costs a futex call
// and, on a VM whose idle vCPU halts, the hypervisor's wake-up: measured on the 2-vCPU VM
// of bench/RESULTS.md, a region of trivial work took ~12 us back to back and 76-109 us
// after the worker had idled 0.2-1 ms. Back-to-back regions (the layers of one call, the
// calls of a serving loop) find the worker polling; an idle process stops polling after
// this long.
int spinMicros() {
  static const int value = [] {
    if (const char* env = std::getenv("TENSORJIT_SPIN_US")) return std::min(10000, std::max(0, std::atoi(env)));
    return 200;
  }();
  return value;
}

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class Pool {
 public:
  Pool(bool background, int threads) : background_(background) { resize(threads); }
  ~Pool() { stopWorkers(); }

  int size() const { return threads_; }

  // Returns the pool's size, the caller included: less than n when the system refuses to
  // start more threads (a process or container thread limit); the pool keeps those it got.
  int resize(int n) {
    std::lock_guard<std::mutex> own(owner_);
    stopWorkers();
    stop_ = false;
    // New workers must not pick up a job that finished before they existed.
    const uint64_t current = generationOf(claim_.load(std::memory_order_relaxed));
    int started = 1;
    try {
      for (; started < std::max(1, n); ++started)
        workers_.emplace_back([this, current] {
          nameThisThread(background_ ? "tj-bg-pool" : "tj-pool");
          if (background_) lowerToBackgroundPriority();
          workerLoop(current);
        });
    } catch (const std::system_error&) {
    }
    threads_ = started;
    return started;
  }

  void run(int64_t n, int64_t grain, RangeFn fn) {
    const int chunks = chunkCount(n, grain, threads_);
    std::unique_lock<std::mutex> own(owner_, std::try_to_lock);
    if (chunks <= 1 || tInParallelRegion || !own.owns_lock()) {
      fn(0, n);
      return;
    }
    bool anyAsleep;
    uint64_t generation;
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &fn;
      jobN_ = n;
      jobChunks_ = chunks;
      done_.store(0, std::memory_order_relaxed);
      generation = nextGeneration(generationOf(claim_.load(std::memory_order_relaxed)));
      claim_.store(firstClaimOf(generation), std::memory_order_release);
      anyAsleep = sleepers_ > 0;
    }
    if (anyAsleep) cv_.notify_all();  // polling workers see the generation move
    tInParallelRegion = true;
    runClaimedChunks(generation, fn, n, chunks);
    tInParallelRegion = false;
    // Only chunks a worker has claimed are left; they finish in microseconds unless its
    // thread was preempted: spin, then yield.
    for (int spins = 0; done_.load(std::memory_order_acquire) != chunks; ++spins)
      if (spins > 1000) std::this_thread::yield();
  }

  static int chunkCount(int64_t n, int64_t grain, int threads) {
    if (n <= 0) return 0;
    grain = std::max<int64_t>(1, grain);
    const int64_t byGrain = (n + grain - 1) / grain;
    return static_cast<int>(std::min<int64_t>(threads, byGrain));
  }

 private:
  // Claims and runs chunks of region `generation` until none is left. Chunks go to whoever
  // comes first, so a region never waits for a worker that has not started (one
  // preempted by other processes, or still waking): the owner then runs its chunks.
  // Chunk boundaries depend only on (n, chunks), not on who runs them.
  void runClaimedChunks(uint64_t generation, const RangeFn& fn, int64_t n, int chunks) {
    for (;;) {
      uint64_t claim = claim_.load(std::memory_order_acquire);
      do {
        if (generationOf(claim) != generation || chunkOf(claim) >= chunks) return;
      } while (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel));
      const int64_t c = chunkOf(claim);
      fn(n * c / chunks, n * (c + 1) / chunks);
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void workerLoop(uint64_t seen) {
    tInParallelRegion = true;
    for (;;) {
      RangeFn* job;
      int64_t n;
      int chunks;
      pollForRegion(seen);
      {
        std::unique_lock<std::mutex> lk(mu_);
        const auto current = [&] { return generationOf(claim_.load(std::memory_order_relaxed)); };
        if (stop_ || current() == seen) {
          ++sleepers_;
          cv_.wait(lk, [&] { return stop_ || current() != seen; });
          --sleepers_;
        }
        if (stop_) return;
        seen = current();
        job = job_;
        n = jobN_;
        chunks = jobChunks_;
      }
      runClaimedChunks(seen, *job, n, chunks);
    }
  }

  // Polls up to spinMicros() for a region after `seen` (or stop). Every 256 polls (~5 us)
  // it reads the clock and yields the core: when other processes' threads want it (two
  // 2-thread processes on 2 cores), a pure spin held it for the rest of the time slice
  // and the two together ran a batch-1 MLP at ~10k calls/s against ~14k without
  // polling; yielding gives ~17k, as two 1-thread processes do.
  void pollForRegion(uint64_t seen) const {
    const int micros = spinMicros();
    if (micros <= 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(micros);
    for (unsigned i = 1;; ++i) {
      if (generationOf(claim_.load(std::memory_order_acquire)) != seen || stop_.load(std::memory_order_relaxed)) return;
      cpuRelax();
      if (i % 256 == 0) {
        if (std::chrono::steady_clock::now() >= deadline) return;
        std::this_thread::yield();
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
  // The claim word: the open region's generation (high 32 bits, wrapping) and its next
  // unclaimed chunk (low 32). A new generation is published under mu_; chunks are claimed
  // without it.
  static uint64_t generationOf(uint64_t claim) { return claim >> 32; }
  static int chunkOf(uint64_t claim) { return static_cast<int>(claim & 0xffffffffu); }
  static uint64_t nextGeneration(uint64_t generation) { return (generation + 1) & 0xffffffffu; }
  static uint64_t firstClaimOf(uint64_t generation) { return generation << 32; }
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> done_{0};  // chunks of the open region that have finished
  int sleepers_ = 0;                     // workers waiting on cv_ (under mu_)
  std::atomic<bool> stop_{false};        // written under mu_; polled without it
  int threads_ = 1;
  const bool background_;
};

// The pools and runners are leaked on purpose: their threads must outlive static destructors.
Pool& pool() {
  static Pool* p = new Pool(false, defaultThreads());
  return *p;
}

std::mutex gBackgroundMu;  // guards creating the background pool and resizing it
std::atomic<Pool*> gBackgroundPool{nullptr};

Pool& backgroundPool() {
  Pool* p = gBackgroundPool.load(std::memory_order_acquire);
  if (p) return *p;
  std::lock_guard<std::mutex> lk(gBackgroundMu);
  p = gBackgroundPool.load(std::memory_order_relaxed);
  if (!p) {
    p = new Pool(true, pool().size());
    gBackgroundPool.store(p, std::memory_order_release);
  }
  return *p;
}

// Parallel regions use the pool of the thread that opens them: background runners (and
// the background pool's own workers, which never open regions) use the background pool.
thread_local Pool* tPool = nullptr;
Pool& currentPool() { return tPool ? *tPool : pool(); }

// Threads that take runInBackground's jobs, started on demand (as many as jobs have
// run at once, up to kMaxRunners; more concurrent jobs queue).
class BackgroundRunners {
 public:
  void run(const std::function<void()>& fn) {
    Job job;
    job.fn = &fn;
    bool noRunner = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (idle_ == 0 && started_ < kMaxRunners) {
        try {
          std::thread([this] { runnerLoop(); }).detach();
          ++started_;
        } catch (const std::system_error&) {
          // no thread to be had (a thread limit): queue behind the runners there are
          noRunner = started_ == 0;
        }
      }
      if (!noRunner) queue_.push_back(&job);
    }
    if (noRunner) return fn();  // none at all: on the caller's thread
    wake_.notify_one();
    std::unique_lock<std::mutex> lk(mu_);
    finished_.wait(lk, [&] { return job.done; });
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  static constexpr int kMaxRunners = 8;
  struct Job {
    const std::function<void()>* fn = nullptr;
    bool done = false;
    std::exception_ptr error;
  };

  void runnerLoop() {
    nameThisThread("tj-bg-runner");
    lowerToBackgroundPriority();
    tPool = &backgroundPool();
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      ++idle_;
      wake_.wait(lk, [&] { return !queue_.empty(); });
      --idle_;
      Job* job = queue_.front();
      queue_.pop_front();
      lk.unlock();
      try {
        (*job->fn)();
      } catch (...) {
        job->error = std::current_exception();
      }
      lk.lock();
      job->done = true;
      finished_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, finished_;
  std::deque<Job*> queue_;
  int idle_ = 0, started_ = 0;
};

BackgroundRunners& runners() {
  static BackgroundRunners* r = new BackgroundRunners();
  return *r;
}

}  // namespace

void setNumThreads(int64_t requested) {
  if (requested < 1 || requested > kMaxThreads)
    throwRangeError("setNumThreads: n must be in [1, " + std::to_string(kMaxThreads) + "], got " + std::to_string(requested));
  const int n = static_cast<int>(requested);
  int got = pool().resize(n);
  {
    std::lock_guard<std::mutex> lk(gBackgroundMu);
    if (Pool* bg = gBackgroundPool.load(std::memory_order_relaxed)) got = std::min(got, bg->resize(n));
  }
  if (got < n)
    throwRangeError("setNumThreads: the system started only " + std::to_string(got) + " of " + std::to_string(n) +
                    " threads (a thread limit?); running with " + std::to_string(got));
}
int numThreads() { return pool().size(); }
int numChunks(int64_t n, int64_t grain) { return Pool::chunkCount(n, grain, currentPool().size()); }
void parallelForImpl(int64_t n, int64_t grain, RangeFn fn) { currentPool().run(n, grain, fn); }

void runInBackground(const std::function<void()>& fn) {
  if (tPool) return fn();  // already on a background thread
  runners().run(fn);
}


}  // namespace tensorjit
