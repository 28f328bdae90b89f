import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { Tensor } from '../../lib/tensor';
import { getOp, metaOf } from '../../lib/ops/registry';
import { LAYOUTS, Layout, Ref, expectClose, makeTensor, numel, randomValues, ref } from '../helpers/reference';

interface Window {
  k: [number, number];
  s: [number, number];
  p: [number, number];
  d: [number, number];
  ceil: boolean;
}

/** torch's output size rule (pooling_output_shape). */
function outSize(n: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  let o = Math.floor((n + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0)) / s) + 1;
  if (ceil && (o - 1) * s >= n + p) o--;
  return o;
}

/** Direct float64 pooling, one window at a time (torch's CPU loops). */
function refPool(x: Ref, w: Window, kind: 'max' | 'avg', countIncludePad = true): Ref {
  const nd = x.shape.length;
  const [H, W] = x.shape.slice(nd - 2);
  const planes = numel(x.shape.slice(0, nd - 2));
  const OH = outSize(H, w.k[0], w.s[0], w.p[0], w.d[0], w.ceil), OW = outSize(W, w.k[1], w.s[1], w.p[1], w.d[1], w.ceil);
  const out = new Float64Array(planes * OH * OW);
  for (let pl = 0; pl < planes; pl++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const h0 = oh * w.s[0] - w.p[0], w0 = ow * w.s[1] - w.p[1];
        let acc = kind === 'max' ? -Infinity : 0, count = 0;
        for (let ki = 0; ki < w.k[0]; ki++) {
          for (let kj = 0; kj < w.k[1]; kj++) {
            const ih = h0 + ki * w.d[0], iw = w0 + kj * w.d[1];
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const v = x.data[(pl * H + ih) * W + iw];
            count++;
            if (kind === 'avg') acc += v;
            else if (Number.isNaN(v) || v > acc) acc = Number.isNaN(acc) ? acc : v;
          }
        }
        if (kind === 'avg') {
          const h1 = Math.min(h0 + w.k[0], H + w.p[0]), w1 = Math.min(w0 + w.k[1], W + w.p[1]);
          const divisor = countIncludePad ? (h1 - h0) * (w1 - w0) : count;
          acc = count === 0 ? 0 : acc / divisor;
        }
        out[(pl * OH + oh) * OW + ow] = acc;
      }
    }
  }
  return { shape: [...x.shape.slice(0, nd - 2), OH, OW], data: out };
}

const win = (k: number | [number, number], s?: number | [number, number], p: number | [number, number] = 0,
  d: number | [number, number] = 1, ceil = false): Window => {
  const pr = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);
  return { k: pr(k), s: pr(s ?? k), p: pr(p), d: pr(d), ceil };
};

function poolInput(shape: number[], seed: number, layout: Layout = 'contiguous'): { t: tj.Tensor; r: Ref } {
  const v = randomValues(numel(shape), seed, 'float32', -4, 4);
  return { t: makeTensor(v, shape, 'float32', layout), r: ref(shape, v) };
}

const WINDOWS: Window[] = [
  win(1), win(2), win(3, 1), win(3, 2, 1), win(3, 2, 1, 1, true), win(2, 1, 1), win([3, 2], [2, 1], [1, 0]),
  win(5, 3, 2, 1, true), win(3, 3, 2, 1, true), win(4, 2, 3), win(3, 1, 1, 2), win([2, 3], [1, 2], [1, 1], [2, 1], true),
];
const describeWindow = (w: Window) => `k${w.k} s${w.s} p${w.p} d${w.d}${w.ceil ? ' ceil' : ''}`;

