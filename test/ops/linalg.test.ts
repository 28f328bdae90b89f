import { afterEach, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { Layout, Ref, expectClose, makeTensor, numel, randomValues, stridesOf } from '../helpers/reference';
import { refMatmul, tolK } from '../helpers/matmul_reference';

let seed = 1;
function operand(shape: number[], layout: Layout = 'contiguous'): { t: tj.Tensor; r: Ref } {
  const vals = randomValues(numel(shape), seed++);
  return { t: makeTensor(vals, shape, 'float32', layout), r: { shape, data: Float64Array.from(vals) } };
}

function checkMatmul(aShape: number[], bShape: number[], la: Layout = 'contiguous', lb: Layout = 'contiguous') {
  const a = operand(aShape, la), b = operand(bShape, lb);
  const K = aShape[aShape.length - 1];
  expectClose(tj.matmul(a.t, b.t), refMatmul(a.r, b.r), tolK(K), `matmul ${JSON.stringify(aShape)}x${JSON.stringify(bShape)} ${la}/${lb}`);
}

afterEach(() => tj.setNumThreads(2));

describe('matmul: every torch.matmul rank combination', () => {
  const cases: [number[], number[]][] = [
    [[5], [5]], // dot -> 0-d
    [[7], [7, 3]], // vector-matrix -> [3]
    [[4, 7], [7]], // matrix-vector -> [4]
    [[4, 7], [7, 3]],
    [[2, 4, 7], [7]], // batched matrix-vector -> [2, 4]
    [[7], [2, 7, 3]], // vector-batched matrix -> [2, 3]
    [[2, 4, 7], [7, 3]], // batch folds into M
    [[4, 7], [2, 7, 3]], // a broadcast over b's batch
    [[2, 1, 4, 7], [3, 7, 5]], // batch broadcasting both ways -> [2, 3, 4, 5]
    [[1, 3, 4, 7], [2, 1, 7, 5]],
    [[2, 3, 4, 7], [3, 7, 5]],
  ];
  for (const [as, bs] of cases) {
    test(`${JSON.stringify(as)} x ${JSON.stringify(bs)}`, () => checkMatmul(as, bs));
  }
  test('1-D x 1-D gives a 0-d tensor', () => {
    const r = tj.matmul(tj.tensor([1, 2, 3]), tj.tensor([4, 5, 6]));
    expect(r.shape).toEqual([]);
    expect(r.item()).toBe(32);
  });
  test('method form reaches the same op', () => {
    const a = tj.tensor([[1, 2], [3, 4]]);
    expect(a.matmul(tj.tensor([[1], [1]])).toArray()).toEqual([[3], [7]]);
  });
});

describe('matmul: tails of the register tile and cache blocks', () => {
  const sizes = [1, 7, 17, 33, 65, 129];
  for (const s of sizes) {
    for (const K of [1, 7, 33, 129]) {
      test(`${s}x${K} . ${K}x${s}`, () => checkMatmul([s, K], [K, s]));
    }
  }
  test('uneven M/N/K, odd K past one KC block', () => {
    checkMatmul([13, 301], [301, 37]);
    checkMatmul([65, 513], [513, 3]);
    checkMatmul([3, 257], [257, 70]);
  });
  test('large enough for several MC/NC/KC blocks and two threads', () => {
    checkMatmul([300, 520], [520, 1100]);
  });
  test('results do not depend on the thread count', () => {
    const a = operand([150, 300]).t, b = operand([300, 200]).t;
    tj.setNumThreads(1);
    const one = tj.matmul(a, b).dataSync();
    tj.setNumThreads(2);
    const two = tj.matmul(a, b).dataSync();
    expect(two).toEqual(one);
  });
});

describe('matmul: strided operands (read in place, no copy)', () => {
  const layouts: Layout[] = ['contiguous', 'transposed', 'sliced'];
  for (const la of layouts) {
    for (const lb of layouts) {
      test(`${la} x ${lb}`, () => {
        checkMatmul([33, 19], [19, 40], la, lb);
        checkMatmul([3, 17, 9], [9, 35], la, lb);
        checkMatmul([2, 17, 9], [2, 9, 35], la, lb);
      });
    }
  }
  test('expanded (stride 0) operands and offset views', () => {
    const col = operand([9, 1]);
    const b = col.t.expand([9, 6]);
    const bRef: Ref = { shape: [9, 6], data: Float64Array.from({ length: 54 }, (_, i) => col.r.data[Math.floor(i / 6)]) };
    const a = operand([5, 9]);
    expectClose(tj.matmul(a.t, b), refMatmul(a.r, bRef), tolK(9));
    const big = operand([6, 20]);
    const view = big.t.narrow(0, 2, 3).narrow(1, 5, 9); // offset, non-contiguous rows
    const vRef: Ref = { shape: [3, 9], data: Float64Array.from({ length: 27 }, (_, i) => big.r.data[(2 + Math.floor(i / 9)) * 20 + 5 + (i % 9)]) };
    const c = operand([9, 4]);
    expectClose(tj.matmul(view, c.t), refMatmul(vRef, c.r), tolK(9));
  });
  test('batched a with non-foldable batch strides', () => {
    const base = operand([4, 3, 10]);
    const a = base.t.transpose(0, 1); // [3, 4, 10]: batch stride 10, row stride 30
    const aRef = refPermute(base.r, [1, 0, 2]);
    const b = operand([10, 7]);
    expectClose(tj.matmul(a, b.t), refMatmul(aRef, b.r), tolK(10));
  });
});

function refPermute(x: Ref, perm: number[]): Ref {
  const shape = perm.map((p) => x.shape[p]);
  const st = stridesOf(x.shape), ost = stridesOf(shape);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    let rem = i, off = 0;
    for (let d = 0; d < shape.length; d++) {
      const v = Math.floor(rem / ost[d]);
      rem -= v * ost[d];
      off += v * st[perm[d]];
    }
    out[i] = x.data[off];
  }
  return { shape, data: out };
}

