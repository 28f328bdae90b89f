/**
 * What a compiled function stores in the objects and arrays it is passed (a cache object
 * grown by concatenation, a count, a deleted flag, a pushed history): side effects its
 * caller sees, made again by every call, against the same function run eagerly.
 */
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { expectClose, makeTensor, randomValues, toRef } from '../helpers/reference';

const { CompileCounterWithBackend } = tj.compiler.testing;
const rand = (shape: number[], seed: number) => makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);

interface Cache {
  k: tj.Tensor;
  v: tj.Tensor;
}

/** Attention over every position so far, the keys and values in a cache object the caller holds. */
function attend(x: tj.Tensor, cache: Cache): tj.Tensor {
  cache.k = tj.cat([cache.k, x], 1);
  cache.v = tj.cat([cache.v, tj.tanh(x)], 1);
  return tj.matmul(tj.softmax(tj.matmul(x, tj.transpose(cache.k, 1, 2)), -1), cache.v);
}

describe('stores into arguments', () => {
  test('a cache object grown by concatenation: every call stores into the caller\'s object', () => {
    const cnt = new CompileCounterWithBackend('native');
    const compiled = tj.compile(attend, { backend: cnt });
    const mine: Cache = { k: tj.zeros([1, 0, 4]), v: tj.zeros([1, 0, 4]) };
    const theirs: Cache = { k: tj.zeros([1, 0, 4]), v: tj.zeros([1, 0, 4]) };
    for (let step = 0; step < 10; step++) {
      const x = rand([1, 1, 4], 10 + step);
      expectClose(compiled(x, mine) as tj.Tensor, toRef(attend(x, theirs)), undefined, `step ${step}`);
      expect(mine.k.shape).toEqual([1, step + 1, 4]);
      expectClose(mine.v, toRef(theirs.v), undefined, `v at step ${step}`);
    }
    expect(cnt.frameCount).toBeLessThanOrEqual(3);  // static, then the length dynamic
  });

  test('a size stored from a dynamic dim follows each call\'s size', () => {
    const f = (x: tj.Tensor, state: { len: number; last: tj.Tensor | null }) => {
      state.len = x.shape[0];
      state.last = tj.exp(x);
      return tj.sum(x);
    };
    const compiled = tj.compile(f);
    const state = { len: 0, last: null as tj.Tensor | null };
    for (const n of [3, 4, 5, 7, 9]) {
      const x = rand([n], n);
      compiled(x, state);
      expect(state.len).toBe(n);
      expectClose(state.last!, toRef(tj.exp(x)));
    }
  });

  test('a deleted key, a pushed history and a counter', () => {
    const f = (x: tj.Tensor, opts: { first?: boolean; calls: number }, history: tj.Tensor[]) => {
      const y = opts.first ? tj.neg(x) : tj.add(x, 1);
      delete opts.first;
      opts.calls = opts.calls + 1;
      history.push(y);
      return y;
    };
    const compiled = tj.compile(f);
    const [a, b] = [{ first: true, calls: 0 }, { first: true, calls: 0 }];
    const [ha, hb]: tj.Tensor[][] = [[], []];
    for (let i = 0; i < 12; i++) {
      const x = rand([2], 20 + i);
      expectClose(compiled(x, a, ha) as tj.Tensor, toRef(f(x, b, hb)), undefined, `call ${i}`);
      expect(a).toEqual(b);
      expect(ha.length).toBe(hb.length);
      ha.forEach((t, j) => expectClose(t, toRef(hb[j])));
    }
  });

  test('stores before a graph break, and through runAsync, hold real tensors', async () => {
    const f = (x: tj.Tensor, cache: { h: tj.Tensor | null }) => {
      cache.h = tj.exp(x);
      tj.compiler.graphBreak();
      return tj.add(cache.h, 1);
    };
    const compiled = tj.compile(f);
    const cache = { h: null as tj.Tensor | null };
    for (let i = 0; i < 3; i++) {
      const x = rand([3], 30 + i);
      expectClose(compiled(x, cache) as tj.Tensor, toRef(tj.add(tj.exp(x), 1)));
      expectClose(cache.h!, toRef(tj.exp(x)));
    }
    const g = tj.compile((x: tj.Tensor, cache: Cache) => attend(x, cache));
    const mine: Cache = { k: tj.zeros([1, 0, 4]), v: tj.zeros([1, 0, 4]) };
    const theirs: Cache = { k: tj.zeros([1, 0, 4]), v: tj.zeros([1, 0, 4]) };
    for (let step = 0; step < 4; step++) {
      const x = rand([1, 1, 4], 40 + step);
      expectClose((await g.runAsync(x, mine)) as tj.Tensor, toRef(attend(x, theirs)));
      expectClose(mine.k, toRef(theirs.k));
    }
  });

  test('class instances passed as arguments: their tensors are guarded, stores into them made again', () => {
    class Holder {
      constructor(public w: tj.Tensor, public k: tj.Tensor) {}
    }
    const f = (x: tj.Tensor, h: Holder) => {
      h.k = tj.cat([h.k, x]);
      return tj.mul(tj.sum(h.k), h.w);
    };
    const compiled = tj.compile(f);
    const [mine, theirs] = [new Holder(tj.tensor([1, 2]), tj.zeros([0])), new Holder(tj.tensor([1, 2]), tj.zeros([0]))];
    for (let i = 0; i < 6; i++) {
      if (i === 3) [mine, theirs].forEach((h) => (h.w = tj.tensor([5, -1])));  // replaced by the caller
      const x = tj.tensor([i + 1]);
      expectClose(compiled(x, mine) as tj.Tensor, toRef(f(x, theirs)), undefined, `call ${i}`);
      expectClose(mine.k, toRef(theirs.k));
    }
  });

  test('a module passed as an argument: replacing a submodule\'s weight recompiles', () => {
    class Net extends tj.nn.Module {
      fc = new tj.nn.Linear(2, 2);
      override forward(x: tj.Tensor): tj.Tensor {
        return this.fc.forward(x);
      }
    }
    const net = new Net();
    const compiled = tj.compile((m: Net, x: tj.Tensor) => m.forward(x));
    const x = tj.tensor([[1, 2]]);
    expectClose(compiled(net, x) as tj.Tensor, toRef(net.forward(x)));
    net.fc.weight = tj.tensor([[1, 0], [0, 1]]);
    expectClose(compiled(net, x) as tj.Tensor, toRef(net.forward(x)));
  });

  test('numbers and flags on a class instance passed as an argument are guarded by value', () => {
    class Settings {
      scale = 2;
      negate = false;
    }
    const f = (x: tj.Tensor, s: Settings) => {
      const y = tj.mul(x, s.scale);
      return s.negate ? tj.neg(y) : y;
    };
    const compiled = tj.compile(f);
    const settings = new Settings();
    const x = tj.tensor([1, 2]);
    expect((compiled(x, settings) as tj.Tensor).toArray()).toEqual([2, 4]);
    settings.scale = 3;
    expect((compiled(x, settings) as tj.Tensor).toArray()).toEqual([3, 6]);
    settings.negate = true;
    expect((compiled(x, settings) as tj.Tensor).toArray()).toEqual([-3, -6]);
  });

  test('storing a new object of traced tensors is an error naming the argument', () => {
    const compiled = tj.compile((x: tj.Tensor, state: { pair?: object }) => {
      state.pair = { a: tj.exp(x) };
      return x;
    });
    expect(() => compiled(tj.ones([2]), {})).toThrow(/argument 1\["pair"\].*store the tensors one by one/);
  });
  test('a Map passed as an argument: its tensors are inputs, stores into it are made again, no traced tensor stays in it', async () => {
    // before, a Map was one opaque leaf: its tensors were unguarded constants (replacing one
    // was not seen) and the traced call stored fake tensors into the caller's own Map
    const f = (x: tj.Tensor, memo: Map<string, tj.Tensor>) => {
      memo.set('last', tj.exp(x));
      return tj.add(tj.mul(memo.get('last')!, memo.get('scale')!), 1);
    };
    const compiled = tj.compile(f);
    const [mine, theirs] = [0, 1].map(() => new Map([['scale', tj.tensor([2, 3])]]));
    for (let i = 0; i < 6; i++) {
      if (i === 3) for (const m of [mine, theirs]) m.set('scale', tj.tensor([-1, 5]));
      const x = rand([2], 80 + i);
      const y = i % 2 ? await compiled.runAsync(x, mine) : compiled(x, mine);
      expectClose(y as tj.Tensor, toRef(f(x, theirs)), undefined, `call ${i}`);
      expect([...mine.keys()]).toEqual([...theirs.keys()]);
      for (const [k, t] of mine) {
        expect(t.isFake, k).toBe(false);
        expectClose(t, toRef(theirs.get(k)!), undefined, `${k} after call ${i}`);
      }
    }
  });

  test('Maps keyed by numbers inside an argument, deleted keys, and a Map the pytree leaves whole (object keys)', () => {
    const owner = { id: 1 };
    const f = (x: tj.Tensor, state: { perLength: Map<number, tj.Tensor> }, byObject: Map<object, tj.Tensor>) => {
      state.perLength.set(x.shape[0], tj.neg(x));
      state.perLength.delete(0);
      byObject.set(owner, tj.sqrt(tj.abs(x)));
      return tj.add(state.perLength.get(x.shape[0])!, byObject.get(owner)!);
    };
    const compiled = tj.compile(f);
    const make = () => ({ state: { perLength: new Map([[0, tj.zeros([1])]]) }, byObject: new Map<object, tj.Tensor>() });
    const [mine, theirs] = [make(), make()];
    for (const [i, n] of [2, 3, 2, 4].entries()) {
      const x = rand([n], 90 + i);
      expectClose(compiled(x, mine.state, mine.byObject) as tj.Tensor, toRef(f(x, theirs.state, theirs.byObject)), undefined, `call ${i}`);
      expect([...mine.state.perLength.keys()]).toEqual([...theirs.state.perLength.keys()]);
      for (const [k, t] of mine.state.perLength) expectClose(t, toRef(theirs.state.perLength.get(k)!), undefined, `length ${k}`);
      expect(mine.byObject.get(owner)!.isFake).toBe(false);
      expectClose(mine.byObject.get(owner)!, toRef(theirs.byObject.get(owner)!));
    }
  });

  test('members a compiled function adds to or deletes from a Set it is passed are added and deleted on every call', () => {
    const f = (x: tj.Tensor, seen: Set<number>, opts: { done: Set<string> }) => {
      seen.add(x.shape[0]);
      seen.delete(-1);
      opts.done.add('ran');
      return tj.mul(x, seen.size);
    };
    const compiled = tj.compile(f);
    const mine = { seen: new Set([-1]), opts: { done: new Set<string>() } };
    const theirs = { seen: new Set([-1]), opts: { done: new Set<string>() } };
    for (const [i, n] of [2, 2, 3, 3, 2, 4].entries()) {
      const x = rand([n], 110 + i);
      expectClose(compiled(x, mine.seen, mine.opts) as tj.Tensor, toRef(f(x, theirs.seen, theirs.opts)), undefined, `call ${i}`);
      expect([...mine.seen], `call ${i}`).toEqual([...theirs.seen]);
      expect([...mine.opts.done]).toEqual([...theirs.opts.done]);
    }
  });

  test('a counter and a list in a class instance passed as an argument change on every call', () => {
    // before, the trace changed them once and its guard then saw the changed values: cached
    // runs left the counter where the trace put it (a silent wrong answer)
    class Session {
      steps = 0;
      lengths: number[] = [];
    }
    const counting = (x: tj.Tensor, s: Session) => {
      s.steps += 1;
      return tj.mul(x, 2);
    };
    const logging = (x: tj.Tensor, s: Session) => {
      s.lengths.push(x.shape[0]);
      return tj.add(x, 1);
    };
    for (const f of [counting, logging]) {
      const compiled = tj.compile(f);
      const [mine, theirs] = [new Session(), new Session()];
      for (const [i, n] of [2, 2, 2, 3, 4, 2].entries()) {
        const x = rand([n], 120 + i);
        expectClose(compiled(x, mine) as tj.Tensor, toRef(f(x, theirs)), undefined, `${f.name} call ${i}`);
        expect([mine.steps, mine.lengths], `${f.name} call ${i}`).toEqual([theirs.steps, theirs.lengths]);
      }
    }
  });

  test('a Map returned from a compiled function holds its results', () => {
    const f = (x: tj.Tensor) => new Map<string, tj.Tensor>([['double', tj.mul(x, 2)], ['square', tj.mul(x, x)]]);
    const out = tj.compile(f)(tj.tensor([1, 2, 3])) as Map<string, tj.Tensor>;
    expect(out).toBeInstanceOf(Map);
    expect([...out.keys()]).toEqual(['double', 'square']);
    expect(out.get('double')!.toArray()).toEqual([2, 4, 6]);
    expect(out.get('square')!.toArray()).toEqual([1, 4, 9]);
  });
});
