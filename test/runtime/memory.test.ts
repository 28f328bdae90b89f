/**
 * Memory accounting and thread-count independence:
 * - tj.memory().liveBytes returns to its baseline after 10,000 create/dispose
 *   iterations and after a GC-only loop (no dispose: finalizers release the memory);
 * - a collection frees dropped tensors within one synchronous stretch of code (no turn of
 *   the event loop in between), and a storage one of whose tensors was disposed while
 *   others used it once those others are collected;
 * - compiled executables do not leak per call (sync and async);
 * - results do not depend on the thread count: bitwise for the kernels documented to
 *   compute each output in one fixed order (pointwise, GEMM-based, layerNorm, reductions
 *   and softmax with enough outputs/rows), within float reassociation tolerance for the
 *   rest (reductions split across threads, attention);
 * - reductions are deterministic for a given thread count (bitwise equal on repeat).
 */
import { afterAll, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { makeTensor, randomValues } from '../helpers/reference';
import { waitSync } from '../helpers/wait_sync';

const gc = (globalThis as { gc?: () => void }).gc;
const macrotask = () => new Promise<void>((r) => setTimeout(r, 0));

/** Collects garbage until live bytes stop changing (finalizers run between macrotasks). */
async function settle(): Promise<void> {
  let last = -1;
  for (let round = 0; round < 30; round++) {
    gc!();
    await macrotask();
    await new Promise<void>((r) => setImmediate(r));
    const now = tj.memory().liveBytes;
    if (now === last && round >= 3) return;
    last = now;
  }
}

describe('liveBytes returns to baseline', () => {
  test('vitest exposes gc', () => {
    expect(gc).toBeTypeOf('function');
  });

  test('after 10,000 create/dispose iterations', async () => {
    await settle();
    const before = tj.memory();
    for (let i = 0; i < 10_000; i++) {
      const n = 1 + (i % 97) * 13;
      const a = tj.ones([n]);
      const m = a.mul(2);
      const b = m.add(1); // op results are tensors too
      const v = b.narrow(0, 0, Math.ceil(n / 2)); // a view shares b's storage
      b.dispose();
      v.dispose();
      m.dispose();
      a.dispose();
    }
    const after = tj.memory();
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.peakBytes).toBeGreaterThan(before.liveBytes); // the loop did allocate
  });

  test('after a GC-only loop (no dispose)', async () => {
    await settle();
    const before = tj.memory();
    let peak = 0;
    for (let i = 0; i < 10_000; i++) {
      const t = tj.full([256 + (i % 7)], i).add(1);
      if (i % 1000 === 0) peak = Math.max(peak, tj.memory().liveBytes);
      expect(t.shape[0]).toBe(256 + (i % 7));
    }
    // the tensors above were only dropped: memory was held until finalizers run
    expect(peak).toBeGreaterThan(before.liveBytes);
    await settle();
    const after = tj.memory();
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.liveBuffers).toBe(before.liveBuffers);
  });
});

test('a collection frees dropped tensors inside one synchronous stretch', async () => {
  await settle();
  const before = tj.memory().liveBytes;
  const numel = 1 << 20; // 4 MiB per tensor
  let peak = 0;
  for (let i = 0; i < 16; i++) {
    expect(tj.full([numel], i).mul(2).shape).toEqual([numel]); // both tensors dropped
    peak = Math.max(peak, tj.memory().liveBytes - before);
  }
  expect(peak).toBeGreaterThanOrEqual(2 * 4 * numel); // they did hold memory
  gc!();
  // V8 may free collected buffers on a background thread: wait for it, without yielding
  const isFreed = () => tj.memory().liveBytes <= before;
  waitSync(isFreed, 3000);
  expect(tj.memory().liveBytes - before).toBe(0);
});

test('dropped results are collected as they add up, without an explicit collection', async () => {
  // V8 starts a scavenge for young ArrayBuffers' bytes only when it allocates a backing
  // store itself; ours skip that check unless the binding asks for it (gc_freed_buffer.cc).
  // Without it, 300 dropped 4 MiB results held 128-156 MiB live at once (more beside a
  // larger heap, up to a full mark-compact); with it, 36-44 MiB.
  await settle();
  const before = tj.memory().liveBytes;
  const x = tj.full([1 << 20], 1);
  let peak = 0;
  (() => {
    for (let i = 0; i < 300; i++) {
      tj.mul(x, 1.5); // dropped
      peak = Math.max(peak, tj.memory().liveBytes - before);
    }
  })();
  x.dispose();
  expect(peak).toBeGreaterThan(8 << 20); // they did hold memory
  expect(peak).toBeLessThan(96 << 20);
});

