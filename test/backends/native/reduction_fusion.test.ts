import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import { kernelId, native } from '../../../lib/native';
import { Tensor, packTensors } from '../../../lib/tensor';
import { refConv } from '../../helpers/conv_reference';
import { expectClose, makeTensor, randomValues, numel, toRef, type Ref } from '../../helpers/reference';

/**
 * Kernel names (or pass labels) of the lowered program's instructions, after the native
 * passes. Without the weight-packing mark: whether a conv's weight is packed for the
 * direct kernel depends on the ISA's tile (prepack.test.ts tests it).
 */
function kernelsOf(c: ReturnType<typeof compileNative>): string[] {
  const text = c.lastProgram()!.describe();
  return [...text.matchAll(/^ {2}%[\d, %]+ = ([^(]+)\(/gm)].map((m) => m[1].replace(/^conv2d\[prepacked [^\]]*\]/, 'conv2d'));
}

const rand = (shape: number[], seed: number, lo = -2, hi = 2) =>
  makeTensor(randomValues(numel(shape), seed, 'float32', lo, hi), shape);

/** Values of `r` at `shape` by NumPy broadcasting (row-major). */
function broadcastRef(r: Ref, shape: number[]): Float64Array {
  const out = new Float64Array(numel(shape));
  const lead = shape.length - r.shape.length;
  for (let i = 0; i < out.length; i++) {
    let rem = i, off = 0, mul = 1;
    const idx = new Array(shape.length);
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
    }
    for (let d = r.shape.length - 1; d >= 0; d--) {
      off += (r.shape[d] === 1 ? 0 : idx[lead + d]) * mul;
      mul *= r.shape[d];
    }
    out[i] = r.data[off];
  }
  return out;
}

/** float64 layerNorm over the last dim of a + b (b broadcast), with weight/bias. */
function layerNormAddRef(a: Ref, b: Ref, w: Ref | null, bias: Ref | null, eps = 1e-5): Ref {
  const n = a.shape[a.shape.length - 1];
  const bb = broadcastRef(b, a.shape);
  const out = new Float64Array(a.data.length);
  for (let r = 0; r < a.data.length / n; r++) {
    const row = Array.from({ length: n }, (_, j) => a.data[r * n + j] + bb[r * n + j]);
    const mean = row.reduce((s, v) => s + v, 0) / n;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
    const rstd = 1 / Math.sqrt(variance + eps);
    for (let j = 0; j < n; j++) out[r * n + j] = (row[j] - mean) * rstd * (w ? w.data[j] : 1) + (bias ? bias.data[j] : 0);
  }
  return { shape: a.shape.slice(), data: out };
}

/** float64 softmax over the last dim of x * s + mask (mask broadcast); all -inf rows give NaN. */
function softmaxRef(x: Ref, s: number, mask: Ref | null): Ref {
  const n = x.shape[x.shape.length - 1];
  const m = mask ? broadcastRef(mask, x.shape) : null;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < x.data.length / n; r++) {
    const row = Array.from({ length: n }, (_, j) => x.data[r * n + j] * s + (m ? m[r * n + j] : 0));
    const mx = Math.max(...row);
    const e = row.map((v) => Math.exp(v - mx));
    const sum = e.reduce((a, b) => a + b, 0);
    for (let j = 0; j < n; j++) out[r * n + j] = e[j] / sum;
  }
  return { shape: x.shape.slice(), data: out };
}

/** float64 conv2d (stride 1, symmetric padding), then `post` per element with its index. */
function conv2dRef(x: Ref, w: Ref, b: Ref | null, pad: number, post: (v: number, i: number) => number): Ref {
  const y = refConv(x, w, b, { stride: [1, 1], pad: [pad, pad, pad, pad], dil: [1, 1], groups: x.shape[1] / w.shape[1] });
  return { shape: y.shape, data: y.data.map((v, i) => post(v, i)) };
}

const relu = (v: number) => (v < 0 ? 0 : v);

