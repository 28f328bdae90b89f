/**
 * sum, mean, amax, amin, argmax against float64 references: every dim form (null, one
 * dim, negative, lists, keepdim), SIMD tails, 0-d, empty dims, transposed and sliced
 * views, int dtypes, NaN/inf, ties, the multithreaded split and outer-dim paths,
 * determinism, and bad calls.
 */
import { afterEach, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import type { DType } from '../../lib/index';
import { LAYOUTS, Layout, Ref, makeTensor, numel, randomValues, stridesOf, toRef } from '../helpers/reference';

// ---- float64 reference

/** Reduces r over `dims`, handing f the reduced values in row-major order. */
function refReduce(r: Ref, dims: number[], keepdim: boolean, f: (vals: number[]) => number): Ref {
  const nd = r.shape.length;
  const red = new Set(dims.map((d) => (d < 0 ? d + nd : d)));
  const outShape: number[] = [];
  const keptDims: number[] = [];
  r.shape.forEach((s, d) => {
    if (!red.has(d)) {
      outShape.push(s);
      keptDims.push(d);
    } else if (keepdim) outShape.push(1);
  });
  const keptShape = keptDims.map((d) => r.shape[d]);
  const groups: number[][] = Array.from({ length: numel(keptShape) }, () => []);
  const st = stridesOf(r.shape), kst = stridesOf(keptShape);
  for (let i = 0; i < r.data.length; i++) {
    let o = 0;
    keptDims.forEach((d, k) => {
      o += (Math.floor(i / st[d]) % r.shape[d]) * kst[k];
    });
    groups[o].push(r.data[i]);
  }
  return { shape: outShape, data: Float64Array.from(groups, f) };
}

const fsum = (v: number[]) => v.reduce((a, b) => a + b, 0);
const fabsSum = (v: number[]) => v.reduce((a, b) => a + Math.abs(b), 0);
const fmax = (v: number[]) => v.reduce((a, b) => (Number.isNaN(a) ? a : b > a || Number.isNaN(b) ? b : a), -Infinity);
const fmin = (v: number[]) => v.reduce((a, b) => (Number.isNaN(a) ? a : b < a || Number.isNaN(b) ? b : a), Infinity);
const fargmax = (v: number[]) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) {
    const a = v[best], b = v[i];
    if (b > a || (Number.isNaN(b) && !Number.isNaN(a))) best = i;
  }
  return best;
};

/** Values equal; NaN matches NaN. */
function expectEqualRef(t: tj.Tensor, want: Ref, what: string): void {
  expect(t.shape, `${what} shape`).toEqual(want.shape);
  const got = toRef(t).data;
  for (let i = 0; i < got.length; i++) {
    const ok = Number.isNaN(want.data[i]) ? Number.isNaN(got[i]) : got[i] === want.data[i];
    if (!ok) expect.fail(`${what}: index ${i}: got ${got[i]}, expected ${want.data[i]}`);
  }
}

/** |got - want| <= rel * sum|x| + abs: float32 summation error is relative to the magnitudes summed. */
function expectSumClose(t: tj.Tensor, want: Ref, mag: Ref, what: string, rel = 4e-6, abs = 1e-6): void {
  expect(t.shape, `${what} shape`).toEqual(want.shape);
  const got = toRef(t).data;
  for (let i = 0; i < got.length; i++) {
    const tol = rel * mag.data[i] + abs;
    if (!(Math.abs(got[i] - want.data[i]) <= tol))
      expect.fail(`${what}: index ${i}: got ${got[i]}, expected ${want.data[i]} (tol ${tol})`);
  }
}

// ---- sample inputs

const SHAPES: number[][] = [[], [1], [7], [33], [1023], [0], [3, 0, 2], [4, 33], [2, 3, 17], [5, 1, 7], [3, 4, 5, 6]];