describe('matmul: empty and degenerate sizes', () => {
  test('K = 0 gives zeros', () => {
    const r = tj.matmul(tj.zeros([3, 0]), tj.zeros([0, 4]));
    expect(r.shape).toEqual([3, 4]);
    expect(Array.from(r.dataSync() as Float32Array)).toEqual(new Array(12).fill(0));
    expect(tj.matmul(tj.zeros([0]), tj.zeros([0])).item()).toBe(0);
    expect(tj.matmul(tj.zeros([2, 1, 1, 0]), tj.zeros([3, 0, 5])).toArray()).toEqual(
      [0, 1].map(() => [0, 1, 2].map(() => [[0, 0, 0, 0, 0]])),
    );
  });
  test('M = 0, N = 0 and empty batch give empty results', () => {
    expect(tj.matmul(tj.zeros([0, 5]), tj.ones([5, 3])).shape).toEqual([0, 3]);
    expect(tj.matmul(tj.ones([2, 5]), tj.ones([5, 0])).shape).toEqual([2, 0]);
    expect(tj.matmul(tj.ones([0, 2, 5]), tj.ones([5, 3])).shape).toEqual([0, 2, 3]);
    expect(tj.bmm(tj.ones([0, 2, 5]), tj.ones([0, 5, 3])).shape).toEqual([0, 2, 3]);
  });
  test('NaN and infinity propagate like float64', () => {
    const a = tj.tensor([[1, NaN], [2, 3], [Infinity, 0]]);
    const b = tj.tensor([[1, 2], [0, 1]]);
    const r = tj.matmul(a, b).toArray() as number[][];
    expect(r[0][0]).toBeNaN();
    expect(r[1]).toEqual([2, 7]);
    expect(r[2][0]).toBe(Infinity);
    expect(r[2][1]).toBe(Infinity);
    // inf * 0 inside the sum is NaN
    const z = tj.matmul(tj.tensor([[Infinity, 1]]), tj.tensor([[0], [1]]));
    expect(z.item()).toBeNaN();
  });
});

describe('bmm', () => {
  test('matches the reference, including strided and many-batch cases', () => {
    for (const [B, M, K, N] of [[3, 5, 7, 4], [12, 33, 17, 40], [2, 129, 65, 33]]) {
      const a = operand([B, M, K], 'transposed'), b = operand([B, K, N], 'sliced');
      expectClose(tj.bmm(a.t, b.t), refMatmul(a.r, b.r), tolK(K));
    }
    const a = operand([2, 3, 4]);
    expectClose(a.t.bmm(tj.ones([2, 4, 1])), refMatmul(a.r, { shape: [2, 4, 1], data: new Float64Array(8).fill(1) }), tolK(4));
  });
});

/** F.linear in float64. */
function refLinear(x: Ref, w: Ref, b: Ref | null): Ref {
  const [O, I] = w.shape;
  const rows = I === 0 ? numel(x.shape.slice(0, -1)) : x.data.length / I;
  const out = new Float64Array(rows * O);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < O; o++) {
      let s = b ? b.data[o] : 0;
      for (let i = 0; i < I; i++) s += x.data[r * I + i] * w.data[o * I + i];
      out[r * O + o] = s;
    }
  return { shape: [...x.shape.slice(0, -1), O], data: out };
}

