/**
 * The OPS.md forms the ONNX conformance cases do not cover, through `tj.compile(fn)` with
 * the default native backend, against the same function run eagerly: in-place ops on
 * inputs and on closure constants (the mutation is visible after the call exactly as
 * eagerly), view chains on inputs, list outputs, int32/int64/bool, 0-d and empty tensors,
 * strided inputs (transposed and sliced views with offsets) and several sizes per function.
 * Every graph must run as a native program (no eager fallback).
 */
import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import { eagerFallbacks, loweringFailure, recordingNativeBackend } from '../../helpers/native_backend';
import { Layout, makeTensor, randomValues } from '../../helpers/reference';

type Fn = (...args: any[]) => unknown;
interface Instance {
  fn: Fn;
  /** Closure tensors the function may update (compared after every call). */
  state?: tj.Tensor[];
  /** Runs between calls (outside the function), e.g. an eager update of a closure constant. */
  between?: (call: number) => void;
}

const FLOAT_TOL = { rtol: 1e-5, atol: 1e-6 };

/** Deep equality of pytrees: tensors by dtype, shape and values (floats within FLOAT_TOL, NaN = NaN). */
function expectSame(got: unknown, want: unknown, what: string): void {
  if (want instanceof tj.Tensor) {
    expect(got, `${what}: a Tensor`).toBeInstanceOf(tj.Tensor);
    const g = got as tj.Tensor;
    expect(g.dtype, `${what}: dtype`).toBe(want.dtype);
    expect(g.shape, `${what}: shape`).toEqual(want.shape);
    const a = g.dataSync() as ArrayLike<number | bigint>, e = want.dataSync() as ArrayLike<number | bigint>;
    for (let i = 0; i < e.length; i++) {
      const x = a[i], y = e[i];
      const ok = typeof y === 'bigint' || want.dtype !== 'float32' ? x === y
        : Number.isNaN(y) ? Number.isNaN(x as number)
          : !Number.isFinite(y) ? x === y : Math.abs((x as number) - y) <= FLOAT_TOL.atol + FLOAT_TOL.rtol * Math.abs(y);
      if (!ok) expect.fail(`${what}: [${i}] compiled ${String(x)}, eager ${String(y)}`);
    }
    return;
  }
  if (Array.isArray(want)) {
    expect(Array.isArray(got), `${what}: an array`).toBe(true);
    expect((got as unknown[]).length, `${what}: length`).toBe(want.length);
    want.forEach((w, i) => expectSame((got as unknown[])[i], w, `${what}[${i}]`));
    return;
  }
  if (want !== null && typeof want === 'object') {
    expect(Object.keys(got as object).sort(), `${what}: keys`).toEqual(Object.keys(want).sort());
    for (const [k, w] of Object.entries(want)) expectSame((got as Record<string, unknown>)[k], w, `${what}.${k}`);
    return;
  }
  expect(got, what).toEqual(want);
}

/**
 * Runs `make()`'s function eagerly and compiled (each with its own instance, so closure
 * state evolves separately) over the argument lists `argsFor(call)` (made twice, fresh each
 * time), comparing results, arguments after the call (in-place updates) and closure state.
 * The last call goes through runAsync.
 */