/** Every dim form for a shape: null, each dim (also negative), pairs, all dims as a list. */
function dimForms(shape: number[]): (number | number[] | null)[] {
  const nd = shape.length;
  const forms: (number | number[] | null)[] = [null];
  if (nd === 0) return [...forms, 0, -1, [0]];
  for (let d = 0; d < nd; d++) forms.push(d, d - nd);
  if (nd >= 2) forms.push([0, nd - 1], [nd - 1, 0], [-1, -2], shape.map((_, i) => i));
  if (nd >= 3) forms.push([0, 2], [1]);
  return forms;
}

const intVals = (n: number, seed: number) => randomValues(n, seed, 'int32', -8, 8);
const describeCase = (shape: number[], layout: Layout, dim: unknown, keepdim: boolean) =>
  `[${shape}] ${layout} dim=${JSON.stringify(dim)} keepdim=${keepdim}`;

const listDims = (shape: number[], dim: number | number[] | null) =>
  dim === null ? shape.map((_, i) => i) : shape.length === 0 ? [] : typeof dim === 'number' ? [dim] : dim;

describe('sum and mean', () => {
  test('integer-valued float32: exact over every dim form, layout and keepdim', () => {
    let seed = 1;
    for (const shape of SHAPES) {
      for (const layout of LAYOUTS) {
        const values = intVals(numel(shape), seed++);
        const x = makeTensor(values, shape, 'float32', layout);
        const r = toRef(x);
        for (const dim of dimForms(shape)) {
          for (const keepdim of [false, true]) {
            const dims = listDims(shape, dim);
            const what = describeCase(shape, layout, dim, keepdim);
            expectEqualRef(tj.sum(x, dim, keepdim), refReduce(r, dims, keepdim, fsum), `sum ${what}`);
            const m = refReduce(r, dims, keepdim, (v) => Math.fround(fsum(v) / v.length));
            expectEqualRef(x.mean(dim, keepdim), m, `mean ${what}`);
          }
        }
      }
    }
  });

  test('random float32 within float summation error', () => {
    let seed = 100;
    for (const shape of [[1023], [4, 33], [2, 3, 17], [33, 1023], [1023, 33]]) {
      for (const layout of LAYOUTS) {
        const x = makeTensor(randomValues(numel(shape), seed++), shape, 'float32', layout);
        const r = toRef(x);
        for (const dim of dimForms(shape)) {
          const dims = listDims(shape, dim);
          const what = describeCase(shape, layout, dim, false);
          const mag = refReduce(r, dims, false, fabsSum);
          expectSumClose(tj.sum(x, dim), refReduce(r, dims, false, fsum), mag, `sum ${what}`);
          const n = dims.reduce((a, d) => a * shape[d < 0 ? d + shape.length : d], 1);
          const magMean = { shape: mag.shape, data: mag.data.map((v) => v / n) };
          expectSumClose(tj.mean(x, dim), refReduce(r, dims, false, (v) => fsum(v) / v.length), magMean, `mean ${what}`);
        }
      }
    }
  });

  test('empty reductions: sum 0, mean NaN; empty outputs', () => {
    const x = tj.zeros([3, 0]);
    expect(tj.sum(x, 1).toArray()).toEqual([0, 0, 0]);
    expect(tj.sum(x, 1, true).shape).toEqual([3, 1]);
    expect(tj.sum(x).item()).toBe(0);
    expect(tj.mean(x, 1).toArray()).toEqual([NaN, NaN, NaN]);
    expect(Number.isNaN(tj.mean(x).item())).toBe(true);
    expect(tj.sum(x, 0).shape).toEqual([0]);
    expect(tj.sum(tj.zeros([0, 3], { dtype: 'int32' }), 0).toArray()).toEqual([0, 0, 0]);
  });

  test('0-d input', () => {
    const x = tj.tensor(2.5, { shape: [] });
    for (const dim of [null, 0, -1, [0], [-1]]) {
      expect(tj.sum(x, dim).shape).toEqual([]);
      expect(tj.sum(x, dim).item()).toBe(2.5);
      expect(tj.sum(x, dim, true).shape).toEqual([]);
      expect(tj.mean(x, dim).item()).toBe(2.5);
    }
  });

  test('int32/int64/bool sum into int64', () => {
    let seed = 7;
    for (const dtype of ['int32', 'int64', 'bool'] as DType[]) {
      for (const shape of [[7], [4, 33], [2, 3, 17]]) {
        for (const layout of LAYOUTS) {
          const values = randomValues(numel(shape), seed++, dtype, -1000, 1000);
          const x = makeTensor(values, shape, dtype, layout);
          const r = toRef(x);
          for (const dim of dimForms(shape)) {
            const out = tj.sum(x, dim, true);
            expect(out.dtype).toBe('int64');
            expectEqualRef(out, refReduce(r, listDims(shape, dim), true, fsum), `sum ${dtype} ${describeCase(shape, layout, dim, true)}`);
          }
        }
      }
    }
    const big = tj.tensor(new BigInt64Array([2n ** 40n, 2n ** 40n, 3n]), { shape: [3] });
    expect(tj.sum(big).dataSync()).toEqual(new BigInt64Array([2n ** 41n + 3n]));
  });

  test('NaN and infinities', () => {
    const x = tj.tensor([[1, NaN, 2], [Infinity, 1, 2], [Infinity, -Infinity, 0], [-Infinity, 1, 1]]);
    const s = tj.sum(x, 1).toArray() as number[];
    expect(Number.isNaN(s[0])).toBe(true);
    expect(s[1]).toBe(Infinity);
    expect(Number.isNaN(s[2])).toBe(true);
    expect(s[3]).toBe(-Infinity);
    const c = tj.sum(x, 0).toArray() as number[];
    expect(Number.isNaN(c[0])).toBe(true);
    expect(Number.isNaN(c[1])).toBe(true);
    expect(c[2]).toBe(5);
  });

  test('large reductions: split single row, outer dims, many rows (threads)', () => {
    const cases: [number[], number | number[] | null][] = [
      [[1 << 20], null], // one output: split across threads
      [[3, 200000], 1], // a few long rows
      [[40000, 24], 0], // outer dim: vectorized across 24 columns
      [[600, 1100], 0], // outer dim, one column tile per thread
      [[4, 40000], 0], // outer dim wider than a column tile
      [[70000, 40], 0], // outer dim, few columns: rows split across threads
      [[64, 64, 65], [0, 2]], // mixed: inner run + outer reduced dim
      [[300000, 2], 1], // many tiny rows
    ];
    let seed = 500;
    for (const [shape, dim] of cases) {
      const x = makeTensor(randomValues(numel(shape), seed++), shape);
      const r = toRef(x);
      const dims = listDims(shape, dim);
      expectSumClose(tj.sum(x, dim), refReduce(r, dims, false, fsum), refReduce(r, dims, false, fabsSum), `sum [${shape}] dim=${dim}`);
      expectEqualRef(tj.amax(x, dim), refReduce(r, dims, false, fmax), `amax [${shape}] dim=${dim}`);
      if (typeof dim === 'number' || dim === null) expectEqualRef(tj.argmax(x, dim), refReduce(r, dims, false, fargmax), `argmax [${shape}]`);
    }
  });
});

