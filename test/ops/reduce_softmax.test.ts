/**
 * softmax and logSoftmax against float64 references: every dim (also negative), SIMD
 * tails, 0-d, empty, transposed and sliced views, -inf/+inf/NaN rows, large values,
 * one long row split across threads, determinism, and bad calls.
 */
import { afterEach, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { LAYOUTS, Ref, Tol, expectClose, makeTensor, numel, randomValues, stridesOf, toRef } from '../helpers/reference';

/** Applies f to every line of r along dim (values in order), writing results in place. */
function refAlongDim(r: Ref, dim: number, f: (line: number[]) => number[]): Ref {
  const nd = r.shape.length;
  if (nd === 0) return { shape: [], data: Float64Array.from(f([r.data[0]])) };
  const d = dim < 0 ? dim + nd : dim;
  const st = stridesOf(r.shape);
  const n = r.shape[d];
  const out = new Float64Array(r.data.length);
  for (let i = 0; i < r.data.length; i++) {
    if (Math.floor(i / st[d]) % n !== 0) continue; // i starts a line
    const line = Array.from({ length: n }, (_, k) => r.data[i + k * st[d]]);
    f(line).forEach((v, k) => {
      out[i + k * st[d]] = v;
    });
  }
  return { shape: r.shape.slice(), data: out };
}

function refSoftmax(line: number[]): number[] {
  const m = line.reduce((a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)), -Infinity);
  const e = line.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
function refLogSoftmax(line: number[]): number[] {
  const m = line.reduce((a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)), -Infinity);
  const s = line.reduce((a, v) => a + Math.exp(v - m), 0);
  return line.map((v) => v - m - Math.log(s));
}

const TOL: Tol = { rtol: 2e-5, atol: 1e-6 };
const SHAPES: number[][] = [[], [1], [7], [33], [1023], [0], [3, 0, 2], [4, 33], [2, 3, 17], [17, 5], [2, 1023]];

describe('softmax and logSoftmax', () => {
  test('every dim, layout and size', () => {
    let seed = 1;
    for (const shape of SHAPES) {
      for (const layout of LAYOUTS) {
        const x = makeTensor(randomValues(numel(shape), seed++, 'float32', -8, 8), shape, 'float32', layout);
        const r = toRef(x);
        const dims = shape.length === 0 ? [0, -1] : shape.flatMap((_, d) => [d, d - shape.length]);
        for (const dim of dims) {
          const what = `[${shape}] ${layout} dim=${dim}`;
          expectClose(tj.softmax(x, dim), refAlongDim(r, dim, refSoftmax), TOL, `softmax ${what}`);
          expectClose(x.logSoftmax(dim), refAlongDim(r, dim, refLogSoftmax), TOL, `logSoftmax ${what}`);
        }
      }
    }
  });

  test('rows of -inf give NaN; -inf entries give 0; +inf and NaN poison their row', () => {
    const x = tj.tensor([
      [-Infinity, -Infinity, -Infinity],
      [-Infinity, 0, 0],
      [Infinity, 1, 2],
      [1, NaN, 2],
      [1000, 1001, 999], // stability: no overflow
      [-1000, -1001, -999],
      [0, -100, -1e9], // large gaps (masked logits): exact zeros, no subnormal results
    ]);
    const r = toRef(x);
    for (const f of [tj.softmax, tj.logSoftmax]) {
      const want = refAlongDim(r, 1, f === tj.softmax ? refSoftmax : refLogSoftmax);
      expectClose(f(x, 1), want, TOL, f.opName);
    }
    const sm = tj.softmax(x, 1).toArray() as number[][];
    expect(sm[0].every(Number.isNaN)).toBe(true);
    expect(sm[1]).toEqual([0, 0.5, 0.5]);
    expect(sm[2].every(Number.isNaN)).toBe(true);
    expect(sm[3].every(Number.isNaN)).toBe(true);
    expect(sm[6]).toEqual([1, 0, 0]);
    expect((tj.logSoftmax(x, 1).toArray() as number[][])[1][0]).toBe(-Infinity);
    expect((tj.logSoftmax(x, 1).toArray() as number[][])[6]).toEqual([0, -100, -1e9].map(Math.fround));
  });

  test('special rows along SIMD tails and along an outer dim', () => {
    for (const n of [1, 7, 33, 1023]) {
      const v = randomValues(n, n, 'float32', -5, 5);
      v[n - 1] = -Infinity;
      const x = tj.tensor(v);
      expectClose(tj.softmax(x, 0), refAlongDim(toRef(x), 0, refSoftmax), TOL, `tail n=${n}`);
      const cols = makeTensor([...v, ...v], [2, n]).transpose(0, 1).contiguous(); // [n, 2], softmax over dim 0
      expectClose(tj.softmax(cols, 0), refAlongDim(toRef(cols), 0, refSoftmax), TOL, `column n=${n}`);
    }
  });

  test('0-d and empty', () => {
    expect(tj.softmax(tj.tensor(3, { shape: [] }), 0).item()).toBe(1);
    expect(tj.logSoftmax(tj.tensor(3, { shape: [] }), -1).item()).toBe(0);
    expect(tj.softmax(tj.zeros([0, 4]), 1).shape).toEqual([0, 4]);
    expect(tj.logSoftmax(tj.zeros([4, 0]), 1).shape).toEqual([4, 0]);
  });

  test('one long row (split across threads) and many rows', () => {
    let seed = 50;
    for (const shape of [[1 << 18], [3, 70000], [2000, 65], [300, 2, 7]]) {
      const x = makeTensor(randomValues(numel(shape), seed++, 'float32', -10, 10), shape);
      const r = toRef(x);
      for (const dim of [-1, 0]) {
        expectClose(tj.softmax(x, dim), refAlongDim(r, dim, refSoftmax), { rtol: 1e-4, atol: 1e-9 }, `softmax [${shape}] dim=${dim}`);
        expectClose(tj.logSoftmax(x, dim), refAlongDim(r, dim, refLogSoftmax), TOL, `logSoftmax [${shape}] dim=${dim}`);
      }
    }
  });
});

