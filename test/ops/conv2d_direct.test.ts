// conv2d shapes that take the direct kernel (native/kernels/conv/conv_direct.h) on every
// ISA table: rows at least one pixel tile wide and enough output channels per group.
// Pixel-tile and channel-block tails, strides 1, 2 and 3 (the kernel's three stride
// variants), dilation, asymmetric padding, groups, batches, strided views and the fused
// epilogues, each against a float64 reference.
import { afterEach, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { compileNative } from '../../lib/backends/native/index';
import { ConvCase, convChecker, convOf, convTol, refConv } from '../helpers/conv_reference';
import { expectClose, makeTensor, randomValues, toRef } from '../helpers/reference';

const { operand, check, nextSeed } = convChecker(900);
const conv = convOf;
const tolK = convTol;

afterEach(() => tj.setNumThreads(2));

describe('conv2d direct kernel', () => {
  const cases: [string, ConvCase][] = [
    ['output-channel block and pixel tile tails', { x: [1, 8, 9, 27], w: [48, 8, 3, 3], bias: true, opts: { padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1]) }],
    ['exactly whole tiles (64 channels, 56-wide rows)', { x: [1, 16, 4, 56], w: [64, 16, 3, 3], bias: true, opts: { padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1]) }],
    ['stride 2 with odd sizes', { x: [2, 16, 13, 31], w: [32, 16, 3, 3], bias: true, opts: { stride: 2, padding: 1 }, conv: conv([2, 2], [1, 1, 1, 1]) }],
    ['stride 3 (runtime stride), no padding', { x: [1, 8, 11, 50], w: [32, 8, 3, 3], opts: { stride: 3 }, conv: conv([3, 3]) }],
    ['stride pair [1, 2] and padding pair', { x: [1, 6, 10, 61], w: [20, 6, 3, 5], bias: true, opts: { stride: [1, 2], padding: [2, 1] }, conv: conv([1, 2], [2, 1, 2, 1]) }],
    ["'same' even kernel with dilation (asymmetric padding)", { x: [1, 8, 9, 30], w: [32, 8, 4, 2], opts: { padding: 'same', dilation: [2, 1] }, conv: conv([1, 1], [3, 0, 3, 1], [2, 1]) }],
    ['dilation 2', { x: [1, 5, 12, 33], w: [32, 5, 3, 3], bias: true, opts: { padding: 2, dilation: 2 }, conv: conv([1, 1], [2, 2, 2, 2], [2, 2]) }],
    ['groups 2 with 32 channels per group', { x: [1, 16, 6, 28], w: [64, 8, 3, 3], bias: true, opts: { groups: 2, padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1], [1, 1], 2) }],
    ['batch 3 (work items not a multiple of the threads)', { x: [3, 4, 5, 14], w: [16, 4, 3, 3], bias: true, opts: { padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1]) }],
    ['7x7 stride 2 on 3 channels (a stem)', { x: [1, 3, 21, 44], w: [32, 3, 7, 7], bias: true, opts: { stride: 2, padding: 3 }, conv: conv([2, 2], [3, 3, 3, 3]) }],
    ['padding wider than the kernel reach', { x: [1, 4, 3, 20], w: [32, 4, 3, 3], opts: { padding: 3 }, conv: conv([1, 1], [3, 3, 3, 3]) }],
    ['sliced input view and transposed weight', { x: [1, 8, 7, 20], w: [32, 8, 3, 3], lx: 'sliced', lw: 'transposed', bias: true, opts: { padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1]) }],
    ['transposed H/W input view', { x: [1, 4, 18, 16], w: [32, 4, 3, 3], lx: 'transposed', opts: { padding: 1 }, conv: conv([1, 1], [1, 1, 1, 1]) }],
    ['kernel with more taps than the direct kernel takes (9x9)', { x: [1, 2, 10, 30], w: [32, 2, 9, 9], opts: { padding: 4 }, conv: conv([1, 1], [4, 4, 4, 4]) }],
    ['one output row', { x: [1, 8, 3, 40], w: [32, 8, 3, 3], bias: true, conv: conv() }],
  ];
  for (const [name, c] of cases) test(name, () => check(c));

  test('unbatched 3-D input', () => {
    const x = operand([8, 9, 20]), w = operand([32, 8, 3, 3]), b = operand([32]);
    const got = tj.conv2d(x.t, w.t, b.t, { padding: 1 });
    const want = refConv({ shape: [1, 8, 9, 20], data: x.r.data }, w.r, b.r, conv([1, 1], [1, 1, 1, 1]));
    expectClose(got, { shape: want.shape.slice(1), data: want.data }, tolK(72));
  });

  test('an empty batch gives an empty result', () => {
    const got = tj.conv2d(tj.zeros([0, 8, 5, 20]), tj.zeros([32, 8, 3, 3]), null, { padding: 1 });
    expect(got.shape).toEqual([0, 32, 5, 20]);
  });

  test('NaN in the input reaches exactly the outputs whose window covers it', () => {
    const vals = randomValues(4 * 6 * 20, nextSeed());
    vals[(2 * 6 + 3) * 20 + 0] = NaN;  // channel 2, row 3, column 0
    const x = makeTensor(vals, [1, 4, 6, 20]), w = operand([32, 4, 3, 3]).t;
    const got = tj.conv2d(x, w, null, { padding: 1 }).dataSync() as Float32Array;
    for (let o = 0; o < 32; o++)
      for (let y = 0; y < 6; y++)
        for (let xx = 0; xx < 20; xx++) {
          const covered = Math.abs(y - 3) <= 1 && xx <= 1;
          expect(Number.isNaN(got[(o * 6 + y) * 20 + xx]), `o ${o} y ${y} x ${xx}`).toBe(covered);
        }
  });

});

describe('conv2d direct kernel with fused epilogues (compiled)', () => {
  const relu = (v: number) => (v > 0 ? v : 0);
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

  test('relu(conv + residual), relu(conv) + residual and sigmoid, with tails and a strided residual', () => {
    const w = operand([48, 8, 3, 3], 'contiguous', -0.5, 0.5), b = operand([48]);
    const cv = (x: tj.Tensor) => tj.conv2d(x, w.t, b.t, { padding: 1 });
    const x = operand([2, 8, 7, 27]);
    const plain = refConv(x.r, w.r, b.r, conv([1, 1], [1, 1, 1, 1]));
    const fns: [string, (x: tj.Tensor, r: tj.Tensor) => tj.Tensor, (v: number, r: number) => number][] = [
      ['add-relu', (xx, rr) => tj.relu(tj.add(cv(xx), rr)), (v, r) => relu(v + r)],
      ['relu-add', (xx, rr) => tj.add(tj.relu(cv(xx)), rr), (v, r) => relu(v) + r],
      ['sigmoid', (xx) => tj.sigmoid(cv(xx)), (v) => sigmoid(v)],
    ];
    for (const layout of ['contiguous', 'sliced'] as const) {
      const r = operand(plain.shape, layout);
      for (const [name, f, post] of fns) {
        const c = compileNative((xx, rr) => f(xx as tj.Tensor, rr as tj.Tensor));
        const got = c(x.t, r.t) as tj.Tensor;
        const want = { shape: plain.shape, data: plain.data.map((v, i) => post(v, r.r.data[i])) };
        expectClose(got, want, { rtol: 1e-4, atol: 1e-4 }, `${name} ${layout}`);
        expectClose(got, toRef(f(x.t, r.t)), { rtol: 1e-5, atol: 1e-5 }, `${name} ${layout} vs eager`);
      }
    }
  });
});
