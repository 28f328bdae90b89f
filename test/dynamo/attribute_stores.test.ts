/**
 * Tensors a compiled module's forward stores on module attributes (`this.last = h`, a cache
 * grown by concatenation `this.k = cat([this.k, k])`): side effects each cached run stores
 * again, with real tensors; attributes forward replaces and also reads are traced as inputs.
 * Every value is checked against the same module run eagerly.
 */
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { expectClose, makeTensor, randomValues, rng, toRef } from '../helpers/reference';

const { CompileCounterWithBackend } = tj.compiler.testing;
const rand = (shape: number[], seed: number) => makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);

/** Stores an intermediate and the input it was given; returns another value. */
class Probe extends tj.nn.Module {
  fc = new tj.nn.Linear(4, 3);
  hidden: tj.Tensor | null = null;
  input: tj.Tensor | null = null;
  override forward(x: tj.Tensor): tj.Tensor {
    const h = tj.relu(this.fc.forward(x));
    this.hidden = h;
    this.input = x;
    return tj.mul(h, 2);
  }
}

/** Attention over every position seen so far: keys and values kept on the module, grown by one step per call. */
class GrowingCache extends tj.nn.Module {
  k = tj.zeros([1, 0, 4]);
  v = tj.zeros([1, 0, 4]);
  override forward(x: tj.Tensor): tj.Tensor {
    this.k = tj.cat([this.k, x], 1);
    this.v = tj.cat([this.v, tj.mul(x, 0.5)], 1);
    const scores = tj.softmax(tj.matmul(x, tj.transpose(this.k, 1, 2)), -1);
    return tj.matmul(scores, this.v);
  }
}

/** Per-layer caches in a list on the module, grown in place (`this.caches[i] = ...`) or replaced as a new list. */
class CacheList extends tj.nn.Module {
  caches: tj.Tensor[] = [tj.zeros([1, 0, 4]), tj.zeros([1, 0, 4])];
  constructor(readonly replaceList: boolean) {
    super();
  }
  override forward(x: tj.Tensor): tj.Tensor {
    const grown = this.caches.map((c, i) => tj.cat([c, tj.mul(x, i + 1)], 1));
    if (this.replaceList) this.caches = grown;
    else grown.forEach((c, i) => (this.caches[i] = c));
    return tj.add(tj.sum(this.caches[0], [1]), tj.sum(this.caches[1], [1]));
  }
}

/**
 * Per-layer [key, value] pairs in a list on the module (`past_key_values`-style), grown by
 * concatenation: the whole nested list replaced each call, or each pair's entries replaced.
 */
class PairedCaches extends tj.nn.Module {
  past: tj.Tensor[][] = [0, 1].map(() => [tj.zeros([1, 0, 4]), tj.zeros([1, 0, 4])]);
  constructor(readonly replaceList: boolean) {
    super();
  }
  override forward(x: tj.Tensor): tj.Tensor {
    const next = this.past.map(([k, v], i) => [tj.cat([k, tj.mul(x, i + 1)], 1), tj.cat([v, tj.add(x, i)], 1)]);
    if (this.replaceList) this.past = next;
    else next.forEach(([k, v], i) => ((this.past[i][0] = k), (this.past[i][1] = v)));
    const scores = tj.softmax(tj.matmul(x, tj.transpose(this.past[1][0], 1, 2)), -1);
    return tj.add(tj.matmul(scores, this.past[1][1]), tj.sum(this.past[0][1], [1], true));
  }
}

/** A submodule holding the state, the parent calling it. */
class Outer extends tj.nn.Module {
  inner = new GrowingCache();
  override forward(x: tj.Tensor): tj.Tensor {
    return tj.add(this.inner.forward(x), 1);
  }
}

