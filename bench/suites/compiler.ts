/**
 * Issue 3's bench: what tj.compile costs around the graph.
 * - per call of a compiled break-free 10-op graph on tiny tensors (guard check + graph
 *   dispatch) against calling the same function eagerly, and the guard check alone;
 * - trace + compile time of a 6-layer transformer encoder (first call, both backends);
 * - a decoding step whose KV caches grow by one position per step (concatenated: the
 *   dynamic-shape case where every step has a new length), one block and four: caches
 *   passed in and returned, kept on the module, or each step awaited by runAsync.
 */
import * as tj from '../../lib/index';
import { compiledFunctions } from '../../lib/dynamo/compile';
import { Row } from '../lib/report';
import { median, time } from '../lib/timing';

/** Ten ops on [4, 4] tensors: the kernels are trivial, so overheads show. */
export function tenOps(x: tj.Tensor, w: tj.Tensor): tj.Tensor {
  let y = tj.matmul(x, w);
  y = tj.softmax(y, -1);
  y = y.transpose(0, 1).clone();
  y = tj.cat([y, x], 0);
  y = y.reshape([-1]).narrow(0, 0, 16).reshape([4, 4]);
  y = tj.softmax(y, 0);
  return tj.sum(y, 1);
}

/** Microseconds per call: median over batches of calls. */
function usPerCall(fn: () => unknown, calls = 200, batches = 41): number {
  for (let i = 0; i < calls; i++) fn();
  const per: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    per.push(Number(process.hrtime.bigint() - t0) / 1e3 / calls);
  }
  return median(per);
}

class EncoderLayer extends tj.nn.Module {
  attn: tj.nn.MultiheadAttention;
  ln1: tj.nn.LayerNorm;
  ln2: tj.nn.LayerNorm;
  fc1: tj.nn.Linear;
  fc2: tj.nn.Linear;
  constructor(d: number, heads: number) {
    super();
    this.attn = new tj.nn.MultiheadAttention(d, heads, { batchFirst: true });
    this.ln1 = new tj.nn.LayerNorm(d);
    this.ln2 = new tj.nn.LayerNorm(d);
    this.fc1 = new tj.nn.Linear(d, 4 * d);
    this.fc2 = new tj.nn.Linear(4 * d, d);
  }
  override forward(x: tj.Tensor): tj.Tensor {
    const h = this.ln1.forward(x);
    const [a] = this.attn.forward(h, h, h) as tj.Tensor[];
    x = tj.add(x, a);
    return tj.add(x, this.fc2.forward(tj.gelu(this.fc1.forward(this.ln2.forward(x)))));
  }
}

class Encoder extends tj.nn.Module {
  layers: EncoderLayer[];
  constructor(n: number, d: number, heads: number) {
    super();
    this.layers = Array.from({ length: n }, () => new EncoderLayer(d, heads));
  }
  override forward(x: tj.Tensor): tj.Tensor {
    for (const l of this.layers) x = l.forward(x);
    return x;
  }
}

/** A decoder block over caches that grow each step: [batch, heads, len, headDim] in, len + t out. */
class GrowingCacheBlock extends tj.nn.Module {
  qkv: tj.nn.Linear;
  proj: tj.nn.Linear;
  norm: tj.nn.LayerNorm;
  up: tj.nn.Linear;
  down: tj.nn.Linear;
  constructor(readonly d: number, readonly heads: number) {
    super();
    this.qkv = new tj.nn.Linear(d, 3 * d);
    this.proj = new tj.nn.Linear(d, d);
    this.norm = new tj.nn.LayerNorm(d);
    this.up = new tj.nn.Linear(d, 4 * d);
    this.down = new tj.nn.Linear(4 * d, d);
  }
  override forward(x: tj.Tensor, pastK: tj.Tensor, pastV: tj.Tensor): tj.Tensor[] {
    const [b, t] = x.shape;
    const [q, k, v] = tj.split(this.qkv.forward(x), this.d, -1).map((p) => p.reshape([b, t, this.heads, -1]).transpose(1, 2));
    const keys = tj.cat([pastK, k], 2), values = tj.cat([pastV, v], 2);
    const a = tj.scaledDotProductAttention(q, keys, values).transpose(1, 2).reshape([b, t, this.d]);
    const h = tj.add(x, this.proj.forward(a));
    return [tj.add(h, this.down.forward(tj.gelu(this.up.forward(this.norm.forward(h))))), keys, values];
  }
}

/** A stack of such blocks: caches [k0, v0, k1, v1, ...] in, [y, ...caches one position longer] out. */
class GrowingCacheDecoder extends tj.nn.Module {
  blocks: GrowingCacheBlock[];
  constructor(readonly spec: DecoderSpec) {
    super();
    this.blocks = Array.from({ length: spec.layers }, () => new GrowingCacheBlock(spec.d, spec.heads));
  }
  override forward(x: tj.Tensor, caches: tj.Tensor[]): tj.Tensor[] {
    const next: tj.Tensor[] = [];
    this.blocks.forEach((block, i) => {
      const [y, k, v] = block.forward(x, caches[2 * i], caches[2 * i + 1]);
      x = y;
      next.push(k, v);
    });
    return [x, ...next];
  }
}

