import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import { expectClose, makeTensor, randomValues, toRef, Layout } from '../../helpers/reference';

const linear = (tj as unknown as { linear: (x: tj.Tensor, w: tj.Tensor, b?: tj.Tensor | null) => tj.Tensor }).linear;

describe('prepacked constant weights', () => {
  const cases: [number[], number, number, boolean, Layout][] = [
    [[1, 64], 64, 48, true, 'contiguous'],
    [[5, 33], 33, 17, false, 'contiguous'],
    [[2, 3, 40], 40, 24, true, 'contiguous'],
    [[7, 20], 20, 9, true, 'transposed'],
    [[4, 6, 10], 10, 12, true, 'sliced'],
    [[10], 10, 3, true, 'contiguous'],
  ];
  test.each(cases)('linear x%j (%i -> %i, bias %s, %s x) matches eager', (xShape, k, n, bias, layout) => {
    const w = makeTensor(randomValues(n * k, 11), [n, k]);
    const b = bias ? makeTensor(randomValues(n, 12), [n]) : null;
    const graph = (x: unknown) => linear(x as tj.Tensor, w, b);
    const compiled = compileNative(graph);
    const x = makeTensor(randomValues(xShape.reduce((a, c) => a * c, 1), 13), xShape, 'float32', layout);
    const got = compiled(x) as tj.Tensor;
    expect(compiled.lastProgram()!.describe()).toMatch(/linear\[prepacked/);
    expectClose(got, toRef(graph(x) as tj.Tensor), { rtol: 1e-4, atol: 1e-4 });
  });

  test('an in-place update of the weight after compiling is seen', () => {
    const w = tj.ones([3, 2]);
    const compiled = compileNative((x: unknown) => linear(x as tj.Tensor, w));
    const x = tj.tensor([[1, 2]]);
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([[3, 3, 3]]);
    w.copy_(tj.full([3, 2], 2));
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([[6, 6, 6]]);
  });
});

describe('constant folding', () => {
  const kernelsOf = (text: string) => [...text.matchAll(/^ {2}%[\d, %]+ = ([^(]+)\(/gm)].map((m) => m[1]);

  test('ops on constants only run once, when the executable is built', () => {
    const w = makeTensor(randomValues(12, 21), [3, 4]);
    const graph = (x: unknown) => tj.add(x as tj.Tensor, tj.mul(tj.exp(w), 2).transpose(0, 1).sum(1));
    const compiled = compileNative(graph);
    const x = makeTensor(randomValues(4, 22), [4]);
    const got = compiled(x) as tj.Tensor;
    const text = compiled.lastProgram()!.describe();
    expect(kernelsOf(text)).toEqual(['add']);
    expect(text).toMatch(/[1-9]\d* constants folded/);
    const ws = toRef(w), xs = toRef(x);
    const want = Array.from({ length: 4 }, (_, j) => xs.data[j] + [0, 1, 2].reduce((s, i) => s + 2 * Math.exp(ws.data[i * 4 + j]), 0));
    expectClose(got, { shape: [4], data: Float64Array.from(want) }, { rtol: 1e-5, atol: 1e-5 });
  });

  test('an in-place update of a folded constant is seen on the next call', () => {
    const w = tj.ones([4]);
    const compiled = compileNative((x: unknown) => tj.add(x as tj.Tensor, tj.mul(w, 3)));
    const x = tj.zeros([4]);
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([3, 3, 3, 3]);
    w.add_(1);
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([6, 6, 6, 6]);
  });

  test('a constant-only result larger than its sources stays a per-run temp', () => {
    const w = tj.ones([1]);
    const compiled = compileNative((x: unknown) => tj.add(x as tj.Tensor, tj.mul(w.expand([1 << 19]).contiguous(), 2)));
    const x = tj.zeros([1 << 19]);
    const got = compiled(x) as tj.Tensor;
    expect((got.dataSync() as Float32Array).every((v) => v === 2)).toBe(true);
    expect(compiled.lastProgram()!.describe()).toMatch(/ 0 constants folded/);
  });
});