describe('expanded views (stride-0 dims) are reduced without materialising them', () => {
  test('sum, mean, amax, amin, argmax over broadcast dims equal the float64 reference', () => {
    let seed = 900;
    const cases: [number[], number[], number[], number | number[] | null][] = [
      // [base shape, expanded shape, reduced dims of the expanded tensor as given to the op]
      [[1, 5], [6, 5], [0], 0],
      [[1, 5], [6, 5], [0, 1], null],
      [[3, 1, 4], [3, 7, 4], [1], 1],
      [[3, 1, 4], [3, 7, 4], [1, 2], [1, 2]],
      [[1, 1], [9, 33], [0, 1], [0, 1]],
      [[4, 1], [4, 1000], [1], -1],
    ];
    for (const [base, shape, dims, dim] of cases) {
      const b = makeTensor(randomValues(numel(base), seed++), base);
      const x = tj.expand(b, shape);
      const r = toRef(x);
      for (const keepdim of [false, true]) {
        const what = `[${base}] expanded to [${shape}] over ${JSON.stringify(dim)} keepdim ${keepdim}`;
        expectSumClose(tj.sum(x, dim, keepdim), refReduce(r, dims, keepdim, fsum), refReduce(r, dims, keepdim, fabsSum), `sum ${what}`);
        expectSumClose(tj.mean(x, dim, keepdim), refReduce(r, dims, keepdim, (v) => fsum(v) / v.length), refReduce(r, dims, keepdim, (v) => fabsSum(v) / v.length), `mean ${what}`);
        expectEqualRef(tj.amax(x, dim ?? undefined, keepdim), refReduce(r, dims, keepdim, fmax), `amax ${what}`);
        expectEqualRef(tj.amin(x, dim ?? undefined, keepdim), refReduce(r, dims, keepdim, fmin), `amin ${what}`);
        if (typeof dim === 'number') expectEqualRef(tj.argmax(x, dim, keepdim), refReduce(r, dims, keepdim, fargmax), `argmax ${what}`);
      }
    }
    // integer sums: int64, wrapping like repeated adds
    const i = tj.expand(tj.tensor([3, -4], { dtype: 'int32', shape: [2, 1] }), [2, 1000]);
    expect(Array.from(tj.sum(i, 1).dataSync() as BigInt64Array)).toEqual([3000n, -4000n]);
    const big = tj.expand(tj.tensor(new BigInt64Array([2n ** 62n]), { shape: [1] }), [4]);
    expect(tj.sum(big).dataSync()).toEqual(new BigInt64Array([0n]));  // 2^64 wraps to 0
  });

  test('the sum of a [20000, 20000] expand of one element allocates nothing large', () => {
    const x = tj.ones([1, 1]).expand([20000, 20000]);
    tj.resetPeakMemory();
    const before = tj.memory().liveBytes;
    expect(tj.sum(x).item()).toBe(4e8);
    expect(tj.mean(x).item()).toBe(1);
    expect(tj.amax(x).item()).toBe(1);
    expect(tj.memory().peakBytes - before).toBeLessThan(1024);  // it was 1.6 GB (a contiguous copy)
  });
});

