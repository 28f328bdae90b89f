import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { expectClose, randomValues, ref } from '../helpers/reference';
import * as R from './nn_reference';

const { nn } = tj;
const F = nn.functional;
const TOL = { rtol: 1e-4, atol: 1e-5 };

let seed = 100;
function rnd(shape: number[], lo = -1, hi = 1): tj.Tensor {
  return tj.tensor(randomValues(shape.reduce((a, b) => a * b, 1), seed++, 'float32', lo, hi), { shape });
}
const arr = (t: tj.Tensor) => t.toArray() as any;
const close = (t: tj.Tensor, nested: unknown, shape: number[], what = '') => expectClose(t, ref(shape, R.flat(nested)), TOL, what);

describe('tj.nn.functional', () => {
  test('re-exports the registry ops under torch.nn.functional names', () => {
    for (const name of ['relu', 'gelu', 'silu', 'softmax', 'logSoftmax', 'linear', 'layerNorm', 'embedding', 'conv2d',
      'maxPool2d', 'avgPool2d', 'scaledDotProductAttention'] as const) {
      expect(F[name], name).toBe((tj as unknown as Record<string, unknown>)[name]);
    }
    expect(typeof F.dropout).toBe('function');
  });

  test('dropout: identity when not training or p = 0, zeros when p = 1, scaled survivors otherwise', () => {
    const x = tj.ones([10000]);
    expect(F.dropout(x, 0.5, false)).toBe(x);
    expect(F.dropout(x, 0)).toBe(x);
    expect(Array.from(F.dropout(x, 1).dataSync() as Float32Array).every((v) => v === 0)).toBe(true);
    tj.manualSeed(5);
    const y = Array.from(F.dropout(x, 0.25).dataSync() as Float32Array);
    const zeros = y.filter((v) => v === 0).length;
    expect(zeros / y.length).toBeGreaterThan(0.22);
    expect(zeros / y.length).toBeLessThan(0.28);
    expect(y.filter((v) => v !== 0).every((v) => Math.abs(v - 4 / 3) < 1e-6)).toBe(true);
    tj.manualSeed(5);
    expect(Array.from(F.dropout(x, 0.25).dataSync() as Float32Array)).toEqual(y);
    expect(() => F.dropout(x, -0.1)).toThrow(RangeError);
    expect(() => F.dropout(3 as unknown as tj.Tensor)).toThrow(/dropout: argument 'input' must be a Tensor/);
  });
});