describe('layerNorm + residual', () => {
  for (const n of [1, 7, 33, 384]) {
    test(`layerNorm(x + y) over rows of ${n} is one layerNorm call`, () => {
      const w = rand([n], 3), b = rand([n], 4);
      const f = (x: tj.Tensor, y: tj.Tensor) => tj.layerNorm(tj.add(x, y), [n], w, b, 1e-5);
      const c = compileNative((x, y) => f(x as tj.Tensor, y as tj.Tensor));
      const x = rand([5, 3, n], 1), y = rand([5, 3, n], 2);
      const got = c(x, y) as tj.Tensor;
      expect(kernelsOf(c)).toEqual(['layerNorm+add']);
      expectClose(got, toRef(f(x, y)), { rtol: 1e-5, atol: 1e-5 }, 'vs eager');
      expectClose(got, layerNormAddRef(toRef(x), toRef(y), toRef(w), toRef(b)), { rtol: 1e-4, atol: 1e-4 }, 'vs float64');
    });
  }

  test('a residual broadcast over leading dims, either operand order, no weight', () => {
    const f = (x: tj.Tensor, y: tj.Tensor) => tj.layerNorm(tj.add(y, x), [33]);
    const c = compileNative((x, y) => f(x as tj.Tensor, y as tj.Tensor));
    const x = rand([4, 6, 33], 5), y = rand([33], 6);
    const got = c(x, y) as tj.Tensor;
    expect(kernelsOf(c)).toEqual(['layerNorm+add']);
    expectClose(got, toRef(f(x, y)), { rtol: 1e-5, atol: 1e-5 });
    expectClose(got, layerNormAddRef(toRef(x), toRef(y), null, null), { rtol: 1e-4, atol: 1e-4 });
  });

  test('non-contiguous operands (transposed and sliced views) take the gather path', () => {
    const f = (x: tj.Tensor, y: tj.Tensor) => tj.layerNorm(tj.add(x, y), [7]);
    const c = compileNative((x, y) => f(x as tj.Tensor, y as tj.Tensor));
    const x = makeTensor(randomValues(9 * 7, 7), [9, 7], 'float32', 'transposed');
    const y = makeTensor(randomValues(9 * 7, 8), [9, 7], 'float32', 'sliced');
    const got = c(x, y) as tj.Tensor;
    expectClose(got, layerNormAddRef(toRef(x), toRef(y), null, null), { rtol: 1e-4, atol: 1e-4 });
  });

  test('a sum with a later second reader is also written by the layerNorm (pre-norm residual stream)', () => {
    const w = rand([33], 13);
    const f = (x: tj.Tensor, y: tj.Tensor) => {
      const s = tj.add(x, y);
      return [tj.layerNorm(s, [33], w, null, 1e-5), tj.mul(s, 2)];
    };
    const c = compileNative((x, y) => f(x as tj.Tensor, y as tj.Tensor));
    const x = rand([8, 33], 9), y = rand([33], 10);
    const [got, twice] = c(x, y) as tj.Tensor[];
    expect(kernelsOf(c)).toEqual(['layerNorm+add+sum', 'mul']);
    expectClose(got, layerNormAddRef(toRef(x), toRef(y), toRef(w), null), { rtol: 1e-4, atol: 1e-4 });
    expectClose(twice, toRef(f(x, y)[1]));
  });

  test('a sum that is also a program output is written by the layerNorm too', () => {
    const f = (x: tj.Tensor, y: tj.Tensor) => {
      const s = tj.add(x, y);
      return [tj.layerNorm(s, [7]), s];
    };
    const c = compileNative((x, y) => f(x as tj.Tensor, y as tj.Tensor));
    const x = makeTensor(randomValues(3 * 7, 11), [3, 7], 'float32', 'transposed'), y = rand([3, 7], 12);
    const [got, s] = c(x, y) as tj.Tensor[];
    expect(kernelsOf(c)).toEqual(['layerNorm+add+sum']);
    expectClose(got, layerNormAddRef(toRef(x), toRef(y), null, null), { rtol: 1e-4, atol: 1e-4 });
    expect(toRef(s).data).toEqual(toRef(tj.add(x, y)).data);
  });

  test('a sum read between the add and the layerNorm is not fused and stays correct', () => {
    const f = (x: tj.Tensor, y: tj.Tensor) => {
      const s = tj.add(x, y);
      const m = tj.sum(s, -1);
      return [tj.layerNorm(s, [33]), m];
    };
    const c = compileNative((x, y) => f(x as tj.Tensor, y as tj.Tensor));
    const x = rand([8, 33], 14), y = rand([8, 33], 15);
    const [got, m] = c(x, y) as tj.Tensor[];
    const kernels = kernelsOf(c);
    expect(kernels.some((k) => k.startsWith('layerNorm+'))).toBe(false);
    expect(kernels).toContain('layerNorm');
    expectClose(got, layerNormAddRef(toRef(x), toRef(y), null, null), { rtol: 1e-4, atol: 1e-4 });
    expectClose(m, toRef(f(x, y)[1]), { rtol: 1e-5, atol: 1e-5 });
  });
});

