import { describe, expect, test, vi } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import { ShapeTiering } from '../../../lib/backends/native/tiering';
import { rng } from '../../helpers/reference';

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
    expect(t.estimates(10)).toMatchObject({ eagerMs: 2, buildMs: 1.5 });
  });

  test('the cheaper tier wins; slow runs do not flip the choice', () => {
    const t = measured(1, 0, 3);
    expect(t.choose('x1', false, 100)).toBe('build');
    t.ranEagerlyIn(0.2, 100);
    expect(t.estimates(100).eagerMs).toBeCloseTo(0.2, 12);  // of [3, 0.2]: the faster
    expect(t.choose('x2', false, 100)).toBe('eager');
    t.ranEagerlyIn(50, 100);  // paused runs
    t.ranEagerlyIn(40, 100);
    expect(t.estimates(100).eagerMs).toBeCloseTo(0.2, 12);
    t.builtIn(4, 0, 100);
    t.builtIn(4, 0, 100);
    expect(t.estimates(100).buildMs).toBeCloseTo(4, 5);  // the lower median of the builds [1, 4, 4]
    expect(t.choose('x3', false, 100)).toBe('eager');
    for (let i = 0; i < 4; i++) t.ranEagerlyIn(5, 100);  // most of the recent runs slow: that is the cost now
    expect(t.estimates(100).eagerMs).toBe(5);
    expect(t.choose('x4', false, 100)).toBe('build');
  });

  test('run times scale with the new shape\'s size; building does not', () => {
    // measured at 100 elements: eager 2 ms, build 1 ms + run 1 ms
    const t = measured(1, 1, 2);
    expect(t.estimates(1000)).toMatchObject({ eagerMs: 20, buildMs: 11 });
    expect(t.estimates(10)).toMatchObject({ eagerMs: 0.2, buildMs: 1.1 });
    expect(t.choose('large', false, 1000)).toBe('build');
    expect(t.choose('small', false, 10)).toBe('eager');
    // a small eager run and a large build, measured in turn, do not make the large shape look cheap eagerly
    const u = new ShapeTiering();
    u.builtIn(1, 30, 3000);
    u.builtIn(1, 30, 3000);
    u.ranEagerlyIn(0.6, 30);
    expect(u.choose('large', false, 3000)).toBe('build');
  });

  test('measured at several sizes, a fixed cost stays fixed and a cost per element scales', () => {
    // a graph of tiny tensors: ~0.02 ms at any size, a cold first run among them
    const tiny = new ShapeTiering();
    [[2, 3], [4, 0.02], [6, 0.021], [9, 0.019], [12, 0.02]].forEach(([work, ms]) => tiny.ranEagerlyIn(ms, work));
    expect(tiny.estimates(64).eagerMs).toBeCloseTo(0.02, 6);
    // 0.09 ms per element, two of the five nearest runs paused
    const large = new ShapeTiering();
    [[100, 9], [150, 30], [200, 18], [300, 27], [400, 80]].forEach(([work, ms]) => large.ranEagerlyIn(ms, work));
    expect(large.estimates(800).eagerMs).toBeCloseTo(72, 6);
    expect(large.estimates(50).eagerMs).toBeCloseTo(4.5, 6);
    // a fixed part and a part per element: between the two, nearer the measured sizes
    const line = new ShapeTiering();
    [100, 200, 400].forEach((work) => line.ranEagerlyIn(1 + 0.01 * work, work));
    expect(line.estimates(300).eagerMs).toBeGreaterThan(3.8);
    expect(line.estimates(300).eagerMs).toBeLessThan(4.2);
    // the slope between two neighbouring sizes is noise: at twice the size, at most twice the time
    const noisy = new ShapeTiering();
    noisy.ranEagerlyIn(1, 1000);
    noisy.ranEagerlyIn(1.5, 1001);
    expect(noisy.estimates(2002).eagerMs).toBeLessThanOrEqual(3);
  });

  type Costs = { eager: (w: number) => number; build: number; run: (w: number) => number };
  /**
   * Calls at input sizes `sizes` under the policy (or always building, or taking the truly
   * cheaper tier of each new shape), each measured as its
   * true cost slowed by up to 30%, and 1 in 10 paused by 0.1 ms or more (a collection, a
   * busy neighbour). Returns the tiers of shapes met the first time and the total time.
   */
  const simulate = (sizes: number[], seed: number, cost: Costs, choice: 'policy' | 'build' | 'cheaper' = 'policy') => {
    const random = rng(seed);
    const measured = (ms: number) => ms * (1 + 0.3 * random()) + (random() < 0.1 ? 0.1 + 2 * ms * random() : 0);
    const t = new ShapeTiering();
    const built = new Set<number>();
    const met = new Set<number>();
    const tiers: { size: number; tier: string }[] = [];
    let totalMs = 0;
    sizes.forEach((w, i) => {
      if (built.has(w)) {
        t.cameBackTo(String(w));  // as the backend reports a call at a shape it has an executable for
        totalMs += measured(cost.run(w));
        return;
      }
      const cheaper = cost.eager(w) < cost.build + cost.run(w) ? 'eager' : 'build';
      const tier = choice === 'policy' ? t.choose(String(w), i === 0, w) : choice === 'build' ? 'build' : cheaper;
      if (!met.has(w)) tiers.push({ size: w, tier });
      met.add(w);
      if (tier === 'eager') {
        const ms = measured(cost.eager(w));
        t.ranEagerlyIn(ms, w);
        totalMs += ms;
      } else {
        const [buildMs, runMs] = [measured(cost.build), measured(cost.run(w))];
        t.builtIn(buildMs, runMs, w);
        built.add(w);
        totalMs += buildMs + runMs;
      }
    });
    return { tiers, totalMs };
  };
  const shuffled = (values: number[], seed: number) => {
    const random = rng(seed);
    return values.map((v) => ({ v, k: random() })).sort((a, b) => a.k - b.k).map((x) => x.v);
  };
  // per token: 0.09 ms eagerly, 0.035 ms compiled after a 3 ms build: both cost the same at 55 tokens
  const encoder: Costs = { eager: (w) => 0.09 * w, build: 3, run: (w) => 0.5 + 0.035 * w };

  test('under timing noise, a graph of tiny tensors (0.02 ms eagerly at any size, building 0.05) runs most new shapes eagerly', () => {
    const ramp = Array.from({ length: 64 }, (_, i) => i + 1);
    for (let seed = 1; seed <= 20; seed++) {
      const { tiers } = simulate(ramp, seed, { eager: () => 0.02, build: 0.04, run: () => 0.01 });
      expect(tiers.filter((x) => x.tier === 'eager').length, `seed ${seed}`).toBeGreaterThanOrEqual(48);
    }
  });

  test('under timing noise, shapes that never come back cost near the cheaper tier of each', () => {
    const decoder: Costs = { eager: () => 0.19, build: 0.25, run: () => 0.1 };  // a step at a growing length
    const steps = Array.from({ length: 500 }, (_, i) => 1000 + 64 * i);
    const lengths = shuffled(Array.from({ length: 249 }, (_, i) => 8 + i), 7);
    for (let seed = 1; seed <= 10; seed++) {
      for (const [sizes, cost] of [[steps, decoder], [lengths, encoder]] as const) {
        const { totalMs } = simulate(sizes, seed, cost);
        const built = simulate(sizes, seed, cost, 'build').totalMs;
        const cheaper = simulate(sizes, seed, cost, 'cheaper').totalMs;
        // noise, pauses and the explorations included; ~1.05 here
        expect(totalMs / cheaper, `seed ${seed}`).toBeLessThan(1.12);
        // building every step of a decoder costs ~1.75x; an encoder's lengths are mostly cheaper built
        expect(totalMs / built, `seed ${seed}`).toBeLessThan(cost === decoder ? 0.65 : 1.08);
      }
    }
  });

  test('under timing noise, a server whose request lengths recur costs about what building every length costs', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const random = rng(1000 + seed);
      const lengths = Array.from({ length: 400 }, () => 8 + Math.floor(random() * 249));
      const { totalMs } = simulate(lengths, seed, encoder);
      const built = simulate(lengths, seed, encoder, 'build').totalMs;
      expect(totalMs / built, `seed ${seed}`).toBeLessThan(1.1);  // 1.03-1.07 here: the early lengths ran eagerly
    }
  });

  test('once shapes that ran eagerly come back, new shapes are built at once', () => {
    const t = measured(2, 1, 2.5);  // eagerly 2.5 ms, building and running 3
    expect(['a', 'b', 'c'].map((k) => t.choose(k, false, 100))).toEqual(['eager', 'eager', 'eager']);
    ['a', 'b', 'c'].forEach((k) => expect(t.choose(k, false, 100)).toBe('build'));
    expect(t.estimates(100).cameBack).toBe(1);
    expect(t.choose('d', false, 100)).toBe('build');  // 2.5 + a later build of 3 against 3 + a run of 1
  });

  test('whether shapes come back is judged over the recent ones: a decoder restarted at lengths it met, then growing past them', () => {
    const decoder: Costs = { eager: () => 0.19, build: 0.25, run: () => 0.1 };
    const lengths = [...Array.from({ length: 64 }, (_, i) => 8 + i), ...Array.from({ length: 400 }, (_, i) => 16 + i)];
    for (let seed = 1; seed <= 5; seed++) {
      const { tiers } = simulate(lengths, seed, decoder);
      // the lengths met again are built; well past them (72 new lengths and more), new ones run eagerly again
      const late = tiers.filter((x) => x.size >= 72 + 96);
      expect(late.filter((x) => x.tier === 'eager').length / late.length, `seed ${seed}`).toBeGreaterThan(0.9);
    }
  });

  test('untimed calls (runAsync): a shape met for the first time runs eagerly, one that comes back is built', () => {
    const t = measured(1, 0, 3);  // building is cheaper, but untimed calls do not weigh costs
    expect(['a', 'b'].map((k) => t.chooseUntimed(k))).toEqual(['eager', 'eager']);
    expect(t.chooseUntimed('a')).toBe('build');
    expect(t.estimates(100).cameBack).toBe(0.5);  // of a and b, a came back
    expect(t.choose('b', false, 100)).toBe('build');  // a timed call knows b ran eagerly
  });

  test('a shape that ran eagerly is built when it comes back', () => {
    const t = measured(10, 0, 1);
    expect(t.choose('k', false, 100)).toBe('eager');
    expect(t.choose('k', false, 100)).toBe('build');
  });

  test('the other tier is taken every 8th new shape until both have run thrice, then at 2% of the cost', () => {
    const young = measured(3, 0, 1);  // the build measured once
    const tiers = Array.from({ length: 16 }, (_, i) => young.choose(`s${i}`, false, 100));
    expect(tiers.map((x, i) => (x === 'build' ? i : -1)).filter((i) => i >= 0)).toEqual([7, 15]);
    // measured thrice: eagerly 1 ms, building 3; each exploration costs 2 ms, 2% of 1 ms a shape
    const settled = measured(3, 0, 1);
    for (let i = 0; i < 2; i++) {
      settled.builtIn(3, 0, 100);
      settled.ranEagerlyIn(1, 100);
    }
    const settledTiers = Array.from({ length: 1000 }, (_, i) => settled.choose(`t${i}`, false, 100));
    const explored = settledTiers.filter((x) => x === 'build').length;
    expect(explored).toBeGreaterThanOrEqual(9);  // 1000 x 2% x 1 ms / 2 ms, less rounding
    expect(explored).toBeLessThanOrEqual(10);
    // nearly the same cost: exploring is cheap, so frequent
    const close = measured(1.1, 0, 1);
    for (let i = 0; i < 2; i++) {
      close.builtIn(1.1, 0, 100);
      close.ranEagerlyIn(1, 100);
    }
    const closeTiers = Array.from({ length: 400 }, (_, i) => close.choose(`u${i}`, false, 100));
    expect(closeTiers.filter((x) => x === 'build').length).toBeGreaterThan(60);  // every 5th: 2% of 1 ms against 0.1 ms more
  });
});

