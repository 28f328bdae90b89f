import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import type { DType } from '../../lib/index';
import { Tensor } from '../../lib/tensor';
import { getOp, metaOf } from '../../lib/ops/registry';
import {
  LAYOUTS, Ref, SIZES, expectClose, makeTensor, numel, randomValues, ref, stridesOf, toRef,
} from '../helpers/reference';

// ---- float64 references over row-major Refs

const unravel = (i: number, shape: readonly number[]) => {
  const st = stridesOf(shape);
  return shape.map((_, d) => Math.floor(i / st[d]) % shape[d]);
};
const ravel = (idx: readonly number[], shape: readonly number[]) => {
  const st = stridesOf(shape);
  return idx.reduce((a, v, d) => a + v * st[d], 0);
};

function refCat(parts: Ref[], dim: number): Ref {
  const shape = parts[0].shape.slice();
  shape[dim] = parts.reduce((a, p) => a + p.shape[dim], 0);
  const out = new Float64Array(numel(shape));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, shape);
    let k = 0, pos = idx[dim];
    while (pos >= parts[k].shape[dim]) pos -= parts[k++].shape[dim];
    const src = idx.slice();
    src[dim] = pos;
    out[i] = parts[k].data[ravel(src, parts[k].shape)];
  }
  return { shape, data: out };
}

function refGather(x: Ref, dim: number, index: Ref): Ref {
  const out = new Float64Array(numel(index.shape));
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, index.shape);
    idx[dim] = index.data[i];
    out[i] = x.data[ravel(idx, x.shape)];
  }
  return { shape: index.shape.slice(), data: out };
}

/** x with dim replaced by index's dims (index_select for 1-D index, embedding for dim 0). */
function refTake(x: Ref, dim: number, index: Ref): Ref {
  const shape = [...x.shape.slice(0, dim), ...index.shape, ...x.shape.slice(dim + 1)];
  const out = new Float64Array(numel(shape));
  const k = index.shape.length;
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, shape);
    const j = ravel(idx.slice(dim, dim + k), index.shape);
    const src = [...idx.slice(0, dim), index.data[j], ...idx.slice(dim + k)];
    out[i] = x.data[ravel(src, x.shape)];
  }
  return { shape, data: out };
}

const vals = (n: number, seed: number, dtype: DType = 'float32') => randomValues(n, seed, dtype, -50, 50);
const indexValues = (n: number, size: number, seed: number) => randomValues(n, seed, 'int32', 0, size);
const INT_DTYPES: DType[] = ['float32', 'int32', 'int64', 'bool'];