async function compareWithEager(make: () => Instance, argsFor: (call: number) => unknown[], opts: { calls?: number; compile?: tj.CompileOptions; onlyViews?: boolean } = {}) {
  const calls = opts.calls ?? 3;
  const eager = make(), comp = make();
  const { backend, graphs } = recordingNativeBackend();
  const compiled = tj.compile(comp.fn, { ...opts.compile, backend });
  for (let call = 0; call < calls; call++) {
    const eagerArgs = argsFor(call), compArgs = argsFor(call);
    const want = eager.fn(...eagerArgs);
    const got = call === calls - 1 ? await compiled.runAsync(...compArgs) : compiled(...compArgs);
    expectSame(got, want, `call ${call}: result`);
    expectSame(compArgs, eagerArgs, `call ${call}: arguments after the call`);
    expectSame(comp.state ?? [], eager.state ?? [], `call ${call}: closure state`);
    // a function that returns one of its (updated) inputs returns that very tensor
    if (want instanceof tj.Tensor) {
      const i = eagerArgs.indexOf(want);
      if (i >= 0) expect(got, `call ${call}: returns argument ${i} itself`).toBe(compArgs[i]);
    }
    expectSameAliasing(got, want, compArgs, eagerArgs, `call ${call}`);
    eager.between?.(call);
    comp.between?.(call);
    const fellBack = eagerFallbacks(graphs);
    if (fellBack.length)
      expect.fail(`call ${call}: ${fellBack.length} graph(s) ran eagerly: ${fellBack.map((g) => loweringFailure(g.gm, compArgs) ?? '(lowers when retried)').join('; ')}`);
  }
  // (a function whose results are all views of its inputs has no kernel to compile)
  if (!opts.onlyViews) expect(graphs.length, 'graphs compiled').toBeGreaterThan(0);
  return graphs;
}

const tensorsIn = (x: unknown): tj.Tensor[] =>
  x instanceof tj.Tensor ? [x] : Array.isArray(x) ? x.flatMap(tensorsIn) : x !== null && typeof x === 'object' ? Object.values(x).flatMap(tensorsIn) : [];

/**
 * Results share memory as eager's do: a result that is a view of an argument views the same
 * argument, and two results that share memory eagerly (a value and a view of it) share it.
 */
function expectSameAliasing(got: unknown, want: unknown, gotArgs: unknown[], wantArgs: unknown[], what: string) {
  const g = tensorsIn(got), w = tensorsIn(want), ga = tensorsIn(gotArgs), wa = tensorsIn(wantArgs);
  w.forEach((t, i) => {
    wa.forEach((a, j) => {
      if (t.storage === a.storage) expect(g[i].storage === ga[j].storage, `${what}: result ${i} shares memory with argument ${j}`).toBe(true);
    });
    for (let k = i + 1; k < w.length; k++)
      if (t.storage === w[k].storage) expect(g[i].storage === g[k].storage, `${what}: results ${i} and ${k} share memory`).toBe(true);
  });
}
const checkAgainstEager = async (...a: Parameters<typeof compareWithEager>): Promise<void> => {
  await compareWithEager(...a);
};

const f32 = (shape: number[], seed: number, layout: Layout = 'contiguous') =>
  makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape, 'float32', layout);
const i32 = (shape: number[], seed: number, lo = -5, hi = 5, layout: Layout = 'contiguous') =>
  makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed, 'int32', lo, hi), shape, 'int32', layout);
const i64 = (values: number[], shape = [values.length]) => tj.tensor(values, { shape, dtype: 'int64' });
const pure = (fn: Fn) => () => ({ fn });

