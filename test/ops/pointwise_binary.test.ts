import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import type { DType } from '../../lib/index';
import { BROADCAST_PAIRS, LAYOUTS, expectClose, makeTensor, numel, randomValues, ref, refMap, toRef, tolFor } from '../helpers/reference';
import { powC } from './pointwise_ref';

type Binary = (a: tj.Tensor, b: tj.Tensor | number) => tj.Tensor;
const isBoolPair = (p: DType[]) => p.every((d) => d === 'bool');
const nanMax = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b));
const nanMin = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b));

interface BinaryInfo {
  name: string;
  fn: Binary;
  ref: (a: number, b: number) => number;
  boolRef?: (a: number, b: number) => number;
  pairs: DType[][];
  /** operand ranges (a, b) */
  range?: [number, number, number, number];
  out?: (promoted: DType) => DType;
}

const PAIRS: DType[][] = [
  ['float32', 'float32'], ['int32', 'int32'], ['int64', 'int64'], ['float32', 'int32'], ['int32', 'float32'],
  ['int32', 'int64'], ['bool', 'bool'], ['bool', 'int32'], ['float16', 'float16'], ['float16', 'float32'], ['bfloat16', 'bfloat16'],
];
const noBool = (pairs: DType[][]) => pairs.filter((p) => !p.includes('bool'));
const floatDiv = (d: DType): DType => (d === 'float32' || d === 'float16' || d === 'bfloat16' ? d : 'float32');

const BINARY: BinaryInfo[] = [
  { name: 'add', fn: tj.add, ref: (a, b) => a + b, boolRef: (a, b) => (a || b ? 1 : 0), pairs: PAIRS },
  { name: 'sub', fn: tj.sub, ref: (a, b) => a - b, pairs: noBool(PAIRS) },
  { name: 'mul', fn: tj.mul, ref: (a, b) => a * b, boolRef: (a, b) => (a && b ? 1 : 0), pairs: PAIRS },
  { name: 'div', fn: tj.div, ref: (a, b) => a / b, pairs: PAIRS, out: floatDiv },
  { name: 'pow', fn: tj.pow, ref: powC, pairs: PAIRS.filter((p) => !isBoolPair(p)), range: [-3, 3, 0, 4] },
  { name: 'maximum', fn: tj.maximum as Binary, ref: nanMax, pairs: PAIRS },
  { name: 'minimum', fn: tj.minimum as Binary, ref: nanMin, pairs: PAIRS },
];

function promote(a: DType, b: DType): DType {
  return tj.add(tj.zeros([1], { dtype: a }), tj.zeros([1], { dtype: b })).dtype;
}

describe('binary ops: op x dtype pair x broadcast pair x layout against float64', () => {
  for (const info of BINARY) {
    test(info.name, () => {
      const [alo, ahi, blo, bhi] = info.range ?? [-4, 4, -4, 4];
      for (const [da, db] of info.pairs) {
        BROADCAST_PAIRS.forEach(([sa, sb], pi) => {
          for (const layout of LAYOUTS) {
            const a = makeTensor(randomValues(numel(sa), 11 * pi + 1, da, alo, ahi), sa, da, layout);
            const b = makeTensor(randomValues(numel(sb), 11 * pi + 2, db, blo, bhi), sb, db, layout);
            const y = info.fn(a, b);
            const promoted = isBoolPair([da, db]) ? 'bool' : promote(da, db);
            const want = info.out ? info.out(promoted) : promoted;
            const what = `${info.name}(${da} [${sa}], ${db} [${sb}]) ${layout}`;
            expect(y.dtype, what).toBe(want);
            const f = want === 'bool' && info.boolRef ? info.boolRef : info.ref;
            expectClose(y, refMap([toRef(a), toRef(b)], f), tolFor(y.dtype), what);
          }
        });
      }
    });
  }

  test('tensor op number: dtype follows torch and values match', () => {
    const cases: [DType, number, DType][] = [
      ['float32', 2.5, 'float32'], ['float32', -3, 'float32'], ['int32', 2, 'int32'], ['int32', -3, 'int32'],
      ['int32', 2.5, 'float32'], ['int64', 3, 'int64'], ['float16', 1.5, 'float16'], ['bool', 2, 'int64'],
    ];
    for (const info of BINARY.filter((b) => b.name !== 'maximum' && b.name !== 'minimum')) {
      for (const [dtype, s, want] of cases) {
        if (info.name === 'sub' && dtype === 'bool') continue;
        const vals = randomValues(33, 5, dtype, info.name === 'pow' ? 0 : -4, 4);
        const a = makeTensor(vals, [3, 11], dtype, 'transposed');
        const exponent = info.name === 'pow' && dtype !== 'float32' && dtype !== 'float16' ? Math.abs(s) : s;
        const y = info.fn(a, exponent);
        const out = info.out ? info.out(want) : want;
        expect(y.dtype, `${info.name} ${dtype} ${s}`).toBe(out);
        expectClose(y, refMap([toRef(a)], (v) => info.ref(v, exponent)), tolFor(y.dtype), `${info.name}(${dtype}, ${exponent})`);
      }
    }
  });

  test('pow with constant exponents takes exact paths and matches general pow', () => {
    const x = makeTensor(randomValues(1023, 9, 'float32', 0.01, 5), [1023]);
    for (const e of [0, 1, 2, 3, 0.5, -0.5, -1, -2, 1.5, -2.25, 10]) {
      expectClose(tj.pow(x, e), refMap([toRef(x)], (v) => Math.pow(v, e)), { rtol: 3e-6, atol: 0 }, `pow(x, ${e})`);
      expectClose(tj.pow(x, e), toRef(tj.pow(x, tj.full([1023], e))), { rtol: 3e-6, atol: 0 }, `pow const vs tensor ${e}`);
    }
    expect(tj.pow(tj.tensor([NaN]), 0).item()).toBe(1);
  });
});