describe('linear', () => {
  const xShapes = [[9], [5, 9], [2, 3, 9], [2, 2, 3, 9], [1, 9], [130, 9]];
  for (const xs of xShapes) {
    for (const withBias of [false, true]) {
      test(`x ${JSON.stringify(xs)} ${withBias ? 'with' : 'without'} bias`, () => {
        const x = operand(xs), w = operand([17, 9]), b = operand([17]);
        const got = withBias ? tj.linear(x.t, w.t, b.t) : tj.linear(x.t, w.t);
        expectClose(got, refLinear(x.r, w.r, withBias ? b.r : null), tolK(9));
        if (!withBias) expectClose(tj.linear(x.t, w.t, null), refLinear(x.r, w.r, null), tolK(9));
      });
    }
  }
  test('strided x, weight and bias; sizes past the tiles', () => {
    for (const [rows, I, O] of [[33, 65, 129], [200, 300, 70], [1, 513, 1000]]) {
      const x = operand([rows, I], 'sliced'), w = operand([O, I], 'transposed'), b = operand([O], 'sliced');
      expectClose(tj.linear(x.t, w.t, b.t), refLinear(x.r, w.r, b.r), tolK(I));
    }
  });
  test('in = 0 gives the bias, broadcast', () => {
    const b = tj.tensor([1, 2, 3]);
    expect(tj.linear(tj.zeros([2, 0]), tj.zeros([3, 0]), b).toArray()).toEqual([[1, 2, 3], [1, 2, 3]]);
    expect(tj.linear(tj.zeros([0]), tj.zeros([3, 0]), b).toArray()).toEqual([1, 2, 3]);
    expect(tj.linear(tj.zeros([4, 0]), tj.zeros([3, 0])).toArray()).toEqual(new Array(4).fill([0, 0, 0]));
  });
  test('empty batch and out = 0', () => {
    expect(tj.linear(tj.zeros([0, 4]), tj.ones([3, 4]), tj.ones([3])).shape).toEqual([0, 3]);
    expect(tj.linear(tj.ones([2, 4]), tj.ones([0, 4]), tj.ones([0])).shape).toEqual([2, 0]);
  });
});

describe('BAD CALL', () => {
  test('matmul shape mismatch is a RangeError naming the op and both shapes', () => {
    expect(() => tj.matmul(tj.ones([2, 3]), tj.ones([4, 5]))).toThrow(RangeError);
    expect(() => tj.matmul(tj.ones([2, 3]), tj.ones([4, 5]))).toThrow(/matmul.*\[2, 3\].*\[4, 5\]/);
    expect(() => tj.matmul(tj.ones([3]), tj.ones([4]))).toThrow(/matmul.*\[3\].*\[4\]/);
    expect(() => tj.matmul(tj.ones([2, 2, 3]), tj.ones([3, 3, 4]))).toThrow(/matmul.*not broadcastable/);
    expect(() => tj.matmul(tj.ones([]), tj.ones([3]))).toThrow(RangeError);
  });
  test('non-float dtypes are TypeErrors naming the dtypes', () => {
    const i = tj.tensor([[1, 2], [3, 4]], { dtype: 'int32' });
    expect(() => tj.matmul(i, i)).toThrow(TypeError);
    expect(() => tj.matmul(i, tj.ones([2, 2]))).toThrow(/matmul.*int32.*float32/);
    expect(() => tj.linear(tj.ones([2, 2]), i)).toThrow(/linear.*weight.*int32/);
    expect(() => tj.bmm(tj.ones([1, 2, 2]), tj.ones([1, 2, 2], { dtype: 'int64' }))).toThrow(TypeError);
  });
  test('bmm needs equal-batch 3-D operands', () => {
    expect(() => tj.bmm(tj.ones([2, 3]), tj.ones([3, 2]))).toThrow(/bmm.*3-D.*\[2, 3\]/);
    expect(() => tj.bmm(tj.ones([2, 2, 3]), tj.ones([3, 3, 2]))).toThrow(RangeError);
    expect(() => tj.bmm(tj.ones([2, 2, 3]), tj.ones([2, 4, 2]))).toThrow(/bmm.*cannot be multiplied/);
  });
  test('linear checks weight and bias shapes and argument types', () => {
    expect(() => tj.linear(tj.ones([2, 3]), tj.ones([4, 5]))).toThrow(/linear.*\[2, 3\].*\[4, 5\]/);
    expect(() => tj.linear(tj.ones([2, 3]), tj.ones([3]))).toThrow(/linear.*weight/);
    expect(() => tj.linear(tj.ones([2, 3]), tj.ones([4, 3]), tj.ones([5]))).toThrow(/linear.*bias/);
    expect(() => tj.linear(tj.ones([2, 3]), [[1, 2, 3]] as never)).toThrow(TypeError);
    expect(() => tj.matmul(tj.ones([2, 3]), 3 as never)).toThrow(/matmul.*other/);
  });
});