const sameBits = (a: Float32Array, b: Float32Array) =>
  Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe('threads and determinism', () => {
  const threads = tj.getNumThreads();
  afterEach(() => tj.setNumThreads(threads));
  test('bitwise repeatable; thread counts agree within rounding', () => {
    const x = makeTensor(randomValues(1 << 18, 9, 'float32', -10, 10), [1 << 18]);
    const y = makeTensor(randomValues(1 << 16, 10, 'float32', -10, 10), [256, 256]);
    const results: Float32Array[] = [];
    for (const n of [1, 2, 3]) {
      tj.setNumThreads(n);
      const a = tj.softmax(x, 0).dataSync() as Float32Array;
      expect(sameBits(tj.softmax(x, 0).dataSync() as Float32Array, a), `softmax repeat, ${n} threads`).toBe(true);
      const l = tj.logSoftmax(y, 1).dataSync() as Float32Array;
      expect(sameBits(tj.logSoftmax(y, 1).dataSync() as Float32Array, l), `logSoftmax repeat, ${n} threads`).toBe(true);
      results.push(a);
    }
    for (const res of results.slice(1)) expectClose(tj.tensor(res), toRef(tj.tensor(results[0])), { rtol: 1e-5, atol: 1e-12 }, 'threads');
  });
});

describe('BAD CALL', () => {
  const x = tj.ones([2, 3]);
  test('dim is required and must be in range', () => {
    expect(() => (tj.softmax as unknown as (t: tj.Tensor) => tj.Tensor)(x)).toThrow(TypeError);
    expect(() => (tj.softmax as unknown as (t: tj.Tensor) => tj.Tensor)(x)).toThrow(/^softmax: argument 'dim' is required/);
    expect(() => tj.logSoftmax(x, 2)).toThrow(RangeError);
    expect(() => tj.logSoftmax(x, 2)).toThrow(/^logSoftmax: dim 2 is out of range/);
    expect(() => tj.softmax(x, -3)).toThrow(/^softmax: dim -3/);
  });
  test('float32 only', () => {
    expect(() => tj.softmax(tj.ones([3], { dtype: 'int64' }), 0)).toThrow(TypeError);
    expect(() => tj.logSoftmax(tj.ones([3], { dtype: 'int32' }), 0)).toThrow(/^logSoftmax: .*int32/);
  });
});