describe('cat', () => {
  for (const layout of LAYOUTS) {
    for (const n of SIZES) {
      test(`[${layout}] sizes ${n} along each dim`, () => {
        for (const dim of [0, 1, -1]) {
          const shapes = [[3, n], [3, n]].map((s) => s.slice());
          const d = dim < 0 ? dim + 2 : dim;
          shapes[1][d] = d === 0 ? 2 : 5;
          const a = vals(numel(shapes[0]), 1), b = vals(numel(shapes[1]), 2);
          const out = tj.cat([makeTensor(a, shapes[0], 'float32', layout), makeTensor(b, shapes[1], 'float32', layout)], dim);
          expectClose(out, refCat([ref(shapes[0], a), ref(shapes[1], b)], d), { rtol: 0, atol: 0 }, `dim ${dim}`);
        }
      });
    }
  }

  test('dtypes are kept and promoted like torch', () => {
    for (const dtype of INT_DTYPES) {
      const a = makeTensor(vals(6, 3, dtype), [2, 3], dtype), b = makeTensor(vals(3, 4, dtype), [1, 3], dtype, 'sliced');
      const out = tj.cat([a, b]);
      expect(out.dtype).toBe(dtype);
      expectClose(out, refCat([toRef(a), toRef(b)], 0), { rtol: 0, atol: 0 }, dtype);
    }
    const i32 = tj.tensor(new Int32Array([1, 2]), { shape: [2] });
    const i64 = tj.tensor(new BigInt64Array([3n]), { shape: [1] });
    const f = tj.tensor([0.5]);
    const bool = tj.tensor([true]);
    expect(tj.cat([i32, i64]).dtype).toBe('int64');
    expect(tj.cat([i32, i64]).toArray()).toEqual([1, 2, 3]);
    expect(tj.cat([i32, f]).dtype).toBe('float32');
    expect(tj.cat([i32, f]).toArray()).toEqual([1, 2, 0.5]);
    expect(tj.cat([bool, i32]).toArray()).toEqual([1, 1, 2]);
    expect(tj.cat([bool, tj.tensor([false])]).toArray()).toEqual([true, false]);
    expect(tj.cat([f, tj.tensor([NaN, -Infinity])]).toArray()).toEqual([0.5, NaN, -Infinity]);
    // int64 values beyond 2^53 stay exact through int -> int copies
    const big = tj.tensor(new BigInt64Array([9007199254740993n]), { shape: [1] });
    expect(tj.cat([big, i32]).dataSync()).toEqual(new BigInt64Array([9007199254740993n, 1n, 2n]));
  });

  test('empty participants, legacy 1-D empties and a single input', () => {
    const a = tj.tensor([[1, 2, 3, 4]]);
    expect(tj.cat([tj.zeros([0, 4]), a, tj.zeros([0, 4])]).toArray()).toEqual([[1, 2, 3, 4]]);
    expect(tj.cat([a, tj.zeros([0])], 1).toArray()).toEqual([[1, 2, 3, 4]]);
    expect(tj.cat([tj.zeros([0]), tj.zeros([0])]).shape).toEqual([0]);
    expect(tj.cat([tj.zeros([2, 0]), tj.zeros([2, 0])], 1).shape).toEqual([2, 0]);
    const one = tj.cat([a]);
    expect(one.toArray()).toEqual([[1, 2, 3, 4]]);
    expect(one.storage).not.toBe(a.storage);
  });

  test('a large cat runs on many threads and matches', () => {
    const shape = [300, 1023];
    const a = vals(numel(shape), 5), b = vals(numel(shape), 6);
    const ta = makeTensor(a, shape), tb = makeTensor(b, shape, 'float32', 'transposed');
    expectClose(tj.cat([ta, tb], 1), refCat([ref(shape, a), ref(shape, b)], 1), { rtol: 0, atol: 0 });
  });

  test('BAD CALL', () => {
    expect(() => tj.cat([])).toThrow(RangeError);
    expect(() => tj.cat([])).toThrow(/^cat: .*non-empty/);
    expect(() => tj.cat('x' as unknown as tj.Tensor[])).toThrow(TypeError);
    expect(() => tj.cat([tj.ones([2]), 3 as unknown as tj.Tensor])).toThrow(/cat: argument 'tensors\[1\]' must be a Tensor/);
    expect(() => tj.cat([tj.ones([2, 3]), tj.ones([2, 4])])).toThrow(RangeError);
    expect(() => tj.cat([tj.ones([2, 3]), tj.ones([2, 4])])).toThrow(/cat: sizes of tensors must match except in dim 0.*\[2, 4\] float32/);
    expect(() => tj.cat([tj.ones([2, 3]), tj.ones([3])])).toThrow(/same number of dims/);
    expect(() => tj.cat([tj.ones([2]), tj.ones([2])], 1)).toThrow(/cat: dim 1 is out of range/);
    expect(() => tj.cat([tj.tensor(1, { shape: [] })])).toThrow(/zero-dimensional/);
  });
});

describe('stack', () => {
  test('matches cat of unsqueezed inputs, every dim, views and dtypes', () => {
    for (const layout of LAYOUTS) {
      const shape = [4, 7];
      const a = vals(28, 7), b = vals(28, 8);
      for (const dim of [0, 1, 2, -1]) {
        const d = dim < 0 ? dim + 3 : dim;
        const out = tj.stack([makeTensor(a, shape, 'float32', layout), makeTensor(b, shape, 'float32', layout)], dim);
        const us = (v: number[]) => ({ shape: [...shape.slice(0, d), 1, ...shape.slice(d)], data: Float64Array.from(v) });
        expectClose(out, refCat([us(a), us(b)], d), { rtol: 0, atol: 0 }, `${layout} dim ${dim}`);
      }
    }
    expect(tj.stack([tj.tensor(1, { shape: [] }), tj.tensor(2, { shape: [] })]).toArray()).toEqual([1, 2]);
    expect(tj.stack([tj.zeros([0, 3]), tj.zeros([0, 3])], 1).shape).toEqual([0, 2, 3]);
    const mixed = tj.stack([tj.tensor(new Int32Array([1, 2]), { shape: [2] }), tj.tensor([0.5, 1.5])]);
    expect(mixed.dtype).toBe('float32');
    expect(mixed.toArray()).toEqual([[1, 2], [0.5, 1.5]]);
  });

  test('BAD CALL', () => {
    expect(() => tj.stack([tj.ones([2]), tj.ones([3])])).toThrow(RangeError);
    expect(() => tj.stack([tj.ones([2]), tj.ones([3])])).toThrow(/stack: expects each tensor to be equal size.*\[3\] float32 at entry 1/);
    expect(() => tj.stack([tj.ones([2])], 2)).toThrow(/stack: dim 2 is out of range/);
    expect(() => tj.stack([])).toThrow(RangeError);
  });
});