describe('tensors forward stores on module attributes', () => {
  test('an intermediate and an input stored by forward are stored again by every cached run', () => {
    const eager = new Probe();
    const net = new Probe();
    net.loadStateDict(eager.stateDict());
    const cnt = new CompileCounterWithBackend('native');
    const compiled = tj.compile(net, { backend: cnt });
    for (let i = 0; i < 5; i++) {
      const x = rand([2, 4], 10 + i);
      expectClose(compiled.forward(x), toRef(eager.forward(x)));
      expectClose(net.hidden!, toRef(eager.hidden!));
      expect(net.input).toBe(x);
      expect(net.hidden!.isFake).toBe(false);
    }
    expect(cnt.frameCount).toBe(1);
  });

  test('a cache grown by concatenation on the module: traced as an input, its growing length dynamic', () => {
    const eager = new GrowingCache();
    const net = new GrowingCache();
    const cnt = new CompileCounterWithBackend('native');
    const compiled = tj.compile(net, { backend: cnt });
    for (let step = 0; step < 12; step++) {
      const x = rand([1, 1, 4], 100 + step);
      expectClose(compiled.forward(x), toRef(eager.forward(x)), undefined, `step ${step}`);
      expect(net.k.shape).toEqual([1, step + 1, 4]);
      expectClose(net.v, toRef(eager.v), undefined, `v at step ${step}`);
    }
    // the first trace (the cache a constant), then as an input, then with a dynamic length
    expect(cnt.frameCount).toBeLessThanOrEqual(3);
  });

  for (const replaceList of [false, true])
    test(`caches in a list on the module, ${replaceList ? 'the list replaced' : 'its entries replaced'} each call`, () => {
      const eager = new CacheList(replaceList);
      const net = new CacheList(replaceList);
      const cnt = new CompileCounterWithBackend('native');
      const compiled = tj.compile(net, { backend: cnt });
      for (let step = 0; step < 10; step++) {
        const x = rand([1, 1, 4], 600 + step);
        const [listBefore, eagerListBefore] = [net.caches, eager.caches];
        expectClose(compiled.forward(x), toRef(eager.forward(x)), undefined, `step ${step}`);
        net.caches.forEach((c, i) => expectClose(c, toRef(eager.caches[i]), undefined, `cache ${i} at step ${step}`));
        // a list forward replaces is a new list, and the caller's old one keeps its caches
        // (cached runs wrote into the list the trace made, the caller's previous one)
        expect(net.caches === listBefore, `step ${step}`).toBe(eager.caches === eagerListBefore);
        expect(listBefore.map((c) => c.shape), `step ${step}`).toEqual(eagerListBefore.map((c) => c.shape));
      }
      expect(cnt.frameCount).toBeLessThanOrEqual(3);
    });

  for (const replaceList of [true, false])
    test(`per-layer cache pairs in a nested list on the module, ${replaceList ? 'the list replaced' : 'the pairs\' entries replaced'} each call (left traced tensors there: wrong from the second call)`, () => {
      const eager = new PairedCaches(replaceList);
      const net = new PairedCaches(replaceList);
      const cnt = new CompileCounterWithBackend('native');
      const compiled = tj.compile(net, { backend: cnt });
      for (let step = 0; step < 10; step++) {
        const x = rand([1, 1, 4], 700 + step);
        const [pastBefore, eagerPastBefore] = [net.past, eager.past];
        expectClose(compiled.forward(x), toRef(eager.forward(x)), undefined, `step ${step}`);
        net.past.forEach((pair, i) => pair.forEach((c, j) => expectClose(c, toRef(eager.past[i][j]), undefined, `past[${i}][${j}] at step ${step}`)));
        // a list forward replaces is a new list; the caller's old one keeps its caches
        expect(net.past === pastBefore, `step ${step}`).toBe(eager.past === eagerPastBefore);
        expect(pastBefore.map((p) => p.map((c) => c.shape)), `step ${step}`).toEqual(eagerPastBefore.map((p) => p.map((c) => c.shape)));
      }
      // the first trace (the caches constants), then as inputs, then with a dynamic length
      expect(cnt.frameCount).toBeLessThanOrEqual(3);
    });

  test('tensors in a list on the module that forward only reads: replacing one recompiles', () => {
    class Scales extends tj.nn.Module {
      scales = [tj.tensor([1, 2]), tj.tensor([3, 4])];
      override forward(x: tj.Tensor): tj.Tensor {
        return tj.add(tj.mul(x, this.scales[0]), this.scales[1]);
      }
    }
    const net = new Scales();
    const compiled = tj.compile(net);
    const x = tj.tensor([1, 1]);
    expect((compiled.forward(x) as tj.Tensor).toArray()).toEqual([4, 6]);
    net.scales[0] = tj.tensor([10, 20]);
    expect((compiled.forward(x) as tj.Tensor).toArray()).toEqual([13, 24]);
    net.scales = [tj.tensor([0, 0]), tj.tensor([1, 1])];
    expect((compiled.forward(x) as tj.Tensor).toArray()).toEqual([1, 1]);
  });

  test('KV caches of the user\'s own class on the module, directly and in a list: stores replayed, lengths dynamic', async () => {
    // before, the traced call left fake tensors in such objects and cached runs stored nothing
    // (wrong results from the second call)
    class KVCache {
      k = tj.zeros([1, 0, 4]);
      v = tj.zeros([1, 0, 4]);
      append(k: tj.Tensor, v: tj.Tensor): [tj.Tensor, tj.Tensor] {
        this.k = tj.cat([this.k, k], 1);
        this.v = tj.cat([this.v, v], 1);
        return [this.k, this.v];
      }
    }
    class Decoder extends tj.nn.Module {
      first = new KVCache();
      rest = [new KVCache(), new KVCache()];
      override forward(x: tj.Tensor): tj.Tensor {
        let h = x;
        for (const cache of [this.first, ...this.rest]) {
          const [k, v] = cache.append(tj.tanh(h), tj.mul(h, 0.5));
          h = tj.add(h, tj.matmul(tj.softmax(tj.matmul(h, tj.transpose(k, 1, 2)), -1), v));
        }
        return h;
      }
    }
    const net = new Decoder(), eager = new Decoder();
    const cnt = new CompileCounterWithBackend('native');
    const compiled = tj.compile(net, { backend: cnt });
    for (let step = 0; step < 10; step++) {
      const x = rand([1, 1, 4], 800 + step);
      const y = step % 3 === 2 ? await compiled.runAsync(x) : compiled.forward(x);
      expectClose(y, toRef(eager.forward(x)), undefined, `step ${step}`);
      [net.first, ...net.rest].forEach((c, i) => {
        const e = [eager.first, ...eager.rest][i];
        expect(c.k.isFake || c.v.isFake, `cache ${i} at step ${step}`).toBe(false);
        expectClose(c.k, toRef(e.k), undefined, `cache ${i} keys at step ${step}`);
        expectClose(c.v, toRef(e.v), undefined, `cache ${i} values at step ${step}`);
      });
    }
    expect(cnt.frameCount).toBeLessThanOrEqual(3);
  });

  test('a counter kept in such an object, and a settings object of the user\'s class, stay right', () => {
    class Cache {
      h = tj.zeros([0, 2]);
      writes = 0;
    }
    class Settings {
      scale = 2;
    }
    class Net extends tj.nn.Module {
      cache = new Cache();
      settings = new Settings();
      override forward(x: tj.Tensor): tj.Tensor {
        this.cache.h = tj.cat([this.cache.h, x], 0);
        this.cache.writes += 1;
        return tj.mul(tj.sum(this.cache.h, 0), this.settings.scale);
      }
    }
    const net = new Net(), eager = new Net();
    const compiled = tj.compile(net);
    for (let step = 0; step < 8; step++) {
      if (step === 5) net.settings.scale = eager.settings.scale = -1;  // seen: the graph reads it
      const x = rand([1, 2], 850 + step);
      expectClose(compiled.forward(x) as tj.Tensor, toRef(eager.forward(x)), undefined, `step ${step}`);
      expect(net.cache.writes, `step ${step}`).toBe(eager.cache.writes);
      expectClose(net.cache.h, toRef(eager.cache.h), undefined, `step ${step}`);
    }
  });

  test('a Map on the module memoising a table per length holds real tensors; replacing an entry recompiles', async () => {
    // before, the traced call (and the probes at other lengths) left fake tensors in the Map
    class Positions extends tj.nn.Module {
      tables = new Map<number, tj.Tensor>();
      override forward(x: tj.Tensor): tj.Tensor {
        const n = x.shape[0];
        if (!this.tables.has(n)) this.tables.set(n, tj.mul(tj.arange(n), 2));
        return tj.add(x, this.tables.get(n)!);
      }
    }
    const net = new Positions(), eager = new Positions();
    const compiled = tj.compile(net);
    for (const [i, n] of [3, 3, 4, 4, 5, 3, 6, 5].entries()) {
      const x = rand([n], 700 + i);
      const y = i % 2 ? await compiled.runAsync(x) : compiled.forward(x);
      expectClose(y, toRef(eager.forward(x)), undefined, `call ${i}`);
      expect([...net.tables.keys()]).toEqual([...eager.tables.keys()]);
      for (const [k, t] of net.tables) {
        expect(t.isFake, `table ${k}`).toBe(false);
        expectClose(t, toRef(eager.tables.get(k)!), undefined, `table ${k} after call ${i}`);
      }
    }
    net.tables.set(3, tj.full([3], 10));
    const x = rand([3], 720);
    expectClose(compiled.forward(x) as tj.Tensor, toRef(tj.add(x, 10)));
  });

  test('a tensor deeper in a config on the module, replaced from outside, recompiles', () => {
    class Deep extends tj.nn.Module {
      cfg = { inner: { shift: tj.tensor([1, 1]) } };
      override forward(x: tj.Tensor): tj.Tensor {
        return tj.add(x, this.cfg.inner.shift);
      }
    }
    const net = new Deep();
    const compiled = tj.compile(net);
    const x = tj.tensor([1, 2]);
    expect((compiled.forward(x) as tj.Tensor).toArray()).toEqual([2, 3]);
    net.cfg.inner.shift = tj.tensor([10, 10]);
    expect((compiled.forward(x) as tj.Tensor).toArray()).toEqual([11, 12]);
  });

  test('state on a submodule, through runAsync', async () => {
    const eager = new Outer();
    const net = new Outer();
    const compiled = tj.compile(net);
    for (let step = 0; step < 6; step++) {
      const x = rand([1, 1, 4], 200 + step);
      const y = (await compiled.runAsync(x)) as tj.Tensor;
      expectClose(y, toRef(eager.forward(x)), undefined, `step ${step}`);
      expectClose(net.inner.k, toRef(eager.inner.k));
    }
  });

  test('runAsync calls made at once run in call order, each reading what the one before stored', async () => {
    const eager = new GrowingCache();
    const net = new GrowingCache();
    const compiled = tj.compile(net);
    const xs = Array.from({ length: 8 }, (_, step) => rand([1, 1, 4], 700 + step));
    const ys = await Promise.all(xs.map((x) => compiled.runAsync(x) as Promise<tj.Tensor>));
    ys.forEach((y, step) => expectClose(y, toRef(eager.forward(xs[step])), undefined, `step ${step}`));
    expect(net.k.shape).toEqual([1, 8, 4]);
    expectClose(net.v, toRef(eager.v));
  });

  test('resetting the state (a new sequence) is a new shape, not a stale constant', () => {
    const eager = new GrowingCache();
    const net = new GrowingCache();
    const compiled = tj.compile(net);
    for (const length of [5, 3]) {
      eager.k = tj.zeros([1, 0, 4]);
      eager.v = tj.zeros([1, 0, 4]);
      net.k = tj.zeros([1, 0, 4]);
      net.v = tj.zeros([1, 0, 4]);
      for (let step = 0; step < length; step++) {
        const x = rand([1, 1, 4], 300 + step);
        expectClose(compiled.forward(x), toRef(eager.forward(x)), undefined, `step ${step}`);
      }
      expect(net.k.shape).toEqual([1, length, 4]);
    }
  });

  test('stores made before a graph break hold real tensors', () => {
    class Broken extends tj.nn.Module {
      last: tj.Tensor | null = null;
      override forward(x: tj.Tensor): tj.Tensor {
        this.last = tj.exp(x);
        tj.compiler.graphBreak();
        return tj.add(this.last, 1);
      }
    }
    const net = new Broken();
    const compiled = tj.compile(net);
    for (let i = 0; i < 3; i++) {
      const x = rand([3], 400 + i);
      expectClose(compiled.forward(x), toRef(tj.add(tj.exp(x), 1)));
      expectClose(net.last!, toRef(tj.exp(x)));
    }
  });

  test('a trace that fails, and an export, leave the attributes as they were', () => {
    class Failing extends tj.nn.Module {
      last: tj.Tensor | null = null;
      override forward(x: tj.Tensor): tj.Tensor {
        this.last = tj.neg(x);
        if (x.shape[0] > 2) throw new Error('too long');
        return this.last;
      }
    }
    const net = new Failing();
    const compiled = tj.compile(net);
    const x = rand([2], 500);
    compiled.forward(x);
    const kept = net.last!;
    expect(() => compiled.forward(rand([3], 501))).toThrow(/too long/);
    expect(net.last).toBe(kept);
    expectClose(net.last!, toRef(tj.neg(x)));
    tj.exportProgram(net, [rand([2], 502)]);
    expect(net.last).toBe(kept);
  });
});