describe('binary semantics', () => {
  test('NaN and infinities', () => {
    const a = tj.tensor([NaN, 1, Infinity, -Infinity, 0, NaN]);
    const b = tj.tensor([1, NaN, Infinity, Infinity, 0, NaN]);
    expect(tj.maximum(a, b).toArray()).toEqual([NaN, NaN, Infinity, Infinity, 0, NaN]);
    expect(tj.minimum(a, b).toArray()).toEqual([NaN, NaN, Infinity, -Infinity, 0, NaN]);
    expect(tj.add(a, b).toArray()).toEqual([NaN, NaN, Infinity, NaN, 0, NaN]);
    expect(tj.div(tj.tensor([1, -1, 0]), 0).toArray()).toEqual([Infinity, -Infinity, NaN]);
  });
  test('pow special cases (C99 / torch)', () => {
    const x = [1, -1, -1, 0, -0, 0, -0, -2, -2, 2, 0.5, -Infinity, -Infinity, Infinity, NaN, 1];
    const y = [NaN, Infinity, -Infinity, -1, -1, 2, 3, 0.5, 3, -Infinity, Infinity, 3, 2, -1, 0, NaN];
    const got = tj.pow(tj.tensor(x), tj.tensor(y)).toArray() as number[];
    expect(got).toEqual(x.map((v, i) => powC(v, y[i])));
    expect(Object.is(got[6], -0)).toBe(true);
  });
  test('integer arithmetic wraps and integer pow follows torch', () => {
    const big = tj.tensor(new Int32Array([2147483647, -2147483648, 65536]));
    expect(Array.from(tj.add(big, 1).dataSync() as Int32Array)).toEqual([-2147483648, -2147483647, 65537]);
    expect(Array.from(tj.mul(big, big).dataSync() as Int32Array)).toEqual([1, 0, 0]);
    const base = tj.tensor(new Int32Array([2, -1, -1, 1, 3, 0]));
    const e = tj.tensor(new Int32Array([-1, -3, -2, -5, 0, 0]));
    expect(tj.pow(base, e).dtype).toBe('int32');
    expect(Array.from(tj.pow(base, e).dataSync() as Int32Array)).toEqual([0, -1, 1, 1, 1, 1]);
    expect(Array.from(tj.pow(tj.tensor(new BigInt64Array([3n, -2n])), 39).dataSync() as BigInt64Array))
      .toEqual([3n ** 39n, (-2n) ** 39n]);
  });
  test('dtype promotion follows torch', () => {
    const t = (d: DType) => tj.zeros([2], { dtype: d });
    expect(tj.add(t('float32'), t('int32')).dtype).toBe('float32');
    expect(tj.add(t('int32'), t('int64')).dtype).toBe('int64');
    expect(tj.add(t('bool'), t('bool')).dtype).toBe('bool');
    expect(tj.add(t('bool'), 1).dtype).toBe('int64');
    expect(tj.add(t('bool'), true).dtype).toBe('bool');
    expect(tj.add(t('float16'), t('bfloat16')).dtype).toBe('float32');
    expect(tj.mul(t('float16'), 2.5).dtype).toBe('float16');
    expect(tj.div(t('int32'), t('int32')).dtype).toBe('float32');
    expect(tj.div(t('int64'), 2).dtype).toBe('float32');
    expect(tj.pow(t('int32'), t('int32')).dtype).toBe('int32');
    expect(tj.pow(t('int32'), 0.5).dtype).toBe('float32');
    expect(tj.maximum(t('int32'), t('float16')).dtype).toBe('float16');
    expect(tj.gt(t('int32'), 0.5).dtype).toBe('bool');
  });
  test('bool arithmetic is logical where torch allows it', () => {
    const a = tj.tensor([true, true, false, false]), b = tj.tensor([true, false, true, false]);
    expect(tj.add(a, b).toArray()).toEqual([true, true, true, false]);
    expect(tj.mul(a, b).toArray()).toEqual([true, false, false, false]);
    expect(tj.maximum(a, b).toArray()).toEqual([true, true, true, false]);
    expect(tj.minimum(a, b).toArray()).toEqual([true, false, false, false]);
    expect(tj.div(a, b).toArray()).toEqual([1, Infinity, 0, NaN]);
  });
  test('0-d, empty and large operands', () => {
    expect(tj.add(tj.tensor(2, { shape: [] }), tj.tensor(3, { shape: [] })).shape).toEqual([]);
    expect(tj.add(tj.zeros([0, 3]), tj.ones([3])).shape).toEqual([0, 3]);
    const n = 100_003;
    const a = makeTensor(randomValues(n, 1), [n]), b = makeTensor(randomValues(n, 2), [n]);
    expectClose(tj.mul(a, b), refMap([toRef(a), toRef(b)], (x, y) => x * y));
    const row = makeTensor(randomValues(317, 3), [317]);
    const big = makeTensor(randomValues(317 * 400, 4), [400, 317]);
    expectClose(tj.sub(big, row), refMap([toRef(big), toRef(row)], (x, y) => x - y));
    expectClose(tj.sub(row.unsqueeze(1), big.transpose(0, 1)), refMap([toRef(row.unsqueeze(1)), toRef(big.transpose(0, 1))], (x, y) => x - y));
  });
  test('outputs of 16 MiB and more (non-temporal stores) with broadcast and where', () => {
    const rows = 1031, cols = 4099; // 16.1 MiB of float32, odd sizes so rows start unaligned
    const a = tj.arange(rows * cols, { dtype: 'float32' }).reshape([rows, cols]);
    const b = tj.arange(cols, { dtype: 'float32' });
    const s = tj.sub(a, b).dataSync() as Float32Array;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (s[i] !== Math.fround(i) - c) expect.fail(`sub [${r}, ${c}] = ${s[i]}`);
    }
    const w = tj.where(tj.gt(a, 5e6), a, b).dataSync() as Float32Array;
    for (let i = 0; i < rows * cols; i++) {
      const want = Math.fround(i) > 5e6 ? Math.fround(i) : i % cols;
      if (w[i] !== want) expect.fail(`where [${i}] = ${w[i]}, want ${want}`);
    }
  });
  test('methods', () => {
    const x = tj.tensor([1, 2, 3]);
    expect(x.add(1).toArray()).toEqual([2, 3, 4]);
    expect(x.pow(2).toArray()).toEqual([1, 4, 9]);
    expect(x.maximum(tj.tensor([2, 2, 2])).toArray()).toEqual([2, 2, 3]);
    expect(x.gt(1.5).toArray()).toEqual([false, true, true]);
  });
});