describe('softmax prologue', () => {
  for (const n of [1, 7, 33, 384]) {
    test(`softmax(x * 0.125 + mask) with a broadcast mask over rows of ${n} is one softmax call`, () => {
      const f = (x: tj.Tensor, m: tj.Tensor) => tj.softmax(tj.add(tj.mul(x, 0.125), m), -1);
      const c = compileNative((x, m) => f(x as tj.Tensor, m as tj.Tensor));
      const x = rand([2, 3, 5, n], 1, -20, 20), m = rand([2, 1, 1, n], 2, -5, 0);
      const got = c(x, m) as tj.Tensor;
      expect(kernelsOf(c)).toEqual(['softmax+mul+add']);
      expectClose(got, toRef(f(x, m)), { rtol: 1e-6, atol: 1e-7 }, 'vs eager');
      expectClose(got, softmaxRef(toRef(x), 0.125, toRef(m)), { rtol: 1e-5, atol: 1e-6 }, 'vs float64');
    });
  }

  test('softmax(x + mask) and softmax(x * s) alone', () => {
    const fa = (x: tj.Tensor, m: tj.Tensor) => tj.softmax(tj.add(m, x), -1);
    const fm = (x: tj.Tensor) => tj.softmax(tj.mul(x, 0.5), 1);
    const ca = compileNative((x, m) => fa(x as tj.Tensor, m as tj.Tensor));
    const cm = compileNative((x) => fm(x as tj.Tensor));
    const x = rand([6, 33], 3, -10, 10), m = rand([6, 1], 4);
    const ga = ca(x, m) as tj.Tensor, gm = cm(x) as tj.Tensor;
    expect(kernelsOf(ca)).toEqual(['softmax+add']);
    expect(kernelsOf(cm)).toEqual(['softmax+mul']);
    expectClose(ga, softmaxRef(toRef(x), 1, toRef(m)), { rtol: 1e-5, atol: 1e-6 });
    expectClose(gm, softmaxRef(toRef(x), 0.5, null), { rtol: 1e-5, atol: 1e-6 });
  });

  test('softmax(x / s + mask) divides exactly as eager (attention written with div)', () => {
    const f = (x: tj.Tensor, m: tj.Tensor) => tj.softmax(tj.add(tj.div(x, 3), m), -1);
    const g = (x: tj.Tensor) => tj.softmax(tj.div(x, 0.3), -1);
    const cf = compileNative((x, m) => f(x as tj.Tensor, m as tj.Tensor));
    const cg = compileNative((x) => g(x as tj.Tensor));
    const x = rand([3, 4, 33], 11, -10, 10), m = rand([4, 33], 12);
    const gf = cf(x, m) as tj.Tensor, gg = cg(x) as tj.Tensor;
    expect(kernelsOf(cf)).toEqual(['softmax+div+add']);
    expect(kernelsOf(cg)).toEqual(['softmax+div']);
    expectClose(gf, toRef(f(x, m)), { rtol: 1e-6, atol: 1e-7 });
    expectClose(gg, toRef(g(x)), { rtol: 1e-6, atol: 1e-7 });
    expectClose(gf, softmaxRef(toRef(x), 1 / 3, toRef(m)), { rtol: 1e-5, atol: 1e-6 });
  });

  test('rows masked to all -inf give NaN as eager; partly masked rows ignore the masked entries', () => {
    const f = (x: tj.Tensor, m: tj.Tensor) => tj.softmax(tj.add(tj.mul(x, 0.125), m), -1);
    const c = compileNative((x, m) => f(x as tj.Tensor, m as tj.Tensor));
    const n = 33;
    const maskValues = Array.from({ length: 4 * n }, (_, i) => (Math.floor(i / n) === 1 || (Math.floor(i / n) === 2 && i % 3 === 0) ? -Infinity : 0));
    const x = rand([2, 4, n], 5, -10, 10), m = makeTensor(maskValues, [4, n]);
    const got = c(x, m) as tj.Tensor;
    expect(kernelsOf(c)).toEqual(['softmax+mul+add']);
    const eager = toRef(f(x, m));
    expect(Number.isNaN(eager.data[n])).toBe(true);
    expectClose(got, eager, { rtol: 1e-6, atol: 1e-7 });
    expectClose(got, softmaxRef(toRef(x), 0.125, toRef(m)), { rtol: 1e-5, atol: 1e-6 });
  });

  test('softmax over a non-last dim and a transposed input with a prologue', () => {
    const f = (x: tj.Tensor, m: tj.Tensor) => tj.softmax(tj.add(tj.mul(x, 3), m), 0);
    const c = compileNative((x, m) => f(x as tj.Tensor, m as tj.Tensor));
    const x = makeTensor(randomValues(7 * 33, 6), [7, 33], 'float32', 'transposed'), m = rand([7, 1], 7);
    const got = c(x, m) as tj.Tensor;
    expect(kernelsOf(c)).toEqual(['softmax+mul+add']);
    expectClose(got, toRef(f(x, m)), { rtol: 1e-6, atol: 1e-7 });
  });

  test('an intermediate with a second reader is not fused and stays correct', () => {
    const f = (x: tj.Tensor, m: tj.Tensor) => {
      const s = tj.mul(x, 0.125);
      return [tj.softmax(tj.add(s, m), -1), tj.sum(s, -1)];
    };
    const c = compileNative((x, m) => f(x as tj.Tensor, m as tj.Tensor));
    const x = rand([4, 33], 8), m = rand([33], 9);
    const [got, sum] = c(x, m) as tj.Tensor[];
    expect(kernelsOf(c)).toContain('softmax+add'); // the scale has another reader: only the mask is folded
    expectClose(got, softmaxRef(toRef(x), 0.125, toRef(m)), { rtol: 1e-5, atol: 1e-6 });
    expectClose(sum, toRef(f(x, m)[1]), { rtol: 1e-5, atol: 1e-5 });
  });

  test('logSoftmax takes the same prologue', () => {
    const f = (x: tj.Tensor) => tj.logSoftmax(tj.mul(x, 0.25), -1);
    const c = compileNative((x) => f(x as tj.Tensor));
    const x = rand([3, 7], 10, -10, 10);
    const got = c(x) as tj.Tensor;
    expect(kernelsOf(c)).toEqual(['logSoftmax+mul']);
    expectClose(got, toRef(f(x)), { rtol: 1e-6, atol: 1e-6 });
  });
});