test('a young-generation collection frees dropped tensors and their views', async () => {
  // Nothing may keep a dropped tensor alive through a scavenge (a FinalizationRegistry
  // entry did: each one then waited for a full mark-compact, 0.8 s with a 650 MB heap).
  await settle();
  const before = tj.memory();
  const numel = 1 << 18; // 1 MiB per tensor
  // in a function of its own, so no local of this frame still holds the last ones
  (() => {
    for (let i = 0; i < 8; i++) {
      const y = tj.full([numel], i).mul(2); // both dropped
      const v = y.reshape([512, 512]).transpose(0, 1); // views, dropped too
      if (v.shape[0] !== 512) throw new Error('unexpected shape');
    }
  })();
  expect(tj.memory().liveBytes - before.liveBytes).toBeGreaterThan(0);
  (globalThis as { gc?: (o: { type: string }) => void }).gc!({ type: 'minor' });
  // V8 may free collected buffers on a background thread: wait for it, without yielding
  waitSync(() => tj.memory().liveBytes <= before.liveBytes, 3000);
  const after = tj.memory();
  expect(after.liveBytes - before.liveBytes).toBe(0);
  expect(after.liveBuffers - before.liveBuffers).toBe(0);
});

test('a young-generation collection frees the dropped outputs of compiled calls', async () => {
  const f = tj.compile((x: tj.Tensor) => tj.relu(tj.mul(x, 2)));
  const x = tj.full([1 << 18], -1); // 1 MiB
  // Compiled outside the measured stretch. Its output is disposed: had its buffer been
  // parked for reuse, it would by now be an old-generation object (settle collects), and
  // the first output below, reusing it, would survive the minor collection; buffers this
  // size are not parked (lib/storage.ts).
  f(x).dispose();
  await settle();
  const before = tj.memory();
  (() => {
    for (let i = 0; i < 8; i++) if ((f(x) as tj.Tensor).shape[0] !== 1 << 18) throw new Error('unexpected shape');
  })();
  expect(tj.memory().liveBytes - before.liveBytes).toBeGreaterThan(0);
  (globalThis as { gc?: (o: { type: string }) => void }).gc!({ type: 'minor' });
  waitSync(() => tj.memory().liveBytes <= before.liveBytes, 3000);
  expect(tj.memory().liveBytes - before.liveBytes).toBe(0);
  expect(tj.memory().liveBuffers - before.liveBuffers).toBe(0);
  x.dispose();
});

test('a disposed tensor whose views live on holds no memory: the views keep it, and free it when collected', async () => {
  await settle();
  const before = tj.memory().liveBytes;
  const base = tj.arange(0, 1 << 18, 1, { dtype: 'float32' }); // 1 MiB, kept referenced below
  let view: tj.Tensor | null = base.narrow(0, 5, 3);
  base.dispose();
  expect(base.disposed).toBe(true);
  expect(() => base.dataSync()).toThrow(/disposed/);
  expect(Array.from(view.dataSync())).toEqual([5, 6, 7]); // the view still reads the memory
  expect(tj.memory().liveBytes - before).toBe(1 << 20);
  view = null;
  (globalThis as { gc?: (o: { type: string }) => void }).gc!({ type: 'minor' });
  waitSync(() => tj.memory().liveBytes <= before, 3000);
  expect(tj.memory().liveBytes).toBe(before); // though `base` is still referenced
  expect(base.disposed).toBe(true);
});

test('a storage is freed once its other tensors are collected after one was disposed', async () => {
  await settle();
  const before = tj.memory().liveBytes;
  let view: tj.Tensor | null = null;
  (() => {
    const base = tj.full([1 << 20], 1); // dropped, never disposed
    view = base.narrow(0, 0, 10);
  })();
  view!.dispose(); // the storage stays: the base still uses it
  expect(tj.memory().liveBytes - before).toBe(4 << 20);
  await settle(); // the base is collected; `view` still references the storage
  expect(view!.disposed).toBe(true);
  expect(tj.memory().liveBytes).toBe(before);
});

