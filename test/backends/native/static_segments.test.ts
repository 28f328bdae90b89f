import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import { staticSegments } from '../../../lib/backends/native/static_segments';
import { GraphModule } from '../../../lib/fx';
import { expectClose, toRef } from '../../helpers/reference';

/** A decoder block over KV caches that grow by the step's positions: [batch, heads, len, headDim]. */
class DecoderBlock extends tj.nn.Module {
  qkv = new tj.nn.Linear(32, 96);
  proj = new tj.nn.Linear(32, 32);
  norm = new tj.nn.LayerNorm(32);
  up = new tj.nn.Linear(32, 64);
  down = new tj.nn.Linear(64, 32);
  override forward(x: tj.Tensor, pastK: tj.Tensor, pastV: tj.Tensor): tj.Tensor[] {
    const [b, t] = x.shape;
    const [q, k, v] = tj.split(this.qkv.forward(x), 32, -1).map((p) => p.reshape([b, t, 4, 8]).transpose(1, 2));
    const keys = tj.cat([pastK, k], 2), values = tj.cat([pastV, v], 2);
    const a = tj.scaledDotProductAttention(q, keys, values).transpose(1, 2).reshape([b, t, 32]);
    const h = tj.add(x, this.proj.forward(a));
    return [tj.add(h, this.down.forward(tj.gelu(this.up.forward(this.norm.forward(h))))), keys, values];
  }
}

/** The last graph tj.compile captures for `module` over these calls (dynamic once a size changed). */
function capturedGraph(module: tj.nn.Module, calls: unknown[][]): GraphModule {
  const graphs: GraphModule[] = [];
  const compiled = tj.compile(module, { backend: (gm: GraphModule) => (graphs.push(gm), (...xs: unknown[]) => gm.forward(...xs)) });
  for (const args of calls) compiled.forward(...args);
  return graphs[graphs.length - 1];
}

const caches = (len: number) => [tj.randn([2, 4, len, 8]), tj.randn([2, 4, len, 8])];

