import { afterEach, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { Layout, Ref, Tol, expectClose, makeTensor, numel, randomValues, stridesOf } from '../helpers/reference';

const TOL: Tol = { rtol: 1e-4, atol: 2e-5 };

interface RefOpts {
  mask?: Ref & { bool: boolean };
  causal?: boolean;
  scale?: number;
  gqa?: boolean;
}

/** Index into a broadcast operand: maps an output batch index to the operand's element offset. */
function batchOffsets(shape: number[], batch: number[], tail: number, gqa: boolean): (b: number) => number {
  const ob = shape.slice(0, shape.length - tail);
  const st = stridesOf(shape);
  const bst = stridesOf(batch);
  return (b) => {
    let off = 0;
    for (let d = 0; d < batch.length; d++) {
      const idx = Math.floor(b / bst[d]) % batch[d];
      const od = d - (batch.length - ob.length);
      if (od < 0 || ob[od] === 1) continue;
      const div = gqa && d === batch.length - 1 ? batch[d] / ob[od] : 1;
      off += Math.floor(idx / div) * st[od];
    }
    return off;
  };
}

/** F.scaled_dot_product_attention's math path in float64 (fully masked rows -> NaN). */
function refSdpa(q: Ref, k: Ref, v: Ref, o: RefOpts = {}): Ref {
  const [L, E] = q.shape.slice(-2);
  const S = k.shape[k.shape.length - 2], Ev = v.shape[v.shape.length - 1];
  const bs = [q, k, v].map((t) => t.shape.slice(0, -2));
  const nb = Math.max(...bs.map((b) => b.length));
  const batch = Array.from({ length: nb }, (_, i) => Math.max(...bs.map((b) => b[b.length - nb + i] ?? 1)));
  const count = numel(batch);
  const qo = batchOffsets(q.shape, batch, 2, false), ko = batchOffsets(k.shape, batch, 2, !!o.gqa),
    vo = batchOffsets(v.shape, batch, 2, !!o.gqa);
  let mo: ((b: number) => number) | null = null, mL = 0, mS = 0;
  if (o.mask) {
    const ms = o.mask.shape.length >= 2 ? o.mask.shape : [1, ...o.mask.shape];
    mo = batchOffsets(ms, batch, 2, false);
    const mst = stridesOf(ms);
    mL = ms[ms.length - 2] === 1 ? 0 : mst[ms.length - 2];
    mS = ms[ms.length - 1] === 1 ? 0 : mst[ms.length - 1];
  }
  const scale = o.scale ?? 1 / Math.sqrt(E);
  const out = new Float64Array(count * L * Ev);
  const s = new Float64Array(S);
  for (let b = 0; b < count; b++) {
    const qb = qo(b), kb = ko(b), vb = vo(b), mb = mo ? mo(b) : 0;
    for (let i = 0; i < L; i++) {
      let mx = -Infinity;
      for (let j = 0; j < S; j++) {
        let acc = 0;
        for (let e = 0; e < E; e++) acc += q.data[qb + i * E + e] * k.data[kb + j * E + e];
        acc *= scale;
        if (o.mask) {
          const mv = o.mask.data[mb + i * mL + j * mS];
          if (o.mask.bool) acc = mv ? acc : -Infinity;
          else acc += mv;
        }
        if (o.causal && j > i) acc = -Infinity;
        s[j] = acc;
        mx = Math.max(mx, acc);
      }
      let sum = 0;
      for (let j = 0; j < S; j++) {
        s[j] = Math.exp(s[j] - mx);
        sum += s[j];
      }
      for (let c = 0; c < Ev; c++) {
        let acc = 0;
        for (let j = 0; j < S; j++) acc += s[j] * v.data[vb + j * Ev + c];
        out[(b * L + i) * Ev + c] = S === 0 ? 0 : acc / sum;
      }
    }
  }
  return { shape: [...batch, L, Ev], data: out };
}

let seed = 500;
function operand(shape: number[], layout: Layout = 'contiguous', lo = -2, hi = 2): { t: tj.Tensor; r: Ref } {
  const vals = randomValues(numel(shape), seed++, 'float32', lo, hi);
  return { t: makeTensor(vals, shape, 'float32', layout), r: { shape, data: Float64Array.from(vals) } };
}
function boolMask(shape: number[], pTrue: number): { t: tj.Tensor; r: Ref & { bool: boolean } } {
  const vals = randomValues(numel(shape), seed++, 'float32', 0, 1).map((x) => (x < pTrue ? 1 : 0));
  return { t: tj.tensor(Uint8Array.from(vals), { shape, dtype: 'bool' }), r: { shape, data: Float64Array.from(vals), bool: true } };
}

function check(qs: number[], ks: number[], vs: number[], opts: tj.ScaledDotProductAttentionOptions = {},
  mask?: { t: tj.Tensor; r: Ref & { bool: boolean } }, layouts: Layout[] = ['contiguous', 'contiguous', 'contiguous']) {
  const q = operand(qs, layouts[0]), k = operand(ks, layouts[1]), v = operand(vs, layouts[2]);
  const got = mask ? tj.scaledDotProductAttention(q.t, k.t, v.t, mask.t, opts) : tj.scaledDotProductAttention(q.t, k.t, v.t, null, opts);
  const want = refSdpa(q.r, k.r, v.r, { mask: mask?.r, causal: opts.isCausal, scale: opts.scale ?? undefined, gqa: opts.enableGqa });
  expectClose(got, want, TOL, JSON.stringify({ qs, ks, vs, opts, layouts }));
}

afterEach(() => tj.setNumThreads(2));

describe('scaledDotProductAttention', () => {
  test('4-D, default scale', () => check([2, 3, 7, 8], [2, 3, 9, 8], [2, 3, 9, 8]));
  test('L != S and Ev != E', () => check([2, 2, 5, 16], [2, 2, 33, 16], [2, 2, 33, 12]));
  test('3-D inputs (no head dim) and 2-D inputs', () => {
    check([3, 7, 8], [3, 11, 8], [3, 11, 5]);
    check([4, 6], [5, 6], [5, 3]);
  });
  test('explicit scale', () => check([1, 2, 6, 8], [1, 2, 6, 8], [1, 2, 6, 8], { scale: 0.7 }));
  test('BERT-sized heads (seq 128, head 32)', () => check([1, 12, 128, 32], [1, 12, 128, 32], [1, 12, 128, 32]));
  test('long sequences: several query and key blocks, tails everywhere', () => {
    check([1, 2, 70, 24], [1, 2, 600, 24], [1, 2, 600, 20]);
    check([1, 1, 301, 8], [1, 1, 301, 8], [1, 1, 301, 8], { isCausal: true });
  });

  describe('masks', () => {
    test('bool mask [L, S] broadcast over batch and heads', () => check([2, 3, 7, 8], [2, 3, 9, 8], [2, 3, 9, 8], {}, boolMask([7, 9], 0.7)));
    test('bool mask [B, 1, L, S] and [B, H, L, S]', () => {
      check([2, 3, 7, 8], [2, 3, 9, 8], [2, 3, 9, 8], {}, boolMask([2, 1, 7, 9], 0.6));
      check([2, 3, 7, 8], [2, 3, 9, 8], [2, 3, 9, 8], {}, boolMask([2, 3, 7, 9], 0.6));
    });
    test('float mask: full, [S] (key padding) and [1, S]', () => {
      const full = operand([2, 3, 7, 9], 'contiguous', -3, 1);
      check([2, 3, 7, 8], [2, 3, 9, 8], [2, 3, 9, 8], {}, { t: full.t, r: { ...full.r, bool: false } });
      const pad = tj.tensor([0, 0, 0, -Infinity, 0, 0, -Infinity, 0, 0]);
      const padRef = { shape: [9], data: Float64Array.from(pad.dataSync() as Float32Array), bool: false };
      check([2, 3, 7, 8], [2, 3, 9, 8], [2, 3, 9, 8], {}, { t: pad, r: padRef });
      const row = operand([1, 9]);
      check([3, 7, 8], [3, 9, 8], [3, 9, 8], {}, { t: row.t, r: { ...row.r, bool: false } });
    });
    test('strided (transposed) float mask and a mask over long keys', () => {
      const m = operand([9, 7]).t.transpose(0, 1);
      const mRef = refOf(m);
      check([2, 7, 8], [2, 9, 8], [2, 9, 8], {}, { t: m, r: { ...mRef, bool: false } });
      check([1, 40, 8], [1, 530, 8], [1, 530, 8], {}, boolMask([40, 530], 0.5));
    });
    test('rows with every key masked give NaN, other rows are unaffected', () => {
      const mvals = new Uint8Array(4 * 5).fill(1);
      for (let j = 0; j < 5; j++) mvals[5 + j] = 0; // row 1 fully masked
      const mask = tj.tensor(mvals, { shape: [4, 5], dtype: 'bool' });
      const q = operand([4, 8]), k = operand([5, 8]), v = operand([5, 3]);
      const got = tj.scaledDotProductAttention(q.t, k.t, v.t, mask).toArray() as number[][];
      expect(got[1].every((x) => Number.isNaN(x))).toBe(true);
      expect(got[0].some((x) => Number.isNaN(x))).toBe(false);
      expectClose(tj.scaledDotProductAttention(q.t, k.t, v.t, mask),
        refSdpa(q.r, k.r, v.r, { mask: { shape: [4, 5], data: Float64Array.from(mvals), bool: true } }), TOL);
      // a fully masked first key block followed by attendable keys is fine (online softmax)
      const long = new Uint8Array(600).fill(1);
      long.fill(0, 0, 300);
      const lm = tj.tensor(long, { shape: [600], dtype: 'bool' });
      const q2 = operand([3, 8]), k2 = operand([600, 8]), v2 = operand([600, 4]);
      expectClose(tj.scaledDotProductAttention(q2.t, k2.t, v2.t, lm),
        refSdpa(q2.r, k2.r, v2.r, { mask: { shape: [600], data: Float64Array.from(long), bool: true } }), TOL);
    });
  });

  describe('isCausal', () => {
    test('L == S', () => check([2, 2, 9, 8], [2, 2, 9, 8], [2, 2, 9, 8], { isCausal: true }));
    test('L < S aligns top-left (row i sees keys 0..i)', () => check([1, 2, 5, 8], [1, 2, 12, 8], [1, 2, 12, 6], { isCausal: true }));
    test('L > S', () => check([1, 2, 12, 8], [1, 2, 5, 8], [1, 2, 5, 8], { isCausal: true }));
    test('with scale, across query blocks', () => check([1, 1, 130, 16], [1, 1, 130, 16], [1, 1, 130, 16], { isCausal: true, scale: 0.3 }));
  });

  test('enableGqa repeats k/v heads repeat_interleave-style', () => {
    check([2, 6, 5, 8], [2, 2, 7, 8], [2, 2, 7, 4], { enableGqa: true });
    check([1, 4, 5, 8], [1, 1, 7, 8], [1, 1, 7, 8], { enableGqa: true, isCausal: true });
    // with equal head counts it is a no-op
    check([1, 3, 5, 8], [1, 3, 7, 8], [1, 3, 7, 8], { enableGqa: true });
  });

  test('batch dims broadcast between q, k and v', () => {
    check([2, 3, 5, 8], [1, 1, 7, 8], [1, 3, 7, 8]);
    check([3, 5, 8], [2, 1, 7, 8], [7, 8]);
  });

  test('strided q/k/v views (heads split from a [B, L, H*E] projection, transposed, sliced)', () => {
    const layouts: Layout[][] = [['transposed', 'sliced', 'contiguous'], ['sliced', 'transposed', 'transposed'], ['contiguous', 'contiguous', 'sliced']];
    for (const ls of layouts) check([2, 3, 9, 8], [2, 3, 11, 8], [2, 3, 11, 6], {}, undefined, ls);
    const x = operand([2, 10, 3 * 8]); // [B, L, H*E] -> [B, H, L, E]
    const heads = x.t.reshape([2, 10, 3, 8]).permute(0, 2, 1, 3);
    const href = refPermute(x.r, [2, 10, 3, 8], [0, 2, 1, 3]);
    expectClose(tj.scaledDotProductAttention(heads, heads, heads), refSdpa(href, href, href), TOL);
  });

  test('empty sizes: L = 0, S = 0 (zeros, as torch), batch 0, Ev = 0', () => {
    expect(tj.scaledDotProductAttention(tj.ones([2, 0, 4]), tj.ones([2, 3, 4]), tj.ones([2, 3, 5])).shape).toEqual([2, 0, 5]);
    expect(tj.scaledDotProductAttention(tj.ones([2, 3, 4]), tj.ones([2, 0, 4]), tj.ones([2, 0, 5])).toArray()).toEqual(
      [0, 1].map(() => [0, 1, 2].map(() => [0, 0, 0, 0, 0])),
    );
    expect(tj.scaledDotProductAttention(tj.ones([0, 3, 4]), tj.ones([0, 2, 4]), tj.ones([0, 2, 5])).shape).toEqual([0, 3, 5]);
    expect(tj.scaledDotProductAttention(tj.ones([3, 4]), tj.ones([2, 4]), tj.ones([2, 0])).shape).toEqual([3, 0]);
  });

  test('NaN in a key reaches every row that attends to it', () => {
    const k = tj.tensor([[1, 0], [NaN, 1], [0, 1]]);
    const q = tj.tensor([[1, 1], [0, 1]]);
    const v = tj.tensor([[1], [2], [3]]);
    const r = tj.scaledDotProductAttention(q, k, v).toArray() as number[][];
    expect(Number.isNaN(r[0][0]) && Number.isNaN(r[1][0])).toBe(true);
    const causal = tj.scaledDotProductAttention(tj.tensor([[1, 1], [0, 1], [1, 0]]), k, v, null, { isCausal: true }).toArray() as number[][];
    expect(causal[0][0]).toBeCloseTo(1, 6); // row 0 only sees key 0
    expect(Number.isNaN(causal[1][0])).toBe(true);
  });

  test('results do not depend on the thread count', () => {
    const q = operand([1, 3, 100, 16]).t, k = operand([1, 3, 300, 16]).t, v = operand([1, 3, 300, 16]).t;
    tj.setNumThreads(1);
    const one = tj.scaledDotProductAttention(q, k, v, null, { isCausal: true }).dataSync();
    tj.setNumThreads(2);
    expect(tj.scaledDotProductAttention(q, k, v, null, { isCausal: true }).dataSync()).toEqual(one);
  });
});

function refPermute(x: Ref, shape: number[], perm: number[]): Ref {
  const oshape = perm.map((p) => shape[p]);
  const st = stridesOf(shape), ost = stridesOf(oshape);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) {
    let rem = i, off = 0;
    for (let d = 0; d < oshape.length; d++) {
      const idx = Math.floor(rem / ost[d]);
      rem -= idx * ost[d];
      off += idx * st[perm[d]];
    }
    out[i] = x.data[off];
  }
  return { shape: oshape, data: out };
}

