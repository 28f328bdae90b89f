/**
 * tj.compile: results equal eager under every backend, caching behind guards (the JS
 * body runs only when a guard fails), recompiles, cacheSizeLimit, reset, pytrees.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import * as tj from '../../lib/index';
import { GraphModule } from '../../lib/fx';
import { expectClose, makeTensor, randomValues, toRef } from '../helpers/reference';

const rand = (shape: number[], seed: number) => makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);

function attentionish(x: tj.Tensor, w: tj.Tensor): tj.Tensor {
  const scores = tj.softmax(tj.matmul(x, tj.transpose(w, 0, 1)), -1);
  return tj.cat([tj.matmul(scores, w), x], 1);
}

afterEach(() => {
  tj.compiler.config.cacheSizeLimit = 8;
  vi.restoreAllMocks();
});

describe('results equal eager', () => {
  const x = rand([3, 4], 1), w = rand([5, 4], 2);
  const expected = toRef(attentionish(x, w));

  test.each([
    ['eager', 'eager'],
    ['native (default)', undefined],
    ['native', 'native'],
  ])('backend %s', (_, backend) => {
    const f = tj.compile(attentionish, backend ? { backend } : undefined);
    expectClose(f(x, w), expected);
    expectClose(f(x, w), expected);
  });

  test('a custom backend function receives the GraphModule and example inputs', () => {
    const seen: { gm: GraphModule; inputs: tj.Tensor[] }[] = [];
    const f = tj.compile(attentionish, {
      backend: (gm, inputs) => {
        seen.push({ gm, inputs });
        return (...xs: tj.Tensor[]) => gm(...xs);
      },
    });
    expectClose(f(x, w), expected);
    expect(seen).toHaveLength(1);
    expect(seen[0].gm).toBeInstanceOf(GraphModule);
    expect(seen[0].inputs).toEqual([x, w]);
    expect(seen[0].gm.graph.nodes.filter((n) => n.op === 'call_function').map((n) => n.target)).toEqual([
      tj.transpose, tj.matmul, tj.softmax, tj.matmul, tj.cat,
    ]);
  });

  test('a backend object with a compile method, and registered backends by name', () => {
    let compiles = 0;
    tj.compiler.registerBackend('test-counting', { compile: (gm) => ((compiles++), (...xs: tj.Tensor[]) => gm(...xs)) });
    expect(tj.compiler.listBackends()).toEqual(expect.arrayContaining(['eager', 'native', 'test-counting']));
    const f = tj.compile(attentionish, { backend: 'test-counting' });
    expectClose(f(x, w), expected);
    expect(compiles).toBe(1);
  });

  test('runAsync resolves to the same result', async () => {
    const f = tj.compile(attentionish, { backend: 'eager' });
    expectClose((await f.runAsync(x, w)) as tj.Tensor, expected);
    expectClose((await f.runAsync(x, w)) as tj.Tensor, expected);
    await expect(f.runAsync(x, tj.ones([2, 2]))).rejects.toThrow(/matmul/);
  });

  test('bad options and bad backends are errors at compile time', () => {
    expect(() => tj.compile(attentionish, { backend: 'no-such-backend' })).toThrow(/unknown backend 'no-such-backend'/);
    expect(() => tj.compile(attentionish, { bogus: 1 } as never)).toThrow(/unknown option 'bogus'/);
    expect(() => tj.compile(42 as never)).toThrow(TypeError);
  });

  test("mode: torch.compile's names are accepted, others are errors for the built-in backends", () => {
    const x = tj.tensor([[1, 2], [3, 4]]), w = tj.tensor([[0.5, -1], [2, 0.25]]);
    const want = attentionish(x, w);
    for (const mode of ['default', 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs'])
      expectClose(tj.compile(attentionish, { mode })(x, w) as tj.Tensor, toRef(want));
    expect(() => tj.compile(attentionish, { mode: 'fast' })).toThrow(/unknown mode 'fast' \(one of 'default', 'reduce-overhead'/);
    expect(() => tj.compile(attentionish, { mode: 3 } as never)).toThrow(/option 'mode' must be a string/);
    // a custom backend receives any mode it is given
    const seen: unknown[] = [];
    const backend = (gm: GraphModule, _inputs: tj.Tensor[], opts?: { mode?: string }) => {
      seen.push(opts?.mode);
      return (...xs: tj.Tensor[]) => gm(...xs);
    };
    tj.compile(attentionish, { backend, mode: 'my-mode' })(x, w);
    expect(seen).toEqual(['my-mode']);
  });
});

describe('guards and caches', () => {
  test('a guarded call runs the compiled graph without running the JS body', () => {
    const counter = new tj.compiler.testing.CompileCounter();
    let runs = 0;
    const f = tj.compile((a: tj.Tensor, b: tj.Tensor) => {
      runs++;
      return attentionish(a, b);
    }, { backend: counter });
    const x = rand([3, 4], 1), w = rand([5, 4], 2);
    for (let i = 0; i < 5; i++) expectClose(f(x, w), toRef(attentionish(x, w)));
    expect(runs).toBe(1);
    expect(counter.frameCount).toBe(1);
    // new tensors with the same dtype/shape/layout hit the same entry
    const x2 = rand([3, 4], 3);
    expectClose(f(x2, w), toRef(attentionish(x2, w)));
    expect(runs).toBe(1);
  });

  test('dtype, rank, layout and argument structure changes recompile', () => {
    const counter = new tj.compiler.testing.CompileCounter();
    let runs = 0;
    const f = tj.compile((a: tj.Tensor) => {
      runs++;
      return a.reshape([-1]).clone();
    }, { backend: counter, dynamic: false });
    const base = rand([2, 3], 1);
    f(base);
    f(tj.zeros([2, 3], { dtype: 'int32' }));
    f(tj.zeros([6]));
    const t = makeTensor(randomValues(6, 2), [2, 3], 'float32', 'transposed');
    expect((f(t) as tj.Tensor).toArray()).toEqual(toRef(t).data.length ? Array.from(toRef(t).data) : []);
    expect(runs).toBe(4);
    f(base);
    f(t);
    expect(runs).toBe(4);
    expect(counter.frameCount).toBe(4);
  });

  test('non-tensor arguments are guarded by value', () => {
    let runs = 0;
    const f = tj.compile((a: tj.Tensor, dim: number, opts: { keep: boolean; tag: string }) => {
      runs++;
      return tj.sum(a, dim, opts.keep);
    }, { backend: 'eager' });
    const a = rand([2, 3], 4);
    expect((f(a, 0, { keep: false, tag: 'x' }) as tj.Tensor).shape).toEqual([3]);
    expect((f(a, 0, { keep: false, tag: 'x' }) as tj.Tensor).shape).toEqual([3]);
    expect(runs).toBe(1);
    expect((f(a, 1, { keep: false, tag: 'x' }) as tj.Tensor).shape).toEqual([2]);
    expect((f(a, 1, { keep: true, tag: 'x' }) as tj.Tensor).shape).toEqual([2, 1]);
    f(a, 1, { keep: true, tag: 'y' });
    expect(runs).toBe(4);
    f(a, 0, { keep: false, tag: 'x' });
    expect(runs).toBe(4);
  });

  test('a Set argument is guarded by its members (it was by identity: a flag added was not seen)', () => {
    const f = (x: tj.Tensor, flags: Set<string>) => (flags.has('neg') ? tj.neg(x) : tj.add(x, 1));
    const compiled = tj.compile(f, { backend: 'eager' });
    const x = tj.tensor([1, 2]);
    const flags = new Set(['a']);
    expect((compiled(x, flags) as tj.Tensor).toArray()).toEqual([2, 3]);
    flags.add('neg');
    expect((compiled(x, flags) as tj.Tensor).toArray()).toEqual([-1, -2]);
    expect((compiled(x, new Set(['neg', 'a'])) as tj.Tensor).toArray()).toEqual([-1, -2]);
    flags.clear();
    expect((compiled(x, flags) as tj.Tensor).toArray()).toEqual([2, 3]);
  });

  test('a compiled function that reads its own this is guarded on that object; an arrow function is not', () => {
    // before, `this.scale` was read once and baked in, whatever object the call was made on
    class Scaler {
      scale = 2;
      requests = 0;
      run = tj.compile(function (this: Scaler, x: tj.Tensor) {
        return tj.mul(x, this.scale);
      });
      arrow = tj.compile((x: tj.Tensor) => tj.add(x, 1));
    }
    const a = new Scaler();
    const x = tj.tensor([1, 2]);
    expect((a.run(x) as tj.Tensor).toArray()).toEqual([2, 4]);
    a.scale = 5;
    expect((a.run(x) as tj.Tensor).toArray()).toEqual([5, 10]);
    const b = new Scaler();
    b.scale = -1;
    b.run = a.run;  // the same compiled function, called on another object
    expect((b.run(x) as tj.Tensor).toArray()).toEqual([-1, -2]);
    expect((a.run(x) as tj.Tensor).toArray()).toEqual([5, 10]);
    // an arrow function's this is not the call's: fields of the object it is called on
    // (a request counter) are not guarded, so changing them does not recompile
    const cnt = new tj.compiler.testing.CompileCounter();
    const c = new Scaler();
    c.arrow = tj.compile((y: tj.Tensor) => tj.add(y, 1), { backend: cnt });
    for (let i = 0; i < 4; i++) {
      c.requests++;
      expect((c.arrow(x) as tj.Tensor).toArray()).toEqual([2, 3]);
    }
    expect(cnt.frameCount).toBe(1);
  });

  test('aliasing between tensor arguments is guarded', () => {
    let runs = 0;
    const f = tj.compile((a: tj.Tensor, b: tj.Tensor) => {
      runs++;
      return tj.cat([a, b]);
    }, { backend: 'eager' });
    const a = tj.tensor([1, 2]), b = tj.tensor([3, 4]);
    expect((f(a, b) as tj.Tensor).toArray()).toEqual([1, 2, 3, 4]);
    expect((f(a, a) as tj.Tensor).toArray()).toEqual([1, 2, 1, 2]);
    expect(runs).toBe(2);
    const c = tj.tensor([5, 6]);
    expect((f(c, c) as tj.Tensor).toArray()).toEqual([5, 6, 5, 6]);
    expect((f(b, c) as tj.Tensor).toArray()).toEqual([3, 4, 5, 6]);
    expect(runs).toBe(2);
  });

  test('pytree arguments and results', () => {
    let runs = 0;
    const f = tj.compile((inp: { xs: tj.Tensor[]; scale: number }) => {
      runs++;
      const joined = tj.cat(inp.xs, 0);
      return { joined, parts: tj.split(joined, 2), n: inp.scale, first: inp.xs[0], label: 'ok' };
    }, { backend: 'eager' });
    const xs = [tj.tensor([1, 2]), tj.tensor([3, 4])];
    for (let i = 0; i < 2; i++) {
      const out = f({ xs, scale: 3 }) as { joined: tj.Tensor; parts: tj.Tensor[]; n: number; first: tj.Tensor; label: string };
      expect(out.joined.toArray()).toEqual([1, 2, 3, 4]);
      expect(out.parts.map((p) => p.toArray())).toEqual([[1, 2], [3, 4]]);
      expect(out.n).toBe(3);
      expect(out.first).toBe(xs[0]);
      expect(out.label).toBe('ok');
    }
    expect(runs).toBe(1);
    f({ xs: [...xs, tj.tensor([5])], scale: 3 });
    expect(runs).toBe(2);
  });

  test('closure tensors are graph constants referenced by identity: in-place updates stay visible', () => {
    const bias = tj.tensor([10, 20]);
    let runs = 0;
    const f = tj.compile((a: tj.Tensor) => {
      runs++;
      return tj.cat([a, bias]);
    }, { backend: 'eager' });
    expect((f(tj.tensor([1])) as tj.Tensor).toArray()).toEqual([1, 10, 20]);
    bias.copy_(tj.tensor([7, 8]));
    expect((f(tj.tensor([1])) as tj.Tensor).toArray()).toEqual([1, 7, 8]);
    expect(runs).toBe(1);
    const gm = tj.compiler.explain((a: tj.Tensor) => tj.cat([a, bias]))(tj.tensor([1])).graphs[0];
    expect(gm.attrs._tensor_constant0).toBe(bias);
    expect(gm.graph.nodes.find((n) => n.op === 'get_attr')!.name).toBe('_tensor_constant0');
  });

  test('cacheSizeLimit: past the limit calls run eagerly, with one warning per function', () => {
    tj.compiler.config.cacheSizeLimit = 2;
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const counter = new tj.compiler.testing.CompileCounter();
    let runs = 0;
    const f = tj.compile((a: tj.Tensor, k: number) => {
      runs++;
      return tj.sum(a, k);
    }, { backend: counter });
    const a = rand([2, 3, 4], 5);
    for (const k of [0, 1, 2, 0, 1, 2, 2]) expectClose(f(a, k), toRef(tj.sum(a, k)));
    expect(counter.frameCount).toBe(2);
    // entries made keep serving without running the body; the rest run eagerly (body runs)
    expect(runs).toBe(2 + 3);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/cacheSizeLimit \(2\)/);
    // the failing guard is a number's: the warning says to pass such numbers as tensors
    expect(String(warn.mock.calls[0][0])).toMatch(/k === 1.*pass it as a tensor/);
    const g = tj.compile((a: tj.Tensor, k: number) => tj.sum(a, k), { backend: counter });
    for (const k of [0, 1, 2, 2]) g(a, k);
    expect(warn).toHaveBeenCalledTimes(2);
  });

  test('reset() drops every cache', () => {
    const counter = new tj.compiler.testing.CompileCounter();
    let runs = 0;
    const f = tj.compile((a: tj.Tensor) => {
      runs++;
      return a.clone();
    }, { backend: counter });
    const a = tj.ones([2]);
    f(a);
    f(a);
    tj.compiler.reset();
    f(a);
    expect(runs).toBe(2);
    expect(counter.frameCount).toBe(2);
  });

  test('each tj.compile call has its own cache', () => {
    const counter = new tj.compiler.testing.CompileCounter();
    const fn = (a: tj.Tensor) => a.clone();
    const f = tj.compile(fn, { backend: counter }), g = tj.compile(fn, { backend: counter });
    f(tj.ones([2]));
    g(tj.ones([2]));
    expect(counter.frameCount).toBe(2);
  });

  test('a function without ops compiles nothing and returns its inputs and values', () => {
    const counter = new tj.compiler.testing.CompileCounter();
    const f = tj.compile((a: tj.Tensor) => ({ a, n: a.shape[0] }), { backend: counter });
    const a = tj.ones([3]);
    const out = f(a) as { a: tj.Tensor; n: number };
    expect(out.a).toBe(a);
    expect(out.n).toBe(3);
    expect(counter.frameCount).toBe(0);
  });

  test('errors in the function surface like eager ones and leave no tracing state behind', () => {
    const f = tj.compile((a: tj.Tensor, b: tj.Tensor) => tj.matmul(a, b), { backend: 'eager' });
    expect(() => f(tj.ones([2, 3]), tj.ones([2, 3]))).toThrow(/matmul/);
    expect(tj.compiler.isCompiling()).toBe(false);
    expect((f(tj.ones([2, 3]), tj.ones([3, 1])) as tj.Tensor).toArray()).toEqual([[3], [3]]);
  });
});