describe('in-place ops on inputs', () => {
  test('add_ with a broadcast tensor, then read', () =>
    checkAgainstEager(pure((x: tj.Tensor, y: tj.Tensor) => {
      x.add_(y);
      return x.mul(2);
    }), (c) => [f32([3, 4], c), f32([4], 10 + c)]));

  test('add_ with a number returns the input itself, updated', () =>
    checkAgainstEager(pure((x: tj.Tensor) => x.add_(1.5)), (c) => [f32([5], c)]));

  test('a chain of sub_/mul_/div_/clamp_/relu_', () =>
    checkAgainstEager(pure((x: tj.Tensor, y: tj.Tensor) => {
      x.mul_(2).sub_(y).div_(3).clamp_(-0.5, 0.75).relu_();
      return tj.sum(x);
    }), (c) => [f32([4, 7], c), f32([4, 1], 20 + c)]));

  test('copy_ broadcasting an int32 row into a float32 input', () =>
    checkAgainstEager(pure((x: tj.Tensor, y: tj.Tensor) => {
      x.copy_(y);
      return x.add(0.5);
    }), (c) => [f32([2, 3], c), i32([3], c)]));

  test('indexCopy_ into a KV-cache input', () =>
    checkAgainstEager(pure((cache: tj.Tensor, pos: tj.Tensor, kv: tj.Tensor) => {
      cache.indexCopy_(1, pos, kv);
      return tj.sum(cache, 1);
    }), (c) => [f32([2, 5, 3], c), i64([c % 5, (c + 2) % 5]), f32([2, 2, 3], 30 + c)]));

  test('in-place on views of an input (narrow, select)', () =>
    checkAgainstEager(pure((x: tj.Tensor) => {
      x.narrow(0, 1, 2).add_(10);
      x.select(1, 0).mul_(-1);
      return x.clone();
    }), (c) => [f32([4, 3], c)]));

  test.each(['transposed', 'sliced'] as Layout[])('in-place on a %s (strided, offset) input reaches its storage', (layout) =>
    checkAgainstEager(pure((x: tj.Tensor, y: tj.Tensor) => {
      x.add_(y);
      return x.relu();
    }), (c) => [f32([3, 4], c, layout), f32([3, 4], 40 + c)]));

  test('in-place add_ on an int32 input', () =>
    checkAgainstEager(pure((x: tj.Tensor) => {
      x.add_(3);
      return x.mul(x);
    }), (c) => [i32([6], c)]));
});

describe('in-place ops on closure constants', () => {
  test('add_ accumulates across calls', () =>
    checkAgainstEager(() => {
      const state = tj.zeros([4]);
      return { state: [state], fn: (x: tj.Tensor) => { state.add_(x); return state.mul(1); } };
    }, (c) => [f32([4], c)], { calls: 4 }));

  test('copy_ into a constant buffer', () =>
    checkAgainstEager(() => {
      const buf = tj.zeros([2, 3]);
      return { state: [buf], fn: (x: tj.Tensor) => { buf.copy_(x.relu()); return tj.sum(buf); } };
    }, (c) => [f32([2, 3], c)]));

  test('indexCopy_ into a constant KV cache at a position given as a tensor', () =>
    checkAgainstEager(() => {
      const cache = tj.zeros([1, 6, 2]);
      return {
        state: [cache],
        fn: (kv: tj.Tensor, pos: tj.Tensor) => {
          cache.indexCopy_(1, pos, kv);
          return tj.softmax(cache, 1);
        },
      };
    }, (c) => [f32([1, 1, 2], c), i64([c])], { calls: 5 }));

  test('an eager update of a constant between calls is seen by the next call', () =>
    checkAgainstEager(() => {
      const w = tj.ones([3]);
      return { state: [w], fn: (x: tj.Tensor) => tj.mul(x, w).add(w), between: (c) => { w.add_(c + 1); } };
    }, (c) => [f32([2, 3], c)]));

  test('a constant updated in place and read through a view', () =>
    checkAgainstEager(() => {
      const buf = tj.zeros([3, 4]);
      return { state: [buf], fn: (x: tj.Tensor) => { buf.narrow(1, 1, 2).add_(x); return buf.transpose(0, 1).sum(1); } };
    }, (c) => [f32([3, 2], c)]));
});

