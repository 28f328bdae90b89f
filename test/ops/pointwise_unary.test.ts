import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import type { DType } from '../../lib/index';
import { LAYOUTS, SHAPES, expectClose, makeTensor, numel, randomValues, ref, refMap, toRef, tolFor } from '../helpers/reference';
import { erf, gelu, geluTanh, sigmoid, silu } from './pointwise_ref';

type UnaryFn = (x: tj.Tensor) => tj.Tensor;
interface UnaryInfo {
  name: string;
  fn: UnaryFn;
  ref: (x: number) => number;
  dtypes: DType[];
  /** result dtype for each input dtype */
  out: (d: DType) => DType;
  /** sample range */
  lo?: number;
  hi?: number;
}

const floatOut = (d: DType): DType => (d === 'float32' || d === 'float16' || d === 'bfloat16' ? d : 'float32');
const same = (d: DType): DType => d;
const ALL_FLOATISH: DType[] = ['float32', 'int32', 'int64', 'bool', 'float16', 'bfloat16'];

const UNARY: UnaryInfo[] = [
  { name: 'neg', fn: tj.neg, ref: (x) => -x, dtypes: ['float32', 'int32', 'int64', 'float16'], out: same },
  { name: 'abs', fn: tj.abs, ref: Math.abs, dtypes: ['float32', 'int32', 'int64', 'bfloat16'], out: same },
  { name: 'relu', fn: tj.relu, ref: (x) => (x > 0 ? x : Number.isNaN(x) ? NaN : 0), dtypes: ['float32', 'int32', 'int64'], out: same },
  { name: 'exp', fn: tj.exp, ref: Math.exp, dtypes: ALL_FLOATISH, out: floatOut, lo: -10, hi: 10 },
  { name: 'log', fn: tj.log, ref: Math.log, dtypes: ALL_FLOATISH, out: floatOut, lo: 0, hi: 50 },
  { name: 'sqrt', fn: tj.sqrt, ref: Math.sqrt, dtypes: ALL_FLOATISH, out: floatOut, lo: 0, hi: 50 },
  { name: 'rsqrt', fn: tj.rsqrt, ref: (x) => 1 / Math.sqrt(x), dtypes: ALL_FLOATISH, out: floatOut, lo: 0.01, hi: 50 },
  { name: 'sin', fn: tj.sin, ref: Math.sin, dtypes: ALL_FLOATISH, out: floatOut, lo: -20, hi: 20 },
  { name: 'cos', fn: tj.cos, ref: Math.cos, dtypes: ALL_FLOATISH, out: floatOut, lo: -20, hi: 20 },
  { name: 'tanh', fn: tj.tanh, ref: Math.tanh, dtypes: ALL_FLOATISH, out: floatOut, lo: -5, hi: 5 },
  { name: 'sigmoid', fn: tj.sigmoid, ref: sigmoid, dtypes: ALL_FLOATISH, out: floatOut, lo: -12, hi: 12 },
  { name: 'silu', fn: tj.silu, ref: silu, dtypes: ['float32', 'float16', 'bfloat16'], out: same, lo: -12, hi: 12 },
  { name: 'erf', fn: tj.erf, ref: erf, dtypes: ALL_FLOATISH, out: floatOut, lo: -4, hi: 4 },
  { name: 'gelu', fn: (x) => tj.gelu(x), ref: gelu, dtypes: ['float32', 'float16', 'bfloat16'], out: same, lo: -8, hi: 8 },
  { name: 'gelu tanh', fn: (x) => tj.gelu(x, { approximate: 'tanh' }), ref: geluTanh, dtypes: ['float32', 'float16'], out: same, lo: -8, hi: 8 },
];

function samples(info: UnaryInfo, n: number, seed: number, dtype: DType): number[] {
  const isInt = dtype === 'int32' || dtype === 'int64';
  const lo = info.lo ?? -3, hi = info.hi ?? 3;
  return randomValues(n, seed, dtype, isInt ? Math.floor(lo) : lo, isInt ? Math.ceil(hi) : hi);
}

describe('unary ops: op x dtype x shape x layout against float64', () => {
  for (const info of UNARY) {
    test(info.name, () => {
      for (const dtype of info.dtypes) {
        SHAPES.forEach((shape, si) => {
          for (const layout of LAYOUTS) {
            const x = makeTensor(samples(info, numel(shape), 7 * si + 1, dtype), shape, dtype, layout);
            const y = info.fn(x);
            const what = `${info.name}(${dtype} [${shape}] ${layout})`;
            expect(y.dtype, what).toBe(info.out(dtype));
            // the reference sees the input as stored (float16 inputs already rounded)
            expectClose(y, refMap([toRef(x)], info.ref), tolFor(y.dtype), what);
          }
        });
      }
    });
  }
});

