/**
 * compiled.runAsync off the event loop: many concurrent runs with mixed inputs (several
 * executables of one compiled function at once, and several runs of each executable)
 * give the eager results; inputs disposed or collected right after a run is issued stay
 * alive for the run (the executor pins them); the event loop keeps turning meanwhile.
 */
import { describe, expect, test, vi } from 'vitest';
import * as tj from '../../../lib/index';
import { CompiledProgram } from '../../../lib/backends/native/executable';
import { native } from '../../../lib/native';
import { settlesAfterATimer } from '../../helpers/event_loop';
import { eagerFallbacks, recordingNativeBackend } from '../../helpers/native_backend';
import { makeTensor, randomValues } from '../../helpers/reference';

const TOL = { rtol: 1e-5, atol: 1e-5 };

function expectCloseTo(got: tj.Tensor, want: { shape: number[]; values: Float32Array }, what: string): void {
  expect(got.shape, `${what}: shape`).toEqual(want.shape);
  const a = got.dataSync() as Float32Array;
  for (let i = 0; i < want.values.length; i++) {
    const e = want.values[i];
    if (!(Math.abs(a[i] - e) <= TOL.atol + TOL.rtol * Math.abs(e))) expect.fail(`${what}: [${i}] got ${a[i]}, expected ${e}`);
  }
}

const snapshot = (t: tj.Tensor) => ({ shape: t.shape.slice(), values: t.dataSync() as Float32Array });

// A linear layer with a constant (prepacked) weight, a fused pointwise tail, layerNorm, softmax and a reduction.
const W = makeTensor(randomValues(32 * 32, 1, 'float32', -0.3, 0.3), [32, 32]);
const B = makeTensor(randomValues(32, 2), [32]);
const block = (x: tj.Tensor, scale: tj.Tensor) => {
  const h = tj.gelu(tj.linear(x, W, B)).mul(scale).add(x);
  return { y: tj.softmax(tj.layerNorm(h, [32]), -1), s: tj.sum(h, -1) };
};

describe('concurrent runAsync', () => {
  test('100 concurrent calls with mixed shapes and values all match eager', async () => {
    const { backend, graphs } = recordingNativeBackend();
    const compiled = tj.compile(block, { backend });
    const rows = [1, 7, 33, 64, 300];
    const calls = Array.from({ length: 100 }, (_, i) => {
      const x = makeTensor(randomValues(rows[i % rows.length] * 32, 100 + i), [rows[i % rows.length], 32]);
      const scale = tj.tensor([1 + i / 50]);
      const want = block(x, scale);
      return { x, scale, y: snapshot(want.y), s: snapshot(want.s) };
    });
    // which executables run, and how many runs are in flight at once
    const programs = new Set<CompiledProgram>();
    let inFlight = 0, maxInFlight = 0;
    const original = CompiledProgram.prototype.runAsync;
    const spy = vi.spyOn(CompiledProgram.prototype, 'runAsync').mockImplementation(function (this: CompiledProgram, inputs) {
      programs.add(this);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      return original.call(this, inputs).finally(() => inFlight--);
    });
    let results: { y: tj.Tensor; s: tj.Tensor }[];
    try {
      // issued back to back, awaited together
      const pending = calls.map((c) => compiled.runAsync(c.x, c.scale));
      results = await Promise.all(pending);
    } finally {
      spy.mockRestore();
    }
    results.forEach((r, i) => {
      expectCloseTo(r.y, calls[i].y, `call ${i} y`);
      expectCloseTo(r.s, calls[i].s, `call ${i} s`);
    });
    // every result is its own tensor
    expect(new Set(results.map((r) => r.y)).size).toBe(100);
    expect(eagerFallbacks(graphs)).toEqual([]);
    // one executable per shape, all of them used, with many runs in flight together
    expect(programs.size).toBe(rows.length);
    expect(maxInFlight).toBeGreaterThan(rows.length);
  });

  test('sync and async calls interleaved on one executable', async () => {
    const compiled = tj.compile(block);
    const xs = Array.from({ length: 40 }, (_, i) => makeTensor(randomValues(16 * 32, 300 + i), [16, 32]));
    const scale = tj.tensor([0.5]);
    const wants = xs.map((x) => snapshot(block(x, scale).y));
    const pending: Promise<{ y: tj.Tensor }>[] = [];
    xs.forEach((x, i) => {
      if (i % 2) pending.push(compiled.runAsync(x, scale));
      else expectCloseTo(compiled(x, scale).y, wants[i], `sync call ${i}`);
    });
    const results = await Promise.all(pending);
    results.forEach((r, k) => expectCloseTo(r.y, wants[2 * k + 1], `async call ${2 * k + 1}`));
  });
});