describe('compiled executables do not leak per call', () => {
  const W = makeTensor(randomValues(64 * 64, 1, 'float32', -0.2, 0.2), [64, 64]);
  const fn = (x: tj.Tensor) => {
    const h = tj.gelu(tj.linear(x, W)).add(x);
    return [tj.softmax(h, -1), tj.layerNorm(h, [64]), tj.sum(h, 0)];
  };

  test('1,000 sync calls with outputs disposed', async () => {
    const compiled = tj.compile(fn);
    const x = makeTensor(randomValues(32 * 64, 2), [32, 64]);
    for (let i = 0; i < 5; i++) (compiled(x) as tj.Tensor[]).forEach((t) => t.dispose()); // arena and caches made
    await settle();
    const before = tj.memory();
    for (let i = 0; i < 1000; i++) (compiled(x) as tj.Tensor[]).forEach((t) => t.dispose());
    const after = tj.memory();
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.liveBuffers).toBe(before.liveBuffers);
  });

  test('300 awaited runAsync calls and in-place updates of an input, outputs disposed', async () => {
    const compiled = tj.compile((x: tj.Tensor, acc: tj.Tensor) => {
      acc.add_(x.sum(0));
      return fn(x);
    });
    const x = makeTensor(randomValues(16 * 64, 3), [16, 64]);
    const acc = tj.zeros([64]);
    for (let i = 0; i < 5; i++) ((await compiled.runAsync(x, acc)) as tj.Tensor[]).forEach((t) => t.dispose());
    await settle();
    const before = tj.memory();
    for (let i = 0; i < 300; i++) ((await compiled.runAsync(x, acc)) as tj.Tensor[]).forEach((t) => t.dispose());
    await settle();
    const after = tj.memory();
    expect(after.liveBytes).toBe(before.liveBytes);
    expect(after.liveBuffers).toBe(before.liveBuffers);
  });
});

// ---- thread counts

const originalThreads = tj.getNumThreads();
afterAll(() => tj.setNumThreads(originalThreads));

function withThreads<T>(n: number, f: () => T): T {
  const prev = tj.getNumThreads();
  tj.setNumThreads(n);
  try {
    return f();
  } finally {
    tj.setNumThreads(prev);
  }
}

const values = (r: unknown): ArrayLike<number | bigint>[] =>
  (Array.isArray(r) ? r : [r]).map((t) => (t as tj.Tensor).dataSync() as ArrayLike<number | bigint>);

function expectBitwise(a: ArrayLike<number | bigint>[], b: ArrayLike<number | bigint>[], what: string): void {
  expect(b.length).toBe(a.length);
  a.forEach((x, k) => {
    expect(b[k].length, `${what}: output ${k} length`).toBe(x.length);
    for (let i = 0; i < x.length; i++)
      if (!Object.is(x[i], b[k][i])) expect.fail(`${what}: output ${k} [${i}]: ${String(x[i])} vs ${String(b[k][i])}`);
  });
}

function expectClose(a: ArrayLike<number | bigint>[], b: ArrayLike<number | bigint>[], rtol: number, atol: number, what: string): void {
  a.forEach((x, k) => {
    expect(b[k].length).toBe(x.length);
    for (let i = 0; i < x.length; i++) {
      const p = Number(x[i]), q = Number(b[k][i]);
      if (!(Math.abs(p - q) <= atol + rtol * Math.abs(p))) expect.fail(`${what}: output ${k} [${i}]: ${p} vs ${q}`);
    }
  });
}

const big = (shape: number[], seed: number, lo = -2, hi = 2) => makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed, 'float32', lo, hi), shape);

// Inputs large enough that every op below runs on more than one thread.
const X = big([512, 1024], 11);
const XT = big([1024, 512], 12).transpose(0, 1); // strided
const LONG = big([1 << 20], 13, -1, 1);
const A = big([384, 320], 14, -1, 1), B = big([320, 256], 15, -1, 1);
const CX = big([2, 16, 48, 48], 16), CW = big([32, 16, 3, 3], 17, -0.3, 0.3), CB = big([32], 18);
const Q = big([2, 4, 192, 32], 19), K = big([2, 4, 192, 32], 20), V = big([2, 4, 192, 32], 21);
const G = big([1024], 22), LB = big([1024], 23);

