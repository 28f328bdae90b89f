/**
 * Greedy decoding with a static KV cache: a small causal transformer whose caches are
 * module buffers of a fixed length, written in place at positions given as data
 * (indexCopy_), attended through a mask over the whole cache. Every decoding step then has
 * the same shapes: one graph and one native executable serve them all (the prompt has its
 * own), as with torch.compile's static cache. Prints the tokens of eager, compiled and
 * runAsync decoding (they must agree) and the median time per step.
 *
 *   npm run decoder
 */
import * as tj from '../lib/index';

const VOCAB = 512, HIDDEN = 128, HEADS = 4, HEAD_DIM = HIDDEN / HEADS, LAYERS = 2, MAX_LEN = 96, BATCH = 2;

class CachedSelfAttention extends tj.nn.Module {
  qkv = new tj.nn.Linear(HIDDEN, 3 * HIDDEN);
  proj = new tj.nn.Linear(HIDDEN, HIDDEN);

  constructor() {
    super();
    this.registerBuffer('keys', tj.zeros([BATCH, HEADS, MAX_LEN, HEAD_DIM]), false);
    this.registerBuffer('values', tj.zeros([BATCH, HEADS, MAX_LEN, HEAD_DIM]), false);
  }

  /** x: the new positions [batch, t, hidden]; mask: [t, MAX_LEN] additive; positions: [t] int32. */
  override forward(x: tj.Tensor, mask: tj.Tensor, positions: tj.Tensor): tj.Tensor {
    const [b, t] = x.shape;
    const { keys, values } = this as unknown as { keys: tj.Tensor; values: tj.Tensor };
    const [q, k, v] = tj.split(this.qkv.forward(x), HIDDEN, -1).map((p) => p.reshape([b, t, HEADS, HEAD_DIM]).transpose(1, 2));
    // the new positions go into the caches; attention reads all of them, the mask hides the unfilled ones
    keys.indexCopy_(2, positions, k);
    values.indexCopy_(2, positions, v);
    const attn = tj.scaledDotProductAttention(q, keys, values, mask);
    return this.proj.forward(attn.transpose(1, 2).reshape([b, t, HIDDEN]));
  }
}

class DecoderBlock extends tj.nn.Module {
  norm1 = new tj.nn.LayerNorm(HIDDEN);
  attn = new CachedSelfAttention();
  norm2 = new tj.nn.LayerNorm(HIDDEN);
  up = new tj.nn.Linear(HIDDEN, 4 * HIDDEN);
  down = new tj.nn.Linear(4 * HIDDEN, HIDDEN);

  override forward(x: tj.Tensor, mask: tj.Tensor, positions: tj.Tensor): tj.Tensor {
    const h = tj.add(x, this.attn.forward(this.norm1.forward(x), mask, positions));
    return tj.add(h, this.down.forward(tj.gelu(this.up.forward(this.norm2.forward(h)))));
  }
}

class Decoder extends tj.nn.Module {
  embed = new tj.nn.Embedding(VOCAB, HIDDEN);
  positions = new tj.nn.Embedding(MAX_LEN, HIDDEN);
  blocks = Array.from({ length: LAYERS }, () => new DecoderBlock());
  norm = new tj.nn.LayerNorm(HIDDEN);
  head = new tj.nn.Linear(HIDDEN, VOCAB);

  /** tokens: [batch, t] int32 at `positions`; returns the next token per sequence [batch, 1]. */
  override forward(tokens: tj.Tensor, mask: tj.Tensor, positions: tj.Tensor): tj.Tensor {
    let h = tj.add(this.embed.forward(tokens), this.positions.forward(positions));
    for (const block of this.blocks) h = block.forward(h, mask, positions);
    const last = this.norm.forward(h.narrow(1, h.shape[1] - 1, 1));
    return tj.argmax(this.head.forward(last), -1);  // [batch, 1]
  }
}

/** The inputs of a step of t new positions after `done` ones: a causal mask [t, MAX_LEN] and the positions. */
function stepInputs(done: number, t: number): [tj.Tensor, tj.Tensor] {
  const mask = new Float32Array(t * MAX_LEN).map((_, i) => (i % MAX_LEN <= done + Math.floor(i / MAX_LEN) ? 0 : -Infinity));
  return [tj.tensor(mask, { shape: [t, MAX_LEN] }), tj.tensor(Int32Array.from({ length: t }, (_, i) => done + i), { shape: [t] })];
}

type Step = (tokens: tj.Tensor, mask: tj.Tensor, positions: tj.Tensor) => tj.Tensor | Promise<tj.Tensor>;

/** Decodes `steps` tokens after the prompt; returns them per sequence and the median ms per step. */
async function decode(step: Step, prompt: tj.Tensor, steps: number): Promise<{ tokens: number[][]; msPerStep: number }> {
  const out: number[][] = Array.from({ length: BATCH }, () => []);
  let next = await step(prompt, ...stepInputs(0, prompt.shape[1]));
  const times: number[] = [];
  for (let done = prompt.shape[1]; ; done++) {
    (next.toArray() as number[][]).forEach((row, i) => out[i].push(row[0]));
    if (out[0].length === steps) break;
    const t0 = performance.now();
    const token = next.to('int32');
    next = await step(token, ...stepInputs(done, 1));
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { tokens: out, msPerStep: times[times.length >> 1] };
}

async function main() {
  tj.manualSeed(0);
  const model = new Decoder().eval();
  const prompt = tj.tensor(Int32Array.from({ length: BATCH * 8 }, (_, i) => (i * 37) % VOCAB), { shape: [BATCH, 8] });
  const steps = 48;
  console.log(`tensorjit decoder example: ${LAYERS} layers, batch ${BATCH}, prompt 8, ${steps} tokens greedy, KV caches of ${MAX_LEN}\n`);

  const eager = await decode((...a) => model.forward(...a), prompt, steps);
  const compiled = tj.compile(model);
  const viaCompiled = await decode((...a) => compiled.forward(...a) as tj.Tensor, prompt, steps);
  const viaAsync = await decode((...a) => compiled.runAsync(...a) as Promise<tj.Tensor>, prompt, steps);

  eager.tokens.forEach((row, i) => console.log(`  sequence ${i}: ${row.join(' ')}`));
  const same = (a: number[][]) => JSON.stringify(a) === JSON.stringify(eager.tokens);
  console.log(`\n  compiled tokens equal eager: ${same(viaCompiled.tokens)}, runAsync tokens equal eager: ${same(viaAsync.tokens)}`);
  console.log(`  per step (median): eager ${eager.msPerStep.toFixed(2)} ms, compiled ${viaCompiled.msPerStep.toFixed(2)} ms, runAsync ${viaAsync.msPerStep.toFixed(2)} ms`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