describe('inputs kept alive while a run uses them', () => {
  const chain = (x: tj.Tensor, y: tj.Tensor) => tj.tanh(x.mul(y).add(1)).sub(x.exp().mul(0.25)).sum(-1);

  test('inputs disposed right after the call is issued', async () => {
    const compiled = tj.compile(chain);
    compiled(tj.ones([64, 256]), tj.ones([256])); // compile first: every later call runs off the loop
    const runs = Array.from({ length: 20 }, (_, i) => {
      const x = makeTensor(randomValues(64 * 256, 500 + i), [64, 256]);
      const y = makeTensor(randomValues(256, 600 + i), [256]);
      const want = snapshot(chain(x, y));
      const pending = compiled.runAsync(x, y);
      x.dispose();
      y.dispose();
      return { pending, want };
    });
    // reuse freed blocks with other data while the runs are in flight
    const junk = Array.from({ length: 20 }, () => tj.full([64, 256], 1234.5));
    for (const [i, r] of runs.entries()) expectCloseTo(await r.pending, r.want, `run ${i}`);
    junk.forEach((t) => t.dispose());
  });

  test('an input disposed before the call is an Error naming it (sync, async, and a first async call)', async () => {
    const compiled = tj.compile(chain);
    const y = tj.ones([256]);
    const gone = () => {
      const x = tj.ones([64, 256]);
      x.dispose();
      return x;
    };
    const message = /^compiled graph: input 0 \(\[64, 256\] float32\) was disposed$/;
    await expect(compiled.runAsync(gone(), y)).rejects.toThrow(message);  // builds first
    expect(() => compiled(gone(), y)).toThrow(message);
    await expect(compiled.runAsync(gone(), y)).rejects.toThrow(message);
    expectCloseTo(compiled(tj.ones([64, 256]), y), snapshot(chain(tj.ones([64, 256]), y)), 'a live input after');
  });

  test('inputs dropped and garbage-collected right after the call is issued', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    expect(gc, 'vitest runs with --expose-gc').toBeTypeOf('function');
    const compiled = tj.compile(chain);
    compiled(tj.ones([64, 256]), tj.ones([256]));
    const runs: { pending: Promise<tj.Tensor>; want: ReturnType<typeof snapshot> }[] = [];
    const issue = (i: number) => {
      // the only references to x and y live in this frame
      const x = makeTensor(randomValues(64 * 256, 700 + i), [64, 256]);
      const y = makeTensor(randomValues(256, 800 + i), [256]);
      runs.push({ want: snapshot(chain(x, y)), pending: compiled.runAsync(x, y) });
    };
    for (let i = 0; i < 20; i++) issue(i);
    gc!();
    await new Promise((r) => setImmediate(r));
    gc!();
    const junk = Array.from({ length: 20 }, () => tj.full([64, 256], -99));
    for (const [i, r] of runs.entries()) expectCloseTo(await r.pending, r.want, `run ${i}`);
    junk.forEach((t) => t.dispose());
  });
});

