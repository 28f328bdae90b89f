import { afterEach, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { ConvCase, convChecker, convOf, convTol, refConv } from '../helpers/conv_reference';
import { expectClose } from '../helpers/reference';

const { operand, check } = convChecker(100);
const conv = convOf;
const tolK = convTol;

afterEach(() => tj.setNumThreads(2));

describe('conv2d', () => {
  const cases: [string, ConvCase][] = [
    ['3x3 no padding', { x: [2, 3, 8, 8], w: [4, 3, 3, 3], conv: conv() }],
    ['3x3 padding 1 with bias', { x: [2, 3, 8, 9], w: [5, 3, 3, 3], bias: true, opts: { padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1]) }],
    ['stride 2', { x: [1, 2, 9, 10], w: [3, 2, 3, 3], opts: { stride: 2, padding: 1 }, conv: conv([2, 2], [1, 1, 1, 1]) }],
    ['stride and padding pairs', { x: [2, 2, 11, 7], w: [3, 2, 3, 2], bias: true, opts: { stride: [2, 1], padding: [1, 2] }, conv: conv([2, 1], [1, 2, 1, 2]) }],
    ['dilation', { x: [1, 3, 12, 12], w: [4, 3, 3, 3], opts: { dilation: 2, padding: 2 }, conv: conv([1, 1], [2, 2, 2, 2], [2, 2]) }],
    ['dilation pair with stride', { x: [1, 2, 13, 11], w: [2, 2, 3, 2], opts: { dilation: [2, 3], stride: [1, 2] }, conv: conv([1, 2], [0, 0, 0, 0], [2, 3]) }],
    ['groups 2', { x: [2, 4, 7, 7], w: [6, 2, 3, 3], bias: true, opts: { groups: 2, padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1], [1, 1], 2) }],
    ['depthwise', { x: [1, 5, 9, 9], w: [5, 1, 3, 3], bias: true, opts: { groups: 5, padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1], [1, 1], 5) }],
    ['depthwise x2 multiplier, stride 2', { x: [2, 3, 10, 10], w: [6, 1, 5, 5], opts: { groups: 3, stride: 2, padding: 2 }, conv: conv([2, 2], [2, 2, 2, 2], [1, 1], 3) }],
    ["'same' odd kernel", { x: [1, 3, 9, 8], w: [4, 3, 3, 5], bias: true, opts: { padding: 'same' }, conv: conv([1, 1], [1, 2, 1, 2]) }],
    ["'same' even kernel (extra bottom/right)", { x: [2, 2, 7, 6], w: [3, 2, 4, 2], opts: { padding: 'same' }, conv: conv([1, 1], [1, 0, 2, 1]) }],
    ["'same' with dilation", { x: [1, 2, 10, 9], w: [2, 2, 2, 3], opts: { padding: 'same', dilation: [3, 2] }, conv: conv([1, 1], [1, 2, 2, 2], [3, 2]) }],
    ["'valid'", { x: [1, 2, 6, 6], w: [2, 2, 3, 3], opts: { padding: 'valid' }, conv: conv() }],
    ['1x1 (direct GEMM path)', { x: [2, 16, 7, 9], w: [17, 16, 1, 1], bias: true, conv: conv() }],
    ['1x1 stride 2', { x: [1, 8, 9, 9], w: [5, 8, 1, 1], opts: { stride: 2 }, conv: conv([2, 2]) }],
    ['1x1 padded', { x: [1, 3, 4, 5], w: [2, 3, 1, 1], opts: { padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1]) }],
    ['K past one GEMM block, M and N tails', { x: [1, 32, 9, 11], w: [17, 32, 3, 3], bias: true, opts: { padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1]) }],
    ['wide image (several column panels per row)', { x: [1, 2, 5, 70], w: [3, 2, 3, 3], opts: { padding: [0, 1] }, conv: conv([1, 1], [0, 1, 0, 1]) }],
    ['kernel as large as the input', { x: [1, 2, 4, 5], w: [3, 2, 4, 5], conv: conv() }],
    ['strided input view', { x: [2, 3, 7, 8], w: [4, 3, 3, 3], lx: 'sliced', bias: true, opts: { padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1]) }],
    ['transposed H/W input view and weight', { x: [1, 3, 6, 8], w: [4, 3, 3, 2], lx: 'transposed', lw: 'transposed', conv: conv() }],
    ['1x1 on a strided view', { x: [1, 4, 5, 6], w: [3, 4, 1, 1], lx: 'sliced', conv: conv() }],
  ];
  for (const [name, c] of cases) test(name, () => check(c));

  test('unbatched 3-D input gives a 3-D result', () => {
    const x = operand([3, 7, 6]), w = operand([2, 3, 3, 3]), b = operand([2]);
    const got = tj.conv2d(x.t, w.t, b.t, { padding: 1, stride: [2, 1] });
    const want = refConv({ shape: [1, 3, 7, 6], data: x.r.data }, w.r, b.r, conv([2, 1], [1, 1, 1, 1]));
    expectClose(got, { shape: want.shape.slice(1), data: want.data }, tolK(27));
  });

  test('a 64-channel 3x3 conv on 56x56 (the benchmarked block) matches the reference', () => {
    check({ x: [1, 64, 20, 20], w: [64, 64, 3, 3], bias: true, opts: { padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1]) });
  });

  // both shapes take the direct kernel (conv_direct.h): bands per thread differ with the count
  test.each([[[1, 16, 30, 30], [24, 16, 3, 3]], [[2, 16, 23, 28], [64, 16, 3, 3]]])('results do not depend on the thread count, x %j w %j', (xs, ws) => {
    const x = operand(xs).t, w = operand(ws).t;
    tj.setNumThreads(1);
    const one = tj.conv2d(x, w, null, { padding: 1 }).dataSync();
    tj.setNumThreads(2);
    expect(tj.conv2d(x, w, null, { padding: 1 }).dataSync()).toEqual(one);
  });

  test('empty batch, zero input channels, NaN', () => {
    expect(tj.conv2d(tj.ones([0, 3, 5, 5]), tj.ones([2, 3, 3, 3])).shape).toEqual([0, 2, 3, 3]);
    // C = 0: every output is the bias
    expect(tj.conv2d(tj.ones([1, 0, 3, 3]), tj.ones([2, 0, 2, 2]), tj.tensor([1, -1])).toArray()).toEqual([
      [[[1, 1], [1, 1]], [[-1, -1], [-1, -1]]],
    ]);
    const x = tj.zeros([1, 1, 5, 5]);
    const xs = x.dataSync() as Float32Array;
    xs[12] = NaN; // center
    const r = tj.conv2d(tj.tensor(xs, { shape: [1, 1, 5, 5] }), tj.ones([1, 1, 3, 3])).toArray() as number[][][][];
    expect(r[0][0].flat().every((v) => Number.isNaN(v))).toBe(true); // every 3x3 window covers the center
    const r2 = tj.conv2d(tj.tensor(xs, { shape: [1, 1, 5, 5] }), tj.ones([1, 1, 2, 2]), null, { stride: 3 }).toArray() as number[][][][];
    expect(r2[0][0]).toEqual([[0, 0], [0, 0]]); // stride-3 windows (rows/cols 0-1, 3-4) skip the center
  });
});