describe('layers match float64 references', () => {
  test('Linear with and without bias, 1-d to 3-d inputs and a strided input', () => {
    const fc = new nn.Linear(5, 3);
    const w = arr(fc.weight), b = arr(fc.bias!);
    for (const shape of [[5], [4, 5], [2, 3, 5]]) {
      const x = rnd(shape);
      const rows = (x.reshape([-1, 5]).toArray() as number[][]);
      close(fc.forward(x), R.linearRows(rows, w, b), [...shape.slice(0, -1), 3], `Linear ${shape}`);
    }
    const xt = rnd([5, 4]).transpose(0, 1);
    close(fc.forward(xt), R.linearRows(arr(xt), w, b), [4, 3]);
    const nb = new nn.Linear(5, 2, { bias: false });
    const x = rnd([3, 5]);
    close(nb.forward(x), R.linearRows(arr(x), arr(nb.weight), null), [3, 2]);
  });

  test('LayerNorm over one and two trailing dims, with and without affine', () => {
    const ln = new nn.LayerNorm(6, { eps: 1e-3 });
    ln.loadStateDict({ weight: rnd([6]), bias: rnd([6]) });
    const x = rnd([4, 6], -3, 3);
    close(ln.forward(x), (arr(x) as number[][]).map((r) => R.layerNormRow(r, arr(ln.weight!), arr(ln.bias!), 1e-3)), [4, 6]);
    const ln2 = new nn.LayerNorm([2, 3], { elementwiseAffine: false });
    expect(ln2.parameters()).toEqual([]);
    const x2 = rnd([5, 2, 3]);
    const rows = (x2.reshape([5, 6]).toArray() as number[][]).map((r) => R.layerNormRow(r, null, null, 1e-5));
    close(ln2.forward(x2), rows, [5, 2, 3]);
    const ln3 = new nn.LayerNorm(4, { bias: false });
    expect(Object.keys(ln3.stateDict())).toEqual(['weight']);
    const x3 = rnd([2, 4]);
    close(ln3.forward(x3), (arr(x3) as number[][]).map((r) => R.layerNormRow(r, [1, 1, 1, 1], null, 1e-5)), [2, 4]);
  });

  test('Embedding looks rows up for int64 and int32 indices of any rank', () => {
    const emb = new nn.Embedding(7, 3, { paddingIdx: 0 });
    const table = arr(emb.weight) as number[][];
    const idx = tj.tensor(new BigInt64Array([0n, 6n, 2n, 2n]), { shape: [2, 2] });
    close(emb.forward(idx), [[table[0], table[6]], [table[2], table[2]]], [2, 2, 3]);
    close(emb.forward(tj.tensor(new Int32Array([5]), { shape: [] })), table[5], [3]);
    expect(table[0]).toEqual([0, 0, 0]);
  });

  test('Conv2d: padding, stride, dilation, groups, no bias, same', () => {
    const cases: [number, number, number | [number, number], tj.nn.Conv2dOptions][] = [
      [3, 4, 3, {}],
      [4, 6, [3, 2], { stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2 }],
      [2, 2, 3, { padding: 'same', bias: false }],
    ];
    for (const [cin, cout, k, opts] of cases) {
      const conv = new nn.Conv2d(cin, cout, k, opts);
      const x = rnd([2, cin, 7, 6]);
      const pad: [number, number] = conv.padding === 'same' ? [1, 1] : conv.padding === 'valid' ? [0, 0] : conv.padding;
      const want = R.conv2d(arr(x), arr(conv.weight), conv.bias ? arr(conv.bias) : null, conv.stride, pad, conv.dilation, conv.groups);
      const y = conv.forward(x);
      close(y, want, [2, cout, want[0][0].length, want[0][0][0].length], `Conv2d ${JSON.stringify(opts)}`);
    }
  });

  test('ReLU and GELU (exact and tanh)', () => {
    const x = tj.tensor([-3, -0.5, 0, 0.5, 3, NaN]);
    expect(arr(new nn.ReLU().forward(x)).slice(0, 5)).toEqual([0, 0, 0, 0.5, 3]);
    const xs = [-3, -0.5, 0, 0.5, 3];
    close(new nn.GELU().forward(tj.tensor(xs)), xs.map(R.geluExact), [5]);
    close(new nn.GELU('tanh').forward(tj.tensor(xs)), xs.map(R.geluTanh), [5]);
    close(new nn.GELU({ approximate: 'tanh' }).forward(tj.tensor(xs)), xs.map(R.geluTanh), [5]);
  });

  test('Dropout uses the RNG in training and is the identity in eval', () => {
    const d = new nn.Dropout(0.5);
    const x = tj.ones([2000]);
    tj.manualSeed(9);
    const y = Array.from(d.forward(x).dataSync() as Float32Array);
    expect(new Set(y)).toEqual(new Set([0, 2]));
    d.eval();
    expect(d.forward(x)).toBe(x);
  });

  test('Sequential chains its modules', () => {
    const fc1 = new nn.Linear(4, 8), fc2 = new nn.Linear(8, 2);
    const seq = new nn.Sequential(fc1, new nn.ReLU(), fc2);
    const x = rnd([3, 4]);
    const h = R.linearRows(arr(x), arr(fc1.weight), arr(fc1.bias!)).map((r) => r.map((v) => Math.max(v, 0)));
    close(seq.forward(x), R.linearRows(h, arr(fc2.weight), arr(fc2.bias!)), [3, 2]);
  });
});