describe('maxPool2d', () => {
  for (const layout of LAYOUTS) {
    for (const [H, W] of [[1, 1], [7, 7], [9, 33], [5, 1023]]) {
      test(`[${layout}] ${H}x${W} over every window form`, () => {
        const { t, r } = poolInput([2, 3, H, W], H * 31 + W, layout);
        for (const w of WINDOWS) {
          if (outSize(H, w.k[0], w.s[0], w.p[0], w.d[0], w.ceil) < 1 || outSize(W, w.k[1], w.s[1], w.p[1], w.d[1], w.ceil) < 1) continue;
          const out = tj.maxPool2d(t, w.k, { stride: w.s, padding: w.p, dilation: w.d, ceilMode: w.ceil });
          expectClose(out, refPool(r, w, 'max'), { rtol: 0, atol: 0 }, describeWindow(w));
        }
      });
    }
  }

  test('defaults, number forms, CHW input, N = 0', () => {
    const { t, r } = poolInput([3, 8, 8], 2);
    expectClose(tj.maxPool2d(t, 2), refPool(r, win(2), 'max'), { rtol: 0, atol: 0 });
    expectClose(tj.maxPool2d(t, [3, 3], { stride: null, padding: 1 }), refPool(r, win(3, 3, 1), 'max'), { rtol: 0, atol: 0 });
    expect(tj.maxPool2d(tj.zeros([0, 3, 8, 8]), 2).shape).toEqual([0, 3, 4, 4]);
    // torch's ceil rule: 5 columns, k 2, s 2, p 1 give 3 windows, not 4 (the fourth would start in the padding)
    expect(tj.maxPool2d(tj.zeros([1, 1, 5, 5]), 2, { stride: 2, padding: 1, ceilMode: true }).shape).toEqual([1, 1, 3, 3]);
    expect(tj.maxPool2d(tj.zeros([1, 1, 4, 4]), 3, { stride: 2, padding: 1, ceilMode: true }).shape).toEqual([1, 1, 3, 3]);
    expect(tj.maxPool2d(tj.zeros([1, 1, 5, 5]), 2, { ceilMode: true }).shape).toEqual([1, 1, 3, 3]);
  });

  test('NaN propagates, infinities, windows with no input element are -inf', () => {
    const x = tj.tensor([[[[1, NaN, 3], [Infinity, -Infinity, 2], [0, 0, 0]]]]);
    expect(tj.maxPool2d(x, 2, { stride: 1 }).toArray()).toEqual([[[[NaN, NaN], [Infinity, 2]]]]);
    expect(tj.maxPool2d(tj.full([1, 1, 3, 3], -Infinity), 3, { padding: 1 }).toArray()).toEqual([[[[-Infinity]]]]);
    // dilation 5, padding 1 on a 4x4 input: the window reads rows -1 and 4, neither exists
    const empty = tj.maxPool2d(tj.ones([1, 1, 4, 4]), 2, { stride: 1, padding: 1, dilation: 5 });
    expect(empty.toArray()).toEqual([[[[-Infinity]]]]);
    // NaN after the first window element (lanes other than 0)
    const row = new Array(40).fill(0).map((_, i) => i);
    row[21] = NaN;
    expect(Array.from(tj.maxPool2d(tj.tensor([[row]]), [1, 3], { stride: 1 }).dataSync()).slice(18, 23).map(String))
      .toEqual(['20', 'NaN', 'NaN', 'NaN', '24']);
  });

  test('large input is multithreaded and exact', () => {
    const { t, r } = poolInput([2, 16, 64, 64], 3);
    expectClose(tj.maxPool2d(t, 3, { stride: 2, padding: 1 }), refPool(r, win(3, 2, 1), 'max'), { rtol: 0, atol: 0 });
  });

  test('BAD CALL', () => {
    const x = tj.zeros([1, 2, 6, 6]);
    expect(() => tj.maxPool2d(tj.zeros([1, 2, 6, 6], { dtype: 'int32' }), 2)).toThrow(TypeError);
    expect(() => tj.maxPool2d(tj.zeros([1, 2, 6, 6], { dtype: 'int32' }), 2)).toThrow(/maxPool2d: argument 'input' \(\[1, 2, 6, 6\] int32\) must have dtype float32/);
    expect(() => tj.maxPool2d(tj.zeros([6, 6]), 2)).toThrow(RangeError);
    expect(() => tj.maxPool2d(tj.zeros([6, 6]), 2)).toThrow(/maxPool2d: expected a 3-D .* got \[6, 6\] float32/);
    expect(() => tj.maxPool2d(tj.zeros([1, 0, 6, 6]), 2)).toThrow(RangeError);
    expect(() => tj.maxPool2d(x, 0)).toThrow(/maxPool2d: kernelSize should be greater than zero/);
    expect(() => tj.maxPool2d(x, 2, { stride: 0 })).toThrow(/maxPool2d: stride should be greater than zero/);
    expect(() => tj.maxPool2d(x, 2, { dilation: 0 })).toThrow(/dilation/);
    expect(() => tj.maxPool2d(x, 2, { padding: 2 })).toThrow(/maxPool2d: padding should be smaller than kernelSize/);
    expect(() => tj.maxPool2d(x, 2, { padding: -1 })).toThrow(RangeError);
    expect(() => tj.maxPool2d(x, 7)).toThrow(/maxPool2d: .*output size is too small/);
    expect(() => tj.maxPool2d(x, 1.5)).toThrow(TypeError);
    expect(() => tj.maxPool2d(x, [2, 2, 2])).toThrow(/maxPool2d: argument 'kernelSize'/);
    expect(() => tj.maxPool2d(x, 2, { ceilMode: 1 as unknown as boolean })).toThrow(/maxPool2d: option 'ceilMode' must be a boolean/);
    expect(() => tj.maxPool2d(x, 2, 3 as unknown as object)).toThrow(TypeError);
  });
});