describe('BAD CALL', () => {
  test('channel and group mismatches are RangeErrors naming conv2d and the shapes', () => {
    expect(() => tj.conv2d(tj.ones([1, 3, 5, 5]), tj.ones([2, 4, 3, 3]))).toThrow(RangeError);
    expect(() => tj.conv2d(tj.ones([1, 3, 5, 5]), tj.ones([2, 4, 3, 3]))).toThrow(/conv2d.*\[1, 3, 5, 5\].*\[2, 4, 3, 3\]/);
    expect(() => tj.conv2d(tj.ones([1, 4, 5, 5]), tj.ones([3, 2, 3, 3]), null, { groups: 2 })).toThrow(/conv2d.*divisible/);
    expect(() => tj.conv2d(tj.ones([1, 4, 5, 5]), tj.ones([4, 2, 3, 3]), null, { groups: 0 })).toThrow(/conv2d.*groups/);
  });
  test('bad ranks, bias and kernel larger than the input', () => {
    expect(() => tj.conv2d(tj.ones([5, 5]), tj.ones([1, 1, 3, 3]))).toThrow(/conv2d.*3-D.*4-D/);
    expect(() => tj.conv2d(tj.ones([1, 1, 5, 5]), tj.ones([1, 3, 3]))).toThrow(/conv2d.*weight/);
    expect(() => tj.conv2d(tj.ones([1, 1, 5, 5]), tj.ones([2, 1, 3, 3]), tj.ones([3]))).toThrow(/conv2d.*bias/);
    expect(() => tj.conv2d(tj.ones([1, 1, 2, 5]), tj.ones([2, 1, 3, 3]))).toThrow(/conv2d.*larger than the padded input/);
  });
  test("padding='same' needs stride 1; options are validated", () => {
    expect(() => tj.conv2d(tj.ones([1, 1, 5, 5]), tj.ones([1, 1, 3, 3]), null, { padding: 'same', stride: 2 })).toThrow(/conv2d.*same.*strided/);
    expect(() => tj.conv2d(tj.ones([1, 1, 5, 5]), tj.ones([1, 1, 3, 3]), null, { padding: 'full' as never })).toThrow(/conv2d.*padding/);
    expect(() => tj.conv2d(tj.ones([1, 1, 5, 5]), tj.ones([1, 1, 3, 3]), null, { stride: 0 })).toThrow(/conv2d.*stride/);
    expect(() => tj.conv2d(tj.ones([1, 1, 5, 5]), tj.ones([1, 1, 3, 3]), null, { padding: -1 })).toThrow(/conv2d.*padding/);
    expect(() => tj.conv2d(tj.ones([1, 1, 5, 5]), tj.ones([1, 1, 3, 3]), null, { dilation: [1, 2, 3] })).toThrow(TypeError);
  });
  test('non-float dtypes are TypeErrors naming the dtypes', () => {
    const xi = tj.ones([1, 1, 5, 5], { dtype: 'int32' });
    expect(() => tj.conv2d(xi, tj.ones([1, 1, 3, 3]))).toThrow(TypeError);
    expect(() => tj.conv2d(xi, tj.ones([1, 1, 3, 3]))).toThrow(/conv2d.*input.*int32/);
    expect(() => tj.conv2d(tj.ones([1, 1, 5, 5]), tj.ones([1, 1, 3, 3]), tj.ones([1], { dtype: 'int64' }))).toThrow(/conv2d.*bias.*int64/);
    expect(() => tj.conv2d(tj.ones([1, 1, 5, 5]), 'w' as never)).toThrow(/conv2d.*weight/);
  });
});
