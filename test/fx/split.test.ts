import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { Graph, GraphModule, Node, getitem } from '../../lib/fx';
import { splitModule } from '../../lib/fx/split';
import { expectClose, toRef } from '../helpers/reference';

const meta = (shape: number[], dtype: tj.DType = 'float32') => ({ shape, dtype });

/**
 * x:[2,3], w:[3,3] attr. relu(x) -> matmul(w) -> split into [2,1] and [2,2] -> exp of the
 * second | neg (not splittable) | add the first part back, sum; returns [sum, the relu].
 */
function sampleGraph(): GraphModule {
  const g = new Graph();
  const x = g.placeholder('x', meta([2, 3]));
  const w = g.getAttr('w', meta([3, 3]));
  const r = g.callFunction(tj.relu, [x], meta([2, 3]));
  const m = g.callFunction(tj.matmul, [r, w], meta([2, 3]));
  const parts = g.callFunction(tj.split, [m, [1, 2], 1], { ...meta([2, 1]), items: [meta([2, 1]), meta([2, 2])] });
  const p0 = g.callFunction(getitem, [parts, 0], meta([2, 1]));
  const p1 = g.callFunction(getitem, [parts, 1], meta([2, 2]));
  const e = g.callFunction(tj.exp, [p1], meta([2, 2]));
  const n = g.callFunction(tj.neg, [e], meta([2, 2]));
  const a = g.callFunction(tj.add, [n, p0], meta([2, 2]));
  const wt = g.callFunction(tj.transpose, [w, 0, 1], meta([3, 3]));
  const s = g.callFunction(tj.sum, [a], meta([]));
  const mw = g.callFunction(tj.matmul, [r, wt], meta([2, 3]));
  g.output([s, r, mw]);
  return new GraphModule(g, { w: tj.tensor([[1, 2, 0], [0, -1, 3], [2, 0, 1]]) });
}

function splitAllBut(gm: GraphModule, outerTargets: unknown[], calls: string[] = []) {
  return splitModule(gm, {
    accepts: (n: Node) => !outerTargets.includes(n.target),
    worthSplitting: (run) => run.some((n) => n.target !== getitem),
    compile: (segment, i) => (...inputs) => {
      calls.push(`segment_${i}`);
      return segment.forward(...inputs) as unknown[];
    },
  });
}

describe('splitModule', () => {
  test('segments and the outer graph compute what the graph does', () => {
    const gm = sampleGraph();
    const calls: string[] = [];
    const split = splitAllBut(gm, [tj.neg], calls)!;
    expect(split.segments.length).toBe(2);
    // the first segment reads x and w, hands e (for neg), p0 (for the add) and r (an output) on
    expect(split.segments[0].graph.placeholders().map((n) => n.name)).toEqual(['x']);
    expect(split.segments[0].graph.nodes.filter((n) => n.op === 'get_attr').map((n) => n.target)).toEqual(['w']);
    const x = tj.tensor([[1, -2, 3], [-4, 5, 0.5]]);
    const want = gm.forward(x) as tj.Tensor[];
    const got = split.outer.forward(x) as tj.Tensor[];
    expect(calls).toEqual(['segment_0', 'segment_1']);
    expect(got.length).toBe(3);
    got.forEach((t, i) => expectClose(t, toRef(want[i])));
  });

  test('a run not worth splitting stays in the outer graph, and nothing to split is null', () => {
    const gm = sampleGraph();
    const calls: string[] = [];
    // getitem alone between neg and add: not worth a segment
    const split = splitModule(gm, {
      accepts: (n) => n.target === getitem || n.target === tj.exp,
      worthSplitting: (run) => run.some((n) => n.target === tj.exp),
      compile: (segment) => (...inputs) => {
        calls.push('s');
        return segment.forward(...inputs) as unknown[];
      },
    })!;
    expect(split.segments.length).toBe(1);
    const x = tj.tensor([[0.5, 1, 2], [3, -1, 0]]);
    const want = gm.forward(x) as tj.Tensor[];
    const got = split.outer.forward(x) as tj.Tensor[];
    got.forEach((t, i) => expectClose(t, toRef(want[i])));
    expect(calls).toEqual(['s']);
    expect(splitAllBut(gm, [tj.relu, tj.matmul, tj.split, getitem, tj.exp, tj.neg, tj.add, tj.transpose, tj.sum])).toBeNull();
  });

  test('a segment with no inputs (constants only) and a graph output taken straight from a segment', () => {
    const g = new Graph();
    const x = g.placeholder('x', meta([3]));
    const w = g.getAttr('w', meta([3]));
    const e = g.callFunction(tj.exp, [w], meta([3]));
    const n = g.callFunction(tj.neg, [x], meta([3]));
    const m = g.callFunction(tj.mul, [n, e], meta([3]));
    g.output(m);
    const gm = new GraphModule(g, { w: tj.tensor([0, 1, -1]) });
    const split = splitAllBut(gm, [tj.neg])!;
    expect(split.segments.map((s) => s.graph.placeholders().length)).toEqual([0, 2]);
    const x0 = tj.tensor([1, 2, 3]);
    expectClose(split.outer.forward(x0) as tj.Tensor, { shape: [3], data: Float64Array.from([-1, -2 * Math.E, -3 / Math.E]) });
  });
});
