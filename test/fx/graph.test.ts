import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { Graph, GraphModule, Interpreter, Node, functionFromCode, getitem, graphKey, symAffine, symSize } from '../../lib/fx';

const meta = (shape: number[], dtype: tj.DType = 'float32') => ({ shape, dtype });

/** x:[2,3] -> transpose -> clone -> reshape [6] -> cat with w, returned with the transpose. */
function sampleGraph(): { gm: GraphModule; nodes: Record<string, Node> } {
  const g = new Graph();
  const x = g.placeholder('x', meta([2, 3]));
  const w = g.placeholder('w', meta([6]));
  const t = g.callFunction(tj.transpose, [x, 0, 1], meta([3, 2]));
  const c = g.callFunction(tj.clone, [t], meta([3, 2]));
  const r = g.callFunction(tj.reshape, [c, [6]], meta([6]));
  const cat = g.callFunction(tj.cat, [[r, w], 0], meta([12]));
  g.output([cat, t]);
  return { gm: new GraphModule(g), nodes: { x, w, t, c, r, cat } };
}

describe('Graph and Node', () => {
  test('nodes keep program order, FX fields and users', () => {
    const { gm, nodes } = sampleGraph();
    expect(gm.graph.nodes.map((n) => n.op)).toEqual(['placeholder', 'placeholder', 'call_function', 'call_function', 'call_function', 'call_function', 'output']);
    expect(gm.graph.nodes.map((n) => n.name)).toEqual(['x', 'w', 'transpose', 'clone', 'reshape', 'cat', 'output']);
    expect(nodes.cat.target).toBe(tj.cat);
    expect(nodes.cat.args[0]).toEqual([nodes.r, nodes.w]);
    expect(nodes.cat.kwargs).toEqual({});
    expect(nodes.x.users).toEqual([nodes.t]);
    expect(nodes.t.users.map((n) => n.name)).toEqual(['clone', 'output']);
    expect(nodes.r.meta).toEqual({ shape: [6], dtype: 'float32' });
  });

  test('names are unique identifiers (op name, then _1, _2; reserved words avoided)', () => {
    const g = new Graph();
    const x = g.placeholder('x', meta([2]));
    const a = g.callFunction(tj.clone, [x], meta([2]));
    const b = g.callFunction(tj.clone, [a], meta([2]));
    const c = g.callFunction(tj.clone, [b], meta([2]));
    const d = g.placeholder('delete', meta([2]));
    expect([a.name, b.name, c.name, d.name]).toEqual(['clone', 'clone_1', 'clone_2', 'delete_']);
  });

  test('nodes of another graph and nodes after the output are rejected', () => {
    const g1 = new Graph(), g2 = new Graph();
    const x = g1.placeholder('x', meta([2]));
    expect(() => g2.callFunction(tj.clone, [x], meta([2]))).toThrow(/another graph/);
    g1.output([x]);
    expect(() => g1.callFunction(tj.clone, [x], meta([2]))).toThrow(/after the output/);
  });

  test('dead code elimination keeps used and effectful calls', () => {
    const g = new Graph();
    const x = g.placeholder('x', meta([2]));
    const used = g.callFunction(tj.clone, [x], meta([2]));
    const dead = g.callFunction(tj.clone, [x], meta([2]));
    g.callFunction(tj.reshape, [dead, [1, 2]], meta([1, 2]));
    const effect = g.callFunction(function logIt(t: tj.Tensor) { return t; }, [x], meta([2]));
    g.output([used]);
    expect(g.eliminateDeadCode()).toBe(2);
    expect(g.nodes.map((n) => n.name)).toEqual(['x', 'clone', 'logIt', 'output']);
    expect(x.users).toEqual([used, effect]);
    void effect;
  });
});

