/**
 * Dynamic shapes: automatic dynamic after a size change, dynamic: true/false,
 * markDynamic/markStatic, sizes 0 and 1 specialised, size arithmetic solved from traces,
 * and the growing-sequence loop that must not recompile per step.
 */
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { expectClose, makeTensor, randomValues, toRef } from '../helpers/reference';

const { CompileCounter, CompileCounterWithBackend } = tj.compiler.testing;
const rand = (shape: number[], seed: number) => makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);

/** Reads sizes to build shapes: literals that depend on the dynamic dim. */
function padAndFold(x: tj.Tensor): tj.Tensor {
  const t = x.shape[0];
  const padded = tj.cat([x, tj.zeros([t, 2])], 1); // [t, 4]
  return padded.reshape([t * 4]).narrow(0, 1, t * 4 - 1);
}

describe('automatic dynamic', () => {
  test('a dim that changed is dynamic on the recompile: later sizes reuse that graph', () => {
    const cnt = new CompileCounter();
    let runs = 0;
    const f = tj.compile((x: tj.Tensor) => {
      runs++;
      return padAndFold(x);
    }, { backend: cnt });
    for (const t of [3, 4, 5, 9, 17]) {
      const x = rand([t, 2], t);
      expectClose(f(x) as tj.Tensor, toRef(padAndFold(x)));
    }
    expect(cnt.frameCount).toBe(2);
    // traced at 3 and 4, plus one probe trace (no data, no kernels) at 5 that checks the solved sizes
    expect(runs).toBe(3);
  });

  // Found with the random programs: a non-contiguous input kept every dim static, so a
  // transposed batch recompiled per size until cacheSizeLimit, then ran eagerly.
  test('a transposed input (a permuted contiguous tensor) becomes dynamic too', () => {
    const fn = (x: tj.Tensor, w: tj.Tensor) => tj.softmax(tj.add(tj.matmul(x, w), tj.sum(x, 1, true)), -1);
    const w = rand([8, 4], 1);
    const transposed = (b: number) => makeTensor(randomValues(b * 8, b), [b, 8], 'float32', 'transposed');
    const cnt = new CompileCounterWithBackend('native');
    const f = tj.compile(fn, { backend: cnt });
    for (const b of [3, 5, 7, 9, 4]) {
      const x = transposed(b);
      expect(x.isContiguous()).toBe(false);
      expectClose(f(x, w) as tj.Tensor, toRef(fn(x, w)));
    }
    expect(cnt.frameCount).toBe(2);
    // the dynamic graph's guard is the dim order, not strides: a contiguous x compiles anew
    expectClose(f(rand([6, 8], 6), w) as tj.Tensor, toRef(fn(rand([6, 8], 6), w)));
    expect(cnt.frameCount).toBe(3);
  });

  // A decoder's attention reads the filled part of a KV cache, cache.narrow(1, 0, len): with a
  // batch of more than one, a slice with gaps. It kept its sizes static, so a decode loop
  // recompiled per step until cacheSizeLimit, then ran eagerly.
  test('a slice of a larger buffer (a KV cache) becomes dynamic; its guard checks its strides', async () => {
    const attend = (q: tj.Tensor, k: tj.Tensor) => tj.matmul(tj.softmax(tj.matmul(q, tj.transpose(k, 1, 2)), -1), k);
    const cache = rand([2, 16, 8], 1);
    const q = rand([2, 1, 8], 2);
    const cnt = new CompileCounterWithBackend('native');
    const f = tj.compile(attend, { backend: cnt });
    for (const len of [3, 4, 5, 9, 16, 2]) {
      const k = cache.narrow(1, 0, len);
      expect(k.isContiguous()).toBe(len === 16);
      expectClose(f(q, k) as tj.Tensor, toRef(attend(q, k)));
      expectClose((await f.runAsync(q, k)) as tj.Tensor, toRef(attend(q, k)));
    }
    // 3, then 4: dynamic from there on (16 fills the buffer: contiguous, with the same strides)
    expect(cnt.frameCount).toBe(2);
    // the same sizes at other strides (a slice of a longer buffer) fail the guard: a new graph
    const longer = rand([2, 32, 8], 3);
    for (const len of [5, 6, 7]) expectClose(f(q, longer.narrow(1, 0, len)) as tj.Tensor, toRef(attend(q, longer.narrow(1, 0, len))));
    expect(cnt.frameCount).toBe(3);
    // a slice whose strides change with its size (every other element of a row of 2n + 1): one graph per size
    const sliced = (b: number) => makeTensor(randomValues(b * b, b), [b, b], 'float32', 'sliced');
    const g = tj.compile((x: tj.Tensor) => tj.softmax(tj.mul(x, 2), -1), { backend: cnt });
    cnt.clear();
    for (const b of [3, 5, 7]) expectClose(g(sliced(b)) as tj.Tensor, toRef(tj.softmax(tj.mul(sliced(b), 2), -1)));
    expect(cnt.frameCount).toBe(3);
  });

  test('a slice written in place at changing sizes writes through to the buffer it views', () => {
    const cache = rand([2, 12, 4], 4);
    const buffer = toRef(cache);  // the float64 reference of the whole buffer
    const v = rand([2, 1, 4], 5);
    const vRef = toRef(v).data;
    const cnt = new CompileCounterWithBackend('native');
    const f = tj.compile((k: tj.Tensor, bias: tj.Tensor) => {
      k.mul_(0.5);
      return tj.add(k, bias);
    }, { backend: cnt });
    for (const len of [3, 4, 6, 10]) {
      const out = f(cache.narrow(1, 0, len), v) as tj.Tensor;
      const want = new Float64Array(2 * len * 4);
      for (let b = 0; b < 2; b++)
        for (let t = 0; t < len; t++)
          for (let c = 0; c < 4; c++) {
            const at = (b * 12 + t) * 4 + c;
            buffer.data[at] *= 0.5;  // the first len rows of each batch are halved, the rest untouched
            want[(b * len + t) * 4 + c] = buffer.data[at] + vRef[b * 4 + c];
          }
      expectClose(cache, buffer);
      expectClose(out, { shape: [2, len, 4], data: want });
    }
    expect(cnt.frameCount).toBe(2);
  });

  test('the dynamic graph reads its sizes from its inputs and computes the literals', () => {
    const cnt = new CompileCounterWithBackend('eager');
    const f = tj.compile(padAndFold, { backend: cnt });
    f(rand([3, 2], 1));
    f(rand([4, 2], 2));
    expect(cnt.graphs[1].code).toMatchInlineSnapshot(`
      "function forward(x) {
        const s0 = x.shape[0];
        const zeros = ops.zeros([s0, 2]);
        const cat = ops.cat([x, zeros], 1);
        const s = s0 * 4;
        const reshape = ops.reshape(cat, [s]);
        const s_1 = s0 * 4 - 1;
        const narrow = ops.narrow(reshape, 0, 1, s_1);
        return [narrow];
      }"
    `);
    expect(cnt.graphs[1].graph.toString().split('\n')[0]).toBe('%x : f32[s0,2] = placeholder[x]');
  });

  test('results that view the input, or another result, are views at every size (their geometry solved too)', () => {
    const cnt = new CompileCounterWithBackend('native');
    const f = tj.compile((x: tj.Tensor) => {
      const y = tj.exp(x);
      return [x.narrow(0, 1, x.shape[0] - 1), x.transpose(0, 1), y, y.narrow(0, 0, 2)];
    }, { backend: cnt });
    const geometry = (t: tj.Tensor) => [t.shape, t.strides, t.offset];
    for (const [i, n] of [4, 5, 6, 9].entries()) {
      const x = rand([n, 3], 300 + i);
      const [a, b, y, v] = f(x) as tj.Tensor[];
      expect(geometry(a), `size ${n}`).toEqual(geometry(x.narrow(0, 1, n - 1)));
      expect(geometry(b), `size ${n}`).toEqual(geometry(x.transpose(0, 1)));
      expect([a.storage, b.storage], `size ${n}`).toEqual([x.storage, x.storage]);
      expect(v.storage === y.storage && v.offset === 0, `size ${n}`).toBe(true);
      expectClose(v, toRef(tj.exp(x.narrow(0, 0, 2))));
    }
    expect(cnt.frameCount).toBe(2);
  });

  test('sizes 0 and 1 are always specialised', () => {
    const cnt = new CompileCounter();
    const f = tj.compile(padAndFold, { backend: cnt });
    for (const t of [1, 2, 3, 4, 1, 2]) f(rand([t, 2], t));
    // [1] static; [2] dynamic (probe traces at 3 and 4); 3 and 4 reuse it
    expect(cnt.frameCount).toBe(2);
    const g = tj.compile((x: tj.Tensor) => tj.cat([x, x]), { backend: cnt });
    cnt.clear();
    for (const t of [3, 4, 0, 5]) g(tj.zeros([t]));
    expect(cnt.frameCount).toBe(3);
  });

  test('sizes in the result are solved too', () => {
    let runs = 0;
    const f = tj.compile((x: tj.Tensor) => {
      runs++;
      return { y: x.clone(), rows: x.shape[0], cells: x.shape[0] * x.shape[1] };
    }, { backend: 'eager' });
    for (const t of [2, 3, 7, 11]) {
      const out = f(tj.zeros([t, 3])) as { y: tj.Tensor; rows: number; cells: number };
      expect([out.y.shape[0], out.rows, out.cells]).toEqual([t, t, 3 * t]);
    }
    expect(runs).toBe(3);
  });

  test('code that is not the same graph at other sizes stays static (correct, one graph per size)', () => {
    const cnt = new CompileCounter();
    const fn = (x: tj.Tensor) => (x.shape[0] % 2 === 0 ? x.clone() : tj.cat([x, x]));
    const f = tj.compile(fn, { backend: cnt });
    for (const t of [2, 3, 4, 5]) expect((f(tj.zeros([t])) as tj.Tensor).shape).toEqual(fn(tj.zeros([t])).shape);
    expect(cnt.frameCount).toBe(4);
  });

  test('a size used as t*t is solved as a product', () => {
    const fn = (x: tj.Tensor) => {
      const t = x.shape[0];
      return tj.matmul(x.reshape([t, 1]), x.reshape([1, t])).reshape([t * t]);
    };
    const cnt = new CompileCounter();
    const f = tj.compile(fn, { backend: cnt });
    for (const t of [2, 3, 5, 8]) {
      const x = rand([t], t);
      expectClose(f(x) as tj.Tensor, toRef(fn(x)));
    }
    expect(cnt.frameCount).toBe(2);
  });
});