/** The values of any tensor as a reference (reads through its view). */
function refOf(t: tj.Tensor): Ref {
  return { shape: t.shape.slice(), data: Float64Array.from(t.dataSync() as Float32Array) };
}

describe('BAD CALL', () => {
  const q = tj.ones([2, 3, 4]), k = tj.ones([2, 5, 4]), v = tj.ones([2, 5, 6]);
  test('mismatched sizes are RangeErrors naming the op and shapes', () => {
    expect(() => tj.scaledDotProductAttention(q, tj.ones([2, 5, 3]), v)).toThrow(RangeError);
    expect(() => tj.scaledDotProductAttention(q, tj.ones([2, 5, 3]), v)).toThrow(/scaledDotProductAttention.*\[2, 3, 4\].*\[2, 5, 3\]/);
    expect(() => tj.scaledDotProductAttention(q, k, tj.ones([2, 4, 6]))).toThrow(/scaledDotProductAttention.*value/);
    expect(() => tj.scaledDotProductAttention(q, tj.ones([3, 5, 4]), tj.ones([3, 5, 6]))).toThrow(/scaledDotProductAttention.*broadcast/);
    expect(() => tj.scaledDotProductAttention(tj.ones([4]), k, v)).toThrow(/scaledDotProductAttention.*query.*2 dims/);
  });
  test('mask checks', () => {
    expect(() => tj.scaledDotProductAttention(q, k, v, tj.ones([3, 4]))).toThrow(/scaledDotProductAttention.*attnMask.*\[2, 3, 5\]/);
    expect(() => tj.scaledDotProductAttention(q, k, v, tj.ones([3, 5], { dtype: 'int32' }))).toThrow(TypeError);
    expect(() => tj.scaledDotProductAttention(q, k, v, tj.ones([3, 5]), { isCausal: true })).toThrow(/attnMask and isCausal/);
  });
  test('dtypes, GQA divisibility, dropout and option types', () => {
    expect(() => tj.scaledDotProductAttention(tj.ones([2, 3, 4], { dtype: 'int32' }), k, v)).toThrow(/scaledDotProductAttention.*query.*int32/);
    expect(() => tj.scaledDotProductAttention(tj.ones([1, 5, 3, 4]), tj.ones([1, 2, 5, 4]), tj.ones([1, 2, 5, 4]), null, { enableGqa: true }))
      .toThrow(/enableGqa/);
    expect(() => tj.scaledDotProductAttention(q, k, v, null, { dropoutP: 0.1 })).toThrow(/dropoutP/);
    expect(() => tj.scaledDotProductAttention(q, k, v, null, { isCausal: 1 as never })).toThrow(TypeError);
    expect(() => tj.scaledDotProductAttention(q, 'k' as never, v)).toThrow(/scaledDotProductAttention.*key/);
  });
});