/** [name, op, bitwise across thread counts (documented one-order-per-output)] */
const CASES: [string, () => unknown, boolean][] = [
  ['pointwise chain', () => tj.tanh(X.mul(XT).add(1).sigmoid()).sub(X.exp().mul(0.1)), true],
  ['gelu, silu, erf on a strided input', () => [tj.gelu(XT), tj.silu(XT), tj.erf(XT)], true],
  ['sum/mean/amax/argmax over the last dim (many outputs)', () => [tj.sum(X, -1), tj.mean(X, -1), tj.amax(X, -1), tj.argmax(X, -1)], true],
  // outer mode cuts the rows into chunks when columns per thread are few (reduce.cc documents it)
  ['sum/mean over dim 0 (outer mode)', () => [tj.sum(X, 0), tj.mean(XT, 0)], false],
  ['sum/mean of everything (chunks across threads)', () => [tj.sum(LONG), tj.mean(X), tj.sum(XT)], false],
  ['amax/argmax of everything (exact)', () => [tj.amax(LONG), tj.argmax(LONG)], true],
  ['softmax/logSoftmax over rows', () => [tj.softmax(X, -1), tj.logSoftmax(XT, -1), tj.softmax(X, 0)], true],
  ['softmax of one long row (chunks across threads)', () => tj.softmax(LONG, 0), false],
  ['layerNorm', () => [tj.layerNorm(X.reshape([512, 1024]), [1024], G, LB, 1e-5), tj.layerNorm(XT, [1024])], true],
  ['matmul and linear', () => [tj.matmul(A, B), tj.linear(A, B.transpose(0, 1)), tj.matmul(A.transpose(0, 1).contiguous().transpose(0, 1), B)], true],
  ['conv2d', () => tj.conv2d(CX, CW, CB, { padding: 1 }), true],
  ['scaledDotProductAttention', () => [tj.scaledDotProductAttention(Q, K, V), tj.scaledDotProductAttention(Q, K, V, null, { isCausal: true })], false],
];

describe('results do not depend on the thread count', () => {
  test.each(CASES)('%s', (name, run, bitwise) => {
    const one = withThreads(1, () => values(run()));
    for (const n of [2, 3]) {
      const many = withThreads(n, () => values(run()));
      if (bitwise) expectBitwise(one, many, `${name}: 1 vs ${n} threads`);
      else expectClose(one, many, 1e-5, 1e-5, `${name}: 1 vs ${n} threads`);
    }
  });

  test('a compiled graph gives the same results on 1 and 2 threads', () => {
    const W = big([256, 1024], 30, -0.1, 0.1);
    const compiled = tj.compile((x: tj.Tensor) => tj.softmax(tj.layerNorm(tj.gelu(tj.linear(x, W)), [256]), -1));
    const one = withThreads(1, () => values(compiled(X)));
    const two = withThreads(2, () => values(compiled(X)));
    expectBitwise(one, two, 'compiled: 1 vs 2 threads');
  });
});

describe('reductions are deterministic for a given thread count', () => {
  const reductions: [string, () => unknown][] = [
    ['sum of everything', () => [tj.sum(LONG), tj.sum(XT), tj.mean(X)]],
    ['sum/mean over each dim', () => [tj.sum(X, 0), tj.sum(X, 1), tj.mean(XT, 0), tj.mean(XT, [0, 1])]],
    ['softmax of one long row', () => tj.softmax(LONG, 0)],
    ['layerNorm', () => tj.layerNorm(XT, [1024])],
    ['attention', () => tj.scaledDotProductAttention(Q, K, V)],
  ];
  for (const threads of [1, 2, 3])
    test.each(reductions)(`%s on ${threads} thread(s): bitwise equal over 5 repeats`, (name, run) => {
      withThreads(threads, () => {
        const first = values(run());
        for (let r = 1; r < 5; r++) expectBitwise(first, values(run()), `${name} repeat ${r}`);
      });
    });
});