describe('a dynamic graph at new shapes: static-shape segments native, the rest eager', () => {
  test('a decoding step over growing caches: the projections and MLP become two segments, built once', () => {
    tj.manualSeed(11);
    const block = new DecoderBlock().eval();
    const x = tj.randn([2, 1, 32]);
    const gm = capturedGraph(block, [8, 9, 10].map((n) => [x, ...caches(n)]));
    let builds = 0;
    const segments = staticSegments(gm, (segment) => compileNative(segment, (topic) => void (topic === 'graph_code' && builds++)));
    expect(segments).not.toBeNull();
    const listing = segments!.describe();
    expect(listing).toMatch(/segment_0:[\s\S]*ops\.linear[\s\S]*segment_1:[\s\S]*ops\.layerNorm[\s\S]*ops\.gelu/);
    expect(listing).not.toMatch(/segment_2/);
    // the caches' concatenation and the attention over them stay outer (their length changes)
    expect(listing.slice(0, listing.indexOf('segment_0:'))).toMatch(/ops\.cat[\s\S]*ops\.scaledDotProductAttention/);
    let [k, v] = caches(12);
    for (let len = 12; len < 24; len++) {
      const want = gm.forward(x, k, v) as tj.Tensor[];
      const got = segments!.run(x, k, v) as tj.Tensor[];
      expect(got.map((t) => t.shape)).toEqual([[2, 1, 32], [2, 4, len + 1, 8], [2, 4, len + 1, 8]]);
      got.forEach((t, i) => expectClose(t, toRef(want[i]), { rtol: 1e-5, atol: 1e-5 }, `length ${len} output ${i}`));
      [k, v] = [got[1], got[2]];
    }
    expect(builds).toBe(2);
  });

  test('an exported decoding step with a dynamic cache length, saved and loaded, runs new lengths so too', async () => {
    tj.manualSeed(14);
    const block = new DecoderBlock().eval();
    const x = tj.randn([2, 1, 32]);
    const ep = tj.exportProgram(block, [x, ...caches(6)], { dynamicShapes: [null, { 2: 'past' }, { 2: 'past' }] });
    const dir = mkdtempSync(join(tmpdir(), 'tj-segments-'));
    const file = join(dir, 'step.safetensors');
    await ep.save(file);
    const loaded = await tj.loadProgram(file);
    rmSync(dir, { recursive: true, force: true });
    const logged = await withLogs('perf', async () => {
      let [k, v] = caches(4);
      for (let step = 0; step < 16; step++) {
        const want = block.forward(x, k, v);
        const got = (step % 2 ? await loaded.runAsync(x, k, v) : loaded.run(x, k, v)) as tj.Tensor[];
        got.forEach((t, i) => expectClose(t, toRef(want[i]), { rtol: 1e-5, atol: 1e-5 }, `step ${step} output ${i}`));
        [k, v] = [got[1], got[2]];
      }
    });
    expect(logged).toMatch(/run eagerly, its static-shape segments native \(/);
    expect(logged).toMatch(/\(runAsync\) run eagerly, its static-shape segments native, in slices of the event loop/);
  });

  test('a graph whose every op changes shape with the length is not split', () => {
    tj.manualSeed(12);
    const layer = new tj.nn.Linear(16, 16);
    const gm = capturedGraph(layer, [3, 4, 5].map((n) => [tj.randn([1, n, 16])]));
    expect(staticSegments(gm, (s) => compileNative(s))).toBeNull();
  });

  test('compiled decoding over growing caches equals eager at every step (caches passed in, and kept on the module; every third step by runAsync)', async () => {
    // the graph_code log says when a graph's new shapes first run through its segments, perf
    // when a runAsync does
    const text = await withLogs('graph_code,perf', decodeBothWays);
    expect(text.match(/run its static-shape segments natively/g)?.length).toBe(2);
    expect(text).toMatch(/\(runAsync\) run eagerly, its static-shape segments native, in slices of the event loop/);
  });
});

/** What `body` logs on the TENSORJIT_LOGS channels given. */
async function withLogs(channels: string, body: () => Promise<void>): Promise<string> {
  const logged: string[] = [];
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((text) => (logged.push(String(text)), true));
  const before = process.env.TENSORJIT_LOGS;
  process.env.TENSORJIT_LOGS = channels;
  try {
    await body();
  } finally {
    if (before === undefined) delete process.env.TENSORJIT_LOGS;
    else process.env.TENSORJIT_LOGS = before;
    write.mockRestore();
  }
  return logged.join('');
}

/** Forty compiled decoding steps against eager ones, with the caches passed in, then kept on a module. */
async function decodeBothWays(): Promise<void> {
  tj.manualSeed(13);
  const block = new DecoderBlock().eval();
  const compiled = tj.compile(block);
  const x = tj.randn([2, 1, 32]);
  let [k, v] = caches(3);
  for (let step = 0; step < 40; step++) {
    const want = block.forward(x, k, v);
    const got = (step % 3 === 2 ? await compiled.runAsync(x, k, v) : compiled.forward(x, k, v)) as tj.Tensor[];
    got.forEach((t, i) => expectClose(t, toRef(want[i]), { rtol: 1e-5, atol: 1e-5 }, `step ${step} output ${i}`));
    [k, v] = [got[1], got[2]];
  }

  class Caching extends tj.nn.Module {
    constructor(readonly block: DecoderBlock, public k: tj.Tensor, public v: tj.Tensor) {
      super();
    }
    override forward(x: tj.Tensor): tj.Tensor {
      const [y, k, v] = this.block.forward(x, this.k, this.v);
      this.k = k;
      this.v = v;
      return y;
    }
  }
  const [k0, v0] = caches(5);
  const eager = new Caching(block, k0, v0);
  const kept = new Caching(block, k0, v0);
  const keptCompiled = tj.compile(kept);
  for (let step = 0; step < 40; step++) {
    const want = eager.forward(x);
    const got = (step % 3 === 2 ? await keptCompiled.runAsync(x) : keptCompiled.forward(x)) as tj.Tensor;
    expectClose(got, toRef(want), { rtol: 1e-5, atol: 1e-5 }, `kept, step ${step}`);
    expectClose(kept.k, toRef(eager.k), { rtol: 1e-5, atol: 1e-5 }, `kept, step ${step}: the key cache`);
  }
  expect(kept.k.shape).toEqual([2, 4, 45, 8]);
}