describe('view chains on inputs', () => {
  test('permute -> reshape -> transpose -> narrow -> unsqueeze -> expand', () =>
    checkAgainstEager(pure((x: tj.Tensor) =>
      x.permute([2, 0, 1]).reshape([4, 6]).transpose(0, 1).narrow(0, 1, 3).unsqueeze(0).expand([2, 3, 4]).mul(2)),
    (c) => [f32([2, 3, 4], c)]));

  test('select, slice with step, squeeze, view, flatten', () =>
    checkAgainstEager(pure((x: tj.Tensor) => {
      const s = x.select(0, 1).slice(1, 0, 5, 2);
      return [s.squeeze(), s.unsqueeze(1).reshape([-1]), s.contiguous().view([2, 6]), x.flatten().slice(0, 1, 20, 3).exp()];
    }), (c) => [f32([3, 4, 5], c)]));

  test('views of the input returned as they are (views of it, as eager returns)', () =>
    checkAgainstEager(pure((x: tj.Tensor) => ({ t: x.transpose(0, 1), v: x.view([-1]), x })), (c) => [f32([2, 3], c)], { onlyViews: true }));

  test('a value and views of it returned together share memory; views of a strided input view it', () =>
    checkAgainstEager(pure((x: tj.Tensor) => {
      const y = x.exp();
      return [y, y.narrow(0, 1, 2), y.transpose(0, 1).reshape([-1]), x.narrow(1, 1, 2), x.sum()];
    }), (c) => [f32([4, 3], c, c % 2 ? 'sliced' : 'transposed')]));

  test('view chains on a strided input', () =>
    checkAgainstEager(pure((x: tj.Tensor) => x.transpose(0, 1).reshape([-1]).slice(0, 2, 11, 3).sigmoid()),
      (c) => [f32([4, 3], c, c % 2 ? 'sliced' : 'transposed')]));
});

describe('list outputs', () => {
  test('split by size, by sizes (with 0), on negative dims, and re-joined', () =>
    checkAgainstEager(pure((x: tj.Tensor) => ({
      bySize: tj.split(x, 2, 1),
      bySizes: tj.split(x, [1, 0, 3], 0),
      neg: tj.split(x.relu(), [3, 2], -1).map((t) => t.sum(-1)),
      joined: tj.cat(tj.split(x, [3, 2], 1), 1),
    })), (c) => [f32([4, 5], c)]));

  test('split of a strided input', () =>
    checkAgainstEager(pure((x: tj.Tensor) => tj.split(x, 3, 0)), (c) => [f32([7, 2], c, 'transposed')], { onlyViews: true }));
});

describe('int32, int64 and bool', () => {
  test('int32 arithmetic, comparisons, where, reductions and cat', () =>
    checkAgainstEager(pure((a: tj.Tensor, b: tj.Tensor) => [
      a.add(b), a.mul(3), a.sub(b).abs(), a.gt(b), tj.where(a.gt(0), a, b), tj.maximum(a, b), tj.minimum(a, b),
      a.sum(-1), a.amax(0), tj.argmax(a, 1), tj.cat([a, b.unsqueeze(0)], 0), a.neg(), tj.clamp(a, -2, 3), a.pow(2),
    ]), (c) => [i32([3, 4], c), i32([4], 10 + c)]));

  test('int64 indices: embedding, indexSelect, gather, argmax, arithmetic and cat', () =>
    checkAgainstEager(pure((idx: tj.Tensor, w: tj.Tensor, g: tj.Tensor) => [
      tj.embedding(idx, w), tj.indexSelect(w, 0, idx), tj.gather(w, 1, g), tj.argmax(w, 1), tj.argmax(w), idx.add(1),
      idx.mul(idx), tj.cat([idx, idx], 0), idx.eq(2),
    ]), (c) => [i64([c % 6, 5, 0, 2, 2]), f32([6, 3], c), i64([0, 2, 1, 1, 0, 2], [6, 1])]));

  test('bool masks, where with a number, dtype conversions', () =>
    checkAgainstEager(pure((a: tj.Tensor, b: tj.Tensor) => {
      const m = a.gt(b);
      return [m, tj.where(m, a, 0), tj.where(m.ne(a.lt(0)), a, b), m.to('float32'), m.to('int32'), a.to('int32'), a.mul(10).to('int64'),
        a.to('bool'), tj.cat([m, a.le(0)], 0), m.eq(a.ge(b))];
    }), (c) => [f32([3, 4], c), f32([4], 20 + c)]));

  test('int32 strided inputs', () =>
    checkAgainstEager(pure((a: tj.Tensor) => [a.add(1), a.sum(0), tj.argmax(a, -1)]), (c) => [i32([4, 5], c, -9, 9, c % 2 ? 'transposed' : 'sliced')]));
});

