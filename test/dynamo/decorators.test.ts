/**
 * The fine-grained API, after PyTorch's test/dynamo/test_decorators.py and its
 * fine-grained tracing docs, restated for our semantics (wrappers returned by disable
 * and allowInGraph; graphs as maximal runs across JS functions).
 */
import { afterEach, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { expectClose, makeTensor, randomValues, toRef } from '../helpers/reference';

const { CompileCounter, CompileCounterWithBackend } = tj.compiler.testing;
const rand = (shape: number[], seed: number) => makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);
const targets = (gm: tj.GraphModule) => gm.graph.nodes.filter((n) => n.op === 'call_function').map((n) => n.target);

afterEach(() => {
  tj.compiler.allowInGraph(tj.sub);
  tj.compiler.allowInGraph(tj.clone);
});

function addAddSubAddAdd(a: tj.Tensor): tj.Tensor {
  let x = tj.add(a, 1);
  x = tj.add(x, 1);
  x = tj.sub(x, 1);
  x = tj.add(x, 1);
  x = tj.add(x, 1);
  return x;
}

describe('disallowInGraph', () => {
  test('add, add, sub, add, add with sub disallowed: two graphs, four ops', () => {
    const cnt = new CompileCounter();
    const fn = tj.compile(addAddSubAddAdd, { backend: cnt });
    tj.compiler.disallowInGraph(tj.sub);
    const x = rand([10], 1);
    expectClose(fn(x), toRef(addAddSubAddAdd(x)));
    tj.compiler.allowInGraph(tj.sub);
    expect(cnt.frameCount).toBe(2);
    expect(cnt.opCount).toBe(4);
  });

  test('the method form x.sub(y) is disallowed too; allowInGraph(op) undoes it', () => {
    const fn = (a: tj.Tensor) => a.add(1).sub(2).add(3);
    const cnt = new CompileCounter();
    tj.compiler.disallowInGraph(tj.sub);
    tj.compile(fn, { backend: cnt })(rand([4], 2));
    expect([cnt.frameCount, cnt.opCount]).toEqual([2, 2]);
    tj.compiler.allowInGraph(tj.sub);
    cnt.clear();
    tj.compile(fn, { backend: cnt })(rand([4], 2));
    expect([cnt.frameCount, cnt.opCount]).toEqual([1, 3]);
  });

  test('disallowing invalidates existing cache entries (the registries are guarded)', () => {
    const cnt = new CompileCounter();
    const fn = tj.compile(addAddSubAddAdd, { backend: cnt });
    const x = rand([3], 3);
    fn(x);
    expect(cnt.frameCount).toBe(1);
    tj.compiler.disallowInGraph(tj.sub);
    fn(x);
    expect(cnt.frameCount).toBe(3);
  });

  test('used on something that is not an op, it throws', () => {
    const notAnOp = (x: tj.Tensor) => x.cos();
    expect(() => tj.compiler.disallowInGraph(notAnOp)).toThrow(Error);
    expect(() => tj.compiler.disallowInGraph(notAnOp)).toThrow('disallowInGraph is expected to be used on an op');
    expect(() => tj.compiler.disallowInGraph(tj.compiler.allowInGraph(notAnOp))).toThrow('disallowInGraph is expected to be used on an op');
    expect(() => tj.compiler.disallowInGraph(42 as never)).toThrow('disallowInGraph is expected to be used on an op');
  });
});