describe('split', () => {
  test('int chunks and size lists give views with the right values', () => {
    for (const layout of LAYOUTS) {
      const shape = [5, 33];
      const v = vals(numel(shape), 9);
      const x = makeTensor(v, shape, 'float32', layout);
      const parts = tj.split(x, 10, 1);
      expect(parts.map((p) => p.shape)).toEqual([[5, 10], [5, 10], [5, 10], [5, 3]]);
      parts.forEach((p) => expect(p.storage).toBe(x.storage));
      expectClose(tj.cat(parts, 1), ref(shape, v), { rtol: 0, atol: 0 }, layout);
      const listed = x.split([0, 2, 0, 3], 0);
      expect(listed.map((p) => p.shape)).toEqual([[0, 33], [2, 33], [0, 33], [3, 33]]);
      expectClose(listed[3], { shape: [3, 33], data: Float64Array.from(v.slice(2 * 33)) }, { rtol: 0, atol: 0 });
    }
    expect(tj.split(tj.arange(7), 3).map((t) => t.toArray())).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(tj.split(tj.arange(6), 2, -1).length).toBe(3);
    expect(tj.split(tj.arange(4), 10).map((t) => t.shape)).toEqual([[4]]);
    expect(tj.split(tj.zeros([0]), 3).map((t) => t.shape)).toEqual([[0]]);
    expect(tj.split(tj.zeros([0]), 0).map((t) => t.shape)).toEqual([[0]]);
    expect(tj.split(tj.zeros([0]), [0, 0, 0]).map((t) => t.shape)).toEqual([[0], [0], [0]]);
  });

  test('BAD CALL', () => {
    const x = tj.zeros([4, 6]);
    expect(() => tj.split(x, [2, 3], 1)).toThrow(RangeError);
    expect(() => tj.split(x, [2, 3], 1)).toThrow(/split: splitSizes \[2, 3\] must sum exactly to 6/);
    expect(() => tj.split(x, 0)).toThrow(/split: splitSize can only be 0/);
    expect(() => tj.split(x, -1)).toThrow(RangeError);
    expect(() => tj.split(x, 1.5)).toThrow(TypeError);
    expect(() => tj.split(x, 'a' as unknown as number)).toThrow(TypeError);
    expect(() => tj.split(x, 2, 2)).toThrow(/split: dim 2 is out of range/);
    expect(() => tj.split(tj.tensor(1, { shape: [] }), 1)).toThrow(/at least a 1-dimensional/);
  });
});