describe('0-d and empty tensors', () => {
  test('0-d inputs and results', () =>
    checkAgainstEager(pure((s: tj.Tensor, x: tj.Tensor) => [
      s.mul(2), x.add(s), tj.sum(x), tj.mean(x), tj.argmax(x), tj.stack([s, s]), s.exp().gt(1), tj.where(s.gt(0), x, s),
    ]), (c) => [tj.tensor(c - 1.5), f32([3], c)]));

  test('empty tensors: cat, reductions, pointwise, split, matmul with K = 0', () =>
    checkAgainstEager(pure((e: tj.Tensor, x: tj.Tensor, k0a: tj.Tensor, k0b: tj.Tensor) => [
      tj.cat([e, x], 0), e.sum(0), e.add(1).exp(), tj.split(x, [0, 2], 0), tj.matmul(k0a, k0b), tj.matmul(e, x.transpose(0, 1)),
      tj.mean(e, 0), e.transpose(0, 1).relu(), tj.linear(e, x),
    ]), (c) => [f32([0, 4], c), f32([2, 4], c), f32([2, 0], c), f32([0, 3], c)]));
});

describe('strided inputs (transposed, and sliced with an offset)', () => {
  const W = f32([5, 4], 99), B = f32([5], 98), G = f32([4], 97), CW = f32([3, 2, 3, 3], 96);
  const forms: [string, Fn, (c: number, layout: Layout) => unknown[]][] = [
    ['fused pointwise chain with broadcast', (x: tj.Tensor, y: tj.Tensor) => tj.tanh(x.mul(y).add(1).sigmoid()).sub(x.exp().mul(0.1)),
      (c, l) => [f32([6, 4], c, l), f32([6, 1], 50 + c, l)]],
    ['matmul', (a: tj.Tensor, b: tj.Tensor) => tj.matmul(a, b), (c, l) => [f32([2, 3, 4], c, l), f32([4, 5], 50 + c, l)]],
    ['linear with constant (prepacked) weight', (x: tj.Tensor) => tj.gelu(tj.linear(x, W, B)), (c, l) => [f32([3, 4], c, l)]],
    ['softmax and logSoftmax', (x: tj.Tensor) => [tj.softmax(x, -1), tj.logSoftmax(x, 0)], (c, l) => [f32([5, 6], c, l)]],
    ['layerNorm', (x: tj.Tensor) => tj.layerNorm(x, [4], G, null, 1e-5), (c, l) => [f32([3, 4], c, l)]],
    ['sum, mean, amax, argmax', (x: tj.Tensor) => [tj.sum(x, 0), tj.mean(x, -1, true), tj.amax(x, [0, 1]), tj.argmax(x, 0)], (c, l) => [f32([4, 7], c, l)]],
    ['conv2d and pooling', (x: tj.Tensor) => tj.maxPool2d(tj.conv2d(x, CW, null, { padding: 1 }), 2), (c, l) => [f32([1, 2, 5, 6], c, l)]],
    ['scaledDotProductAttention', (q: tj.Tensor, k: tj.Tensor, v: tj.Tensor) => tj.scaledDotProductAttention(q, k, v, null, { isCausal: true }),
      (c, l) => [f32([2, 3, 4], c, l), f32([2, 5, 4], 50 + c, l), f32([2, 5, 4], 60 + c, l)]],
    ['cat, gather, indexSelect', (x: tj.Tensor, y: tj.Tensor) => [tj.cat([x, y], 0), tj.gather(x, 1, i64([0, 1, 1, 0], [4, 1])), tj.indexSelect(x, 1, i64([1, 0]))],
      (c, l) => [f32([4, 2], c, l), f32([3, 2], 50 + c, l)]],
  ];
  for (const layout of ['transposed', 'sliced'] as Layout[])
    test.each(forms.map(([name, fn, args]) => [name, fn, args] as const))(`%s, ${layout} inputs`, (_, fn, args) =>
      checkAgainstEager(pure(fn), (c) => args(c, layout), { calls: 2 }));
});