describe('the event loop during a long runAsync', () => {
  test('a timer fires while the run is in flight', async () => {
    const n = 512;
    const a = makeTensor(randomValues(n * n, 900, 'float32', -0.05, 0.05), [n, n]);
    // several dependent matmuls: long enough that a 1 ms timer gets its turn on any ISA
    const long = (x: tj.Tensor) => {
      let h = x;
      for (let i = 0; i < 6; i++) h = tj.tanh(tj.matmul(h, x));
      return h;
    };
    const compiled = tj.compile(long);
    const want = snapshot(compiled(a));
    // the run is on a worker thread: a timer can only fire if the loop is free
    const { value, inFlightAtTimer, ticks } = await settlesAfterATimer(() => compiled.runAsync(a));
    expect(inFlightAtTimer, 'the run is still in flight when a timer fires').toBe(true);
    expectCloseTo(value, want, 'long run');
    expect(ticks).toBeGreaterThanOrEqual(1);
  });

  // Linux: the run computes on the background threads, a nice step below the process
  test.runIf(process.platform === 'linux')('the run computes on lower-priority threads', async () => {
    const fs = await import('node:fs');
    const niceOf = (tid: string) => {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const mainNice = niceOf(String(process.pid));
    const x = makeTensor(randomValues(64 * 64, 901), [64, 64]);
    const compiled = tj.compile((v: tj.Tensor) => tj.matmul(v, v));
    (await compiled.runAsync(x)).dispose();  // a first run always goes to the background threads
    const tasks = fs.readdirSync('/proc/self/task');
    const seen = new Set(tasks.map(niceOf));
    const step = Number(process.env.TENSORJIT_BACKGROUND_NICE ?? 10);
    expect([...seen]).toContain(Math.min(19, mainNice + step));
    // and they are named, so `top -H` tells them apart
    const nameOf = (tid: string) => fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    const runners = tasks.filter((t) => nameOf(t) === 'tj-bg-runner');
    expect(runners.length).toBeGreaterThan(0);
    for (const t of runners) expect(niceOf(t)).toBe(Math.min(19, mainNice + step));
    expect(tasks.map(nameOf)).toContain('tj-pool');
    expect(niceOf(String(process.pid)), 'the event-loop thread keeps its priority').toBe(mainNice);
  });
});

describe('the first runAsync builds the executable off the event loop', () => {
  // a prepacked weight and a fused tail: building folds and prepacks, as a model's first call does
  const Wb = makeTensor(randomValues(48 * 48, 950, 'float32', -0.2, 0.2), [48, 48]);
  const layer = (x: tj.Tensor) => tj.tanh(tj.linear(x, Wb)).mul(0.5).add(x);
  const input = (seed: number) => makeTensor(randomValues(8 * 48, seed), [8, 48]);
  const Executable = (native as unknown as { Executable: { build: (...args: unknown[]) => Promise<unknown> } }).Executable;

  test('runAsync returns before the executable is built, and the run gives the eager result', async () => {
    const { backend, graphs } = recordingNativeBackend();
    const compiled = tj.compile(layer, { backend });
    const x = input(951);
    const want = snapshot(layer(x));
    const pending = compiled.runAsync(x);
    expect(graphs.length, 'traced on the calling thread').toBe(1);
    const program = graphs[0].compiled.lastProgram()!;
    expect(program.isBuilt, 'not built when runAsync returns').toBe(false);
    expectCloseTo(await pending, want, 'first runAsync');
    expect(program.isBuilt).toBe(true);
    expectCloseTo(compiled(x), want, 'a sync call after it');
  });

  test('concurrent first calls share one build; inputs disposed during it stay alive', async () => {
    const build = vi.spyOn(Executable, 'build');
    try {
      const compiled = tj.compile(layer);
      const runs = Array.from({ length: 12 }, (_, i) => {
        const x = input(960 + i);
        const want = snapshot(layer(x));
        const pending = compiled.runAsync(x);
        x.dispose();
        return { pending, want };
      });
      const junk = Array.from({ length: 12 }, () => tj.full([8, 48], 77));
      for (const [i, r] of runs.entries()) expectCloseTo(await r.pending, r.want, `run ${i}`);
      junk.forEach((t) => t.dispose());
      expect(build).toHaveBeenCalledTimes(1);
    } finally {
      build.mockRestore();
    }
  });

  test('a sync call while the build is pending, and a constant updated in place during it', async () => {
    const W = makeTensor(randomValues(48 * 48, 970, 'float32', -0.2, 0.2), [48, 48]);
    const f = (x: tj.Tensor) => tj.linear(x, W).relu();
    const compiled = tj.compile(f);
    const x = input(971);
    const before = snapshot(f(x));
    const pending = compiled.runAsync(x);
    expectCloseTo(compiled(x), before, 'sync call during the build');
    expectCloseTo(await pending, before, 'the pending run');
    // an in-place update of a constant while the build that reads it is in flight: the
    // executable is built from the versions seen when the build began, so the next call
    // rebuilds and sees the update
    const W2 = makeTensor(randomValues(48 * 48, 973, 'float32', -0.2, 0.2), [48, 48]);
    const g = (v: tj.Tensor) => tj.linear(v, W2).relu();
    const compiledG = tj.compile(g);
    const inFlight = compiledG.runAsync(x);
    W2.mul_(-2);
    await inFlight;  // the update races the build reading W2: this result is not asserted
    const after = snapshot(g(x));
    expectCloseTo(await compiledG.runAsync(x), after, 'runAsync after the update');
    expectCloseTo(compiledG(x), after, 'sync call after the update');
  });

  test('a build that fails rejects the call, and the next call can still run', async () => {
    const W = makeTensor(randomValues(48 * 48, 980), [48, 48]);
    const compiled = tj.compile((x: tj.Tensor) => tj.linear(x, W));
    const x = input(981);
    const want = snapshot(tj.linear(x, W));
    const build = vi.spyOn(Executable, 'build').mockImplementationOnce(() => Promise.reject(new RangeError('Executable.build: injected failure')));
    try {
      await expect(compiled.runAsync(x)).rejects.toThrow(/injected failure/);
      expectCloseTo(await compiled.runAsync(x), want, 'the call after the failure');
      expect(build).toHaveBeenCalledTimes(2);
    } finally {
      build.mockRestore();
    }
  });
});
