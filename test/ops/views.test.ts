import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';

describe('views share storage', () => {
  test('transpose/slice/select/narrow read the right elements', () => {
    const x = tj.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(x.transpose(0, 1).toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(x.slice(1, 0, 3, 2).toArray()).toEqual([[1, 3], [4, 6]]);
    expect(x.select(0, -1).toArray()).toEqual([4, 5, 6]);
    expect(x.narrow(1, 1, 2).toArray()).toEqual([[2, 3], [5, 6]]);
    expect(x.permute(1, 0).storage).toBe(x.storage);
    expect(tj.permute(x, [-1, 0]).toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(x.unsqueeze(0).shape).toEqual([1, 2, 3]);
    expect(x.unsqueeze(0).squeeze().toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(x.select(1, 0).expand([2, 2]).toArray()).toEqual([[1, 4], [1, 4]]);
  });

  test('reshape views when it can and copies when it must', () => {
    const x = tj.arange(12, { dtype: 'float32' }).reshape([3, 4]);
    const v = x.reshape([2, 6]);
    expect(v.storage).toBe(x.storage);
    const t = x.transpose(0, 1);
    const r = t.reshape([12]);
    expect(r.storage).not.toBe(x.storage);
    expect(Array.from(r.dataSync() as Float32Array)).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(() => t.view([12])).toThrow(/view: cannot view/);
    expect(x.reshape([-1, 2]).shape).toEqual([6, 2]);
    expect(() => x.reshape([5, -1])).toThrow(RangeError);
  });

  test('dataSync of a strided view with offset', () => {
    const x = tj.arange(24, { dtype: 'float32' }).reshape([2, 3, 4]);
    const v = x.slice(2, 1, 4, 2).select(0, 1);
    expect(v.shape).toEqual([3, 2]);
    expect(Array.from(v.dataSync() as Float32Array)).toEqual([13, 15, 17, 19, 21, 23]);
  });
});

describe('creation', () => {
  test('tensor from typed arrays and nested arrays', () => {
    expect(tj.tensor(new Int32Array([1, 2, 3, 4]), { shape: [2, 2] }).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(tj.tensor([true, false]).dtype).toBe('bool');
    expect(tj.tensor(3.5, { shape: [] }).item()).toBe(3.5);
    expect(tj.tensor(new BigInt64Array([5n]), { shape: [] }).item()).toBe(5);
    expect(() => tj.tensor([[1, 2], [3]])).toThrow(/ragged/);
  });
  test('full, zeros, ones, arange', () => {
    expect(tj.full([2], 7, { dtype: 'int32' }).toArray()).toEqual([7, 7]);
    expect(tj.zeros([0, 3]).shape).toEqual([0, 3]);
    expect(tj.ones([2, 2]).toArray()).toEqual([[1, 1], [1, 1]]);
    expect(tj.arange(1, 2, 0.25).toArray()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(tj.arange(5).dtype).toBe('int64');
  });
  test('fromBuffer shares memory', () => {
    const buf = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = tj.fromBuffer(buf, [2, 3]);
    buf[4] = 50;
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 50, 6]]);
  });
  test('manualSeed makes randn reproducible', () => {
    tj.manualSeed(1);
    const a = tj.randn([8]).dataSync();
    tj.manualSeed(1);
    expect(tj.randn([8]).dataSync()).toEqual(a);
  });
});

describe('memory', () => {
  test('dispose returns live bytes to baseline', () => {
    // two full collections: earlier tests' garbage is freed (and its sweeping finished)
    // before the baseline, so no collection can lower liveBytes during the loop
    const gc = (globalThis as { gc?: () => void }).gc!;
    gc();
    gc();
    const before = tj.memory().liveBytes;
    const kept: tj.Tensor[] = []; // referenced, so only dispose() can have freed them
    for (let i = 0; i < 10000; i++) {
      const t = tj.zeros([64]);
      t.dispose();
      kept.push(t);
    }
    expect(tj.memory().liveBytes).toBe(before);
    expect(kept.every((t) => t.disposed)).toBe(true);
  });
});

test('the ISA table in use follows TENSORJIT_ISA', () => {
  const want = process.env.TENSORJIT_ISA ?? tj.isa().best;
  expect(tj.isa().selected).toBe(want);
});