describe('amax and amin', () => {
  test('every dim form, layout and dtype', () => {
    let seed = 1000;
    for (const dtype of ['float32', 'int32', 'int64', 'bool'] as DType[]) {
      for (const shape of SHAPES) {
        if (numel(shape) === 0) continue;
        for (const layout of LAYOUTS) {
          const x = makeTensor(randomValues(numel(shape), seed++, dtype, -100, 100), shape, dtype, layout);
          const r = toRef(x);
          for (const dim of dimForms(shape)) {
            for (const keepdim of [false, true]) {
              const dims = listDims(shape, dim);
              const what = `${dtype} ${describeCase(shape, layout, dim, keepdim)}`;
              const mx = tj.amax(x, dim, keepdim), mn = x.amin(dim, keepdim);
              expect(mx.dtype).toBe(dtype);
              expectEqualRef(mx, refReduce(r, dims, keepdim, fmax), `amax ${what}`);
              expectEqualRef(mn, refReduce(r, dims, keepdim, fmin), `amin ${what}`);
            }
          }
        }
      }
    }
  });

  test('NaN propagates along rows and columns, with SIMD tails', () => {
    for (const n of [1, 7, 33, 1023]) {
      for (const pos of [0, Math.floor(n / 2), n - 1]) {
        const v = randomValues(n, n + pos);
        v[pos] = NaN;
        const row = tj.tensor(v);
        expect(Number.isNaN(tj.amax(row).item() as number), `amax n=${n} pos=${pos}`).toBe(true);
        expect(Number.isNaN(tj.amin(row).item() as number), `amin n=${n} pos=${pos}`).toBe(true);
        // as a column block: reduce over dim 0 of [n, 3]
        const cols = makeTensor([...v, ...v, ...v], [3, n]).transpose(0, 1).contiguous();
        const m = tj.amax(cols, 0).toArray() as number[];
        expect(m.every(Number.isNaN)).toBe(true);
      }
    }
    expect(tj.amax(tj.tensor([-Infinity, -Infinity])).item()).toBe(-Infinity);
    expect(tj.amin(tj.tensor([Infinity, 3])).item()).toBe(3);
  });

  test('reducing an empty dim is an error; empty kept dims are fine', () => {
    expect(() => tj.amax(tj.zeros([0, 3]), 0)).toThrow(RangeError);
    expect(() => tj.amin(tj.zeros([0]))).toThrow(/amin: cannot reduce over every dim/);
    expect(tj.amax(tj.zeros([0, 3]), 1).shape).toEqual([0]);
    expect(tj.amin(tj.zeros([0, 3]), 1, true).shape).toEqual([0, 1]);
  });
});