describe('conv2d epilogues', () => {
  const w = rand([6, 4, 3, 3], 20, -0.5, 0.5), b = rand([6], 21);

  test('conv2d + relu is one conv2d call', () => {
    const f = (x: tj.Tensor) => tj.relu(tj.conv2d(x, w, b, { padding: 1 }));
    const c = compileNative((x) => f(x as tj.Tensor));
    const x = rand([2, 4, 9, 7], 22);
    const got = c(x) as tj.Tensor;
    expect(kernelsOf(c)).toEqual(['conv2d+relu']);
    expectClose(got, toRef(f(x)), { rtol: 1e-5, atol: 1e-5 }, 'vs eager');
    expectClose(got, conv2dRef(toRef(x), toRef(w), toRef(b), 1, relu), { rtol: 1e-4, atol: 1e-4 }, 'vs float64');
  });

  test('relu(conv2d) + residual and relu(conv2d + residual) (ResNet order)', () => {
    const after = (x: tj.Tensor, r: tj.Tensor) => tj.add(tj.relu(tj.conv2d(x, w, b, { padding: 1 })), r);
    const before = (x: tj.Tensor, r: tj.Tensor) => tj.relu(tj.add(r, tj.conv2d(x, w, b, { padding: 1 })));
    const ca = compileNative((x, r) => after(x as tj.Tensor, r as tj.Tensor));
    const cb = compileNative((x, r) => before(x as tj.Tensor, r as tj.Tensor));
    const x = rand([2, 4, 9, 33], 23), r = rand([2, 6, 9, 33], 24);
    const ga = ca(x, r) as tj.Tensor, gb = cb(x, r) as tj.Tensor;
    expect(kernelsOf(ca)).toEqual(['conv2d+relu+add']);
    expect(kernelsOf(cb)).toEqual(['conv2d+add+relu']);
    const xr = toRef(x), wr = toRef(w), br = toRef(b), rr = toRef(r);
    expectClose(ga, conv2dRef(xr, wr, br, 1, (v, i) => relu(v) + rr.data[i]), { rtol: 1e-4, atol: 1e-4 });
    expectClose(gb, conv2dRef(xr, wr, br, 1, (v, i) => relu(v + rr.data[i])), { rtol: 1e-4, atol: 1e-4 });
    expectClose(ga, toRef(after(x, r)), { rtol: 1e-5, atol: 1e-5 });
    expectClose(gb, toRef(before(x, r)), { rtol: 1e-5, atol: 1e-5 });
  });

  test('a non-contiguous residual, a 1x1 conv without bias, and gelu', () => {
    const w1 = rand([5, 4, 1, 1], 25);
    const f = (x: tj.Tensor, r: tj.Tensor) => tj.gelu(tj.add(tj.conv2d(x, w1), r));
    const c = compileNative((x, r) => f(x as tj.Tensor, r as tj.Tensor));
    const x = rand([1, 4, 3, 7], 26);
    const r = makeTensor(randomValues(5 * 3 * 7, 27), [1, 5, 3, 7], 'float32', 'sliced');
    const got = c(x, r) as tj.Tensor;
    expect(kernelsOf(c)).toEqual(['conv2d+add+gelu']);
    expectClose(got, toRef(f(x, r)), { rtol: 1e-5, atol: 1e-5 });
  });

  test('grouped, depthwise, unbatched and GEMV-shaped convs with a residual in both orders', () => {
    const cases: { x: number[]; w: number[]; groups: number; pad: number }[] = [
      { x: [2, 4, 6, 5], w: [6, 2, 3, 3], groups: 2, pad: 1 }, // Og = 3
      { x: [1, 4, 7, 9], w: [4, 1, 3, 3], groups: 4, pad: 1 }, // depthwise, Og = 1
      { x: [1, 3, 5, 7], w: [1, 3, 1, 1], groups: 1, pad: 0 }, // one output channel, 1x1: GEMV
      { x: [3, 1, 1], w: [5, 3, 1, 1], groups: 1, pad: 0 }, // unbatched, one pixel
    ];
    for (const [k, cs] of cases.entries()) {
      const wt = rand(cs.w, 40 + k, -0.5, 0.5), bt = rand([cs.w[0]], 50 + k);
      const conv = (x: tj.Tensor) => tj.conv2d(x, wt, bt, { padding: cs.pad, groups: cs.groups });
      const x = rand(cs.x, 60 + k);
      const r = rand(conv(x).shape, 70 + k);
      for (const order of ['act-add', 'add-act'] as const) {
        const f = (xx: tj.Tensor, rr: tj.Tensor) => (order === 'act-add' ? tj.add(tj.relu(conv(xx)), rr) : tj.relu(tj.add(conv(xx), rr)));
        const c = compileNative((xx, rr) => f(xx as tj.Tensor, rr as tj.Tensor));
        const got = c(x, r) as tj.Tensor;
        expect(kernelsOf(c), `case ${k} ${order}`).toEqual([order === 'act-add' ? 'conv2d+relu+add' : 'conv2d+add+relu']);
        const plain = toRef(conv(x)), rr = toRef(r);
        const want = { shape: plain.shape, data: plain.data.map((v, i) => (order === 'act-add' ? relu(v) + rr.data[i] : relu(v + rr.data[i]))) };
        expectClose(got, want, { rtol: 1e-5, atol: 1e-5 }, `case ${k} ${order}`);
      }
    }
  });

  test('a conv output with a second reader keeps its relu separate', () => {
    const f = (x: tj.Tensor) => {
      const y = tj.conv2d(x, w, b, { padding: 1 });
      return [tj.relu(y), tj.sum(y)];
    };
    const c = compileNative((x) => f(x as tj.Tensor));
    const x = rand([1, 4, 5, 5], 28);
    const [got, s] = c(x) as tj.Tensor[];
    expect(kernelsOf(c)).toContain('conv2d');
    expect(kernelsOf(c).some((k) => k.startsWith('conv2d+'))).toBe(false);
    expectClose(got, conv2dRef(toRef(x), toRef(w), toRef(b), 1, relu), { rtol: 1e-4, atol: 1e-4 });
    expectClose(s, toRef(f(x)[1]), { rtol: 1e-4, atol: 1e-4 });
  });

  test('a residual computed after the conv is not absorbed (it would not exist yet)', () => {
    const f = (x: tj.Tensor, r: tj.Tensor) => tj.add(tj.conv2d(x, w, b, { padding: 1 }), tj.exp(r));
    const c = compileNative((x, r) => f(x as tj.Tensor, r as tj.Tensor));
    const x = rand([1, 4, 5, 5], 29), r = rand([1, 6, 5, 5], 30);
    const got = c(x, r) as tj.Tensor;
    expectClose(got, toRef(f(x, r)), { rtol: 1e-5, atol: 1e-5 });
  });
});