describe('allowInGraph', () => {
  function myCustomFunction(x: tj.Tensor): tj.Tensor {
    return tj.add(x, 1);
  }

  test('a wrapped function is one opaque node whose target is the function', () => {
    const cnt = new CompileCounterWithBackend('eager');
    const custom = tj.compiler.allowInGraph(myCustomFunction);
    const fn = (a: tj.Tensor) => {
      let x = tj.add(a, 1);
      x = tj.add(x, 1);
      x = custom(x);
      x = tj.add(x, 1);
      x = tj.add(x, 1);
      return x;
    };
    const x = rand([10], 4);
    expectClose(tj.compile(fn, { backend: cnt })(x), toRef(tj.add(x, 5)));
    expect(cnt.frameCount).toBe(1);
    expect(cnt.opCount).toBe(5);
    expect(targets(cnt.graphs[0])).toEqual([tj.add, tj.add, myCustomFunction, tj.add, tj.add]);
    expect(cnt.graphs[0].code).toContain('fns.myCustomFunction(add_1)');
  });

  test('the tracer does not look inside: a graph break inside does not split the graph', () => {
    const cnt = new CompileCounter();
    const inner = tj.compiler.allowInGraph(function breaksInside(x: tj.Tensor) {
      tj.compiler.graphBreak();
      return tj.mul(x, 2);
    });
    const x = rand([3], 5);
    expectClose(tj.compile((a: tj.Tensor) => tj.add(inner(tj.add(a, 1)), 1), { backend: cnt })(x), toRef(tj.add(tj.mul(tj.add(x, 1), 2), 1)));
    expect(cnt.frameCount).toBe(1);
    expect(cnt.opCount).toBe(3);
  });

  test('a plain (unwrapped) function is traced through: its graph break splits the graph', () => {
    const cnt = new CompileCounter();
    function dontAllowInGraph(x: tj.Tensor) {
      tj.compiler.graphBreak();
      return tj.add(x, 1);
    }
    const fn = (a: tj.Tensor) => {
      let x = tj.add(a, 1);
      x = tj.add(x, 1);
      x = dontAllowInGraph(x);
      x = tj.add(x, 1);
      return tj.add(x, 1);
    };
    tj.compile(fn, { backend: cnt })(rand([10], 6));
    expect(cnt.frameCount).toBe(2);
    expect(cnt.opCount).toBe(5);
  });

  test('a function that returns several tensors gives one node and an item per result', () => {
    const cnt = new CompileCounterWithBackend('eager');
    const halves = tj.compiler.allowInGraph((x: tj.Tensor) => tj.split(x, 2));
    const f = tj.compile((x: tj.Tensor) => {
      const [a, b] = halves(x);
      return tj.sub(a, b);
    }, { backend: cnt });
    expect((f(tj.tensor([5, 7, 1, 2])) as tj.Tensor).toArray()).toEqual([4, 5]);
    expect(cnt.opCount).toBe(2);
  });

  test('outside compiled code the wrapper just calls the function', () => {
    const custom = tj.compiler.allowInGraph(myCustomFunction);
    expect(custom(tj.tensor([1])).toArray()).toEqual([2]);
  });
});