describe('dynamic option and marks', () => {
  test('dynamic: true is shape-polymorphic from the first call', () => {
    const cnt = new CompileCounter();
    const f = tj.compile(padAndFold, { backend: cnt, dynamic: true });
    for (const t of [3, 6, 10]) f(rand([t, 2], t));
    expect(cnt.frameCount).toBe(1);
  });

  test('dynamic: false always specialises', () => {
    const cnt = new CompileCounter();
    const f = tj.compile(padAndFold, { backend: cnt, dynamic: false });
    for (const t of [3, 4, 5, 4]) f(rand([t, 2], t));
    expect(cnt.frameCount).toBe(3);
  });

  test('markDynamic makes a dim dynamic from the first call, even with dynamic: false', () => {
    const cnt = new CompileCounter();
    const f = tj.compile(padAndFold, { backend: cnt, dynamic: false });
    const x = rand([3, 2], 1);
    tj.compiler.markDynamic(x, 0);
    f(x);
    for (const t of [4, 8]) f(rand([t, 2], t));
    expect(cnt.frameCount).toBe(1);
  });

  test('markStatic keeps a dim static, even with dynamic: true', () => {
    const cnt = new CompileCounter();
    const f = tj.compile(padAndFold, { backend: cnt, dynamic: true });
    for (const t of [3, 4, 5]) {
      const x = rand([t, 2], t);
      tj.compiler.markStatic(x, 0);
      f(x);
    }
    expect(cnt.frameCount).toBe(3);
  });

  test('functions with breaks reuse one dynamic graph per position, checked against every new trace', () => {
    const cnt = new CompileCounter();
    const fn = (x: tj.Tensor) => {
      const y = padAndFold(x);
      if ((y.narrow(0, 0, 1).item() as number) > 1e9) throw new Error('unreachable');
      return tj.cat([y, tj.zeros([x.shape[0]]), x.reshape([-1])]);
    };
    const f = tj.compile(fn, { backend: cnt });
    for (const t of [3, 4, 5, 6, 7]) {
      const x = rand([t, 2], t);
      expectClose(f(x) as tj.Tensor, toRef(fn(x)));
    }
    // each of the two positions: static at 3, dynamic from 4 on
    expect(cnt.frameCount).toBe(4);
  });
});

