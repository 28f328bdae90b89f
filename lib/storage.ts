import { native } from './native';

/**
 * Memory shared by a tensor and its views. Native storage is an allocator block
 * exposed as an ArrayBuffer: it returns to the allocator when the last tensor over it is
 * disposed, or when the garbage collector finds the buffer unreachable (in that
 * collection, not on a later turn of the event loop; native/binding/gc_freed_buffer.h).
 * Wrapped storage borrows a caller's ArrayBuffer (fromBuffer) and is never freed by us.
 */
export class Storage {
  /** How many undisposed tensors use it (-1 once released). Collected tensors are not subtracted: see below. */
  private users = 0;
  /**
   * Bumped by every in-place op that writes this storage, so compiled programs that
   * folded or prepacked it as a constant can notice the change and rebuild.
   */
  version = 0;
  constructor(public buffer: ArrayBuffer, readonly owned: boolean) {}

  static allocate(bytes: number, zeroFill = false): Storage {
    const reused = bytes >= PARK_MIN_BYTES ? parked.get(bytes)?.pop() : undefined;
    if (reused) {
      parkedBytes -= bytes;
      native.unpark(reused, zeroFill);
      return new Storage(reused, true);
    }
    return new Storage(native.alloc(bytes, zeroFill), true);
  }

  /** A storage already released, for a disposed tensor to hold instead of one its views still use. */
  static released(): Storage {
    const s = new Storage(EMPTY_BUFFER, false);
    s.users = -1;
    return s;
  }

  get released(): boolean {
    return this.users < 0;
  }

  retain(): void {
    if (this.users >= 0) this.users++;
  }

  /**
   * Gives up one tensor's use. The last one frees (or parks) the buffer now. Tensors that
   * are dropped instead of disposed are not counted down: no finalizer watches them,
   * because V8 keeps every object registered with a FinalizationRegistry alive through
   * young-generation collections, so each dropped tensor (and its buffer) waited for a
   * full mark-compact (with a 650 MB heap: 0.8 s per 64 MiB dropped). Once no tensor
   * reaches the storage, the collection that finds its buffer dead frees the memory.
   * Returns whether the storage was released.
   */
  release(): boolean {
    if (this.users < 0) return true;
    if (--this.users > 0) return false;
    this.users = -1;
    if (this.owned && !park(this.buffer)) native.free(this.buffer);
    // a parked buffer goes to the next storage of its size: nothing here may still reach it
    this.buffer = EMPTY_BUFFER;
    return true;
  }
}

const EMPTY_BUFFER = new ArrayBuffer(0);

/*
 * Large freed buffers are parked here and handed out again for the same byte size,
 * instead of a new external ArrayBuffer per tensor: V8 counts every new one against its
 * young generation and collects when they add up, so eager ops and compiled calls making
 * tens-of-MB outputs ran a GC per call, whose helper threads took the kernels' cores
 * (16M-float pointwise ops ran 3-4x slower than into a kept output). Parked blocks count
 * as cached in tj.memory(); tj.emptyCache() frees them.
 */
// Only buffers this large: parking makes a buffer an old-generation object once it
// outlives a collection, and a dropped tensor over an old buffer is freed only by a full
// collection. Below 16 MiB a fresh ArrayBuffer per op costs nothing measurable (200
// disposed 4 MiB muls: 43-52 ms either way, `npm run bench -- memory`).
const PARK_MIN_BYTES = 16 << 20;
// Enough for a tidy() that frees a chain's ten same-sized results at once (with 4, the
// ten-op chain in one tidy ran ~2x slower than disposing as it goes: 72-91 vs 42-45 ms
// with 16, `npm run bench -- memory`). Parking holds no more memory than the allocator's
// cache would: a block that is not parked is cached there.
const PARK_MAX_PER_SIZE = 16;
const PARK_MAX_BYTES = 1 << 30;
const parked = new Map<number, ArrayBuffer[]>();
let parkedBytes = 0;

function park(buffer: ArrayBuffer): boolean {
  const bytes = buffer.byteLength;
  if (bytes < PARK_MIN_BYTES || parkedBytes + bytes > PARK_MAX_BYTES) return false;
  let list = parked.get(bytes);
  if (!list) parked.set(bytes, (list = []));
  if (list.length >= PARK_MAX_PER_SIZE || !native.park(buffer)) return false;  // refused while native code holds it
  list.push(buffer);
  parkedBytes += bytes;
  return true;
}

/** Frees every parked buffer (tj.emptyCache). */
export function freeParkedBuffers(): void {
  for (const list of parked.values())
    for (const buffer of list) {
      native.unpark(buffer);
      native.free(buffer);
    }
  parked.clear();
  parkedBytes = 0;
}