describe('unary special values (IEEE, as OPS.md)', () => {
  const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 1, -1, 88.8, -104, 89, -110, 1e30, -1e30, 3e38, -3e38];
  for (const info of UNARY.filter((u) => u.dtypes.includes('float32'))) {
    test(info.name, () => {
      const x = tj.tensor(new Float32Array(specials), { shape: [specials.length] });
      // float32 results: the float64 reference rounded (overflow to inf included)
      expectClose(info.fn(x), refMap([toRef(x)], (v) => Math.fround(info.ref(v))), { rtol: 2e-6, atol: 1e-30 }, info.name);
    });
  }
  test('the values OPS.md names', () => {
    const v = (t: tj.Tensor) => Array.from(t.dataSync() as Float32Array);
    expect(v(tj.exp(tj.tensor([-Infinity])))).toEqual([0]);
    expect(v(tj.log(tj.tensor([0, -0])))).toEqual([-Infinity, -Infinity]);
    expect(v(tj.rsqrt(tj.tensor([Infinity, 0])))).toEqual([0, Infinity]);
    expect(v(tj.tanh(tj.tensor([Infinity, -Infinity])))).toEqual([1, -1]);
    expect(v(tj.sigmoid(tj.tensor([-Infinity, Infinity])))).toEqual([0, 1]);
    expect(v(tj.log(tj.tensor([-1])))[0]).toBeNaN();
    expect(v(tj.sqrt(tj.tensor([-1])))[0]).toBeNaN();
    for (const info of UNARY.filter((u) => u.dtypes.includes('float32'))) expect(v(info.fn(tj.tensor([NaN])))[0], info.name).toBeNaN();
    expect(Object.is(v(tj.sin(tj.tensor([-0])))[0], -0)).toBe(true);
    for (const f of [tj.neg(tj.tensor([0])), tj.tanh(tj.tensor([-0])), tj.erf(tj.tensor([-0])), tj.sin(tj.tensor([-0]))])
      expect(Object.is(v(f)[0], -0)).toBe(true);
  });
  test('sin/cos of huge arguments stay accurate (libm fallback beyond 2^17)', () => {
    const xs = [131073.5, 1e6, -3.0e7, 1e10, 1e30];
    const x = tj.tensor(new Float32Array(xs), { shape: [xs.length] });
    expectClose(tj.sin(x), refMap([toRef(x)], Math.sin), { rtol: 1e-6, atol: 1e-7 }, 'sin');
    expectClose(tj.cos(x), refMap([toRef(x)], Math.cos), { rtol: 1e-6, atol: 1e-7 }, 'cos');
  });
  test('subnormal inputs and results', () => {
    const x = tj.tensor(new Float32Array([1e-45, 3e-39, 1.1754942e-38]), { shape: [3] });
    expectClose(tj.log(x), refMap([toRef(x)], Math.log), { rtol: 1e-6, atol: 0 }, 'log');
    const y = tj.tensor(new Float32Array([-100, -102.5, -87.5]), { shape: [3] });
    expectClose(tj.exp(y), refMap([toRef(y)], Math.exp), { rtol: 0, atol: 2e-45 }, 'exp subnormal');
  });
});

describe('unary integer semantics', () => {
  test('neg/abs/relu keep int dtypes and wrap like int32 arithmetic', () => {
    const x = tj.tensor(new Int32Array([-2147483648, -5, 0, 7, 2147483647]));
    expect(Array.from(tj.neg(x).dataSync() as Int32Array)).toEqual([-2147483648, 5, 0, -7, -2147483647]);
    expect(Array.from(tj.abs(x).dataSync() as Int32Array)).toEqual([-2147483648, 5, 0, 7, 2147483647]);
    expect(Array.from(tj.relu(x).dataSync() as Int32Array)).toEqual([0, 0, 0, 7, 2147483647]);
    const big = tj.tensor(new BigInt64Array([-(2n ** 40n), 3n]));
    expect(Array.from(tj.neg(big).dataSync() as BigInt64Array)).toEqual([2n ** 40n, -3n]);
  });
  test('float math on int and bool tensors returns float32', () => {
    expect(tj.exp(tj.tensor(new Int32Array([0, 1]))).dtype).toBe('float32');
    expectClose(tj.exp(tj.tensor([true, false])), ref([2], [Math.E, 1]));
    expect(tj.sqrt(tj.tensor(new BigInt64Array([4n]))).toArray()).toEqual([2]);
  });
});