describe('disable', () => {
  test('a disabled function breaks the graph and runs eagerly', () => {
    let insideFlags: boolean[] = [];
    const custom = tj.compiler.disable(function dataDependent(x: tj.Tensor) {
      insideFlags.push(tj.compiler.isCompiling());
      const keep = (x.toArray() as number[]).filter((v) => v > 0);
      return tj.tensor(keep);
    });
    const fn = (x: tj.Tensor) => {
      const a = tj.relu(x);
      const b = custom(a);
      return tj.cos(b);
    };
    const x = tj.tensor([-1, 2, 0, 3]);
    const ref = fn(x);
    insideFlags = [];
    const cnt = new CompileCounter();
    const res = tj.compile(fn, { backend: cnt })(x);
    expect(cnt.frameCount).toBe(2);
    expectClose(res, toRef(ref));
    expect(insideFlags).toEqual([false]);
  });

  test('recursive (default): compiled functions it calls run eagerly too', () => {
    const cnt = new CompileCounter();
    let innerCompiling: boolean[] = [];
    const inner = tj.compile((x: tj.Tensor) => {
      innerCompiling.push(tj.compiler.isCompiling());
      return tj.add(x, 1);
    }, { backend: cnt });
    const outer = tj.compiler.disable((x: tj.Tensor) => inner(tj.mul(x, 2)));
    expect(outer(tj.tensor([1])).toArray()).toEqual([3]);
    expect(cnt.frameCount).toBe(0);
    expect(innerCompiling).toEqual([false]);

    const outerShallow = tj.compiler.disable((x: tj.Tensor) => inner(tj.mul(x, 2)), { recursive: false });
    innerCompiling = [];
    expect(outerShallow(tj.tensor([1])).toArray()).toEqual([3]);
    expect(cnt.frameCount).toBe(1);
    expect(innerCompiling).toEqual([true]);
  });

  test('recursive false inside a compiled function: the disabled code is eager, compiled code it calls still compiles', () => {
    const cnt = new CompileCounterWithBackend('eager');
    const inner = tj.compile((x: tj.Tensor) => tj.mul(x, 3), { backend: cnt });
    const shallow = tj.compiler.disable((x: tj.Tensor) => inner(tj.sub(x, 1)), { recursive: false });
    const deep = tj.compiler.disable((x: tj.Tensor) => inner(tj.sub(x, 1)));
    const outerShallow = tj.compile((x: tj.Tensor) => tj.add(shallow(tj.add(x, 1)), 1), { backend: cnt });
    expect((outerShallow(tj.tensor([1])) as tj.Tensor).toArray()).toEqual([4]);
    // outer before, inner (compiled on its own), outer after
    expect(cnt.frameCount).toBe(3);
    expect(cnt.graphs.map(targets)).toEqual([[tj.add], [tj.mul], [tj.add]]);
    cnt.clear();
    const outerDeep = tj.compile((x: tj.Tensor) => tj.add(deep(tj.add(x, 1)), 1), { backend: cnt });
    expect((outerDeep(tj.tensor([1])) as tj.Tensor).toArray()).toEqual([4]);
    expect(cnt.frameCount).toBe(2);
  });

  test('the reason is shown in the break reason', () => {
    const logged = tj.compiler.disable((x: tj.Tensor) => x, { reason: 'prints activations' });
    const report = tj.compiler.explain((x: tj.Tensor) => tj.add(logged(tj.add(x, 1)), 1))(tj.ones([2]));
    expect(report.graphBreakCount).toBe(1);
    expect(report.breakReasons[0].reason).toMatch(/disabled function.*prints activations/);
  });

  test('methods keep their this', () => {
    class Scaler {
      constructor(readonly k: number) {}
      scale(x: tj.Tensor): tj.Tensor {
        return tj.mul(x, this.k);
      }
    }
    Scaler.prototype.scale = tj.compiler.disable(Scaler.prototype.scale);
    const s = new Scaler(3);
    const cnt = new CompileCounter();
    const f = tj.compile((x: tj.Tensor) => tj.add(s.scale(tj.add(x, 1)), 1), { backend: cnt });
    expect((f(tj.tensor([1])) as tj.Tensor).toArray()).toEqual([7]);
    expect(cnt.frameCount).toBe(2);
  });

  class SimpleLinear extends tj.nn.Module {
    layer0 = new tj.nn.Linear(4, 4);
    override forward(inp: tj.Tensor) {
      return this.layer0.forward(tj.sigmoid(inp));
    }
  }
  class SimpleModel extends tj.nn.Module {
    layer0: tj.nn.Module = new SimpleLinear();
    layer1 = new tj.nn.Linear(4, 4);
    override forward(inp: tj.Tensor) {
      const z = this.layer0.forward(tj.sin(inp));
      return this.layer1.forward(z);
    }
  }

  test('a disabled Module instance: its forward runs eagerly between two graphs', () => {
    const model = new SimpleModel();
    const x = rand([4], 7);
    const ref = model.forward(x);
    model.layer0 = tj.compiler.disable(model.layer0);
    const cnt = new CompileCounterWithBackend('eager');
    const opt = tj.compile(model, { backend: cnt });
    expectClose(opt.forward(x), toRef(ref));
    expect(cnt.frameCount).toBe(2);
    expect(targets(cnt.graphs[0])).toContain(tj.sin);
    expect(targets(cnt.graphs[0])).not.toContain(tj.sigmoid);
    expect(targets(cnt.graphs[1])).not.toContain(tj.sigmoid);
    expect(model.layer0).toBeInstanceOf(SimpleLinear);
  });

  test('a disabled Module class: every instance runs eagerly', () => {
    const DisabledLinear = tj.compiler.disable(SimpleLinear);
    class Model extends tj.nn.Module {
      layer0 = new DisabledLinear();
      layer1 = new tj.nn.Linear(4, 4);
      override forward(inp: tj.Tensor) {
        return this.layer1.forward(this.layer0.forward(tj.sin(inp)));
      }
    }
    const model = new Model();
    const x = rand([4], 8);
    const ref = model.forward(x);
    const cnt = new CompileCounterWithBackend('eager');
    expectClose(tj.compile(model, { backend: cnt }).forward(x), toRef(ref));
    expect(cnt.frameCount).toBe(2);
    expect(targets(cnt.graphs[0])).toEqual([tj.sin]);
    expect(targets(cnt.graphs[1])).toEqual([tj.linear]);
    expect(new DisabledLinear()).toBeInstanceOf(SimpleLinear);
  });

  test('a compiled Module class compiles each instance', () => {
    const cnt = new CompileCounterWithBackend('eager');
    const Compiled = tj.compile(SimpleModel, { backend: cnt });
    const m = new Compiled();
    const x = rand([4], 9);
    const ref = SimpleModel.prototype.forward.call(m, x);
    expectClose(m.forward(x), toRef(ref));
    m.forward(x);
    expect(cnt.frameCount).toBe(1);
    expect(cnt.opCount).toBe(4);
  });
});