describe('empty and 0-d tensors through the fused kernels', () => {
  test('empty rows, an empty batch and a 0-d softmax', () => {
    const ln = (x: tj.Tensor, y: tj.Tensor) => tj.layerNorm(tj.add(x, y), [7]);
    const sm = (x: tj.Tensor, m: tj.Tensor) => tj.softmax(tj.add(tj.mul(x, 2), m), -1);
    const cl = compileNative((x, y) => ln(x as tj.Tensor, y as tj.Tensor));
    const cs = compileNative((x, m) => sm(x as tj.Tensor, m as tj.Tensor));
    expect((cl(rand([0, 7], 1), rand([7], 2)) as tj.Tensor).shape).toEqual([0, 7]);
    expect(kernelsOf(cl)).toEqual(['layerNorm+add']);
    expect((cs(rand([3, 0], 1), rand([0], 2)) as tj.Tensor).shape).toEqual([3, 0]);
    const zero = cs(tj.tensor(5), tj.tensor(-1)) as tj.Tensor;
    expect(kernelsOf(cs)).toEqual(['softmax+mul+add']);
    expect(zero.shape).toEqual([]);
    expect(zero.toArray()).toBe(1);
    const w = rand([2, 3, 3, 3], 3), cv = (x: tj.Tensor) => tj.relu(tj.conv2d(x, w, null, { padding: 1 }));
    const cc = compileNative((x) => cv(x as tj.Tensor));
    expect((cc(rand([0, 3, 4, 4], 4)) as tj.Tensor).shape).toEqual([0, 2, 4, 4]);
  });
});

