import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import { ShapeTiering } from '../../../lib/backends/native/tiering';

describe('the tier of a new shape', () => {
  /** A policy that has measured one build and one eager run. */
  const measured = (buildMs: number, eagerMs: number) => {
    const t = new ShapeTiering();
    t.builtIn(buildMs);
    t.ranEagerlyIn(eagerMs);
    return t;
  };

  test('the first shape is built; the next one runs eagerly once, to be measured', () => {
    const t = new ShapeTiering();
    expect(t.choose('a', true)).toBe('build');
    t.builtIn(5);
    expect(t.choose('b', false)).toBe('eager');
  });

  test('the cheaper tier wins, by the lower median of the last three times', () => {
    const t = measured(1, 3);
    expect(t.choose('x1', false)).toBe('build');
    t.ranEagerlyIn(0.2);
    expect(t.estimates().eagerMs).toBe(0.2);  // of [3, 0.2]: the lower
    expect(t.choose('x2', false)).toBe('eager');
    t.ranEagerlyIn(50);  // one paused run does not flip the choice
    expect(t.estimates().eagerMs).toBe(3);
    t.builtIn(4);
    t.builtIn(4);
    expect(t.estimates().buildMs).toBe(4);
    expect(t.choose('x3', false)).toBe('eager');
  });

  test('a shape that ran eagerly is built when it comes back', () => {
    const t = measured(10, 1);
    expect(t.choose('k', false)).toBe('eager');
    expect(t.choose('k', false)).toBe('build');
  });

  test('every 8th new shape takes the other tier, to refresh its estimate', () => {
    const t = measured(10, 1);
    const tiers = Array.from({ length: 16 }, (_, i) => t.choose(`s${i}`, false));
    expect(tiers.filter((x) => x === 'build')).toHaveLength(2);
    expect(tiers[7]).toBe('build');
    expect(tiers[15]).toBe('build');
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
    expect(compiled.lastProgram()!.lowered.outputMeta[0].shape).toEqual([9]);
  });

  test('without tiering (the default of compileNative) every shape is built', () => {
    let builds = 0;
    const compiled = compileNative(graph, (topic) => void (topic === 'graph_code' && builds++));
    for (let n = 1; n <= 5; n++) compiled(tj.arange(-3, n - 3));
    expect(builds).toBe(5);
  });
});