describe('argmax', () => {
  test('flattened and per dim, layouts, dtypes, keepdim', () => {
    let seed = 2000;
    for (const dtype of ['float32', 'int32', 'int64'] as DType[]) {
      for (const shape of SHAPES) {
        if (numel(shape) === 0) continue;
        for (const layout of LAYOUTS) {
          // few distinct values: plenty of ties
          const x = makeTensor(randomValues(numel(shape), seed++, dtype === 'float32' ? 'int32' : dtype, -3, 3), shape, dtype, layout);
          const r = toRef(x);
          const forms: (number | null)[] = [null, ...shape.flatMap((_, d) => [d, d - shape.length])];
          if (shape.length === 0) forms.push(0, -1);
          for (const dim of forms) {
            for (const keepdim of [false, true]) {
              const dims = listDims(shape, dim);
              const out = tj.argmax(x, dim, keepdim);
              expect(out.dtype).toBe('int64');
              expectEqualRef(out, refReduce(r, dims, keepdim, fargmax), `argmax ${dtype} ${describeCase(shape, layout, dim, keepdim)}`);
            }
          }
        }
      }
    }
  });

  test('ties give the first index; NaN counts as the maximum', () => {
    expect(tj.argmax(tj.tensor([1, 3, 3, 2])).item()).toBe(1);
    expect(tj.argmax(tj.tensor([1, NaN, 3, NaN])).item()).toBe(1);
    expect(tj.argmax(tj.tensor([-Infinity, -Infinity])).item()).toBe(0);
    expect(tj.argmax(tj.tensor([0, -0, 0])).item()).toBe(0);
    for (const n of [7, 33, 1023, 5000]) {
      for (const pos of [0, 5, n - 1]) {
        const v = new Array(n).fill(1);
        v[pos] = 2;
        if (pos + 1 < n) v[n - 1] = 2; // a later tie
        expect(tj.argmax(tj.tensor(v)).item(), `tie n=${n} pos=${pos}`).toBe(pos);
        v[Math.min(pos + 3, n - 1)] = NaN;
        expect(tj.argmax(tj.tensor(v)).item(), `nan n=${n}`).toBe(Math.min(pos + 3, n - 1));
        // columns: argmax over dim 0
        const cols = tj.tensor(v).reshape([n, 1]).expand([n, 5]).contiguous();
        expect(tj.argmax(cols, 0).toArray()).toEqual(new Array(5).fill(Math.min(pos + 3, n - 1)));
      }
    }
  });

  test('ties across thread chunks of one long row', () => {
    const n = 1 << 20;
    const v = new Float32Array(n);
    v[n - 10] = 5;
    v[n / 2 + 3] = 5;
    v[n / 2 - 3] = 5;
    expect(tj.argmax(tj.tensor(v)).item()).toBe(n / 2 - 3);
    v[n - 1] = NaN;
    expect(tj.argmax(tj.tensor(v)).item()).toBe(n - 1);
  });

  test('0-d and keepdim of the flattened form', () => {
    const s = tj.tensor(4, { shape: [] });
    expect(tj.argmax(s).shape).toEqual([]);
    expect(tj.argmax(s).item()).toBe(0);
    expect(tj.argmax(s, 0).item()).toBe(0);
    expect(tj.argmax(tj.ones([2, 3]), null, true).shape).toEqual([1, 1]);
  });
});

