import { native } from './native';

/**
 * Memory shared by a tensor and its views. Native storage is an allocator block
 * exposed as an external ArrayBuffer: it returns to the allocator when the last
 * tensor over it is disposed, or when the buffer is garbage-collected.
 * Wrapped storage borrows a caller's ArrayBuffer (fromBuffer) and is never freed by us.
 */
export class Storage {
  private refs = 0;
  /**
   * Bumped by every in-place op that writes this storage, so compiled programs that
   * folded or prepacked it as a constant can notice the change and rebuild.
   */
  version = 0;
  constructor(public buffer: ArrayBuffer, readonly owned: boolean) {}

  static allocate(bytes: number, zeroFill = false): Storage {
    return new Storage(native.alloc(bytes, zeroFill), true);
  }

  get released(): boolean {
    return this.refs < 0;
  }

  retain(): void {
    if (this.refs >= 0) this.refs++;
  }

  release(): void {
    if (this.refs < 0) return;
    if (--this.refs === 0) {
      this.refs = -1;
      if (this.owned) native.free(this.buffer);
    }
  }
}