describe('comparisons', () => {
  const CMP: [string, Binary, (a: number, b: number) => boolean][] = [
    ['eq', tj.eq, (a, b) => a === b], ['ne', tj.ne, (a, b) => a !== b], ['lt', tj.lt, (a, b) => a < b],
    ['le', tj.le, (a, b) => a <= b], ['gt', tj.gt, (a, b) => a > b], ['ge', tj.ge, (a, b) => a >= b],
  ];
  const pairs: DType[][] = [['float32', 'float32'], ['int32', 'int32'], ['int64', 'int64'], ['float32', 'int32'], ['bool', 'bool'], ['float16', 'float32']];
  for (const [name, fn, f] of CMP) {
    test(`${name}: dtypes x broadcast x layout, ties included`, () => {
      for (const [da, db] of pairs) {
        BROADCAST_PAIRS.forEach(([sa, sb], pi) => {
          for (const layout of LAYOUTS) {
            // few distinct values so equal pairs are common
            const a = makeTensor(randomValues(numel(sa), pi + 3, da, -2, 2).map(Math.round), sa, da, layout);
            const b = makeTensor(randomValues(numel(sb), pi + 4, db, -2, 2).map(Math.round), sb, db, layout);
            const y = fn(a, b);
            expect(y.dtype).toBe('bool');
            expectClose(y, refMap([toRef(a), toRef(b)], (x, z) => (f(x, z) ? 1 : 0)), tolFor('bool'), `${name} ${da} ${db} [${sa}] [${sb}] ${layout}`);
          }
        });
      }
    });
  }
  test('NaN compares unequal; scalars; int32 against scalars beyond int32', () => {
    const x = tj.tensor([NaN, 1, 2]);
    expect(tj.eq(x, x).toArray()).toEqual([false, true, true]);
    expect(tj.ne(x, x).toArray()).toEqual([true, false, false]);
    expect(tj.lt(x, 1.5).toArray()).toEqual([false, true, false]);
    expect(tj.ge(x, NaN).toArray()).toEqual([false, false, false]);
    const i = tj.tensor(new Int32Array([1, 2, -7]));
    expect(tj.eq(i, 1.5).toArray()).toEqual([false, false, false]);
    expect(tj.lt(i, 3e9).toArray()).toEqual([true, true, true]);
    expect(tj.gt(i, -3e9).toArray()).toEqual([true, true, true]);
    expect(tj.eq(tj.tensor([true, false]), true).toArray()).toEqual([true, false]);
  });
});