describe('in a post-norm attention block', () => {
  test('the scores softmax takes its div and mask, the output layerNorm its residual', () => {
    const D = 64, H = 4, S = 16, B = 2;
    const [wq, wk, wv, wo] = [1, 2, 3, 4].map((k) => rand([D, D], k, -0.2, 0.2));
    const g = rand([D], 5), bb = rand([D], 6);
    const heads = (t: tj.Tensor) => tj.transpose(tj.reshape(t, [B, S, H, D / H]), 1, 2);
    const block = (x: tj.Tensor, mask: tj.Tensor) => {
      const q = heads(tj.linear(x, wq)), k = heads(tj.linear(x, wk)), v = heads(tj.linear(x, wv));
      const att = tj.softmax(tj.add(tj.div(tj.matmul(q, tj.transpose(k, -2, -1)), Math.sqrt(D / H)), mask), -1);
      const o = tj.reshape(tj.transpose(tj.matmul(att, v), 1, 2), [B, S, D]);
      return tj.layerNorm(tj.add(x, tj.linear(o, wo)), [D], g, bb, 1e-5);
    };
    const c = compileNative((x, m) => block(x as tj.Tensor, m as tj.Tensor));
    const maskValues = Array.from({ length: B * S }, (_, i) => (i % S > 11 ? -Infinity : 0));
    const x = rand([B, S, D], 7), m = makeTensor(maskValues, [B, 1, 1, S]);
    const got = c(x, m) as tj.Tensor;
    const kernels = kernelsOf(c);
    expect(kernels).toContain('softmax+div+add');
    expect(kernels).toContain('layerNorm+add');
    expect(kernels.filter((k) => k === 'add' || k === 'div' || k.startsWith('fused['))).toEqual([]);
    expectClose(got, toRef(block(x, m)), { rtol: 1e-5, atol: 1e-5 });
  });
});

