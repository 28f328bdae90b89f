/**
 * In-place ops are functionalised in graphs: the graph computes new values out of place,
 * and updates of inputs and constants are applied after it runs, so eager and compiled agree.
 */
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';

const { CompileCounterWithBackend } = tj.compiler.testing;
const targets = (gm: tj.GraphModule) => gm.graph.nodes.filter((n) => n.op === 'call_function').map((n) => n.target);
const hasInPlace = (gm: tj.GraphModule) => targets(gm).some((t) => typeof t === 'function' && 'traits' in t && (t as tj.Op<never[], unknown>).traits.has('inplace'));

describe('functionalisation', () => {
  test('an input written in place is updated after each call; the graph itself is functional', () => {
    const cnt = new CompileCounterWithBackend('eager');
    let runs = 0;
    const f = tj.compile((x: tj.Tensor, y: tj.Tensor) => {
      runs++;
      x.copy_(y);
      return tj.sum(x);
    }, { backend: cnt });
    for (const vals of [[1, 2, 3], [4, 5, 6]]) {
      const x = tj.zeros([3]);
      expect((f(x, tj.tensor(vals)) as tj.Tensor).item()).toBe(vals[0] + vals[1] + vals[2]);
      expect(x.toArray()).toEqual(vals);
    }
    expect(runs).toBe(1);
    expect(hasInPlace(cnt.graphs[0])).toBe(false);
    expect(cnt.graphs[0].code).toMatchInlineSnapshot(`
      "function forward(x, y) {
        const copy = fx.outOfPlace(ops.copy_, x, y);
        const sum = ops.sum(copy);
        return [sum, copy];
      }"
    `);
  });

  test('in-place ops with an out-of-place twin are recorded as the twin (add_ -> add)', () => {
    const cnt = new CompileCounterWithBackend('eager');
    const fn = (x: tj.Tensor) => {
      x.add_(1);
      const a = x.clone();
      a.narrow(0, 0, 1).mul_(2);
      a.relu_();
      return a;
    };
    const f = tj.compile(fn, { backend: cnt });
    const x1 = tj.tensor([-3, 2]), x2 = tj.tensor([-3, 2]);
    expect((f(x1) as tj.Tensor).toArray()).toEqual(fn(x2).toArray());
    expect(x1.toArray()).toEqual(x2.toArray());
    expect(x1.toArray()).toEqual([-2, 3]);
    expect(cnt.graphs[0].code).toMatchInlineSnapshot(`
      "function forward(x) {
        const add = ops.add(x, 1);
        const clone = ops.clone(add);
        const narrow = ops.narrow(clone, 0, 0, 1);
        const mul = ops.mul(narrow, 2);
        const clone_updated = fx.viewScatter(clone, mul, [1], [1], 0);
        const relu = ops.relu(clone_updated);
        return [relu, add];
      }"
    `);
  });

  test('returning a mutated input returns that same tensor', () => {
    const f = tj.compile((x: tj.Tensor) => x.copy_(tj.ones([2])), { backend: 'eager' });
    const x = tj.zeros([2]);
    expect(f(x)).toBe(x);
    const x2 = tj.zeros([2]);
    expect(f(x2)).toBe(x2);
    expect(x2.toArray()).toEqual([1, 1]);
  });

  test('writes through a view update the base; views taken earlier see the new values', () => {
    const fn = (x: tj.Tensor, y: tj.Tensor) => {
      const before = x.narrow(0, 0, 2); // taken before the write
      x.narrow(0, 1, 2).copy_(y);
      return tj.cat([before.clone(), x]);
    };
    const cnt = new CompileCounterWithBackend('eager');
    const f = tj.compile(fn, { backend: cnt });
    const xe = tj.tensor([1, 2, 3]), xc = tj.tensor([1, 2, 3]);
    const expected = fn(xe, tj.tensor([8, 9])).toArray();
    expect((f(xc, tj.tensor([8, 9])) as tj.Tensor).toArray()).toEqual(expected);
    expect(xc.toArray()).toEqual(xe.toArray());
    expect(expected).toEqual([1, 8, 1, 8, 9]);
    expect(hasInPlace(cnt.graphs[0])).toBe(false);
    const again = tj.tensor([5, 6, 7]);
    expect((f(again, tj.tensor([0, 0])) as tj.Tensor).toArray()).toEqual([5, 0, 5, 0, 0]);
    expect(cnt.frameCount).toBe(1);
  });

  test('intermediates written in place need no copy-back', () => {
    const f = tj.compile((x: tj.Tensor) => {
      const a = x.clone();
      a.narrow(0, 0, 1).copy_(tj.zeros([1]));
      return a;
    }, { backend: 'eager' });
    const x = tj.tensor([4, 5]);
    expect((f(x) as tj.Tensor).toArray()).toEqual([0, 5]);
    expect(x.toArray()).toEqual([4, 5]);
  });

  test('a KV-cache buffer updated with indexCopy_ inside a compiled module (the constant is updated after each run)', () => {
    class Cache extends tj.nn.Module {
      constructor() {
        super();
        this.registerBuffer('keys', tj.zeros([4, 2]));
      }
      declare keys: tj.Tensor;
      override forward(pos: tj.Tensor, k: tj.Tensor): tj.Tensor {
        this.keys.indexCopy_(0, pos, k);
        return tj.sum(this.keys, 0);
      }
    }
    const eager = new Cache(), compiledModule = new Cache();
    const cnt = new CompileCounterWithBackend('eager');
    const compiled = tj.compile(compiledModule, { backend: cnt });
    for (let t = 0; t < 4; t++) {
      const pos = tj.tensor([t], { dtype: 'int64' }), k = tj.tensor([[t + 1, 10 * (t + 1)]]);
      expect((compiled.forward(pos, k) as tj.Tensor).toArray()).toEqual((eager.forward(pos, k) as tj.Tensor).toArray());
      expect(compiledModule.keys.toArray()).toEqual(eager.keys.toArray());
    }
    expect(cnt.frameCount).toBe(1);
    expect(cnt.graphs[0].attrs.keys).toBe(compiledModule.keys);
  });

  test('writing an input that shares memory with another input runs eagerly (correct)', () => {
    const fn = (a: tj.Tensor, b: tj.Tensor) => {
      a.copy_(tj.ones([2]));
      return b.clone();
    };
    const report = tj.compiler.explain(fn);
    const base = tj.zeros([4]);
    const out = report(base.narrow(0, 0, 2), base.narrow(0, 0, 2));
    expect(out.graphBreakCount).toBe(1);
    expect(out.breakReasons[0].reason).toMatch(/shared with another input/);
    const base2 = tj.zeros([4]);
    const f = tj.compile(fn, { backend: 'eager' });
    expect((f(base2.narrow(0, 0, 2), base2.narrow(0, 0, 2)) as tj.Tensor).toArray()).toEqual([1, 1]);
  });
});