describe('where', () => {
  const triples: [number[], number[], number[]][] = [
    [[4, 33], [4, 33], [4, 33]], [[4, 1], [1, 33], [33]], [[], [2, 3], []], [[7], [1], [7]], [[0, 3], [3], [1]], [[2, 3, 17], [3, 1], [17]],
  ];
  test('cond, x, y broadcast together in every dtype and layout', () => {
    for (const dtype of ['float32', 'int32', 'int64', 'bool', 'float16'] as DType[]) {
      triples.forEach(([sc, sx, sy], i) => {
        for (const layout of LAYOUTS) {
          const c = makeTensor(randomValues(numel(sc), i + 1, 'bool'), sc, 'bool', layout);
          const x = makeTensor(randomValues(numel(sx), i + 2, dtype), sx, dtype, layout);
          const y = makeTensor(randomValues(numel(sy), i + 3, dtype), sy, dtype, layout);
          const out = tj.where(c, x, y);
          expect(out.dtype).toBe(dtype);
          expectClose(out, refMap([toRef(c), toRef(x), toRef(y)], (cv, xv, yv) => (cv ? xv : yv)), tolFor(dtype), `where ${dtype} ${i} ${layout}`);
        }
      });
    }
  });
  test('y as a number; mixed dtypes promote', () => {
    const c = tj.tensor([true, false, true]);
    const x = tj.tensor(new Int32Array([1, 2, 3]));
    expect(tj.where(c, x, 0).dtype).toBe('int32');
    expect(tj.where(c, x, -1).toArray()).toEqual([1, -1, 3]);
    expect(tj.where(c, x, 0.5).dtype).toBe('float32');
    expect(tj.where(c, x, 0.5).toArray()).toEqual([1, 0.5, 3]);
    expect(tj.where(c, x, tj.tensor([9.5, 9.5, 9.5])).toArray()).toEqual([1, 9.5, 3]);
    expect(tj.where(c, tj.tensor([NaN, 1, 2]), 7).toArray()).toEqual([NaN, 7, 2]);
  });
});