describe('BAD CALL: the new operands are validated by the kernels', () => {
  // Programs are untrusted: run the kernels directly with wrong prologue/epilogue operands.
  const exec = (kernel: string, ins: tj.Tensor[], out: tj.Tensor, attrs: number[]) => {
    const { buffers, meta } = packTensors([...ins, out]);
    native.exec(kernelId(kernel), buffers, meta, ins.length, Float64Array.from(attrs));
    return out;
  };
  const x = rand([2, 3], 1);
  const out = () => Tensor.empty([2, 3], 'float32');

  test('layerNorm: a residual that does not broadcast, of the wrong dtype, or missing', () => {
    expect(() => exec('layerNorm', [x, rand([4], 2)], out(), [1, 1e-5, 0, 0, 1])).toThrow(/layerNorm: residual \[4\]/);
    expect(() => exec('layerNorm', [x, tj.tensor([1, 2, 3], { dtype: 'int32' })], out(), [1, 1e-5, 0, 0, 1])).toThrow(TypeError);
    expect(() => exec('layerNorm', [x], out(), [1, 1e-5, 0, 0, 1])).toThrow(RangeError);
    expect(() => exec('layerNorm', [x, x], out(), [1, 1e-5, 0, 0, 1, 0])).toThrow(RangeError);
    // a second output (the sum) needs a residual and x's shape
    const execOuts = (ins: tj.Tensor[], outs: tj.Tensor[], attrs: number[]) => {
      const { buffers, meta } = packTensors([...ins, ...outs]);
      native.exec(kernelId('layerNorm'), buffers, meta, ins.length, Float64Array.from(attrs));
    };
    expect(() => execOuts([x], [out(), out()], [1, 1e-5, 0, 0])).toThrow(/needs hasResidual/);
    expect(() => execOuts([x, x], [out(), Tensor.empty([3, 2], 'float32')], [1, 1e-5, 0, 0, 1])).toThrow(/layerNorm: sum output \[3, 2\]/);
    expect(() => execOuts([x, x], [out(), out(), out()], [1, 1e-5, 0, 0, 1])).toThrow(RangeError);
    // a broadcast residual is accepted and normalises x + residual
    const r = rand([3], 3);
    expectClose(exec('layerNorm', [x, r], out(), [1, 1e-5, 0, 0, 1]), layerNormAddRef(toRef(x), toRef(r), null, null), { rtol: 1e-4, atol: 1e-4 });
  });

  test('softmax: a mask that does not broadcast, wrong dtype, wrong operand count', () => {
    expect(() => exec('softmax', [x, rand([2], 2)], out(), [1, 1, 1])).toThrow(/softmax: mask \[2\]/);
    expect(() => exec('softmax', [x, tj.tensor([1, 2, 3], { dtype: 'int32' })], out(), [1, 1, 1])).toThrow(TypeError);
    expect(() => exec('softmax', [x], out(), [1, 1, 1])).toThrow(RangeError);
    expect(() => exec('softmax', [x, x], out(), [1, 1, 0])).toThrow(RangeError);
    expect(() => exec('softmax', [x], out(), [1, 1])).toThrow(RangeError);
    expect(() => exec('softmax', [x], out(), [1, 1, 0, 1, 0])).toThrow(RangeError);
    expectClose(exec('softmax', [x], out(), [1, 4, 0, 1]), softmaxRef(toRef(x), 0.25, null), { rtol: 1e-5, atol: 1e-6 });
    expectClose(exec('softmax', [x], out(), [1, 2, 0]), softmaxRef(toRef(x), 2, null), { rtol: 1e-5, atol: 1e-6 });
  });

  test('conv2d: bad epilogue codes and residuals', () => {
    const cx = rand([1, 2, 4, 4], 4), cw = rand([3, 2, 3, 3], 5), res = rand([1, 3, 2, 2], 6);
    const cout = () => Tensor.empty([1, 3, 2, 2], 'float32');
    const geo = [1, 1, 0, 0, 0, 0, 1, 1, 1, 0];
    expect(() => exec('conv2d', [cx, cw], cout(), [...geo, 7, 0])).toThrow(RangeError);
    expect(() => exec('conv2d', [cx, cw], cout(), [...geo, -1, 0])).toThrow(RangeError);
    expect(() => exec('conv2d', [cx, cw, res], cout(), [...geo, 1, 3])).toThrow(RangeError);
    expect(() => exec('conv2d', [cx, cw], cout(), [...geo, 1, 1])).toThrow(RangeError);
    expect(() => exec('conv2d', [cx, cw], cout(), [...geo, 1])).toThrow(RangeError);
    expect(() => exec('conv2d', [cx, cw, rand([1, 3, 2, 3], 7)], cout(), [...geo, 0, 1])).toThrow(/conv2d: residual/);
    expect(() => exec('conv2d', [cx, cw, tj.zeros([1, 3, 2, 2], { dtype: 'int32' })], cout(), [...geo, 0, 1])).toThrow(TypeError);
    const plain = toRef(exec('conv2d', [cx, cw], cout(), geo)), rr = toRef(res);
    expectClose(exec('conv2d', [cx, cw, res], cout(), [...geo, 1, 2]), { shape: plain.shape, data: plain.data.map((v, i) => relu(v + rr.data[i])) }, { rtol: 1e-5, atol: 1e-5 });
  });

  test('matmul and linear: bad epilogue codes and residuals', () => {
    const a = rand([3, 4], 8), b = rand([4, 5], 9), w = rand([5, 4], 10), res = rand([3, 5], 11);
    const mout = () => Tensor.empty([3, 5], 'float32');
    expect(() => exec('matmul', [a, b], mout(), [7, 0])).toThrow(/matmul: epilogue activation 7/);
    expect(() => exec('matmul', [a, b], mout(), [1.5, 0])).toThrow(RangeError);
    expect(() => exec('matmul', [a, b], mout(), [1])).toThrow(RangeError);
    expect(() => exec('matmul', [a, b], mout(), [1, 1])).toThrow(/residual input is missing/);
    expect(() => exec('matmul', [a, b, res], mout(), [1, 3])).toThrow(/residual mode 3/);
    expect(() => exec('matmul', [a, b, rand([3, 4], 12)], mout(), [0, 1])).toThrow(/matmul: residual \[3, 4\]/);
    expect(() => exec('matmul', [a, b, tj.zeros([3, 5], { dtype: 'int32' })], mout(), [0, 1])).toThrow(/float32/);
    expect(() => exec('linear', [a, w, res], mout(), [0, 9, 1])).toThrow(/linear: epilogue activation 9/);
    expect(() => exec('linear', [a, w], mout(), [0, 1, 1])).toThrow(RangeError);
    const plain = toRef(exec('matmul', [a, b], mout(), [])), rr = toRef(res);
    const want = { shape: plain.shape, data: plain.data.map((v, i) => relu(v) + rr.data[i]) };
    expectClose(exec('matmul', [a, b, res], mout(), [1, 1]), want, { rtol: 1e-5, atol: 1e-5 });
    expectClose(exec('linear', [a, tj.transpose(b, 0, 1), res], mout(), [0, 1, 1]), want, { rtol: 1e-5, atol: 1e-5 });
    // residual mode 2: the residual before the activation
    const wantFirst = { shape: plain.shape, data: plain.data.map((v, i) => relu(v + rr.data[i])) };
    expectClose(exec('matmul', [a, b, res], mout(), [1, 2]), wantFirst, { rtol: 1e-5, atol: 1e-5 });
    expectClose(exec('linear', [a, tj.transpose(b, 0, 1), res], mout(), [0, 1, 2]), wantFirst, { rtol: 1e-5, atol: 1e-5 });
  });

  test('a residual that is the output buffer itself (K longer than one GEMM block) is read before it is overwritten', () => {
    const a = rand([9, 700], 13, -1, 1), b = rand([700, 10], 14, -1, 1), res = rand([9, 10], 15);
    const want = toRef(tj.add(tj.matmul(a, b), res));
    expectClose(exec('matmul', [a, b, res], res, [0, 1]), want, { rtol: 1e-5, atol: 1e-4 });
    const cx = rand([1, 64, 6, 5], 16, -1, 1), cw = rand([3, 64, 3, 3], 17, -1, 1), cr = rand([1, 3, 4, 3], 18);
    const geo = [1, 1, 0, 0, 0, 0, 1, 1, 1, 0];
    const conv = toRef(exec('conv2d', [cx, cw], Tensor.empty([1, 3, 4, 3], 'float32'), geo)), crr = toRef(cr);
    expectClose(exec('conv2d', [cx, cw, cr], cr, [...geo, 0, 1]), { shape: conv.shape, data: conv.data.map((v, i) => v + crr.data[i]) }, { rtol: 1e-5, atol: 1e-4 });
  });
});
