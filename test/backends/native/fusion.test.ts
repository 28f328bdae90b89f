import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import { expectClose, makeTensor, randomValues, toRef, type Ref } from '../../helpers/reference';
import { refMatmul, tolK } from '../../helpers/matmul_reference';

/** Kernel names of the lowered program's instructions, after the native passes. */
function kernelsOf(c: ReturnType<typeof compileNative>): string[] {
  const text = c.lastProgram()!.describe();
  return [...text.matchAll(/^ {2}%[\d, %]+ = ([^(]+)\(/gm)].map((m) => m[1]);
}

const rand = (shape: number[], seed: number) => makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);

describe('pointwise fusion', () => {
  test('a chain of 10 pointwise ops becomes one kernel and matches eager', () => {
    const chain = (x: tj.Tensor) => {
      let y = tj.mul(x, 1.5);
      y = tj.add(y, 0.5);
      y = tj.relu(y);
      y = tj.mul(y, y);
      y = tj.sub(y, x);
      y = tj.sigmoid(y);
      y = tj.mul(y, 2);
      y = tj.tanh(y);
      y = tj.add(y, x);
      return tj.abs(y);
    };
    const c = compileNative((x) => chain(x as tj.Tensor));
    const x = rand([1000, 37], 1);
    const got = c(x) as tj.Tensor;
    expect(kernelsOf(c)).toEqual(['fused[mul,add,relu,mul,sub,sigmoid,mul,tanh,add,abs]']);
    expectClose(got, toRef(chain(x)), { rtol: 1e-6, atol: 1e-6 });
  });

  test('broadcast operands, where and comparisons fuse; values read elsewhere are stored', () => {
    const f = (x: tj.Tensor, b: tj.Tensor) => {
      const s = tj.add(x, b);
      const m = tj.gt(s, 0);
      const y = tj.where(m, tj.exp(tj.neg(s)), tj.mul(s, s));
      return [y, tj.sum(s, -1)];
    };
    const c = compileNative((x, b) => f(x as tj.Tensor, b as tj.Tensor));
    const x = rand([64, 33], 2), b = rand([33], 3);
    const [y, s] = c(x, b) as tj.Tensor[];
    const kernels = kernelsOf(c);
    expect(kernels.filter((k) => k.startsWith('fused['))).toHaveLength(1);
    expect(kernels).toHaveLength(2);
    const [ey, es] = f(x, b);
    expectClose(y, toRef(ey));
    expectClose(s, toRef(es), { rtol: 1e-5, atol: 1e-5 });
  });

  // Found by random_programs.test.ts: CSE merged le_1 into le, whose second reader (a
  // `where` the group did not take in) made the VM store a bool, which it cannot.
  test('a comparison read by a where outside its group keeps the group unfused, values right', () => {
    const f = (x: tj.Tensor) => {
      const a = tj.add(x, 1);
      const w1 = tj.where(tj.le(a, x), a, x);
      const c = tj.clamp(tj.clone(a), -0.5, 0.5);
      const w2 = tj.where(tj.le(a, x), x, a);
      return [tj.sum(w1), c, w2];
    };
    const c = compileNative((x) => f(x as tj.Tensor));
    for (const shape of [[], [5], [3, 17]]) {
      const x = rand(shape, 4);
      const got = c(x) as tj.Tensor[];
      f(x).forEach((want, i) => expectClose(got[i], toRef(want)));
    }
  });

  test('a shape change between pointwise ops splits the groups correctly', () => {
    const f = (x: tj.Tensor, col: tj.Tensor) => tj.mul(tj.relu(tj.add(col, 1)), tj.sigmoid(x));
    const c = compileNative((x, col) => f(x as tj.Tensor, col as tj.Tensor));
    const x = rand([16, 8], 4), col = rand([16, 1], 5);
    expectClose(c(x, col) as tj.Tensor, toRef(f(x, col)));
  });
});

describe('GEMM epilogues', () => {
  test('linear + gelu + residual add run as one prepacked GEMM', () => {
    const w = rand([48, 32], 6), b = rand([48], 7);
    const f = (x: tj.Tensor, r: tj.Tensor) => tj.add(tj.gelu(tj.linear(x, w, b)), r);
    const c = compileNative((x, r) => f(x as tj.Tensor, r as tj.Tensor));
    const x = rand([2, 5, 32], 8), r = rand([2, 5, 48], 9);
    const got = c(x, r) as tj.Tensor;
    expect(kernelsOf(c)).toEqual(['linear[prepacked 48x32+gelu+add]']);
    expectClose(got, toRef(f(x, r)), { rtol: 1e-4, atol: 1e-5 });
  });

  test('an activation read twice is not absorbed', () => {
    const w = rand([8, 8], 10);
    const f = (x: tj.Tensor) => {
      const h = tj.linear(x, w);
      return tj.add(tj.relu(h), h);
    };
    const c = compileNative((x) => f(x as tj.Tensor));
    const x = rand([3, 8], 11);
    expectClose(c(x) as tj.Tensor, toRef(f(x)), { rtol: 1e-5, atol: 1e-5 });
    expect(kernelsOf(c)[0]).toBe('linear[prepacked 8x8]');
  });

  // Weights given at run time (graph inputs): the epilogue goes into the kernel call's attrs,
  // in either order: sigmoid then the residual add, or the add (first operand r) then tanh.
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  /** A 2-D reference transposed: linear's weight [N, K] as matmul's B [K, N]. */
  const transposedRef = (w: Ref): Ref => {
    const [n, k] = w.shape;
    return { shape: [k, n], data: Float64Array.from({ length: n * k }, (_, i) => w.data[(i % n) * k + Math.floor(i / n)]) };
  };
  const orders = {
    'act-add': { f: (m: tj.Tensor, r: tj.Tensor) => tj.add(tj.sigmoid(m), r), label: 'matmul+sigmoid+add', ref: (v: number, r: number) => sig(v) + r },
    'add-act': { f: (m: tj.Tensor, r: tj.Tensor) => tj.tanh(tj.add(r, m)), label: 'matmul+add+tanh', ref: (v: number, r: number) => Math.tanh(v + r) },
  };
  const shapes: [string, number[], number[]][] = [
    ['2-D', [6, 20], [20, 9]],
    ['2-D, K over one GEMM block', [5, 700], [700, 9]],
    ['batched', [2, 3, 4, 5], [2, 3, 5, 7]],
    ['broadcast weight (one tall GEMM)', [2, 5, 8], [8, 6]],
    ['vector times matrix (GEMV)', [12], [12, 10]],
    ['matrix times vector (GEMV)', [10, 12], [12]],
  ];
  test.each(shapes.flatMap(([name, a, b]) => (['act-add', 'add-act'] as const).map((o) => [name, o, a, b] as const)))(
    'matmul (%s) with a %s epilogue of two inputs is one GEMM',
    (_, order, aShape, bShape) => {
      const { f, label, ref } = orders[order];
      const c = compileNative((a, b, r) => f(tj.matmul(a as tj.Tensor, b as tj.Tensor), r as tj.Tensor));
      const a = rand([...aShape], 40), b = rand([...bShape], 41);
      const mm = refMatmul(toRef(a), toRef(b));
      const r = rand(mm.shape, 42);
      const got = c(a, b, r) as tj.Tensor;
      expect(kernelsOf(c)).toEqual([label]);
      const rr = toRef(r);
      expectClose(got, { shape: mm.shape, data: mm.data.map((v, i) => ref(v, rr.data[i])) }, tolK(bShape.length > 1 ? bShape[bShape.length - 2] : bShape[0]));
    },
  );

  test('a prepacked linear + residual add + relu (ResNet order) is one GEMM', () => {
    const wv = rand([24, 700], 53), bv = rand([24], 54);
    const f = (x: tj.Tensor, r: tj.Tensor) => tj.relu(tj.add(tj.linear(x, wv, bv), r));
    const c = compileNative((x, r) => f(x as tj.Tensor, r as tj.Tensor));
    const x = rand([3, 5, 700], 55), r = rand([3, 5, 24], 56);
    const got = c(x, r) as tj.Tensor;
    expect(kernelsOf(c)).toEqual(['linear[prepacked 24x700+add+relu]']);
    const br = toRef(bv), rr = toRef(r);
    const mm = refMatmul(toRef(x), transposedRef(toRef(wv)));
    expectClose(got, { shape: mm.shape, data: mm.data.map((v, i) => Math.max(0, v + br.data[i % 24] + rr.data[i])) }, tolK(700));
  });

  test('linear with a run-time weight, bias, relu and a strided residual', () => {
    const f = (x: tj.Tensor, w: tj.Tensor, b: tj.Tensor, r: tj.Tensor) => tj.add(r, tj.relu(tj.linear(x, w, b)));
    const c = compileNative((x, w, b, r) => f(x as tj.Tensor, w as tj.Tensor, b as tj.Tensor, r as tj.Tensor));
    const x = rand([2, 7, 16], 43), w = rand([24, 16], 44), b = rand([24], 45);
    const r = makeTensor(randomValues(2 * 7 * 24, 46), [2, 7, 24], 'float32', 'transposed');
    const got = c(x, w, b, r) as tj.Tensor;
    expect(kernelsOf(c)).toEqual(['linear+relu+add']);
    const br = toRef(b), rr = toRef(r);
    const mm = refMatmul(toRef(x), transposedRef(toRef(w)));
    expectClose(got, { shape: mm.shape, data: mm.data.map((v, i) => Math.max(0, v + br.data[i % 24]) + rr.data[i]) }, tolK(16));
  });

  test('an add into a GEMM operand in place is not absorbed (the GEMM would overwrite what it reads)', () => {
    const f = (a: tj.Tensor, b: tj.Tensor) => a.add_(tj.matmul(a, b));
    const a = rand([8, 8], 47), b = rand([8, 8], 48);
    const want = refMatmul(toRef(a), toRef(b));
    const ar = toRef(a);
    const c = compileNative((x, y) => f(x as tj.Tensor, y as tj.Tensor));
    c(a, b);
    expect(kernelsOf(c)).not.toContain('matmul+add');
    expectClose(a, { shape: [8, 8], data: want.data.map((v, i) => v + ar.data[i]) }, tolK(8));
    // the same with a constant (prepacked) weight
    const x = rand([8, 8], 49), xr = toRef(x);
    const cw = compileNative((xi) => (xi as tj.Tensor).add_(tj.matmul(xi as tj.Tensor, b)));
    cw(x);
    expect(kernelsOf(cw)).toContain('matmul[prepacked 8x8]');
    const wantW = refMatmul(xr, toRef(b));
    expectClose(x, { shape: [8, 8], data: wantW.data.map((v, i) => v + xr.data[i]) }, tolK(8));
  });
});

describe('memory planning', () => {
  test('an MLP reuses its arena: planned bytes below the sum of intermediates', () => {
    const layers = [[64, 32], [64, 64], [64, 64], [10, 64]].map(([o, i], k) => [rand([o, i], 20 + k), rand([o], 30 + k)]);
    const f = (x: tj.Tensor) => layers.reduce((h, [w, b], k) => (k < layers.length - 1 ? tj.relu(tj.linear(h, w, b)) : tj.linear(h, w, b)), x);
    const c = compileNative((x) => f(x as tj.Tensor));
    const x = rand([128, 32], 12);
    expectClose(c(x) as tj.Tensor, toRef(f(x)), { rtol: 1e-4, atol: 1e-4 });
    const plan = c.lastProgram()!.memoryPlan();
    expect(plan.arenaBytes).toBeLessThan(plan.unplannedBytes);
    expect(plan.arenaBytes).toBeLessThanOrEqual(2 * 128 * 64 * 4 + 128);
  });
});