describe('clamp', () => {
  test('min/max/null forms, NaN, min > max, views', () => {
    const x = makeTensor([-3, -1, 0, 0.5, 2, NaN, Infinity, -Infinity], [2, 4], 'float32', 'transposed');
    const c = (lo: number | null, hi: number | null) =>
      refMap([toRef(x)], (v) => (Number.isNaN(v) ? NaN : Math.min(hi ?? Infinity, Math.max(lo ?? -Infinity, v))));
    expectClose(tj.clamp(x, -1, 1), c(-1, 1));
    expectClose(tj.clamp(x, 0), c(0, null));
    expectClose(tj.clamp(x, null, 0.25), c(null, 0.25));
    expectClose(tj.clamp(x, undefined, 0.25), c(null, 0.25));
    // torch: min > max gives max everywhere (NaN stays NaN)
    expectClose(tj.clamp(x, 2, 1), refMap([toRef(x)], (v) => (Number.isNaN(v) ? NaN : 1)));
    expect((tj.clamp(tj.tensor([1, 2]), NaN, 1).toArray() as number[]).every(Number.isNaN)).toBe(true);
    expect(x.clamp(-1, 1).toArray()).toEqual(tj.clamp(x, -1, 1).toArray());
  });
  test('integer tensors: int bounds keep the dtype, float bounds promote', () => {
    const i = tj.tensor(new Int32Array([-5, 0, 5, 2147483647]));
    expect(tj.clamp(i, -2, 3).dtype).toBe('int32');
    expect(tj.clamp(i, -2, 3).toArray()).toEqual([-2, 0, 3, 3]);
    expect(tj.clamp(i, -1e12).toArray()).toEqual([-5, 0, 5, 2147483647]);
    expect(tj.clamp(i, 0.5).dtype).toBe('float32');
    expect(tj.clamp(i, 0.5).toArray()).toEqual([0.5, 0.5, 5, 2147483648]);
    const l = tj.tensor(new BigInt64Array([-(2n ** 40n), 2n ** 40n]));
    expect(Array.from(tj.clamp(l, -10, null).dataSync() as BigInt64Array)).toEqual([-10n, 2n ** 40n]);
  });
});

