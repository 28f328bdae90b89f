#include "core/short_slice.h"

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#endif

namespace tensorjit {

#if defined(__linux__) && defined(SYS_sched_setattr) && defined(SYS_sched_getattr)
namespace {

// struct sched_attr of sched_setattr(2) (glibc has no wrapper before 2.41)
struct SchedAttr {
  uint32_t size;
  uint32_t policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime;  // for SCHED_OTHER on EEVDF: the requested slice, in ns
  uint64_t deadline;
  uint64_t period;
  uint32_t utilMin;
  uint32_t utilMax;
};

constexpr uint64_t kShortSliceNs = 200 * 1000;  // the kernel accepts 0.1 to 100 ms

thread_local int depth = 0;
thread_local bool changed = false;
thread_local SchedAttr saved;

}  // namespace

void beginShortSlice() {
  if (depth++ > 0) return;
  changed = false;
  std::memset(&saved, 0, sizeof saved);
  if (syscall(SYS_sched_getattr, 0, &saved, sizeof saved, 0) != 0) return;
  if (saved.policy != 0 /* SCHED_OTHER */) return;  // leave real-time and batch threads alone
  SchedAttr shorter = saved;
  shorter.size = sizeof shorter;
  shorter.runtime = kShortSliceNs;
  changed = syscall(SYS_sched_setattr, 0, &shorter, 0) == 0;
}

void endShortSlice() {
  if (depth == 0 || --depth > 0) return;
  if (!changed) return;
  // runtime 0 asks for the default slice again (getattr reports the default's value, and
  // setting that value back would pin it as a custom slice)
  saved.size = sizeof saved;
  saved.runtime = 0;
  syscall(SYS_sched_setattr, 0, &saved, 0);
  changed = false;
}

#else
void beginShortSlice() {}
void endShortSlice() {}
#endif

}  // namespace tensorjit
