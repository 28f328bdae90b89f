/**
 * Blocks the thread without turning the event loop until `done()` or `ms` have passed:
 * for what must happen inside one synchronous stretch (V8 may free collected buffers on a
 * background thread meanwhile).
 */
export function waitSync(done: () => boolean, ms: number): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (const end = performance.now() + ms; !done() && performance.now() < end; ) Atomics.wait(cell, 0, 0, 2);
}
