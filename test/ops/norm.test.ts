/**
 * layerNorm against a float64 reference: one or several normalised trailing dims,
 * weight/bias present or null, eps, SIMD tails, empty, transposed and sliced inputs
 * and parameters, NaN/inf, thread determinism, and bad calls naming the shapes.
 */
import { afterEach, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { LAYOUTS, Ref, Tol, expectClose, makeTensor, numel, randomValues, toRef } from '../helpers/reference';

function refLayerNorm(x: Ref, k: number, w: Ref | null, b: Ref | null, eps: number): Ref {
  const n = numel(x.shape.slice(x.shape.length - k));
  const out = new Float64Array(x.data.length);
  for (let start = 0; start < x.data.length; start += n) {
    const row = x.data.subarray(start, start + n);
    const mean = row.reduce((a, v) => a + v, 0) / n;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
    const rstd = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < n; i++) out[start + i] = (row[i] - mean) * rstd * (w ? w.data[i] : 1) + (b ? b.data[i] : 0);
  }
  return { shape: x.shape.slice(), data: out };
}

const TOL: Tol = { rtol: 2e-5, atol: 2e-5 };

// [input shape, normalised trailing dims]
const CASES: [number[], number][] = [
  [[7], 1], [[1], 1], [[4, 33], 1], [[2, 1023], 1], [[2, 3, 17], 2], [[2, 3, 17], 3], [[5, 1], 1],
  [[3, 0, 2], 1], [[3, 2, 0], 1], [[6, 8, 16], 1], [[4, 384], 1],
];

describe('layerNorm', () => {
  test('shapes, layouts, weight/bias combinations, eps', () => {
    let seed = 1;
    for (const [shape, k] of CASES) {
      const ns = shape.slice(shape.length - k);
      for (const layout of LAYOUTS) {
        const x = makeTensor(randomValues(numel(shape), seed++, 'float32', -3, 5), shape, 'float32', layout);
        const w = makeTensor(randomValues(numel(ns), seed++), ns, 'float32', layout);
        const b = makeTensor(randomValues(numel(ns), seed++), ns, 'float32', layout);
        const r = toRef(x), wr = toRef(w), br = toRef(b);
        const what = `[${shape}] ns=[${ns}] ${layout}`;
        expectClose(tj.layerNorm(x, ns), refLayerNorm(r, k, null, null, 1e-5), TOL, `${what} plain`);
        expectClose(tj.layerNorm(x, ns, w, b), refLayerNorm(r, k, wr, br, 1e-5), TOL, `${what} w+b`);
        expectClose(tj.layerNorm(x, ns, w), refLayerNorm(r, k, wr, null, 1e-5), TOL, `${what} w`);
        expectClose(tj.layerNorm(x, ns, null, b, 0.1), refLayerNorm(r, k, null, br, 0.1), TOL, `${what} b eps=0.1`);
        expectClose(tj.layerNorm(x, ns, w, null, 1e-3), refLayerNorm(r, k, wr, null, 1e-3), TOL, `${what} w eps=1e-3`);
      }
    }
  });

  test('constant rows give the bias; a number is accepted as normalizedShape', () => {
    const x = tj.full([3, 5], 2.5);
    const b = tj.tensor([1, 2, 3, 4, 5]);
    expect(tj.layerNorm(x, [5], tj.ones([5]), b).toArray()).toEqual([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]]);
    expect(tj.layerNorm(tj.tensor([[1, 3]]), 2).toArray()).toEqual(tj.layerNorm(tj.tensor([[1, 3]]), [2]).toArray());
  });

  test('NaN and inf poison only their row', () => {
    const x = tj.tensor([[1, NaN, 3], [1, Infinity, 3], [1, 2, 3]]);
    const y = tj.layerNorm(x, [3]).toArray() as number[][];
    expect(y[0].every(Number.isNaN)).toBe(true);
    expect(y[1].every(Number.isNaN)).toBe(true);
    expectClose(tj.tensor(y[2]), refLayerNorm(toRef(tj.tensor([1, 2, 3])), 1, null, null, 1e-5), TOL, 'finite row');
  });

  test('large offsets keep precision (two-pass variance)', () => {
    const v = randomValues(1024, 3, 'float32', -1, 1).map((t) => Math.fround(1000 + t));
    const x = tj.tensor(v, { shape: [2, 512] });
    expectClose(tj.layerNorm(x, [512]), refLayerNorm(toRef(x), 1, null, null, 1e-5), { rtol: 1e-3, atol: 1e-3 }, 'offset');
  });
});

describe('threads', () => {
  const threads = tj.getNumThreads();
  afterEach(() => tj.setNumThreads(threads));
  test('results do not depend on the thread count (rows are independent)', () => {
    const x = makeTensor(randomValues(512 * 384, 4), [512, 384]);
    const w = makeTensor(randomValues(384, 5), [384]);
    tj.setNumThreads(1);
    const a = tj.layerNorm(x, [384], w, w).dataSync() as Float32Array;
    tj.setNumThreads(2);
    const b = tj.layerNorm(x, [384], w, w).dataSync() as Float32Array;
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer))).toBe(0);
  });
});

describe('BAD CALL', () => {
  const x = tj.ones([2, 3, 4]);
  test('normalizedShape must match the trailing dims, naming both shapes', () => {
    expect(() => tj.layerNorm(x, [3])).toThrow(RangeError);
    expect(() => tj.layerNorm(x, [3])).toThrow(/^layerNorm: normalizedShape \[3\] does not match .*\[2, 3, 4\] float32/);
    expect(() => tj.layerNorm(x, [1, 2, 3, 4])).toThrow(RangeError);
    expect(() => tj.layerNorm(x, [])).toThrow(RangeError);
    expect(() => tj.layerNorm(x, 'a' as unknown as number[])).toThrow(TypeError);
  });
  test('weight and bias shapes and dtypes', () => {
    expect(() => tj.layerNorm(x, [4], tj.ones([3]))).toThrow(/^layerNorm: argument 'weight' has shape \[3\], expected normalizedShape \[4\]/);
    expect(() => tj.layerNorm(x, [3, 4], tj.ones([3, 4]), tj.ones([12]))).toThrow(/argument 'bias' has shape \[12\]/);
    expect(() => tj.layerNorm(x, [4], tj.ones([4], { dtype: 'int32' }))).toThrow(TypeError);
    expect(() => tj.layerNorm(x, [4], 3 as unknown as tj.Tensor)).toThrow(/layerNorm: argument 'weight' must be a Tensor/);
  });
  test('input dtype and eps', () => {
    expect(() => tj.layerNorm(tj.ones([2, 4], { dtype: 'int32' }), [4])).toThrow(TypeError);
    expect(() => tj.layerNorm(x, [4], null, null, -1)).toThrow(RangeError);
    expect(() => tj.layerNorm(x, [4], null, null, 'x' as unknown as number)).toThrow(TypeError);
  });
});
