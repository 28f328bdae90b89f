/**
 * Test support: float64 reference tensors, sample inputs in every layout, and a
 * tolerance-aware comparison. References never call tensorjit kernels.
 */
import { expect } from 'vitest';
import * as tj from '../../lib/index';
import type { DType } from '../../lib/index';

/** A plain float64 tensor for reference implementations (row-major). */
export interface Ref {
  shape: number[];
  data: Float64Array;
}

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** Reads any tensor (any layout/dtype) into a float64 reference. */
export function toRef(t: tj.Tensor): Ref {
  const raw = t.dataSync();
  const data = new Float64Array(raw.length);
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    const vals = t.toArray();
    data.set(Array.isArray(vals) ? ((vals as unknown[]).flat(Infinity as 1) as number[]) : [vals as number]);
  } else {
    for (let i = 0; i < raw.length; i++) data[i] = Number(raw[i]);
  }
  return { shape: t.shape.slice(), data };
}

/** Deterministic PRNG for test data (mulberry32). */
export function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Layout = 'contiguous' | 'transposed' | 'sliced';

/**
 * A tensor of `shape` holding `values` (row-major), materialised in the given layout:
 * 'transposed' stores it transposed and transposes back (non-contiguous strides),
 * 'sliced' stores every other element of a longer last dim at an offset.
 */
export function makeTensor(values: ArrayLike<number>, shape: number[], dtype: DType = 'float32', layout: Layout = 'contiguous'): tj.Tensor {
  const n = numel(shape);
  if (layout === 'contiguous' || shape.length === 0 || n === 0) {
    return tj.tensor(Array.from({ length: n }, (_, i) => values[i]), { shape, dtype });
  }
  if (layout === 'transposed' && shape.length >= 2) {
    const r = shape.length;
    const tshape = shape.slice();
    [tshape[r - 1], tshape[r - 2]] = [tshape[r - 2], tshape[r - 1]];
    const st = stridesOf(shape);
    const tvals = new Array(n);
    const tst = stridesOf(tshape);
    for (let i = 0; i < n; i++) {
      // i indexes the stored (transposed) tensor; map back to the logical index
      let rem = i, logical = 0;
      const idx = tshape.map((_, d) => { const v = Math.floor(rem / tst[d]); rem -= v * tst[d]; return v; });
      [idx[r - 1], idx[r - 2]] = [idx[r - 2], idx[r - 1]];
      for (let d = 0; d < r; d++) logical += idx[d] * st[d];
      tvals[i] = values[logical];
    }
    return tj.tensor(tvals, { shape: tshape, dtype }).transpose(-1, -2);
  }
  // sliced: last dim doubled (+1), values at odd positions
  const r = shape.length;
  const wide = shape.slice();
  wide[r - 1] = 2 * shape[r - 1] + 1;
  const wvals = new Array(numel(wide)).fill(0);
  const st = stridesOf(shape), wst = stridesOf(wide);
  for (let i = 0; i < n; i++) {
    let rem = i, w = 0;
    for (let d = 0; d < r; d++) {
      const v = Math.floor(rem / st[d]);
      rem -= v * st[d];
      w += (d === r - 1 ? 2 * v + 1 : v) * wst[d];
    }
    wvals[w] = values[i];
  }
  return tj.tensor(wvals, { shape: wide, dtype }).slice(r - 1, 1, 2 * shape[r - 1] + 1, 2);
}

/** Random values in [lo, hi) (integers for int dtypes, 0/1 for bool). */
export function randomValues(n: number, seed: number, dtype: DType = 'float32', lo = -2, hi = 2): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const v = lo + (hi - lo) * r();
    if (dtype === 'bool') return r() < 0.5 ? 0 : 1;
    if (dtype === 'int32' || dtype === 'int64') return Math.floor(v);
    return Math.fround(v);
  });
}

/** The shapes every elementwise op is tried on: SIMD tails, 0-d, empty. */
export const SIZES = [1, 7, 33, 1023];
export const SHAPES: number[][] = [[], [0], [1], [7], [33], [1023], [3, 0, 2], [4, 33], [2, 3, 17]];
export const BROADCAST_PAIRS: [number[], number[]][] = [
  [[4, 33], [33]], [[4, 1], [1, 33]], [[2, 3, 17], [3, 1]], [[], [5, 7]], [[7], []], [[0, 3], [3]], [[1], [1023]],
];
export const LAYOUTS: Layout[] = ['contiguous', 'transposed', 'sliced'];

export interface Tol { rtol: number; atol: number }
export const TOL_F32: Tol = { rtol: 1e-5, atol: 1e-6 };
export const tolFor = (dtype: DType): Tol =>
  dtype === 'float32' ? TOL_F32 : dtype === 'float16' ? { rtol: 1e-3, atol: 1e-3 }
    : dtype === 'bfloat16' ? { rtol: 1e-2, atol: 1e-2 } : { rtol: 0, atol: 0 };

/** Asserts a tensor equals a reference: same shape, NaN matches NaN, infinities exactly. */
export function expectClose(actual: tj.Tensor, expected: Ref, tol: Tol = TOL_F32, what = ''): void {
  expect(actual.shape, `${what} shape`).toEqual(expected.shape);
  const got = toRef(actual).data;
  let worst = -1, worstErr = 0;
  for (let i = 0; i < got.length; i++) {
    const a = got[i], e = expected.data[i];
    if (Number.isNaN(e)) { if (!Number.isNaN(a)) { worst = i; worstErr = Infinity; break; } continue; }
    if (!Number.isFinite(e)) { if (a !== e) { worst = i; worstErr = Infinity; break; } continue; }
    const err = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (!(err <= 0) && (worst < 0 || err > worstErr)) { worst = i; worstErr = err; }
  }
  if (worst >= 0) {
    expect.fail(`${what} mismatch at flat index ${worst}: got ${got[worst]}, expected ${expected.data[worst]} (rtol ${tol.rtol}, atol ${tol.atol})`);
  }
}

/** Elementwise reference with NumPy broadcasting over any number of operands. */
export function refMap(inputs: Ref[], f: (...xs: number[]) => number): Ref {
  const nd = Math.max(0, ...inputs.map((r) => r.shape.length));
  const shape = new Array(nd).fill(1).map((_, i) => {
    let size = 1;
    for (const r of inputs) {
      const d = r.shape[r.shape.length - nd + i] ?? 1;
      if (d !== 1) size = d;
    }
    return size;
  });
  const n = numel(shape);
  const out = new Float64Array(n);
  const ost = stridesOf(shape);
  const ist = inputs.map((r) => {
    const s = stridesOf(r.shape);
    return shape.map((_, i) => {
      const d = i - (nd - r.shape.length);
      return d < 0 || r.shape[d] === 1 ? 0 : s[d];
    });
  });
  const xs = new Array(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < inputs.length; k++) {
      let rem = i, off = 0;
      for (let d = 0; d < nd; d++) {
        const v = Math.floor(rem / ost[d]);
        rem -= v * ost[d];
        off += v * ist[k][d];
      }
      xs[k] = inputs[k].data[off];
    }
    out[i] = f(...xs);
  }
  return { shape, data: out };
}

export const ref = (shape: number[], values: ArrayLike<number>): Ref => ({ shape, data: Float64Array.from(values) });
