/** Process-level controls: threads, ISA, memory. */
import { native } from './native';
import { freeParkedBuffers } from './storage';

/** Sets the intra-op thread count (default: cores available; env TENSORJIT_NUM_THREADS). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setNumThreads: n must be a positive integer, got ${n}`);
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}

/** The kernel table in use ('avx512' | 'avx2' | 'neon' | 'scalar'; env TENSORJIT_ISA caps it). */
export function isa(): { selected: string; best: string } {
  return native.isaInfo();
}


export interface MemoryInfo {
  /**
   * Data buffers of tensors that are neither disposed nor collected (a tensor and its
   * views share one; memory wrapped by fromBuffer is not counted). A dropped tensor counts
   * until the collection that frees it.
   */
  liveBuffers: number;
  liveBytes: number;
  peakBytes: number;
  cachedBytes: number;
}

/** Allocator statistics: bytes held by live storages, the peak, and the reuse cache. */
export function memory(): MemoryInfo {
  const s = native.memoryStats();
  return { liveBuffers: s.liveBuffers, liveBytes: s.liveBytes, peakBytes: s.peakBytes, cachedBytes: s.cachedBytes };
}

/** Returns every cached (free) block to the OS. */
export function emptyCache(): void {
  freeParkedBuffers();
  native.emptyCache();
}

/** Restarts peak tracking from the current live bytes. */
export function resetPeakMemory(): void {
  native.resetPeakBytes();
}