describe('isCompiling / isDynamoCompiling', () => {
  test('false in eager code, true while compile traces, false in disabled code inside it', () => {
    const seen: Record<string, boolean[]> = {};
    const note = (where: string) => (seen[where] = [tj.compiler.isCompiling(), tj.compiler.isDynamoCompiling()]);
    const eagerPart = tj.compiler.disable(() => note('disabled'));
    const fn = (x: tj.Tensor) => {
      note('traced');
      eagerPart();
      return tj.add(x, 1);
    };
    note('outside');
    tj.compile(fn, { backend: 'eager' })(tj.ones([1]));
    expect(seen).toEqual({ outside: [false, false], traced: [true, true], disabled: [false, false] });
    fn(tj.ones([1]));
    expect(seen.traced).toEqual([false, false]);
  });

  test('a break-free compiled function returns the value it saw while traced (the body does not re-run)', () => {
    const f = tj.compile((x: tj.Tensor) => [tj.add(x, 1), tj.compiler.isCompiling()] as const, { backend: 'eager' });
    expect(f(tj.ones([1]))[1]).toBe(true);
    expect(f(tj.ones([1]))[1]).toBe(true);
  });
});

describe('graphs span function boundaries', () => {
  test('a compiled function called from a compiled function is inlined into one graph', () => {
    const cnt = new CompileCounter();
    const inner = tj.compile((x: tj.Tensor) => tj.mul(x, 2), { backend: cnt });
    const outer = tj.compile((x: tj.Tensor) => tj.add(inner(tj.add(x, 1)), 1), { backend: cnt });
    expect((outer(tj.tensor([1])) as tj.Tensor).toArray()).toEqual([5]);
    expect(cnt.frameCount).toBe(1);
    expect(cnt.opCount).toBe(3);
  });
});

describe('assumeConstantResult', () => {
  test('called once while tracing; its result is baked into the graph', () => {
    let calls = 0;
    const scale = tj.compiler.assumeConstantResult(() => {
      calls++;
      return 3;
    });
    const table = tj.compiler.assumeConstantResult((n: number) => tj.full([n], 2));
    const cnt = new CompileCounterWithBackend('eager');
    const f = tj.compile((x: tj.Tensor) => tj.add(tj.mul(x, scale()), table(x.shape[0])), { backend: cnt });
    expect((f(tj.tensor([1, 2])) as tj.Tensor).toArray()).toEqual([5, 8]);
    expect((f(tj.tensor([1, 2])) as tj.Tensor).toArray()).toEqual([5, 8]);
    expect(calls).toBe(1);
    expect(cnt.graphs[0].graph.nodes.some((n) => n.op === 'get_attr')).toBe(true);
    expect(scale()).toBe(3);
  });
});

describe('markDynamic / markStatic argument checks', () => {
  test('bad calls', () => {
    expect(() => tj.compiler.markDynamic(tj.ones([2]), 1)).toThrow(RangeError);
    expect(() => tj.compiler.markStatic(42 as never, 0)).toThrow(TypeError);
  });
});