describe('MultiheadAttention matches a float64 reference', () => {
  function params(m: tj.nn.MultiheadAttention): R.MhaParams {
    const E = m.embedDim;
    const rows = (t: tj.Tensor | null, i: number) => (t ? (arr(t) as number[][]).slice(i * E, (i + 1) * E) : null);
    const bias = (i: number) => (m.in_proj_bias ? (arr(m.in_proj_bias) as number[]).slice(i * E, (i + 1) * E) : null);
    return {
      wq: m.in_proj_weight ? rows(m.in_proj_weight, 0)! : arr(m.q_proj_weight!),
      wk: m.in_proj_weight ? rows(m.in_proj_weight, 1)! : arr(m.k_proj_weight!),
      wv: m.in_proj_weight ? rows(m.in_proj_weight, 2)! : arr(m.v_proj_weight!),
      bq: bias(0), bk: bias(1), bv: bias(2),
      wo: arr(m.out_proj.weight), bo: m.out_proj.bias ? arr(m.out_proj.bias) : null,
      biasK: m.bias_k ? (arr(m.bias_k) as number[][][])[0][0] : null,
      biasV: m.bias_v ? (arr(m.bias_v) as number[][][])[0][0] : null,
    };
  }
  /** torch zero-initialises the biases; random ones make the test see them. */
  function randomizeBiases(m: tj.nn.MultiheadAttention): void {
    const sd = m.stateDict();
    const fresh: Record<string, tj.Tensor> = {};
    for (const [k, t] of Object.entries(sd)) fresh[k] = k.includes('bias') ? rnd(t.shape) : t;
    m.loadStateDict(fresh);
  }

  test('batchFirst self-attention without masks (SDPA path)', () => {
    const m = new nn.MultiheadAttention(8, 2, { batchFirst: true });
    randomizeBiases(m);
    const x = rnd([2, 5, 8]);
    const [y, w] = m.forward(x, x, x);
    expect(w).toBeNull();
    close(y, R.mha(arr(x), arr(x), arr(x), params(m), 2, null).y, [2, 5, 8]);
  });

  test('sequence-first layout with weights averaged over heads and per head', () => {
    const m = new nn.MultiheadAttention(8, 4);
    randomizeBiases(m);
    const q = rnd([3, 2, 8]), kv = rnd([5, 2, 8]);
    const want = R.mha(R.transpose01(arr(q)), R.transpose01(arr(kv)), R.transpose01(arr(kv)), params(m), 4, null);
    const [y, w] = m.forward(q, kv, kv, { needWeights: true });
    close(y, R.transpose01(want.y), [3, 2, 8]);
    const avg = want.w.map((wn) => wn[0].map((_, i) => wn[0][i].map((_, j) => wn.reduce((s, wh) => s + wh[i][j], 0) / 4)));
    close(w!, avg, [2, 3, 5]);
    const [, wh] = m.forward(q, kv, kv, { needWeights: true, averageAttnWeights: false });
    close(wh!, want.w, [2, 4, 3, 5]);
  });

  test('bool attnMask (true = masked) with bool keyPaddingMask, and a float 3-d attnMask', () => {
    const m = new nn.MultiheadAttention(6, 2, { batchFirst: true });
    randomizeBiases(m);
    const q = rnd([2, 3, 6]), k = rnd([2, 4, 6]), v = rnd([2, 4, 6]);
    const am = [[false, true, false, false], [false, false, true, true], [true, false, false, false]];
    const kpm = [[false, false, false, true], [true, false, false, false]];
    const maskFn = (n: number, _h: number, i: number, j: number) => (am[i][j] || kpm[n][j] ? -Infinity : 0);
    const want = R.mha(arr(q), arr(k), arr(v), params(m), 2, maskFn);
    const [y] = m.forward(q, k, v, { attnMask: tj.tensor(am), keyPaddingMask: tj.tensor(kpm) });
    close(y, want.y, [2, 3, 6], 'sdpa path');
    const [y2, w2] = m.forward(q, k, v, { attnMask: tj.tensor(am), keyPaddingMask: tj.tensor(kpm), needWeights: true });
    close(y2, want.y, [2, 3, 6], 'explicit path');
    expect(arr(w2!)[0][0][1]).toBe(0);

    const fm = rnd([4, 3, 4], -2, 2);
    const fmv = arr(fm) as number[][][];
    const want3 = R.mha(arr(q), arr(k), arr(v), params(m), 2, (n, h, i, j) => fmv[n * 2 + h][i][j]);
    close(m.forward(q, k, v, { attnMask: fm })[0], want3.y, [2, 3, 6], 'float 3-d mask');
  });

  test('unbatched inputs with a 1-d keyPaddingMask', () => {
    const m = new nn.MultiheadAttention(4, 2);
    randomizeBiases(m);
    const q = rnd([3, 4]), k = rnd([5, 4]);
    const kpm = [false, true, false, false, true];
    const want = R.mha([arr(q)], [arr(k)], [arr(k)], params(m), 2, (_n, _h, _i, j) => (kpm[j] ? -Infinity : 0));
    const [y, w] = m.forward(q, k, k, { keyPaddingMask: tj.tensor(kpm), needWeights: true });
    close(y, want.y[0], [3, 4]);
    expect(w!.shape).toEqual([3, 5]);
  });

  test('kdim/vdim projections, bias_k/bias_v and zero attention', () => {
    const m = new nn.MultiheadAttention(8, 2, { kdim: 3, vdim: 5, addBiasKV: true, addZeroAttn: true, batchFirst: true });
    randomizeBiases(m);
    const q = rnd([2, 3, 8]), k = rnd([2, 4, 3]), v = rnd([2, 4, 5]);
    const kpm = [[false, false, true, false], [false, false, false, false]];
    const want = R.mha(arr(q), arr(k), arr(v), params(m), 2, (n, _h, _i, j) => (kpm[n][j] ? -Infinity : 0), true);
    const [y, w] = m.forward(q, k, v, { keyPaddingMask: tj.tensor(kpm), needWeights: true, averageAttnWeights: false });
    close(y, want.y, [2, 3, 8]);
    close(w!, want.w, [2, 2, 3, 6]);
    const noMask = R.mha(arr(q), arr(k), arr(v), params(m), 2, null, true);
    close(m.forward(q, k, v)[0], noMask.y, [2, 3, 8], 'no mask');
  });

  test('isCausal without a mask, on both paths; bias = false', () => {
    const m = new nn.MultiheadAttention(4, 1, { batchFirst: true, bias: false });
    const x = rnd([1, 4, 4]);
    const want = R.mha(arr(x), arr(x), arr(x), params(m), 1, (_n, _h, i, j) => (j > i ? -Infinity : 0));
    close(m.forward(x, x, x, { isCausal: true })[0], want.y, [1, 4, 4], 'sdpa isCausal');
    const [y, w] = m.forward(x, x, x, { isCausal: true, needWeights: true });
    close(y, want.y, [1, 4, 4], 'explicit causal');
    expect(arr(w!)[0][0].slice(1)).toEqual([0, 0, 0]);
    const kpm = tj.tensor([[false, false, true, false]]);
    const want2 = R.mha(arr(x), arr(x), arr(x), params(m), 1, (_n, _h, i, j) => (j > i || j === 2 ? -Infinity : 0));
    close(m.forward(x, x, x, { isCausal: true, keyPaddingMask: kpm })[0], want2.y, [1, 4, 4], 'causal + padding');
  });

  test('dropout on the attention weights only in training', () => {
    const m = new nn.MultiheadAttention(4, 2, { dropout: 0.5, batchFirst: true });
    const x = rnd([1, 3, 4]);
    const want = R.mha(arr(x), arr(x), arr(x), params(m), 2, null).y;
    m.eval();
    close(m.forward(x, x, x)[0], want, [1, 3, 4], 'eval');
    m.train();
    tj.manualSeed(1);
    const a = m.forward(x, x, x)[0].dataSync();
    tj.manualSeed(1);
    expect(m.forward(x, x, x)[0].dataSync()).toEqual(a);
    expect(Array.from(a as Float32Array)).not.toEqual(R.flat(want).map(Math.fround));
  });

  test('BAD CALL: shapes and mask dtypes are checked with clear errors', () => {
    const m = new nn.MultiheadAttention(4, 2, { batchFirst: true });
    const x = rnd([1, 3, 4]);
    expect(() => m.forward(rnd([1, 3, 5]), x, x)).toThrow(/MultiheadAttention: query \[1, 3, 5\] float32 should have embedDim 4/);
    expect(() => m.forward(x, x, x, { attnMask: tj.zeros([3, 2]) })).toThrow(/2-d attnMask is \[3,2\], but should be \[3, 3\]/);
    expect(() => m.forward(x, x, x, { keyPaddingMask: tj.zeros([1, 4]) })).toThrow(/keyPaddingMask \[1, 4\] float32 should have shape \[1,3\]/);
    expect(() => m.forward(x, x, x, { attnMask: tj.tensor(new Int32Array(9), { shape: [3, 3] }) })).toThrow(TypeError);
    expect(() => m.forward(rnd([4]), x, x)).toThrow(RangeError);
    expect(() => m.forward(x, rnd([3, 4]), x)).toThrow(/must have the same rank/);
  });
});