describe('several sizes per compiled function', () => {
  const W = f32([6, 4], 91);
  const fn = (x: tj.Tensor) => tj.softmax(tj.linear(x.relu().add(0.5), W), -1).sum(0);
  const sizes = [3, 5, 9, 2, 17, 5];

  test('automatic dynamic (default): every size is right and runs natively', async () => {
    const graphs = await compareWithEager(pure(fn), (c) => [f32([sizes[c], 4], c)], { calls: sizes.length });
    // the recompile for the second size makes dim 0 dynamic: far fewer graphs than sizes
    expect(graphs.length).toBeLessThan(sizes.length);
  });

  test('dynamic: true, sizes changing in two dims, with a strided input', () =>
    checkAgainstEager(pure((x: tj.Tensor, y: tj.Tensor) => [x.mul(y).sum(-1), tj.matmul(x, y.transpose(0, 1))]),
      (c) => [f32([sizes[c], 2 + c], c, c % 2 ? 'transposed' : 'contiguous'), f32([sizes[c], 2 + c], 40 + c)],
      { calls: sizes.length, compile: { dynamic: true } }));

  test('dynamic: false specialises: a graph per size, all right', async () => {
    const graphs = await compareWithEager(pure(fn), (c) => [f32([sizes[c], 4], c)], { calls: 4, compile: { dynamic: false } });
    expect(graphs.length).toBe(4);
  });
});

// tj.compile functionalises in-place ops, so its programs never write their inputs; the
// executor also runs programs that do (compileNative, exported programs): these write
// inputs in place and must keep the eager order of reads and writes.
describe('programs that write their inputs in place (compileNative)', () => {
  function checkNative(fn: (...xs: tj.Tensor[]) => unknown, args: () => tj.Tensor[], expectFused = false) {
    const compiled = compileNative(fn as (...xs: unknown[]) => unknown);
    const eagerArgs = args(), nativeArgs = args();
    const want = fn(...eagerArgs);
    const got = compiled(...nativeArgs);
    expect(compiled.lastProgram(), 'lowered natively').not.toBeNull();
    if (expectFused) expect(compiled.lastProgram()!.describe()).toContain('fused[');
    expectSame(got, want, 'result');
    expectSame(nativeArgs, eagerArgs, 'inputs after the run');
  }

  test('a fused group reads an input that a later instruction updates in place', () =>
    checkNative((x) => {
      const y = x.exp().mul(2);
      x.add_(1);
      return [y, x.mul(3)];
    }, () => [f32([4, 5], 1)], true));

  test('a fused group reads a temp that a later instruction overwrites', () =>
    checkNative((x, z) => {
      const t = x.clone();
      const y = t.sigmoid().add(z);
      t.copy_(z);
      return [y, t.neg()];
    }, () => [f32([3, 4], 2), f32([3, 4], 3)], true));

  test.each(['transposed', 'sliced'] as Layout[])('in place through a view of a %s input (the executor stages it, then writes it back)', (layout) =>
    checkNative((x) => {
      x.narrow(0, 0, 1).add_(10);
      x.select(1, 1).mul_(-1);
      return x.sum(0);
    }, () => [f32([3, 4], 4, layout)]));

  test.each(['transposed', 'sliced'] as Layout[])('in place on a whole %s input', (layout) =>
    checkNative((x, y) => x.add_(y).relu(), () => [f32([3, 4], 5, layout), f32([4], 6)]));
});