describe('gather', () => {
  for (const layout of LAYOUTS) {
    for (const n of SIZES) {
      test(`[${layout}] ${n} columns, every dim, index smaller than x`, () => {
        const shape = [6, n];
        const x = vals(numel(shape), 11);
        const xt = makeTensor(x, shape, 'float32', layout);
        for (const dim of [0, 1, -1, -2]) {
          const d = dim < 0 ? dim + 2 : dim;
          const ishape = d === 0 ? [9, Math.max(1, n - 2)] : [4, n + 3];
          const iv = indexValues(numel(ishape), shape[d], 12 + d);
          const index = makeTensor(iv, ishape, 'int64', layout);
          expectClose(tj.gather(xt, dim, index), refGather(ref(shape, x), d, ref(ishape, iv)), { rtol: 0, atol: 0 }, `dim ${dim}`);
        }
      });
    }
  }

  test('dtypes, int32 index, 0-d, empty, NaN, 3-d', () => {
    for (const dtype of INT_DTYPES) {
      const x = makeTensor(vals(12, 13, dtype), [3, 4], dtype);
      const index = tj.tensor(new BigInt64Array([2n, 0n, 1n, 1n]), { shape: [1, 4] });
      const out = tj.gather(x, 0, index);
      expect(out.dtype).toBe(dtype);
      expectClose(out, refGather(toRef(x), 0, toRef(index)), { rtol: 0, atol: 0 }, dtype);
    }
    const x = tj.tensor([[NaN, Infinity], [-Infinity, 1]]);
    expect(tj.gather(x, 1, tj.tensor(new Int32Array([1, 0, 0, 0]), { shape: [2, 2] })).toArray()).toEqual([[Infinity, NaN], [-Infinity, -Infinity]]);
    expect(tj.gather(tj.tensor(5, { shape: [] }), 0, tj.tensor(0n, { shape: [] })).item()).toBe(5);
    expect(tj.gather(tj.tensor([1, 2, 3]), 0, tj.tensor(2n, { shape: [] })).item()).toBe(3);
    expect(tj.gather(x, 0, tj.zeros([0, 2], { dtype: 'int64' })).shape).toEqual([0, 2]);
    const shape3 = [3, 5, 7];
    const v3 = vals(105, 14), i3 = indexValues(2 * 5 * 4, 7, 15);
    expectClose(tj.gather(makeTensor(v3, shape3, 'float32', 'sliced'), 2, makeTensor(i3, [2, 5, 4], 'int64', 'transposed')),
      refGather(ref(shape3, v3), 2, ref([2, 5, 4], i3)), { rtol: 0, atol: 0 });
  });

  test('large gather is multithreaded and exact', () => {
    const shape = [64, 2048];
    const x = vals(numel(shape), 16), iv = indexValues(numel(shape), 64, 17);
    expectClose(tj.gather(makeTensor(x, shape), 0, makeTensor(iv, shape, 'int64')), refGather(ref(shape, x), 0, ref(shape, iv)), { rtol: 0, atol: 0 });
  });

  test('BAD CALL', () => {
    const x = tj.zeros([3, 4]);
    const idx = (v: bigint[], shape: number[]) => tj.tensor(BigInt64Array.from(v), { shape });
    expect(() => tj.gather(x, 1, idx([4n], [1, 1]))).toThrow(RangeError);
    expect(() => tj.gather(x, 1, idx([0n, 4n], [1, 2]))).toThrow(/^gather: index 4 is out of bounds for dim 1 with size 4/);
    expect(() => tj.gather(x, 0, idx([-1n], [1, 1]))).toThrow(/gather: index -1 is out of bounds for dim 0 with size 3/);
    // a bad index far into a large, multithreaded gather is still caught
    const big = tj.zeros([4, 1 << 16]);
    const bigIndex = tj.zeros([4, 1 << 16], { dtype: 'int64' });
    bigIndex.select(0, 3).narrow(0, 60000, 1).copy_(tj.tensor(new BigInt64Array([99n]), { shape: [1] }));
    expect(() => tj.gather(big, 0, bigIndex)).toThrow(/gather: index 99 is out of bounds for dim 0 with size 4/);
    expect(() => tj.gather(x, 0, tj.zeros([1, 1]))).toThrow(TypeError);
    expect(() => tj.gather(x, 0, tj.zeros([1, 1]))).toThrow(/gather: argument 'index' \(\[1, 1\] float32\) must have dtype int64/);
    expect(() => tj.gather(x, 0, idx([0n], [1]))).toThrow(/same number of dims/);
    expect(() => tj.gather(x, 0, idx([0n, 0n, 0n, 0n, 0n], [1, 5]))).toThrow(/gather: index \[1, 5\] int64 is larger than input \[3, 4\] float32 in dim 1/);
    expect(() => tj.gather(x, 2, idx([0n], [1, 1]))).toThrow(/gather: dim 2 is out of range/);
  });
});