/** The same decoder keeping its caches on itself (`this.caches = ...`), as hand-written decoders do. */
class CachingDecoder extends tj.nn.Module {
  constructor(readonly decoder: GrowingCacheDecoder, public caches: tj.Tensor[]) {
    super();
  }
  override forward(x: tj.Tensor): tj.Tensor {
    const [y, ...caches] = this.decoder.forward(x, this.caches);
    this.caches = caches;
    return y;
  }
}

interface DecoderSpec {
  layers: number;
  d: number;
  heads: number;
  batch: number;
}

/**
 * Microseconds per decoding step, eager and compiled, the caches passed in and returned or
 * kept on the module, the compiled step called or awaited by runAsync: medians over rounds
 * of 64 steps that alternate between the two (a round starts from caches of 16 + 64 r
 * positions, lengths the compiled step has not met).
 */
async function growingCacheStepUs(spec: DecoderSpec, onModule: boolean, viaRunAsync = false): Promise<{ eager: number; compiled: number }> {
  tj.manualSeed(3);
  const decoder = new GrowingCacheDecoder(spec).eval();
  const x = tj.randn([spec.batch, 1, spec.d]);
  const eagerSteps: number[] = [], compiledSteps: number[] = [];
  const compiledDecoder = tj.compile(decoder);
  const round = async (compiled: boolean, from: number, into: number[]) => {
    let caches = Array.from({ length: 2 * spec.layers }, () => tj.randn([spec.batch, spec.heads, from, spec.d / spec.heads]));
    const caching = new CachingDecoder(decoder, caches);
    const cachingStep = compiled ? tj.compile(caching) : caching;
    for (let i = 0; i < 64; i++) {
      const t0 = process.hrtime.bigint();
      let y: tj.Tensor, next: tj.Tensor[];
      if (onModule) {
        y = (compiled && viaRunAsync ? await (cachingStep as ReturnType<typeof tj.compile<CachingDecoder>>).runAsync(x) : cachingStep.forward(x)) as tj.Tensor;
        next = caching.caches;
      } else {
        [y, ...next] = (compiled && viaRunAsync ? await compiledDecoder.runAsync(x, caches) : (compiled ? compiledDecoder : decoder).forward(x, caches)) as tj.Tensor[];
      }
      into.push(Number(process.hrtime.bigint() - t0) / 1e3);
      y.dispose();
      for (const c of caches) c.dispose();
      caches = next;
    }
  };
  await round(true, 8, []);  // warm-up: the first traces and builds
  await round(false, 8, []);
  for (let r = 0; r < 6; r++) {
    await round(false, 16 + 64 * r, eagerSteps);
    await round(true, 16 + 64 * r, compiledSteps);
  }
  return { eager: median(eagerSteps), compiled: median(compiledSteps) };
}

export async function runCompiler(): Promise<Row[]> {
  const rows: Row[] = [];
  const x = tj.randn([4, 4]), w = tj.randn([4, 4]);
  for (const backend of ['eager', 'native'] as const) {
    const f = tj.compile(tenOps, { backend });
    f(x, w);
    const entry = (compiledFunctions.get(f) as unknown as { entries: { guard: { check(a: unknown[]): unknown } }[] }).entries[0];
    const args = [x, w];
    const eagerUs = usPerCall(() => tenOps(x, w));
    const compiledUs = usPerCall(() => f(x, w));
    const guardUs = usPerCall(() => entry.guard.check(args), 20000, 21);
    rows.push({ case: `10-op graph [4,4], backend ${backend}`, 'eager us': eagerUs, 'compiled us': compiledUs, 'guard check us': guardUs, 'first call ms': null });
  }
  for (const backend of ['eager', 'native'] as const) {
    const firstCalls: number[] = [];
    let steady = 0;
    for (let rep = 0; rep < 3; rep++) {
      tj.manualSeed(rep);
      const model = new Encoder(6, 64, 4).eval();
      const input = tj.randn([2, 16, 64]);
      const compiled = tj.compile(model, { backend });
      const t0 = performance.now();
      compiled.forward(input);
      firstCalls.push(performance.now() - t0);
      if (rep === 0) steady = time(() => compiled.forward(input), { budgetMs: 300 }).medianMs;
    }
    rows.push({ case: `6-layer encoder d=64 [2,16,64], backend ${backend}`, 'eager us': null, 'compiled us': steady * 1e3, 'guard check us': null, 'first call ms': median(firstCalls) });
  }
  const block: DecoderSpec = { layers: 1, d: 128, heads: 4, batch: 2 };
  const fourLayers: DecoderSpec = { layers: 4, d: 256, heads: 8, batch: 1 };
  const decodingRows: [string, DecoderSpec, boolean, boolean][] = [
    ['decoding step, KV caches growing by one position (dynamic length: a new shape each step), one block d=128 batch 2, backend native', block, false, false],
    ['the same, the caches kept on the module (this.caches = ...): traced as inputs', block, true, false],
    ['the same, the caches passed in, each compiled step awaited by runAsync', block, false, true],
    ['the same, 4 blocks d=256 batch 1, caches passed in', fourLayers, false, false],
    ['the same, 4 blocks, each compiled step awaited by runAsync', fourLayers, false, true],
  ];
  for (const [what, spec, onModule, viaRunAsync] of decodingRows) {
    const { eager, compiled } = await growingCacheStepUs(spec, onModule, viaRunAsync);
    rows.push({ case: what, 'eager us': eager, 'compiled us': compiled, 'guard check us': null, 'first call ms': null });
  }
  return rows;
}