/** Stores on itself and reads back: a cache, a list of caches, a last value, a mode flag. */
class Stateful extends tj.nn.Module {
  k = tj.zeros([1, 0, 4]);
  caches = [tj.zeros([1, 1, 4]), tj.zeros([1, 2, 4])];
  last: tj.Tensor | null = null;
  grow = true;
  override forward(x: tj.Tensor): tj.Tensor {
    if (this.grow) this.k = tj.cat([this.k, x], 1);
    this.caches[0] = tj.cat([this.caches[0], tj.mul(x, 2)], 1);
    this.last = tj.tanh(x);
    return tj.add(tj.add(tj.sum(this.k, [1]), tj.sum(this.caches[0], [1])), tj.mean(this.caches[1]));
  }
}

test('random sequences of calls and outside changes to stored state: compiled equals eager, state included', async () => {
  for (let seed = 0; seed < 12; seed++) {
    const random = rng(900 + seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
    const eager = new Stateful();
    const net = new Stateful();
    const compiled = tj.compile(net);
    const both = (f: (m: Stateful) => void) => [eager, net].forEach(f);
    const values = (length: number) => rand([1, length, 4], Math.floor(random() * 1e6));
    const actions: [string, () => void][] = [
      ['k reset', () => { const t = values(pick([0, 2, 5])); both((m) => (m.k = t.clone())); }],
      ['caches[1] replaced', () => { const t = values(pick([1, 3])); both((m) => (m.caches[1] = t.clone())); }],
      ['caches replaced', () => { const [a, b] = [values(pick([1, 4])), values(2)]; both((m) => (m.caches = [a.clone(), b.clone()])); }],
      ['grow toggled', () => both((m) => (m.grow = !m.grow))],
    ];
    const done: string[] = [];
    for (let step = 0; step < 16; step++) {
      if (random() < 0.3) {
        const [what, act] = pick(actions);
        act();
        done.push(what);
      }
      const x = values(1);
      const y = random() < 0.3 ? ((await compiled.runAsync(x)) as tj.Tensor) : (compiled.forward(x) as tj.Tensor);
      const where = `seed ${seed} step ${step} after ${done.join(', ')}`;
      expectClose(y, toRef(eager.forward(x)), undefined, where);
      expectClose(net.k, toRef(eager.k), undefined, `k, ${where}`);
      net.caches.forEach((c, i) => expectClose(c, toRef(eager.caches[i]), undefined, `caches[${i}], ${where}`));
      expectClose(net.last!, toRef(eager.last!), undefined, `last, ${where}`);
    }
  }
}, 120_000);
