// The caching allocator behind every tensor's storage and every executable's arena.
//
// Freed blocks are kept per size class and handed out again: on these machines the
// first touch of a fresh 4 KiB page costs ~11 µs, so returning memory to the OS per
// tensor would make large ops page-fault-bound. Blocks are 64-byte aligned; blocks of
// 2 MiB and more are mmap'd and advised onto transparent huge pages. Thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tensorjit {

struct MemoryStats {
  int64_t liveBytes;    // requested bytes of blocks handed out and not yet released
  int64_t peakBytes;    // high-water mark of liveBytes
  int64_t cachedBytes;  // bytes held in the cache, ready for reuse
  int64_t liveBlocks;
};

void* allocateBytes(size_t bytes);
void releaseBytes(void* ptr, size_t bytes);
// A block of at least `bytes`: a cached block of the exact size class, else the smallest
// cached one of up to twice that, else a new one. *capacity receives its size, which is
// what releaseBytes must be given. (Executables' arenas: the programs of one graph at
// nearby shapes reuse each other's touched memory instead of faulting in their own.)
void* allocateAtLeast(size_t bytes, size_t* capacity);
MemoryStats memoryStats();
void resetPeakBytes();
void emptyCache();  // return every cached block to the OS
// Blocks the binding keeps for reuse outside this cache (parked JS buffers) count as
// cached while parked and as live again when taken back.
void noteParked(size_t bytes);
void noteUnparked(size_t bytes);

// This machine's physical memory in bytes (0 when the system does not say).
int64_t physicalMemoryBytes();

}  // namespace tensorjit