describe('avgPool2d', () => {
  const AVG_WINDOWS = WINDOWS.filter((w) => w.d[0] === 1 && w.d[1] === 1);
  for (const layout of LAYOUTS) {
    for (const [H, W] of [[1, 1], [7, 7], [9, 33], [5, 1023]]) {
      test(`[${layout}] ${H}x${W} over every window form and both divisor rules`, () => {
        const { t, r } = poolInput([2, 3, H, W], H * 17 + W, layout);
        for (const w of AVG_WINDOWS) {
          if (outSize(H, w.k[0], w.s[0], w.p[0], 1, w.ceil) < 1 || outSize(W, w.k[1], w.s[1], w.p[1], 1, w.ceil) < 1) continue;
          for (const countIncludePad of [true, false]) {
            const out = tj.avgPool2d(t, w.k, { stride: w.s, padding: w.p, ceilMode: w.ceil, countIncludePad });
            expectClose(out, refPool(r, w, 'avg', countIncludePad), { rtol: 1e-5, atol: 1e-6 }, `${describeWindow(w)} cip=${countIncludePad}`);
          }
        }
      });
    }
  }

  test('known divisors: padding counts by default, the ceil overhang never does', () => {
    const ones = tj.ones([1, 1, 4, 4]);
    // 3x3 windows with padding 1: corner windows hold 4 ones out of 9 positions
    expect(tj.avgPool2d(ones, 3, { stride: 1, padding: 1 }).toArray()).toEqual([[[
      [4 / 9, 6 / 9, 6 / 9, 4 / 9], [6 / 9, 1, 1, 6 / 9], [6 / 9, 1, 1, 6 / 9], [4 / 9, 6 / 9, 6 / 9, 4 / 9],
    ].map((r) => r.map(Math.fround))]]);
    expect(tj.avgPool2d(ones, 3, { stride: 1, padding: 1, countIncludePad: false }).toArray()).toEqual([[[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]]]);
    // ceil mode on 5 columns with 2x2 windows: the last window covers one column and divides by 1*2
    expect(tj.avgPool2d(tj.ones([1, 1, 2, 5]), 2, { ceilMode: true }).toArray()).toEqual([[[[1, 1, 1]]]]);
    // ceil mode with padding: later windows are clipped at the padded edge (3x2, 2x3, 2x2 divisors, not 3x3)
    const x = tj.tensor([[[[1, 2], [3, 4]]]]);
    expect(tj.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }).toArray())
      .toEqual([[[[Math.fround(10 / 9), 1], [Math.fround(7 / 6), 1]]]]);
    expect(tj.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }).toArray())
      .toEqual([[[[2.5, 3], [3.5, 4]]]]);
    expect(tj.avgPool2d(tj.ones([3, 4, 4]), 2).shape).toEqual([3, 2, 2]);
    expect(tj.avgPool2d(tj.zeros([0, 2, 4, 4]), 2).shape).toEqual([0, 2, 2, 2]);
  });

  test('NaN and infinities propagate', () => {
    const x = tj.tensor([[[[NaN, 1, 2, 3], [1, 1, Infinity, 1]]]]);
    expect(tj.avgPool2d(x, 2).toArray()).toEqual([[[[NaN, Infinity]]]]);
    expect(tj.avgPool2d(tj.tensor([[[[Infinity, -Infinity]]]]), [1, 2]).toArray()).toEqual([[[[NaN]]]]);
  });

  test('large input is multithreaded and matches', () => {
    const { t, r } = poolInput([2, 16, 64, 64], 4, 'transposed');
    expectClose(tj.avgPool2d(t, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
      refPool(r, win(3, 2, 1, 1, true), 'avg', false), { rtol: 1e-5, atol: 1e-6 });
  });

  test('BAD CALL', () => {
    const x = tj.zeros([1, 2, 6, 6]);
    expect(() => tj.avgPool2d(tj.zeros([1, 1, 4, 4], { dtype: 'bool' }), 2)).toThrow(TypeError);
    expect(() => tj.avgPool2d(tj.zeros([1, 1, 1, 4, 4]), 2)).toThrow(/avgPool2d: expected a 3-D/);
    expect(() => tj.avgPool2d(x, 3, { padding: 3 })).toThrow(/avgPool2d: padding should be smaller than kernelSize/);
    expect(() => tj.avgPool2d(x, 2, { countIncludePad: 'yes' as unknown as boolean })).toThrow(TypeError);
    expect(() => tj.avgPool2d(x, [7, 1])).toThrow(/avgPool2d: .*output size is too small/);
    expect(() => tj.avgPool2d(x, 2, { stride: [1, 0] })).toThrow(RangeError);
  });
});

test('meta rules (fake tensors) give the eager output shapes', () => {
  for (const [name, args] of [
    ['maxPool2d', [[1, 3, 9, 9], 3, { stride: 2, padding: 1, ceilMode: true }]],
    ['avgPool2d', [[3, 8, 7], [2, 3], { ceilMode: true, countIncludePad: false }]],
  ] as [string, [number[], ...unknown[]]][]) {
    const [shape, ...rest] = args;
    const meta = metaOf(getOp(name)!, [Tensor.fake(shape, 'float32'), ...rest]) as tj.Tensor;
    const eager = getOp(name)!(tj.zeros(shape), ...rest) as tj.Tensor;
    expect(meta.isFake).toBe(true);
    expect(meta.shape, name).toEqual(eager.shape);
  }
});