describe('indexSelect', () => {
  for (const layout of LAYOUTS) {
    for (const n of SIZES) {
      test(`[${layout}] ${n} wide, every dim, repeats`, () => {
        const shape = [5, 3, n];
        const x = vals(numel(shape), 21);
        const xt = makeTensor(x, shape, 'float32', layout);
        for (const dim of [0, 1, 2, -1]) {
          const d = dim < 0 ? dim + 3 : dim;
          const iv = [...indexValues(6, shape[d], 22 + d), 0, shape[d] - 1, 0];
          const index = tj.tensor(BigInt64Array.from(iv.map(BigInt)), { shape: [iv.length] });
          expectClose(tj.indexSelect(xt, dim, index), refTake(ref(shape, x), d, ref([iv.length], iv)), { rtol: 0, atol: 0 }, `dim ${dim}`);
          expectClose(xt.indexSelect(dim, index.slice(0, 1, 9, 2)), refTake(ref(shape, x), d, ref([4], iv.filter((_, i) => i % 2 === 1))),
            { rtol: 0, atol: 0 }, `dim ${dim} strided index`);
        }
      });
    }
  }

  test('dtypes, int32 index, empty index, 0-d', () => {
    for (const dtype of INT_DTYPES) {
      const x = makeTensor(vals(12, 23, dtype), [4, 3], dtype, 'transposed');
      const out = tj.indexSelect(x, 1, tj.tensor(new Int32Array([2, 2, 0]), { shape: [3] }));
      expect(out.dtype).toBe(dtype);
      expectClose(out, refTake(toRef(x), 1, ref([3], [2, 2, 0])), { rtol: 0, atol: 0 }, dtype);
    }
    expect(tj.indexSelect(tj.ones([4, 3]), 0, tj.zeros([0], { dtype: 'int64' })).shape).toEqual([0, 3]);
    expect(tj.indexSelect(tj.ones([0, 3]), 1, tj.tensor(new BigInt64Array([1n]), { shape: [1] })).shape).toEqual([0, 1]);
    expect(tj.indexSelect(tj.tensor([[1, 2], [3, 4]]), 0, tj.tensor(1n, { shape: [] })).toArray()).toEqual([[3, 4]]);
    expect(tj.indexSelect(tj.tensor(7, { shape: [] }), 0, tj.tensor(new BigInt64Array([0n]), { shape: [1] })).toArray()).toBe(7);
  });

  test('large select copies whole rows on many threads', () => {
    const shape = [512, 1024];
    const x = vals(numel(shape), 24), iv = indexValues(700, 512, 25);
    expectClose(tj.indexSelect(makeTensor(x, shape), 0, makeTensor(iv, [700], 'int64')), refTake(ref(shape, x), 0, ref([700], iv)), { rtol: 0, atol: 0 });
  });

  test('BAD CALL', () => {
    const x = tj.zeros([3, 4]);
    expect(() => tj.indexSelect(x, 0, tj.tensor(new BigInt64Array([3n]), { shape: [1] }))).toThrow(RangeError);
    expect(() => tj.indexSelect(x, 0, tj.tensor(new BigInt64Array([3n]), { shape: [1] }))).toThrow(/^indexSelect: index 3 is out of bounds for dim 0 with size 3/);
    expect(() => tj.indexSelect(x, 1, tj.tensor(new Int32Array([-1]), { shape: [1] }))).toThrow(/indexSelect: index -1 is out of bounds/);
    expect(() => tj.indexSelect(x, 0, tj.zeros([2, 1], { dtype: 'int64' }))).toThrow(/indexSelect: argument 'index' must be 1-D/);
    expect(() => tj.indexSelect(x, 0, tj.zeros([1]))).toThrow(TypeError);
    expect(() => tj.indexSelect(x, -3, tj.zeros([1], { dtype: 'int64' }))).toThrow(/indexSelect: dim -3 is out of range/);
  });
});