/** A GPT-style decoder: embeddings, one causal attention block with an MLP, a linear head. */
class TinyGPT extends tj.nn.Module {
  wte = new tj.nn.Embedding(50, 16);
  wpe = new tj.nn.Embedding(128, 16);
  ln1 = new tj.nn.LayerNorm(16);
  qkv = new tj.nn.Linear(16, 48);
  proj = new tj.nn.Linear(16, 16);
  ln2 = new tj.nn.LayerNorm(16);
  fc1 = new tj.nn.Linear(16, 64);
  fc2 = new tj.nn.Linear(64, 16);
  lnf = new tj.nn.LayerNorm(16);
  head = new tj.nn.Linear(16, 50);
  readonly heads = 4;

  override forward(idx: tj.Tensor): tj.Tensor {
    const [b, t] = idx.shape;
    const c = 16, h = this.heads, d = c / h;
    let x = tj.add(this.wte.forward(idx), this.wpe.forward(tj.arange(t)));
    const [q, k, v] = tj.split(this.qkv.forward(this.ln1.forward(x)), c, 2);
    const split = (z: tj.Tensor) => z.reshape([b, t, h, d]).transpose(1, 2);
    const att = tj.scaledDotProductAttention(split(q), split(k), split(v), null, { isCausal: true });
    x = tj.add(x, this.proj.forward(att.transpose(1, 2).reshape([b, t, c])));
    x = tj.add(x, this.fc2.forward(tj.gelu(this.fc1.forward(this.ln2.forward(x)))));
    return this.head.forward(this.lnf.forward(x));
  }
}

describe('the growing-sequence loop', () => {
  test('64 steps, sequence length +1 per step: at most 2 graphs, logits equal eager', () => {
    tj.manualSeed(0);
    const model = new TinyGPT().eval();
    const cnt = new CompileCounter();
    const compiled = tj.compile(model, { backend: cnt });
    let tokens = tj.tensor([[7]], { dtype: 'int64' });
    for (let step = 0; step < 64; step++) {
      const logits = compiled.forward(tokens) as tj.Tensor;
      const ref = model.forward(tokens);
      expectClose(logits, toRef(ref), { rtol: 1e-4, atol: 1e-4 }, `step ${step}`);
      const t = tokens.shape[1];
      const next = tj.argmax(logits.select(1, t - 1), -1).reshape([1, 1]);
      tokens = tj.cat([tokens, next], 1);
    }
    expect(tokens.shape).toEqual([1, 65]);
    expect(cnt.frameCount).toBeLessThanOrEqual(2);
  });
});