describe('threads and determinism', () => {
  const threads = tj.getNumThreads();
  afterEach(() => tj.setNumThreads(threads));

  test('bitwise repeatable; 1 vs 2 vs 4 threads agree within reassociation', () => {
    const cases: [number[], number | number[] | null][] = [
      [[1 << 20], null], [[4, 200000], 1], [[20000, 40], 0], [[600, 2], 0], [[100000, 3], 0],
    ];
    let seed = 3000;
    for (const [shape, dim] of cases) {
      const x = makeTensor(randomValues(numel(shape), seed++), shape);
      const r = toRef(x);
      const dims = listDims(shape, dim);
      const mag = refReduce(r, dims, false, fabsSum);
      const argDim = typeof dim === 'number' ? dim : null;
      const wantArg = refReduce(r, listDims(shape, argDim), false, fargmax);
      const wantMin = refReduce(r, dims, false, fmin);
      const results: Ref[] = [];
      for (const n of [1, 2, 4]) {
        tj.setNumThreads(n);
        const a = toRef(tj.sum(x, dim)), b = toRef(tj.sum(x, dim));
        expect(a.data.every((v, i) => Object.is(v, b.data[i])), `repeat [${shape}] threads=${n}`).toBe(true);
        results.push(a);
        expectEqualRef(tj.argmax(x, argDim), wantArg, `argmax threads=${n}`);
        expectEqualRef(tj.amin(x, dim), wantMin, `amin threads=${n}`);
      }
      for (const res of results.slice(1)) {
        for (let i = 0; i < res.data.length; i++)
          expect(Math.abs(res.data[i] - results[0].data[i]) <= 4e-6 * mag.data[i]).toBe(true);
      }
    }
  });
});

describe('BAD CALL', () => {
  const x = tj.ones([2, 3]);
  test('dim out of range names the op and the dim', () => {
    expect(() => tj.sum(x, 2)).toThrow(RangeError);
    expect(() => tj.sum(x, 2)).toThrow(/^sum: dim 2 is out of range/);
    expect(() => tj.mean(x, [0, -3])).toThrow(/^mean: dim -3 is out of range/);
    expect(() => tj.amax(x, 5)).toThrow(/^amax: dim 5/);
    expect(() => tj.argmax(x, -3)).toThrow(/^argmax: dim -3/);
    expect(() => tj.sum(tj.tensor(1, { shape: [] }), 1)).toThrow(RangeError);
  });
  test('repeated dims are rejected', () => {
    expect(() => tj.sum(x, [0, 0])).toThrow(/sum: dim 0 appears multiple times/);
    expect(() => tj.amin(x, [1, -1])).toThrow(RangeError);
  });
  test('dtypes', () => {
    const xi = tj.ones([2, 3], { dtype: 'int32' });
    expect(() => tj.mean(xi)).toThrow(TypeError);
    expect(() => tj.mean(xi)).toThrow(/^mean: .*int32/);
    expect(() => tj.argmax(tj.tensor([true, false]))).toThrow(TypeError);
  });
  test('argument types', () => {
    expect(() => tj.sum(x, 0, 1 as unknown as boolean)).toThrow(/sum: argument 'keepdim'/);
    expect(() => tj.sum(x, 'a' as unknown as number)).toThrow(TypeError);
    expect(() => tj.argmax(x, [0] as unknown as number)).toThrow(/argmax: argument 'dim'/);
    expect(() => tj.sum(null as unknown as tj.Tensor)).toThrow(/sum: argument 'input' must be a Tensor/);
  });
});