describe('in-place forms', () => {
  test('add_ sub_ mul_ div_ write into self (also views) and return it', () => {
    const base = tj.tensor([[1, 2, 3], [4, 5, 6]]);
    const v = base.transpose(0, 1); // [3, 2] view
    const r = v.add_(tj.tensor([10, 20]));
    expect(r).toBe(v);
    expect(base.toArray()).toEqual([[11, 12, 13], [24, 25, 26]]);
    base.sub_(1).mul_(2).div_(tj.tensor([2, 4, 8]));
    expect(base.toArray()).toEqual([[10, 5.5, 3], [23, 12, 6.25]]);
    const s = base.select(0, 1);
    tj.add_(s, s);
    expect(base.toArray()).toEqual([[10, 5.5, 3], [46, 24, 12.5]]);
  });
  test('clamp_ and relu_; dtype casts into self where torch allows', () => {
    const x = tj.tensor([-2, 0.5, 3]);
    expect(x.clamp_(-1, 1)).toBe(x);
    expect(x.toArray()).toEqual([-1, 0.5, 1]);
    x.relu_();
    expect(x.toArray()).toEqual([0, 0.5, 1]);
    const h = tj.tensor([1, 2], { dtype: 'float16' });
    h.add_(tj.tensor([0.5, 0.25]));
    expect(h.dtype).toBe('float16');
    expect(h.toArray()).toEqual([1.5, 2.25]);
    const i = tj.tensor(new Int32Array([1, 2]));
    i.add_(tj.tensor(new BigInt64Array([2n ** 32n + 5n, 1n])));
    expect(i.toArray()).toEqual([6, 3]);
    const f = tj.tensor([1.5]);
    f.mul_(tj.tensor(new Int32Array([2])));
    expect(f.toArray()).toEqual([3]);
  });
  test('BAD CALLs: shape-changing broadcast, uncastable result, overlapping memory', () => {
    const x = tj.zeros([3]);
    expect(() => x.add_(tj.zeros([2, 3]))).toThrow(RangeError);
    expect(() => x.add_(tj.zeros([2, 3]))).toThrow(/add_: output with shape \[3\] doesn't match the broadcast shape \[2, 3\]/);
    const i = tj.zeros([3], { dtype: 'int32' });
    expect(() => i.add_(tj.zeros([3]))).toThrow(TypeError);
    expect(() => i.add_(0.5)).toThrow(/add_: result type float32 can't be cast to the desired output type int32/);
    expect(() => i.div_(2)).toThrow(TypeError);
    expect(() => i.clamp_(0.5)).toThrow(TypeError);
    expect(() => tj.zeros([1]).expand([4]).add_(1)).toThrow(/add_: .*clone\(\)/);
    const base = tj.arange(6, { dtype: 'float32' });
    expect(() => base.slice(0, 0, 5).add_(base.slice(0, 1, 6))).toThrow(/partially overlaps/);
    expect(() => tj.zeros([2], { dtype: 'bool' }).sub_(tj.zeros([2], { dtype: 'bool' }))).toThrow(TypeError);
  });

  // Found by test/backends/native/random_programs.test.ts: the contiguous strides of an
  // empty shape have zeros ([3, 0] -> [0, 1]), which read as an expanded view.
  test.each([[3, 0], [2, 0, 3], [0, 4]])('an empty %j tensor is written in place (nothing to write)', (...shape) => {
    for (const write of [(t: tj.Tensor) => t.add_(1), (t: tj.Tensor) => t.mul_(tj.ones([shape.at(-1)!])), (t: tj.Tensor) => t.relu_(), (t: tj.Tensor) => t.clamp_(0, 1)]) {
      const t = tj.zeros(shape);
      expect(write(t)).toBe(t);
      expect(t.shape).toEqual(shape);
    }
  });
});

describe('binary BAD CALLs', () => {
  test('non-broadcastable shapes name the op and the shapes', () => {
    for (const [name, fn] of [['add', tj.add], ['mul', tj.mul], ['eq', tj.eq], ['maximum', tj.maximum]] as [string, Binary][]) {
      expect(() => fn(tj.zeros([2, 3]), tj.zeros([4]))).toThrow(RangeError);
      expect(() => fn(tj.zeros([2, 3]), tj.zeros([4]))).toThrow(new RegExp(`^${name}: shapes \\[2, 3\\] and \\[4\\] are not broadcastable`));
    }
    expect(() => tj.where(tj.zeros([2], { dtype: 'bool' }), tj.zeros([3]), 0)).toThrow(/where: shapes \[2\] and \[3\]/);
  });
  test('wrong argument types', () => {
    expect(() => tj.add('x' as unknown as tj.Tensor, 1)).toThrow(/add: argument 'input' must be a Tensor, got string/);
    expect(() => tj.add(tj.zeros([1]), 'y' as unknown as number)).toThrow(TypeError);
    expect(() => tj.add(tj.zeros([1]), [1] as unknown as number)).toThrow(/add: argument 'other' must be a Tensor or a number, got array/);
    expect(() => tj.maximum(tj.zeros([1]), 1 as unknown as tj.Tensor)).toThrow(/maximum: argument 'other' must be a Tensor, got number/);
    expect(() => tj.where(tj.zeros([1]), tj.zeros([1]), 0)).toThrow(/where: argument 'condition' must be a bool tensor, got \[1\] float32/);
    expect(() => tj.where(tj.zeros([1], { dtype: 'bool' }), tj.zeros([1]), 'a' as unknown as number)).toThrow(TypeError);
    expect(() => tj.clamp(tj.zeros([1]))).toThrow(/clamp: at least one of 'min' or 'max'/);
    expect(() => tj.clamp(tj.zeros([1]), '0' as unknown as number)).toThrow(/clamp: argument 'min' must be a number or null, got string/);
    expect(() => tj.clamp(tj.zeros([1], { dtype: 'bool' }), 0)).toThrow(TypeError);
  });
  test('bool subtraction, bool pow and out-of-range integer scalars', () => {
    const b = tj.tensor([true]);
    expect(() => tj.sub(b, b)).toThrow(TypeError);
    expect(() => tj.sub(b, 1)).toThrow(/sub: subtraction with a bool tensor/);
    expect(() => tj.sub(tj.zeros([1]), b)).toThrow(TypeError);
    expect(() => tj.pow(b, b)).toThrow(/pow: not supported for bool/);
    const i = tj.zeros([2], { dtype: 'int32' });
    expect(() => tj.add(i, 2 ** 40)).toThrow(RangeError);
    expect(() => tj.add(i, 2 ** 40)).toThrow(/add: scalar 1099511627776 cannot be converted to int32/);
    expect(() => tj.pow(i, -1)).toThrow(/pow: integers to negative integer powers are not allowed/);
  });
  test('disposed operands', () => {
    const a = tj.zeros([2]), b = tj.zeros([2]);
    b.dispose();
    expect(() => tj.add(a, b)).toThrow(/add: input 1 .* was disposed/);
    expect(() => a.add_(b)).toThrow(/add_: input 1 .* was disposed/);
  });
});

test('ref helper sanity: expectClose compares values, not just shapes', () => {
  expect(() => expectClose(tj.add(tj.tensor([1]), 1), ref([1], [3]))).toThrow();
});
