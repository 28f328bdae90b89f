import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import { ShapeTiering } from '../../../lib/backends/native/tiering';

describe('the tier of a new shape', () => {
  /** A policy that has measured one build (building `buildMs`, running `runMs`) and one eager run, all at `work` elements. */
  const measured = (buildMs: number, runMs: number, eagerMs: number, work = 100) => {
    const t = new ShapeTiering();
    t.builtIn(100, 100, work);  // the first build (with the weights' prepacking) is not counted
    t.builtIn(buildMs, runMs, work);
    t.ranEagerlyIn(eagerMs, work);
    return t;
  };

  test('the first shape is built; the next runs eagerly and the next is built, each to be measured', () => {
    const t = new ShapeTiering();
    expect(t.choose('a', true, 10)).toBe('build');
    t.builtIn(500, 1, 10);  // the first build: prepacking weights, not what later builds cost
    expect(t.choose('b', false, 10)).toBe('eager');
    t.ranEagerlyIn(2, 10);
    expect(t.estimates(10).buildMs).toBeNaN();
    expect(t.choose('c', false, 10)).toBe('build');
    t.builtIn(1, 0.5, 10);
    expect(t.estimates(10)).toEqual({ eagerMs: 2, buildMs: 1.5 });
  });

  test('the cheaper tier wins, by the lower median of the last three measurements', () => {
    const t = measured(1, 0, 3);
    expect(t.choose('x1', false, 100)).toBe('build');
    t.ranEagerlyIn(0.2, 100);
    expect(t.estimates(100).eagerMs).toBeCloseTo(0.2, 12);  // of [3, 0.2]: the lower
    expect(t.choose('x2', false, 100)).toBe('eager');
    t.ranEagerlyIn(50, 100);  // one paused run does not flip the choice
    expect(t.estimates(100).eagerMs).toBeCloseTo(3, 12);
    t.builtIn(4, 0, 100);
    t.builtIn(4, 0, 100);
    expect(t.estimates(100).buildMs).toBe(4);
    expect(t.choose('x3', false, 100)).toBe('eager');
  });

  test('run times scale with the new shape\'s size; building does not', () => {
    // measured at 100 elements: eager 2 ms, build 1 ms + run 1 ms
    const t = measured(1, 1, 2);
    expect(t.estimates(1000)).toEqual({ eagerMs: 20, buildMs: 11 });
    expect(t.estimates(10)).toEqual({ eagerMs: 0.2, buildMs: 1.1 });
    expect(t.choose('large', false, 1000)).toBe('build');
    expect(t.choose('small', false, 10)).toBe('eager');
    // a small eager run and a large build, measured in turn, do not make the large shape look cheap eagerly
    const u = new ShapeTiering();
    u.builtIn(1, 30, 3000);
    u.builtIn(1, 30, 3000);
    u.ranEagerlyIn(0.6, 30);
    expect(u.choose('large', false, 3000)).toBe('build');
  });

  test('a shape that ran eagerly is built when it comes back', () => {
    const t = measured(10, 0, 1);
    expect(t.choose('k', false, 100)).toBe('eager');
    expect(t.choose('k', false, 100)).toBe('build');
  });

  test('every 8th new shape takes the other tier, to refresh its estimate; every 64th once measured thrice and costing over twice as much', () => {
    const close = measured(1.5, 0, 1);
    const tiers = Array.from({ length: 16 }, (_, i) => close.choose(`s${i}`, false, 100));
    expect(tiers.filter((x) => x === 'build')).toHaveLength(2);
    expect(tiers[7]).toBe('build');
    expect(tiers[15]).toBe('build');
    const far = measured(10, 0, 1);
    expect(far.choose('once', false, 100)).toBe('eager');
    for (let i = 0; i < 2; i++) {
      far.builtIn(10, 0, 100);
      far.ranEagerlyIn(1, 100);
    }
    const farTiers = Array.from({ length: 128 }, (_, i) => far.choose(`s${i}`, false, 100));
    // the 64th and 128th new shapes (the call 'once' was the first)
    expect(farTiers.map((x, i) => (x === 'build' ? i : -1)).filter((i) => i >= 0)).toEqual([62, 126]);
  });
});

describe('a graph meeting a new shape every call', () => {
  // Two tiny ops: the eager run takes microseconds, lowering and building the graph far more.
  const graph = (x: unknown) => tj.add(tj.mul(x as tj.Tensor, 2), 1);
  const expected = (n: number) => Array.from({ length: n }, (_, i) => (i - 3) * 2 + 1);

  test('runs most shapes eagerly, with the right values', () => {
    let builds = 0, eagerRuns = 0;
    const compiled = compileNative(graph, (topic, msg) => {
      const text = typeof msg === 'string' ? msg : msg();
      if (topic === 'graph_code') builds++;
      if (text.includes('run eagerly')) eagerRuns++;
    }, { tiering: true });
    for (let n = 1; n <= 64; n++) {
      const y = compiled(tj.arange(-3, n - 3)) as tj.Tensor;
      expect(y.toArray()).toEqual(expected(n));
    }
    expect(eagerRuns + builds).toBe(64);
    expect(eagerRuns).toBeGreaterThanOrEqual(40);
  });

  test('a shape that comes back is built, and its executable reused', () => {
    let builds = 0;
    const compiled = compileNative(graph, (topic) => void (topic === 'graph_code' && builds++), { tiering: true });
    const calls = [4, 9, 9, 9];
    calls.forEach((n) => expect((compiled(tj.arange(-3, n - 3)) as tj.Tensor).toArray()).toEqual(expected(n)));
    expect(builds).toBe(2);  // 4 (the first shape), then 9 on its second call
    expect(compiled.lastProgram()!.outputMeta[0].shape).toEqual([9]);
  });

  test('without tiering (the default of compileNative) every shape is built', () => {
    let builds = 0;
    const compiled = compileNative(graph, (topic) => void (topic === 'graph_code' && builds++));
    for (let n = 1; n <= 5; n++) compiled(tj.arange(-3, n - 3));
    expect(builds).toBe(5);
  });
});