describe('unary: large tensors, threads, 0-d, empty', () => {
  test('results do not depend on the thread count', () => {
    const n = 100_003;
    const x = makeTensor(randomValues(n, 3, 'float32', -6, 6), [n]);
    const before = tj.getNumThreads();
    try {
      for (const info of UNARY.filter((u) => u.dtypes.includes('float32'))) {
        tj.setNumThreads(1);
        const one = info.fn(x).dataSync();
        tj.setNumThreads(2);
        const two = info.fn(x).dataSync();
        expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer)), info.name).toBe(true);
        expectClose(tj.tensor(one as Float32Array, { shape: [n] }), refMap([toRef(x)], info.ref), undefined, info.name);
      }
    } finally {
      tj.setNumThreads(before);
    }
  });
  test('outputs of 16 MiB and more (non-temporal stores, unaligned thread split) are right', () => {
    const n = (16 << 20) / 4 + 13;
    const vals = new Float32Array(n);
    for (let i = 0; i < n; i++) vals[i] = Math.fround(((i * 7919) % 20011) / 1000 - 10);
    const x = tj.tensor(vals, { shape: [n] });
    const before = tj.getNumThreads();
    try {
      for (const threads of [1, 2]) {
        tj.setNumThreads(threads);
        for (const [name, fn, f] of [['exp', tj.exp, Math.exp], ['relu', tj.relu, (v: number) => Math.max(v, 0)]] as const) {
          const y = fn(x).dataSync() as Float32Array;
          for (let i = 0; i < n; i++) {
            const want = f(vals[i]);
            if (!(Math.abs(y[i] - want) <= 2e-7 * Math.abs(want))) expect.fail(`${name} [${i}] = ${y[i]}, want ${want} (${threads} threads)`);
          }
        }
      }
    } finally {
      tj.setNumThreads(before);
    }
  });
  test('0-d and empty', () => {
    expect(tj.exp(tj.tensor(0, { shape: [] })).shape).toEqual([]);
    expect(tj.exp(tj.tensor(0, { shape: [] })).item()).toBe(1);
    expect(tj.relu(tj.zeros([3, 0, 2])).shape).toEqual([3, 0, 2]);
  });
  test('methods reach the same ops', () => {
    const x = tj.tensor([-1, 0.5]);
    expect(x.exp().toArray()).toEqual(tj.exp(x).toArray());
    expect(x.gelu({ approximate: 'tanh' }).toArray()).toEqual(tj.gelu(x, { approximate: 'tanh' }).toArray());
    expect(x.relu().toArray()).toEqual([0, 0.5]);
    expect(tj.exp.opName).toBe('exp');
  });
});

describe('unary BAD CALLs', () => {
  test('wrong argument types', () => {
    expect(() => tj.exp([1, 2] as unknown as tj.Tensor)).toThrow(TypeError);
    expect(() => tj.exp([1, 2] as unknown as tj.Tensor)).toThrow(/exp: argument 'input' must be a Tensor/);
    expect(() => tj.gelu(tj.tensor([1]), { approximate: 'fast' as 'tanh' })).toThrow(/gelu: approximate must be 'none' or 'tanh'/);
    expect(() => tj.gelu(tj.tensor([1]), 'tanh' as never)).toThrow(TypeError);
  });
  test('dtypes torch rejects', () => {
    expect(() => tj.neg(tj.tensor([true]))).toThrow(TypeError);
    expect(() => tj.neg(tj.tensor([true]))).toThrow(/neg: .*bool/);
    expect(() => tj.abs(tj.tensor([true]))).toThrow(TypeError);
    expect(() => tj.relu(tj.tensor([false]))).toThrow(TypeError);
    expect(() => tj.silu(tj.tensor(new Int32Array([1])))).toThrow(/silu: expected a floating-point tensor, got \[1\] int32/);
    expect(() => tj.gelu(tj.tensor(new Int32Array([1])))).toThrow(TypeError);
  });
  test('disposed input', () => {
    const x = tj.tensor([1, 2]);
    x.dispose();
    expect(() => tj.exp(x)).toThrow(/exp: input 0 .* was disposed/);
  });
});