describe('embedding', () => {
  test('indices of any rank, int32 and int64, 0-d and empty', () => {
    for (const n of SIZES) {
      const wshape = [10, n];
      const w = vals(numel(wshape), 31);
      const weight = makeTensor(w, wshape);
      for (const ishape of [[], [0], [5], [2, 3], [2, 0, 3], [2, 2, 3]]) {
        for (const dtype of ['int64', 'int32'] as DType[]) {
          const iv = indexValues(numel(ishape), 10, 32 + ishape.length);
          const out = tj.embedding(makeTensor(iv, ishape, dtype, ishape.length >= 2 ? 'transposed' : 'contiguous'), weight);
          expect(out.shape).toEqual([...ishape, n]);
          expectClose(out, refTake(ref(wshape, w), 0, ref(ishape, iv)), { rtol: 0, atol: 0 }, `${dtype} [${ishape}]`);
        }
      }
    }
    // a non-contiguous weight
    const wv = vals(30, 33);
    const weight = makeTensor(wv, [6, 5], 'float32', 'sliced');
    expectClose(tj.embedding(tj.tensor(new BigInt64Array([5n, 0n]), { shape: [2] }), weight), refTake(ref([6, 5], wv), 0, ref([2], [5, 0])), { rtol: 0, atol: 0 });
  });

  test('BAD CALL', () => {
    const w = tj.zeros([4, 3]);
    expect(() => tj.embedding(tj.tensor(new BigInt64Array([4n]), { shape: [1] }), w)).toThrow(RangeError);
    expect(() => tj.embedding(tj.tensor(new BigInt64Array([1n, 4n]), { shape: [2] }), w)).toThrow(/^embedding: index 4 is out of bounds for dim 0 with size 4/);
    expect(() => tj.embedding(tj.tensor(new Int32Array([-2]), { shape: [1] }), w)).toThrow(/embedding: index -2/);
    expect(() => tj.embedding(tj.zeros([2]), w)).toThrow(TypeError);
    expect(() => tj.embedding(tj.zeros([2]), w)).toThrow(/embedding: argument 'indices'/);
    expect(() => tj.embedding(tj.zeros([2], { dtype: 'int64' }), tj.zeros([4]))).toThrow(/embedding: argument 'weight' must be 2-D/);
    expect(() => tj.embedding(w as unknown as tj.Tensor, 3 as unknown as tj.Tensor)).toThrow(TypeError);
  });
});

describe('copy_', () => {
  test('writes into views, broadcasts, converts dtypes, returns dst', () => {
    for (const layout of LAYOUTS) {
      for (const n of SIZES) {
        const shape = [3, n];
        const dst = makeTensor(new Array(numel(shape)).fill(0), shape, 'float32', layout);
        const src = vals(n, 41);
        const r = dst.copy_(makeTensor(src, [n]));
        expect(r).toBe(dst);
        expectClose(dst, ref(shape, [...src, ...src, ...src]), { rtol: 0, atol: 0 }, `${layout} ${n}`);
      }
    }
    const base = tj.zeros([4, 6]);
    base.slice(1, 1, 6, 2).copy_(tj.ones([4, 3]));
    expect(base.toArray()).toEqual(Array.from({ length: 4 }, () => [0, 1, 0, 1, 0, 1]));
    const i = tj.zeros([3], { dtype: 'int32' });
    tj.copy_(i, tj.tensor([1.9, -2.7, 3]));
    expect(i.toArray()).toEqual([1, -2, 3]);
    const b = tj.zeros([3], { dtype: 'bool' });
    b.copy_(tj.tensor([0, NaN, -1]));
    expect(b.toArray()).toEqual([false, true, true]);
    const f = tj.zeros([2]);
    f.copy_(tj.tensor(new BigInt64Array([5n, -7n]), { shape: [2] }));
    expect(f.toArray()).toEqual([5, -7]);
    const s = tj.zeros([2, 2]);
    s.copy_(tj.tensor(2.5, { shape: [] }));
    expect(s.toArray()).toEqual([[2.5, 2.5], [2.5, 2.5]]);
    tj.zeros([0, 3]).copy_(tj.ones([3]));
  });

  test('overlapping src and dst read src first', () => {
    const x = tj.arange(8, { dtype: 'float32' });
    x.narrow(0, 1, 7).copy_(x.narrow(0, 0, 7));
    expect(x.toArray()).toEqual([0, 0, 1, 2, 3, 4, 5, 6]);
    const m = tj.tensor([[1, 2], [3, 4]]);
    m.copy_(m.transpose(0, 1));
    expect(m.toArray()).toEqual([[1, 3], [2, 4]]);
    m.copy_(m);
    expect(m.toArray()).toEqual([[1, 3], [2, 4]]);
  });

  test('large copy with conversion', () => {
    const n = 1 << 18;
    const v = vals(n, 42, 'int32');
    const dst = tj.zeros([n]);
    dst.copy_(makeTensor(v, [n], 'int32'));
    expectClose(dst, ref([n], v), { rtol: 0, atol: 0 });
  });

  test('BAD CALL', () => {
    expect(() => tj.zeros([2, 3]).copy_(tj.ones([4]))).toThrow(RangeError);
    expect(() => tj.zeros([2, 3]).copy_(tj.ones([4]))).toThrow(/^copy_: /);
    expect(() => tj.zeros([3]).copy_(tj.ones([2, 3]))).toThrow(/copy_: src \[2, 3\] float32 is not broadcastable to self \[3\] float32/);
    expect(() => tj.zeros([3]).copy_(3 as unknown as tj.Tensor)).toThrow(TypeError);
    expect(() => tj.zeros([1]).expand([4]).copy_(tj.arange(4, { dtype: 'float32' }))).toThrow(/copy_: .*same memory location/);
  });

  test('into an empty tensor (contiguous strides [0, 1] are not an expanded view)', () => {
    const dst = tj.zeros([3, 0]);
    expect(dst.copy_(tj.ones([3, 0]))).toBe(dst);
    expect(tj.zeros([3, 0]).indexCopy_(0, tj.tensor([1], { dtype: 'int64' }), tj.zeros([1, 0])).shape).toEqual([3, 0]);
  });
});

