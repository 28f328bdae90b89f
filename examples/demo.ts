/**
 * tensorjit demo: a small transformer text classifier written with tensorjit ops and
 * modules, run eagerly, then compiled with tj.compile (native backend), then off the
 * event loop with runAsync. Prints outputs, the agreement between modes, and timings.
 *
 *   npm start
 */
import * as tj from '../lib/index';

const VOCAB = 1000, HIDDEN = 128, HEADS = 4, FFN = 512, LAYERS = 2, CLASSES = 3;

class EncoderBlock extends tj.nn.Module {
  qkv = new tj.nn.Linear(HIDDEN, 3 * HIDDEN);
  proj = new tj.nn.Linear(HIDDEN, HIDDEN);
  norm1 = new tj.nn.LayerNorm(HIDDEN);
  up = new tj.nn.Linear(HIDDEN, FFN);
  down = new tj.nn.Linear(FFN, HIDDEN);
  norm2 = new tj.nn.LayerNorm(HIDDEN);

  override forward(x: tj.Tensor): tj.Tensor {
    const [b, s] = x.shape;
    const [q, k, v] = tj.split(this.qkv.forward(x), HIDDEN, -1).map((t) => t.reshape([b, s, HEADS, HIDDEN / HEADS]).transpose(1, 2));
    const attn = tj.scaledDotProductAttention(q, k, v).transpose(1, 2).reshape([b, s, HIDDEN]);
    const h = this.norm1.forward(tj.add(x, this.proj.forward(attn)));
    return this.norm2.forward(tj.add(h, this.down.forward(tj.gelu(this.up.forward(h)))));
  }
}

class Classifier extends tj.nn.Module {
  embed = new tj.nn.Embedding(VOCAB, HIDDEN);
  blocks = Array.from({ length: LAYERS }, () => new EncoderBlock());
  head = new tj.nn.Linear(HIDDEN, CLASSES);

  override forward(tokens: tj.Tensor): tj.Tensor {
    let h = this.embed.forward(tokens);
    for (const block of this.blocks) h = block.forward(h);
    return tj.softmax(this.head.forward(tj.mean(h, 1)), -1);
  }
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

function timeMs(fn: () => unknown, runs = 20): number {
  // warm up: V8 still optimizes (and collects the compile's garbage) over the first calls
  for (let i = 0; i < 10; i++) fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

async function main() {
  tj.manualSeed(0);
  const model = new Classifier().eval();
  const tokens = tj.tensor(Int32Array.from({ length: 4 * 64 }, (_, i) => (i * 7919) % VOCAB), { shape: [4, 64] });
  console.log(`tensorjit demo: ${LAYERS}-layer transformer classifier, batch 4 x 64 tokens, ` +
    `${tj.getNumThreads()} threads, ${tj.isa().selected} kernels\n`);

  const eager = model.forward(tokens);
  const compiled = tj.compile(model);
  const fast = compiled.forward(tokens) as tj.Tensor;
  const viaAsync = (await compiled.runAsync(tokens)) as tj.Tensor;

  const probs = eager.toArray() as number[][];
  probs.forEach((p, i) => console.log(`  sequence ${i}: class probabilities ${p.map((v) => v.toFixed(4)).join('  ')}`));
  const diff = (a: tj.Tensor, b: tj.Tensor) => tj.amax(tj.abs(tj.sub(a, b))).item() as number;
  console.log(`\n  max |eager - compiled| = ${diff(eager, fast).toExponential(2)}, max |eager - runAsync| = ${diff(eager, viaAsync).toExponential(2)}`);

  const info = tj.compiler.explain((t: tj.Tensor) => model.forward(t))(tokens);
  console.log(`  captured ${info.graphCount} graph(s), ${info.graphBreakCount} graph break(s), ${info.opsPerGraph.flat().length} ops`);

  const eagerMs = timeMs(() => model.forward(tokens).dispose());
  const compiledMs = timeMs(() => (compiled.forward(tokens) as tj.Tensor).dispose());
  console.log(`\n  eager:    ${eagerMs.toFixed(2)} ms per batch (median of 20)`);
  console.log(`  compiled: ${compiledMs.toFixed(2)} ms per batch (median of 20) (eager/compiled = ${(eagerMs / compiledMs).toFixed(2)}x)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
