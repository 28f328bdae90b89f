import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import { expectClose, makeTensor, numel, randomValues, toRef, Layout, Ref } from '../../helpers/reference';
import { refMatmul, tolK } from '../../helpers/matmul_reference';
import { Conv, convChecker, convOf, convTol, refConv } from '../../helpers/conv_reference';

const linear = (tj as unknown as { linear: (x: tj.Tensor, w: tj.Tensor, b?: tj.Tensor | null) => tj.Tensor }).linear;

describe('prepacked constant weights', () => {
  const cases: [number[], number, number, boolean, Layout][] = [
    [[1, 64], 64, 48, true, 'contiguous'],
    [[5, 33], 33, 17, false, 'contiguous'],
    [[2, 3, 40], 40, 24, true, 'contiguous'],
    [[7, 20], 20, 9, true, 'transposed'],
    [[4, 6, 10], 10, 12, true, 'sliced'],
    [[10], 10, 3, true, 'contiguous'],
  ];
  test.each(cases)('linear x%j (%i -> %i, bias %s, %s x) matches eager', (xShape, k, n, bias, layout) => {
    const w = makeTensor(randomValues(n * k, 11), [n, k]);
    const b = bias ? makeTensor(randomValues(n, 12), [n]) : null;
    const graph = (x: unknown) => linear(x as tj.Tensor, w, b);
    const compiled = compileNative(graph);
    const x = makeTensor(randomValues(xShape.reduce((a, c) => a * c, 1), 13), xShape, 'float32', layout);
    const got = compiled(x) as tj.Tensor;
    // a single row runs the GEMV over the weight as it is (packing would only slow it)
    const singleRow = xShape.reduce((a, c) => a * c, 1) === k;
    const text = compiled.lastProgram()!.describe();
    if (singleRow) expect(text).toMatch(/= linear\([\s\S]* 0 weights prepacked/);
    else expect(text).toMatch(/linear\[prepacked/);
    expectClose(got, toRef(graph(x) as tj.Tensor), { rtol: 1e-4, atol: 1e-4 });
  });

  test('a single row with a fused activation gives the bits of the eager activation', () => {
    // the GEMV's epilogue runs the same vector math as the eager ops (kernels/gemm/activation.h)
    const w = makeTensor(randomValues(300 * 64, 30), [300, 64]), b = makeTensor(randomValues(300, 31), [300]);
    const x = makeTensor(randomValues(64, 32, 'float32', -3, 3), [1, 64]);
    for (const act of [tj.gelu, tj.sigmoid, tj.tanh, tj.silu]) {
      const fused = compileNative((v: unknown) => act(linear(v as tj.Tensor, w, b)));
      const plain = compileNative((v: unknown) => linear(v as tj.Tensor, w, b));
      const got = (fused(x) as tj.Tensor).dataSync();
      expect(fused.lastProgram()!.describe()).toMatch(/ 1 epilogues fused/);
      expect(Array.from(got)).toEqual(Array.from(act(plain(x) as tj.Tensor).dataSync()));
    }
  });

  test('an in-place update of the weight after compiling is seen', () => {
    const w = tj.ones([3, 2]);
    const compiled = compileNative((x: unknown) => linear(x as tj.Tensor, w));
    const x = tj.tensor([[1, 2]]);
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([[3, 3, 3]]);
    w.copy_(tj.full([3, 2], 2));
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([[6, 6, 6]]);
  });
});

describe('constant folding', () => {
  const kernelsOf = (text: string) => [...text.matchAll(/^ {2}%[\d, %]+ = ([^(]+)\(/gm)].map((m) => m[1]);

  test('ops on constants only run once, when the executable is built', () => {
    const w = makeTensor(randomValues(12, 21), [3, 4]);
    const graph = (x: unknown) => tj.add(x as tj.Tensor, tj.mul(tj.exp(w), 2).transpose(0, 1).sum(1));
    const compiled = compileNative(graph);
    const x = makeTensor(randomValues(4, 22), [4]);
    const got = compiled(x) as tj.Tensor;
    const text = compiled.lastProgram()!.describe();
    expect(kernelsOf(text)).toEqual(['add']);
    expect(text).toMatch(/[1-9]\d* constants folded/);
    const ws = toRef(w), xs = toRef(x);
    const want = Array.from({ length: 4 }, (_, j) => xs.data[j] + [0, 1, 2].reduce((s, i) => s + 2 * Math.exp(ws.data[i * 4 + j]), 0));
    expectClose(got, { shape: [4], data: Float64Array.from(want) }, { rtol: 1e-5, atol: 1e-5 });
  });

  test('an in-place update of a folded constant is seen on the next call', () => {
    const w = tj.ones([4]);
    const compiled = compileNative((x: unknown) => tj.add(x as tj.Tensor, tj.mul(w, 3)));
    const x = tj.zeros([4]);
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([3, 3, 3, 3]);
    w.add_(1);
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([6, 6, 6, 6]);
  });

  test('a constant-only result larger than its sources stays a per-run temp', () => {
    const w = tj.ones([1]);
    const compiled = compileNative((x: unknown) => tj.add(x as tj.Tensor, tj.mul(w.expand([1 << 19]).contiguous(), 2)));
    const x = tj.zeros([1 << 19]);
    const got = compiled(x) as tj.Tensor;
    expect((got.dataSync() as Float32Array).every((v) => v === 2)).toBe(true);
    expect(compiled.lastProgram()!.describe()).toMatch(/ 0 constants folded/);
  });
});

describe('prepacked constant matmul weights', () => {
  const refOf = (shape: number[], values: number[]): Ref => ({ shape, data: Float64Array.from(values) });
  const cases: [number[], number[], Layout, Layout][] = [
    [[1, 64], [64, 48], 'contiguous', 'contiguous'],
    [[5, 33], [33, 17], 'contiguous', 'transposed'],
    [[2, 3, 40], [40, 24], 'transposed', 'contiguous'],
    [[4, 6, 10], [10, 12], 'sliced', 'sliced'],
    [[10], [10, 3], 'contiguous', 'contiguous'],
  ];
  test.each(cases)('x%j @ constant w%j (%s x, %s w) matches float64', (xShape, wShape, lx, lw) => {
    const wv = randomValues(numel(wShape), 14), xv = randomValues(numel(xShape), 15);
    const w = makeTensor(wv, wShape, 'float32', lw);
    const compiled = compileNative((x: unknown) => tj.matmul(x as tj.Tensor, w));
    const got = compiled(makeTensor(xv, xShape, 'float32', lx)) as tj.Tensor;
    const text = compiled.lastProgram()!.describe();
    if (numel(xShape) === wShape[0]) expect(text).toMatch(/= matmul\([\s\S]* 0 weights prepacked/);  // one row: the GEMV
    else expect(text).toContain(`matmul[prepacked ${wShape[0]}x${wShape[1]}]`);
    expectClose(got, refMatmul(refOf(xShape, xv), refOf(wShape, wv)), tolK(wShape[0]));
  });

  test('an activation and a residual add run in the prepacked GEMM epilogue', () => {
    const wv = randomValues(8 * 16, 16), xv = randomValues(3 * 8, 17), rv = randomValues(3 * 16, 18);
    const w = makeTensor(wv, [8, 16]);
    const compiled = compileNative((x: unknown, r: unknown) => tj.add(tj.relu(tj.matmul(x as tj.Tensor, w)), r as tj.Tensor));
    const got = compiled(makeTensor(xv, [3, 8]), makeTensor(rv, [3, 16])) as tj.Tensor;
    expect(compiled.lastProgram()!.describe()).toContain('matmul[prepacked 8x16+relu+add]');
    const mm = refMatmul(refOf([3, 8], xv), refOf([8, 16], wv));
    const want = mm.data.map((v, i) => Math.max(v, 0) + rv[i]);
    expectClose(got, { shape: [3, 16], data: want }, tolK(8));
  });

  test('a constant on the left, or a batched constant, stays a plain matmul', () => {
    const wv = randomValues(4 * 6, 19), bv = randomValues(2 * 6 * 5, 20), xv = randomValues(6 * 5, 21);
    const w = makeTensor(wv, [4, 6]), wb = makeTensor(bv, [2, 6, 5]);
    const left = compileNative((x: unknown) => tj.matmul(w, x as tj.Tensor));
    const batched = compileNative((x: unknown) => tj.matmul(x as tj.Tensor, wb));
    const x = makeTensor(xv, [6, 5]), xb = makeTensor(xv, [5, 6]);
    expectClose(left(x) as tj.Tensor, refMatmul(refOf([4, 6], wv), refOf([6, 5], xv)), tolK(6));
    expectClose(batched(xb) as tj.Tensor, refMatmul(refOf([5, 6], xv), refOf([2, 6, 5], bv)), tolK(6));
    for (const c of [left, batched]) expect(c.lastProgram()!.describe()).not.toContain('[prepacked');
  });

  test('an in-place update of the weight after compiling is seen', () => {
    const w = tj.ones([2, 3]);
    const compiled = compileNative((x: unknown) => tj.matmul(x as tj.Tensor, w));
    const x = tj.tensor([[1, 2]]);
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([[3, 3, 3]]);
    w.mul_(2);
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([[6, 6, 6]]);
  });
});

describe('prepacked constant conv2d weights', () => {
  const { operand } = convChecker(40);
  interface Case {
    x: number[];
    w: number[];
    opts: tj.Conv2dOptions;
    conv: Conv;
    lw?: Layout;
  }
  // Each takes the direct kernel on every ISA table (channels per group >= half a tile).
  const cases: [string, Case][] = [
    ['3x3 same padding', { x: [1, 16, 10, 20], w: [32, 16, 3, 3], opts: { padding: 1 }, conv: convOf([1, 1], [1, 1, 1, 1]) }],
    ['groups 2, stride 2', { x: [2, 8, 9, 37], w: [64, 4, 3, 3], opts: { padding: 1, stride: 2, groups: 2 }, conv: convOf([2, 2], [1, 1, 1, 1], [1, 1], 2) }],
    ['strided weight, dilation 2', { x: [1, 8, 12, 30], w: [32, 8, 3, 3], opts: { dilation: 2 }, conv: convOf([1, 1], [0, 0, 0, 0], [2, 2]), lw: 'transposed' }],
    ['5x5, channels past a tile', { x: [1, 3, 11, 40], w: [40, 3, 5, 5], opts: { padding: 2 }, conv: convOf([1, 1], [2, 2, 2, 2]) }],
  ];
  test.each(cases)('%s matches float64', (_, c) => {
    const x = operand(c.x), w = operand(c.w, c.lw ?? 'contiguous'), b = operand([c.w[0]]);
    const compiled = compileNative((xi: unknown) => tj.conv2d(xi as tj.Tensor, w.t, b.t, c.opts));
    const got = compiled(x.t) as tj.Tensor;
    expect(compiled.lastProgram()!.describe()).toContain(`conv2d[prepacked ${c.w.join('x')}]`);
    expect(compiled.lastProgram()!.describe()).toMatch(/ 1 weights prepacked \([1-9]\d* bytes; 0 shared with other executables\)/);
    expectClose(got, refConv(x.r, w.r, b.r, c.conv), convTol(c.w[1] * c.w[2] * c.w[3]));
  });

  test('the epilogue (residual add, then relu) stays fused with the prepacked weight', () => {
    const x = operand([2, 16, 6, 18]), w = operand([32, 16, 3, 3]), r = operand([2, 32, 6, 18]);
    const compiled = compileNative((xi: unknown, ri: unknown) => tj.relu(tj.add(tj.conv2d(xi as tj.Tensor, w.t, null, { padding: 1 }), ri as tj.Tensor)));
    const got = compiled(x.t, r.t) as tj.Tensor;
    expect(compiled.lastProgram()!.describe()).toContain('conv2d[prepacked 32x16x3x3]+add+relu');
    const conv = refConv(x.r, w.r, null, convOf([1, 1], [1, 1, 1, 1]));
    const want = conv.data.map((v, i) => Math.max(0, v + r.r.data[i]));
    expectClose(got, { shape: conv.shape, data: want }, convTol(16 * 9));
  });

  test('an image too narrow for the direct kernel still runs correctly (the packing goes unused)', () => {
    const x = operand([1, 16, 9, 3]), w = operand([32, 16, 3, 3]);
    const compiled = compileNative((xi: unknown) => tj.conv2d(xi as tj.Tensor, w.t, null, { padding: 1 }));
    expectClose(compiled(x.t) as tj.Tensor, refConv(x.r, w.r, null, convOf([1, 1], [1, 1, 1, 1])), convTol(16 * 9));
  });

  // Convs the direct kernel does not take run as GEMMs with the weight as A: packed once
  // as the GEMM's A panels, per group.
  const gemmCases: [string, Case][] = [
    ['depthwise 3x3 (strided weight)', { x: [1, 32, 8, 20], w: [32, 1, 3, 3], opts: { padding: 1, groups: 32 }, conv: convOf([1, 1], [1, 1, 1, 1], [1, 1], 32), lw: 'transposed' }],
    ['1x1 unpadded (the image is B)', { x: [2, 32, 8, 20], w: [48, 32, 1, 1], opts: {}, conv: convOf() }],
    ['1x1, 300 rows of A, K past one block', { x: [1, 400, 5, 7], w: [300, 400, 1, 1], opts: {}, conv: convOf() }],
    ['4 channels per group, stride 2', { x: [1, 64, 9, 15], w: [64, 4, 3, 3], opts: { padding: 1, stride: 2, groups: 16 }, conv: convOf([2, 2], [1, 1, 1, 1], [1, 1], 16) }],
    ['9x9 (more taps than the direct kernel takes)', { x: [1, 3, 12, 40], w: [24, 3, 9, 9], opts: { padding: 4 }, conv: convOf([1, 1], [4, 4, 4, 4]) }],
  ];
  test.each(gemmCases)('GEMM path: %s matches float64', (_, c) => {
    const x = operand(c.x), w = operand(c.w, c.lw ?? 'contiguous'), b = operand([c.w[0]]);
    const compiled = compileNative((xi: unknown) => tj.relu(tj.conv2d(xi as tj.Tensor, w.t, b.t, c.opts)));
    const got = compiled(x.t) as tj.Tensor;
    expect(compiled.lastProgram()!.describe()).toContain(`conv2d[prepacked ${c.w.join('x')}]+relu`);
    const conv = refConv(x.r, w.r, b.r, c.conv);
    const want = { shape: conv.shape, data: conv.data.map((v) => Math.max(0, v)) }, tol = convTol(c.w[1] * c.w[2] * c.w[3]);
    expectClose(got, want, tol);
    expectClose(compiled(x.t) as tj.Tensor, want, tol);  // a second call reads the same packing
  });

  test('an in-place update of the weight after compiling is seen', () => {
    const w = tj.ones([32, 2, 3, 3]);
    const compiled = compileNative((xi: unknown) => tj.conv2d(xi as tj.Tensor, w));
    const x = tj.ones([1, 2, 3, 16]);
    expect((compiled(x) as tj.Tensor).dataSync().every((v) => v === 18)).toBe(true);
    w.mul_(-1);
    expect((compiled(x) as tj.Tensor).dataSync().every((v) => v === -18)).toBe(true);
  });
});

describe('prepacked weights shared between the executables of other input shapes', () => {
  const sharedOf = (c: ReturnType<typeof compileNative>) => Number(/weights prepacked \(\d+ bytes; (\d+) shared/.exec(c.lastProgram()!.describe())![1]);

  test('each new batch size reuses the packs of the first (linear, matmul and conv), with the right values', () => {
    const w1 = makeTensor(randomValues(48 * 40, 60), [48, 40]), b1 = makeTensor(randomValues(48, 61), [48]);
    const w2 = makeTensor(randomValues(48 * 24, 62), [48, 24]);
    const wc = makeTensor(randomValues(16 * 4 * 3 * 3, 63), [16, 4, 3, 3]);
    const mlp = (x: unknown) => tj.matmul(tj.relu(linear(x as tj.Tensor, w1, b1)), w2);
    const conv = (x: unknown) => tj.conv2d(x as tj.Tensor, wc, null, { padding: 1 });
    const cm = compileNative(mlp), cc = compileNative(conv);
    for (const [i, rows] of [2, 5, 33].entries()) {
      const x = makeTensor(randomValues(rows * 40, 64 + rows), [rows, 40]);
      expectClose(cm(x) as tj.Tensor, toRef(mlp(x) as tj.Tensor), { rtol: 1e-5, atol: 1e-5 });
      expect(sharedOf(cm), `rows ${rows}`).toBe(i === 0 ? 0 : 2);
      const xc = makeTensor(randomValues(rows * 4 * 6 * 7, 70 + rows), [rows, 4, 6, 7]);
      expectClose(cc(xc) as tj.Tensor, toRef(conv(xc) as tj.Tensor), { rtol: 1e-5, atol: 1e-5 });
      expect(sharedOf(cc), `conv batch ${rows}`).toBe(i === 0 ? 0 : 1);
    }
  });

  test('a weight written in place is packed again, never shared from before the write', () => {
    const w = makeTensor(randomValues(32 * 16, 80), [32, 16]);
    const f = (x: unknown) => linear(x as tj.Tensor, w);
    const c = compileNative(f);
    const x2 = makeTensor(randomValues(2 * 16, 81), [2, 16]), x3 = makeTensor(randomValues(3 * 16, 82), [3, 16]);
    c(x2);
    w.mul_(-3);
    // a new shape after the write: its pack is new (the old one is of the old values)
    expectClose(c(x3) as tj.Tensor, toRef(f(x3) as tj.Tensor), { rtol: 1e-5, atol: 1e-5 });
    expect(sharedOf(c)).toBe(0);
    // the first shape rebuilds (its weight's version moved) and shares the new pack
    expectClose(c(x2) as tj.Tensor, toRef(f(x2) as tj.Tensor), { rtol: 1e-5, atol: 1e-5 });
    expect(sharedOf(c)).toBe(1);
  });

  test('two compiled functions over the same weight share its pack', () => {
    const w = makeTensor(randomValues(24 * 20, 90), [24, 20]);
    const a = compileNative((x: unknown) => tj.relu(linear(x as tj.Tensor, w)));
    const b = compileNative((x: unknown) => tj.sigmoid(linear(x as tj.Tensor, w)));
    const x = makeTensor(randomValues(4 * 20, 91), [4, 20]);
    a(x);
    expectClose(b(x) as tj.Tensor, toRef(tj.sigmoid(linear(x, w))), { rtol: 1e-5, atol: 1e-5 });
    expect(sharedOf(b)).toBe(1);
  });
});