describe('printouts', () => {
  test('gm.code is readable JS, one line per node', () => {
    const { gm } = sampleGraph();
    expect(gm.code).toMatchInlineSnapshot(`
      "function forward(x, w) {
        const transpose = ops.transpose(x, 0, 1);
        const clone = ops.clone(transpose);
        const reshape = ops.reshape(clone, [6]);
        const cat = ops.cat([reshape, w], 0);
        return [cat, transpose];
      }"
    `);
  });

  test('the table printout for logs', () => {
    const { gm } = sampleGraph();
    expect(gm.graph.toString()).toMatchInlineSnapshot(`
      "%x : f32[2,3] = placeholder[x]
      %w : f32[6] = placeholder[w]
      %transpose : f32[3,2] = call_function[transpose](%x, 0, 1)
      %clone : f32[3,2] = call_function[clone](%transpose)
      %reshape : f32[6] = call_function[reshape](%clone, [6])
      %cat : f32[12] = call_function[cat]([%reshape, %w], 0)
      return [%cat, %transpose]"
    `);
  });

  test('literals, constants, option objects, builtins and plain functions print as valid JS', () => {
    const g = new Graph();
    const x = g.placeholder('x', meta([2, 3]));
    const k = g.getAttr('layers.0.weight', meta([3]), 'layers_0_weight');
    const s = g.callFunction(symSize, [x, 1], { shape: [], dtype: 'int64', sym: 's0' }, 's0');
    const s1 = g.callFunction(symAffine, [s, 2, -1], { shape: [], dtype: 'int64', sym: 's0 * 2 - 1' }, 's');
    const parts = g.callFunction(tj.split, [x, [1, 2], 1], { ...meta([2, 1]), items: [meta([2, 1]), meta([2, 2])] });
    const first = g.callFunction(getitem, [parts, 0], meta([2, 1]), 'split_0');
    const f = g.callFunction(function scaleRows(t: tj.Tensor) { return t; }, [first], meta([2, 1]));
    const full = g.callFunction(tj.full, [[s1, 1], -Infinity, { dtype: 'float32' }], meta([5, 1]));
    g.output({ a: [f, full], b: k, n: null, z: -0, big: 3n, str: 'a"b' });
    const gm = new GraphModule(g, { 'layers.0.weight': tj.ones([3]) });
    expect(gm.code).toMatchInlineSnapshot(`
      "function forward(x) {
        const layers_0_weight = attrs["layers.0.weight"];
        const s0 = x.shape[1];
        const s = s0 * 2 - 1;
        const split = ops.split(x, [1, 2], 1);
        const split_0 = split[0];
        const scaleRows = fns.scaleRows(split_0);
        const full = ops.full([s, 1], -Infinity, { dtype: "float32" });
        return { a: [scaleRows, full], b: layers_0_weight, n: null, z: -0, big: 3n, str: "a\\"b" };
      }"
    `);
    expect(() => functionFromCode(gm.code, gm.attrs, gm.fns)).not.toThrow();
    expect(gm.graph.toString().split('\n')[2]).toBe('%s0 : sym = call_function[s](%x, 1)');
  });

  test('the printed code runs and gives what the interpreter gives', () => {
    const { gm } = sampleGraph();
    const x = tj.arange(6, { dtype: 'float32' }).reshape([2, 3]);
    const w = tj.full([6], 7);
    const viaCode = functionFromCode(gm.code, gm.attrs, gm.fns)(x, w) as tj.Tensor[];
    const viaInterpreter = gm(x, w) as tj.Tensor[];
    expect(viaCode[0].toArray()).toEqual(viaInterpreter[0].toArray());
    expect(viaInterpreter[0].toArray()).toEqual([0, 3, 1, 4, 2, 5, 7, 7, 7, 7, 7, 7]);
    expect(viaInterpreter[1].toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
  });
});

describe('GraphModule and Interpreter', () => {
  test('gm(...) and gm.forward(...) run the graph; it is a GraphModule', () => {
    const { gm } = sampleGraph();
    expect(gm).toBeInstanceOf(GraphModule);
    expect(typeof gm).toBe('function');
    const x = tj.zeros([2, 3]), w = tj.ones([6]);
    expect((gm.forward(x, w) as tj.Tensor[])[0].toArray()).toEqual((gm(x, w) as tj.Tensor[])[0].toArray());
    expect(() => gm(x)).toThrow(/expected 2 inputs \(x, w\), got 1/);
  });

  test('intermediates are disposed after their last use; inputs, constants and outputs are not', () => {
    const g = new Graph();
    const x = g.placeholder('x', meta([4]));
    const k = g.getAttr('k', meta([4]));
    const a = g.callFunction(tj.clone, [x], meta([4]));
    const b = g.callFunction(tj.cat, [[a, k], 0], meta([8]));
    const c = g.callFunction(tj.clone, [b], meta([8]));
    g.output([c]);
    const konst = tj.ones([4]);
    const gm = new GraphModule(g, { k: konst });
    const input = tj.zeros([4]);
    const seen: tj.Tensor[] = [];
    class Recording extends Interpreter {
      override callFunction(node: Node, args: unknown[]): unknown {
        const v = super.callFunction(node, args);
        seen.push(v as tj.Tensor);
        return v;
      }
    }
    // two full collections first: no earlier garbage is freed while this runs
    const gc = (globalThis as { gc?: () => void }).gc!;
    gc();
    gc();
    const before = tj.memory().liveBuffers;
    const [out] = new Recording(gm).run(input) as tj.Tensor[];
    expect(seen.map((t) => t.disposed)).toEqual([true, true, false]);
    expect(seen[2]).toBe(out);
    expect(input.disposed || konst.disposed).toBe(false);
    expect(tj.memory().liveBuffers - before).toBe(1); // only the output's
    expect(out.toArray()).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  test('a tensor shared by two node values is freed only when both are dead (contiguous returns its input)', () => {
    const g = new Graph();
    const x = g.placeholder('x', meta([3]));
    const a = g.callFunction(tj.clone, [x], meta([3]));
    const same = g.callFunction(tj.contiguous, [a], meta([3]));
    const parts = g.callFunction(tj.split, [same, 1], { ...meta([1]), items: [meta([1]), meta([1]), meta([1])] });
    const p0 = g.callFunction(getitem, [parts, 0], meta([1]));
    g.output([p0, same]);
    const gm = new GraphModule(g);
    const [first, whole] = gm(tj.tensor([1, 2, 3])) as tj.Tensor[];
    expect(whole.disposed).toBe(false);
    expect(whole.toArray()).toEqual([1, 2, 3]);
    expect(first.toArray()).toEqual([1]);
  });

  test('a missing attribute is a clear error', () => {
    const g = new Graph();
    const k = g.getAttr('_tensor_constant0', meta([1]));
    g.output([k]);
    expect(() => new GraphModule(g)()).toThrow(/no attribute '_tensor_constant0'/);
  });

  test('structural keys ignore names but not literals, shapes or constants', () => {
    const build = (n: number, name: string, konst: tj.Tensor) => {
      const g = new Graph();
      const x = g.placeholder(name, meta([n, 3]));
      const c = g.getAttr('c', meta([3]));
      const y = g.callFunction(tj.narrow, [x, 0, 0, n - 1], meta([n - 1, 3]));
      g.output([y, c]);
      return new GraphModule(g, { c: konst });
    };
    const k1 = tj.ones([3]), k2 = tj.ones([3]);
    const exact = (gm: GraphModule) => graphKey(gm, { erase: false });
    const erased = (gm: GraphModule) => graphKey(gm, { erase: true });
    expect(exact(build(4, 'x', k1))).toBe(exact(build(4, 'other', k1)));
    expect(exact(build(4, 'x', k1))).not.toBe(exact(build(5, 'x', k1)));
    expect(erased(build(4, 'x', k1))).toBe(erased(build(5, 'x', k1)));
    expect(exact(build(4, 'x', k1))).not.toBe(exact(build(4, 'x', k2)));
    expect(erased(build(4, 'x', k1))).not.toBe(erased(build(1, 'x', k1)));
  });
});
