/**
 * Large freed buffers are parked and handed out again (lib/storage.ts): the accounting
 * stays exact, emptyCache frees them, and a buffer native code still uses (a pending
 * runAsync input, an executable's constant) is never handed out while in use.
 */
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { compileNative } from '../../lib/backends/native/index';

const BIG = 1 << 22; // floats: 16 MiB, the parking threshold

describe('large buffer reuse', () => {
  test('a parked buffer counts as cached, not live, and comes back for the next tensor of its size', () => {
    const before = tj.memory();
    const a = tj.full([BIG], 3);
    expect(tj.memory().liveBytes - before.liveBytes).toBe(BIG * 4);
    a.dispose();
    const parked = tj.memory();
    expect(parked.liveBytes).toBe(before.liveBytes);
    expect(parked.cachedBytes).toBeGreaterThanOrEqual(BIG * 4);
    const b = tj.zeros([BIG]);
    // reused memory is zero-filled when asked, not left with a's values
    const data = b.dataSync() as Float32Array;
    expect(data.every((v) => v === 0)).toBe(true);
    expect(tj.memory().liveBytes - before.liveBytes).toBe(BIG * 4);
    b.dispose();
  });

  test('a disposed tensor does not reach the buffer handed to the next tensor of its size', () => {
    const a = tj.full([BIG], 3);
    const buffer = a.storage!.buffer;
    a.dispose();
    const b = tj.full([BIG], 5); // takes the parked buffer
    expect(b.storage!.buffer).toBe(buffer);
    expect(a.storage!.buffer).not.toBe(buffer);
    expect(a.storage!.buffer.byteLength).toBe(0);
    expect(() => a.dataSync()).toThrow(/disposed/);
    expect((b.dataSync() as Float32Array)[BIG - 1]).toBe(5);
    b.dispose();
  });

  test('emptyCache frees parked buffers', () => {
    tj.full([BIG], 1).dispose();
    tj.emptyCache();
    expect(tj.memory().cachedBytes).toBe(0);
  });

  test('300 large create/dispose iterations keep liveBytes at baseline', () => {
    const before = tj.memory().liveBytes;
    for (let i = 0; i < 300; i++) tj.zeros([BIG + (i % 3)]).dispose();
    expect(tj.memory().liveBytes).toBe(before);
  });

  test('an input disposed during runAsync is not reused until the run ends', async () => {
    const f = compileNative((x: unknown) => tj.mul(x as tj.Tensor, 2));
    const x = tj.full([BIG], 5);
    (f(x) as tj.Tensor).dispose(); // compile first
    const pending = f.runAsync(x) as Promise<tj.Tensor>;
    x.dispose();
    // Same size: would get x's block if it were handed out while the run reads it.
    const other = tj.full([BIG], -1);
    const y = await pending;
    const ys = y.dataSync() as Float32Array;
    expect(ys[0]).toBe(10);
    expect(ys[BIG - 1]).toBe(10);
    expect(ys.every((v) => v === 10)).toBe(true);
    expect((other.dataSync() as Float32Array)[BIG - 1]).toBe(-1);
    y.dispose();
    other.dispose();
  });

  test('a disposed constant of a compiled program is not reused while the program holds it', () => {
    const w = tj.full([BIG], 2);
    const f = compileNative((x: unknown) => tj.add(x as tj.Tensor, w));
    const x = tj.ones([BIG]);
    (f(x) as tj.Tensor).dispose();
    w.dispose();
    const other = tj.full([BIG], 100);
    const y = f(x) as tj.Tensor;
    expect((y.dataSync() as Float32Array).every((v) => v === 3)).toBe(true);
    y.dispose();
    other.dispose();
    x.dispose();
  });
});