describe('indexCopy_', () => {
  test('KV-cache style updates along each dim, views, dtypes', () => {
    for (const layout of LAYOUTS) {
      const shape = [2, 3, 8, 5];
      for (const dim of [0, 1, 2, 3, -2]) {
        const d = dim < 0 ? dim + 4 : dim;
        const xv = vals(numel(shape), 51);
        const x = makeTensor(xv, shape, 'float32', layout);
        const iv = [shape[d] - 1, 0];
        const sshape = shape.slice();
        sshape[d] = 2;
        const sv = vals(numel(sshape), 52);
        const r = x.indexCopy_(dim, tj.tensor(BigInt64Array.from(iv.map(BigInt)), { shape: [2] }), makeTensor(sv, sshape, 'float32', layout));
        expect(r).toBe(x);
        const want = Float64Array.from(xv);
        for (let i = 0; i < sv.length; i++) {
          const idx = unravel(i, sshape);
          idx[d] = iv[idx[d]];
          want[ravel(idx, shape)] = sv[i];
        }
        expectClose(x, { shape, data: want }, { rtol: 0, atol: 0 }, `${layout} dim ${dim}`);
      }
    }
    for (const dtype of INT_DTYPES) {
      const x = makeTensor(vals(12, 53, dtype), [4, 3], dtype);
      const before = toRef(x);
      const src = makeTensor(vals(3, 54, dtype), [1, 3], dtype);
      x.indexCopy_(0, tj.tensor(new Int32Array([2]), { shape: [1] }), src);
      const want = Float64Array.from(before.data);
      want.set(toRef(src).data, 6);
      expectClose(x, { shape: [4, 3], data: want }, { rtol: 0, atol: 0 }, dtype);
    }
  });

  test('repeated indices: the last one wins; 0-d index; empty index', () => {
    const x = tj.zeros([3, 2]);
    x.indexCopy_(0, tj.tensor(new BigInt64Array([1n, 1n, 1n]), { shape: [3] }), tj.tensor([[1, 1], [2, 2], [3, 3]]));
    expect(x.toArray()).toEqual([[0, 0], [3, 3], [0, 0]]);
    x.indexCopy_(1, tj.tensor(0n, { shape: [] }), tj.tensor([[7], [8], [9]]));
    expect(x.toArray()).toEqual([[7, 0], [8, 3], [9, 0]]);
    x.indexCopy_(0, tj.zeros([0], { dtype: 'int64' }), tj.zeros([0, 2]));
    expect(x.toArray()).toEqual([[7, 0], [8, 3], [9, 0]]);
  });

  test('an index or source living in self is read before self is written', () => {
    const x = tj.tensor(new BigInt64Array([1n, 2n, 0n, 3n]), { shape: [4] });
    x.indexCopy_(0, x.narrow(0, 0, 2), tj.tensor(new BigInt64Array([100n, 200n]), { shape: [2] }));
    expect(x.toArray()).toEqual([1, 100, 200, 3]);
    const y = tj.tensor([[1, 2], [3, 4], [5, 6]]);
    y.indexCopy_(0, tj.tensor(new BigInt64Array([1n, 2n]), { shape: [2] }), y.narrow(0, 0, 2));
    expect(y.toArray()).toEqual([[1, 2], [1, 2], [3, 4]]);
  });

  test('large update is multithreaded and exact', () => {
    const shape = [4, 8, 256, 64];
    const x = tj.zeros(shape);
    const sshape = [4, 8, 100, 64];
    const sv = vals(numel(sshape), 55);
    const iv = Array.from({ length: 100 }, (_, i) => 255 - 2 * i);
    x.indexCopy_(2, tj.tensor(BigInt64Array.from(iv.map(BigInt)), { shape: [100] }), makeTensor(sv, sshape));
    const want = new Float64Array(numel(shape));
    for (let i = 0; i < sv.length; i++) {
      const idx = unravel(i, sshape);
      idx[2] = iv[idx[2]];
      want[ravel(idx, shape)] = sv[i];
    }
    expectClose(x, { shape, data: want }, { rtol: 0, atol: 0 });
  });

  test('BAD CALL: nothing is written when an index is out of range', () => {
    const x = tj.zeros([3, 2]);
    const src = tj.ones([2, 2]);
    expect(() => x.indexCopy_(0, tj.tensor(new BigInt64Array([0n, 3n]), { shape: [2] }), src)).toThrow(RangeError);
    expect(() => x.indexCopy_(0, tj.tensor(new BigInt64Array([0n, 3n]), { shape: [2] }), src)).toThrow(/^indexCopy_: index 3 is out of bounds for dim 0 with size 3/);
    expect(x.toArray()).toEqual([[0, 0], [0, 0], [0, 0]]);
    expect(() => x.indexCopy_(0, tj.tensor(new BigInt64Array([0n]), { shape: [1] }), src)).toThrow(/indexCopy_: source \[2, 2\] float32 must have shape \[1, 2\]/);
    expect(() => x.indexCopy_(0, tj.tensor(new BigInt64Array([0n, 1n]), { shape: [2] }), src.reshape([4]))).toThrow(RangeError);
    expect(() => x.indexCopy_(0, tj.tensor(new BigInt64Array([0n, 1n]), { shape: [2] }), tj.ones([2, 2], { dtype: 'int32' }))).toThrow(TypeError);
    expect(() => x.indexCopy_(0, tj.zeros([2]), src)).toThrow(/indexCopy_: argument 'index'/);
    expect(() => x.indexCopy_(0, tj.zeros([2, 1], { dtype: 'int64' }), src)).toThrow(/must be 1-D or 0-d/);
    expect(() => x.indexCopy_(2, tj.zeros([2], { dtype: 'int64' }), src)).toThrow(/indexCopy_: dim 2 is out of range/);
  });
});

