// Prompt wakeups for a latency-sensitive thread (the thread that waits on compute running
// elsewhere, such as Node's event loop during runAsync).
//
// On Linux >= 6.12 (EEVDF scheduler), a thread may ask for a shorter time slice than the
// default; a waking thread with a shorter slice preempts a running one at once, where it
// would otherwise wait for the runner's slice to end (measured here: a 1 ms timer was late
// by up to 4-9 ms behind two compute threads on two cores). Compute threads keep their
// priority and their share of the CPU: only the waiting thread's wakeups get faster.
// Elsewhere (older kernels, other systems) these calls do nothing.
#pragma once

namespace tensorjit {

// Nested per thread: the first begin on a thread sets the short slice, the matching last
// end gives the thread the default slice again. Threads with a policy other than
// SCHED_OTHER are left alone.
void beginShortSlice();
void endShortSlice();

}  // namespace tensorjit
