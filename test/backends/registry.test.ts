/** The backend registry and the recording backends. */
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { Graph, GraphModule, getitem } from '../../lib/fx';
import { countOps } from '../../lib/backends';

describe('backend registry', () => {
  test("listBackends includes 'eager' and 'native'", () => {
    expect(tj.compiler.listBackends()).toEqual(expect.arrayContaining(['eager', 'native']));
  });

  test('registerBackend: names are unique unless overridden; bad backends are TypeErrors', () => {
    const b = (gm: GraphModule) => gm;
    tj.compiler.registerBackend('registry-test', b);
    expect(() => tj.compiler.registerBackend('registry-test', b)).toThrow(/already registered/);
    expect(() => tj.compiler.registerBackend('registry-test', b, { override: true })).not.toThrow();
    expect(() => tj.compiler.registerBackend('bad', 42 as never)).toThrow(TypeError);
    expect(() => tj.compiler.registerBackend('', b)).toThrow(TypeError);
  });

  test('a backend returning something that is not callable is a clear error', () => {
    const f = tj.compile((x: tj.Tensor) => x.clone(), { backend: () => 5 as never });
    expect(() => f(tj.ones([1]))).toThrow(/backend returned number/);
  });
});

describe('CompileCounter', () => {
  test('counts graphs and op calls (list indexing is not an op), and clears', () => {
    const g = new Graph();
    const x = g.placeholder('x', { shape: [4], dtype: 'float32' });
    const parts = g.callFunction(tj.split, [x, 2], { shape: [2], dtype: 'float32' });
    const a = g.callFunction(getitem, [parts, 0], { shape: [2], dtype: 'float32' });
    const c = g.callFunction(tj.clone, [a], { shape: [2], dtype: 'float32' });
    g.output([c]);
    const gm = new GraphModule(g);
    expect(countOps(gm)).toBe(2);
    const cnt = new tj.compiler.testing.CompileCounter();
    const run = cnt.compile(gm, [tj.ones([4])]);
    expect((run(tj.tensor([1, 2, 3, 4])) as tj.Tensor[])[0].toArray()).toEqual([1, 2]);
    expect([cnt.frameCount, cnt.opCount]).toEqual([1, 2]);
    cnt.clear();
    expect([cnt.frameCount, cnt.opCount]).toEqual([0, 0]);
  });

  test('CompileCounterWithBackend keeps the graphs and compiles with the named backend', () => {
    let used = 0;
    tj.compiler.registerBackend('counting-inner', (gm) => ((used++), (...xs: tj.Tensor[]) => gm(...xs)), { override: true });
    const cnt = new tj.compiler.testing.CompileCounterWithBackend('counting-inner');
    const f = tj.compile((x: tj.Tensor) => tj.softmax(x, 0), { backend: cnt });
    f(tj.ones([2]));
    expect(cnt.graphs).toHaveLength(1);
    expect(used).toBe(1);
    cnt.clear();
    expect(cnt.graphs).toHaveLength(0);
  });
});