test('ops on disposed tensors fail with the op name', () => {
  const a = tj.ones([2]);
  a.dispose();
  expect(() => tj.cat([a, tj.ones([2])])).toThrow(/^cat: input 0/);
});

test('meta rules (fake tensors, as the tracer sees them) agree with eager results', () => {
  const x = tj.ones([4, 3]), i64 = tj.tensor(new BigInt64Array([1n, 0n]), { shape: [2] });
  const calls: [string, unknown[]][] = [
    ['cat', [[x, tj.ones([2, 3], { dtype: 'int32' })]]],
    ['stack', [[x, x], -1]],
    ['split', [x, [1, 3]]],
    ['gather', [x, 1, tj.zeros([2, 2], { dtype: 'int64' })]],
    ['indexSelect', [x, 1, i64]],
    ['embedding', [tj.zeros([2, 5], { dtype: 'int32' }), x]],
  ];
  const fake = (v: unknown): unknown => (v instanceof tj.Tensor ? Tensor.fake(v.shape, v.dtype) : Array.isArray(v) ? v.map(fake) : v);
  const sig = (r: unknown) => (Array.isArray(r) ? r : [r]).map((t: tj.Tensor) => `${t.shape}:${t.dtype}`);
  for (const [name, args] of calls) {
    const op = getOp(name)!;
    const meta = metaOf(op, args.map(fake));
    (Array.isArray(meta) ? meta : [meta]).forEach((t) => expect((t as tj.Tensor).isFake, name).toBe(true));
    expect(sig(meta), name).toEqual(sig(op(...args)));
  }
  const dst = Tensor.fake([4, 3], 'float32');
  expect(metaOf(getOp('copy_')!, [dst, Tensor.fake([3], 'int32')])).toBe(dst);
  expect(metaOf(getOp('indexCopy_')!, [dst, 0, Tensor.fake([1], 'int64'), Tensor.fake([1, 3], 'float32')])).toBe(dst);
});