describe('a graph meeting a new shape every call', () => {
  // Two tiny ops: the eager run takes microseconds, lowering and building the graph far more.
  const graph = (x: unknown) => tj.add(tj.mul(x as tj.Tensor, 2), 1);
  const expected = (n: number) => Array.from({ length: n }, (_, i) => (i - 3) * 2 + 1);

  test('runs new shapes eagerly, with the right values', () => {
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
    // how many depends on this machine's timing (the tests above simulate noisy timing);
    // the second shape always runs eagerly, to be measured
    expect(eagerRuns).toBeGreaterThanOrEqual(1);
  });

  test('a shape that comes back is built, and its executable reused', () => {
    let builds = 0;
    const compiled = compileNative(graph, (topic) => void (topic === 'graph_code' && builds++), { tiering: true });
    const calls = [4, 9, 9, 9];
    calls.forEach((n) => expect((compiled(tj.arange(-3, n - 3)) as tj.Tensor).toArray()).toEqual(expected(n)));
    expect(builds).toBe(2);  // 4 (the first shape), then 9 on its second call
    expect(compiled.lastProgram()!.outputMeta[0].shape).toEqual([9]);
  });

  test('calls that come back to a shape are reported to the tiering, once per return', () => {
    const cameBack = vi.spyOn(ShapeTiering.prototype, 'cameBackTo');
    try {
      const compiled = compileNative(graph, undefined, { tiering: true });
      [4, 9, 9, 9, 4, 4].forEach((n) => compiled(tj.arange(-3, n - 3)));
      // 9 came back (built then), 9 again right after its build, 4 after 9; not the repeats of 4 and 9
      expect(cameBack).toHaveBeenCalledTimes(3);
    } finally {
      cameBack.mockRestore();
    }
  });

  test('without tiering (the default of compileNative) every shape is built', () => {
    let builds = 0;
    const compiled = compileNative(graph, (topic) => void (topic === 'graph_code' && builds++));
    for (let n = 1; n <= 5; n++) compiled(tj.arange(-3, n - 3));
    expect(builds).toBe(5);
  });
});
