/**
 * tj.tidy / tj.keep (lib/scope.ts): a tidy disposes the tensors made inside it except
 * what it returns (however nested in arrays, Maps, Sets, objects and Modules) and what
 * keep() marks; returned tensors pass to the enclosing tidy; errors and Promises
 * dispose everything. Compiled code: a tidy around compiled calls (including the call
 * that compiles) must not dispose what the compile caches keep, a tidy inside traced
 * code leaves the trace alone, and runAsync results outlive the tidy they started in.
 */
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';

/** float64 reference of relu(x * 2 + 1) */
const refAffineRelu = (xs: number[]) => xs.map((v) => Math.max(0, v * 2 + 1));
const xs = [-2, -0.25, 0, 0.5, 3];

describe('tidy', () => {
  test('disposes intermediates, keeps the result, frees their memory', () => {
    const x = tj.tensor(xs);
    const before = tj.memory();
    let mul: tj.Tensor | null = null;
    let add: tj.Tensor | null = null;
    const y = tj.tidy(() => {
      mul = tj.mul(x, 2);
      add = tj.add(mul, 1);
      return tj.relu(add);
    });
    expect(mul!.disposed).toBe(true);
    expect(add!.disposed).toBe(true);
    expect(y.disposed).toBe(false);
    expect(x.disposed).toBe(false);
    expect(Array.from(y.dataSync())).toEqual(refAffineRelu(xs));
    const after = tj.memory();
    expect(after.liveBuffers - before.liveBuffers).toBe(1);
    expect(after.liveBytes - before.liveBytes).toBe(y.numel() * 4);
    y.dispose();
    x.dispose();
  });

  test('large intermediates return to the allocator at the end of the scope', () => {
    const x = tj.ones([1 << 20]); // 4 MiB
    const base = tj.memory().liveBytes;
    const s = tj.tidy(() => {
      let y = x;
      for (let i = 0; i < 8; i++) y = tj.add(y, 1);
      return tj.sum(y);
    });
    expect(tj.memory().liveBytes - base).toBe(4); // only the 0-d sum
    expect(s.item()).toBe((1 << 20) * 9);
    s.dispose();
    x.dispose();
  });

  test('returned containers: arrays, objects, Maps, Sets and Modules keep what they hold', () => {
    const x = tj.tensor(xs);
    let dropped: tj.Tensor | null = null;
    const out = tj.tidy(() => {
      dropped = tj.neg(x);
      const model = new tj.nn.Linear(3, 2);
      return {
        list: [tj.add(x, 1), [tj.mul(x, 3)]],
        map: new Map([['k', tj.sub(x, 1)]]),
        set: new Set([tj.abs(x)]),
        model,
      };
    });
    expect(dropped!.disposed).toBe(true);
    const [a, [b]] = out.list as [tj.Tensor, tj.Tensor[]];
    expect(Array.from(a.dataSync())).toEqual(xs.map((v) => v + 1));
    expect(Array.from(b.dataSync())).toEqual(xs.map((v) => v * 3));
    expect(Array.from(out.map.get('k')!.dataSync())).toEqual(xs.map((v) => v - 1));
    expect(Array.from([...out.set][0].dataSync())).toEqual(xs.map(Math.abs));
    for (const p of out.model.parameters()) expect(p.disposed).toBe(false);
    const y = out.model.forward(tj.ones([1, 3]));
    expect(y.shape).toEqual([1, 2]);
  });

  test('a long loop disposing as it goes inside one tidy (its list is compacted)', () => {
    const x = tj.tensor(xs);
    const y = tj.tidy(() => {
      let acc = tj.zeros([xs.length]);
      for (let i = 0; i < 20_000; i++) {
        const next = tj.add(acc, x);
        acc.dispose();
        acc = next;
      }
      return acc;
    });
    expect(Array.from(y.dataSync())).toEqual(xs.map((v) => v * 20_000));
  });

  test('a returned view of a disposed intermediate keeps its data', () => {
    const v = tj.tidy(() => tj.arange(6).mul(10).reshape([2, 3]).transpose(0, 1));
    expect(v.toArray()).toEqual([[0, 30], [10, 40], [20, 50]]);
  });

  test('nested: the inner result belongs to the outer tidy', () => {
    const x = tj.tensor(xs);
    let inner: tj.Tensor | null = null;
    const y = tj.tidy(() => {
      inner = tj.tidy(() => tj.mul(tj.add(x, 1), 2));
      expect(inner.disposed).toBe(false);
      return tj.add(inner, 1);
    });
    expect(inner!.disposed).toBe(true);
    expect(Array.from(y.dataSync())).toEqual(xs.map((v) => (v + 1) * 2 + 1));
  });

  test('keep() exempts a tensor from every enclosing tidy', () => {
    const x = tj.tensor(xs);
    let held: tj.Tensor | null = null;
    tj.tidy(() => {
      tj.tidy(() => {
        held = tj.keep(tj.exp(x));
      });
    });
    expect(held!.disposed).toBe(false);
    expect(Array.from(held!.dataSync())).toEqual(Array.from(new Float32Array(xs.map(Math.exp))));
  });

  test('tensors from outside and in-place results survive', () => {
    const x = tj.tensor(xs);
    const r = tj.tidy(() => {
      x.add_(1); // returns x, made outside
      tj.mul(x, 5);
      return x;
    });
    expect(r).toBe(x);
    expect(x.disposed).toBe(false);
    expect(Array.from(x.dataSync())).toEqual(xs.map((v) => v + 1));
  });

  test('an error disposes everything made and passes on', () => {
    const x = tj.tensor(xs);
    let made: tj.Tensor | null = null;
    expect(() =>
      tj.tidy(() => {
        made = tj.mul(x, 2);
        return tj.matmul(made, tj.ones([3, 3])); // [5] @ [3, 3]: a shape error
      }),
    ).toThrow(/matmul/);
    expect(made!.disposed).toBe(true);
    expect(x.disposed).toBe(false);
    // the scope stack is intact: a later tidy still works
    expect(tj.tidy(() => tj.add(x, 1)).disposed).toBe(false);
  });

  test('a Promise result is an error, and its tensors are disposed', () => {
    const x = tj.tensor(xs);
    let made: tj.Tensor | null = null;
    expect(() =>
      tj.tidy((async () => {
        made = tj.mul(x, 2);
        return made;
      }) as unknown as () => tj.Tensor),
    ).toThrow(/tidy: fn returned a Promise/);
    expect(made!.disposed).toBe(true);
  });

  test('bad arguments', () => {
    expect(() => tj.tidy(42 as unknown as () => void)).toThrow(/tidy: expected a function, got number/);
    expect(() => tj.keep(null as unknown as tj.Tensor)).toThrow(/keep: expected a Tensor, got null/);
  });

  test('using a disposed intermediate afterwards is an error naming it', () => {
    const x = tj.tensor(xs);
    let made: tj.Tensor | null = null;
    tj.tidy(() => {
      made = tj.mul(x, 2);
    });
    expect(() => made!.dataSync()).toThrow(/dataSync: tensor \[5\] float32 was disposed/);
  });
});

describe('tidy and compiled code', () => {
  const x = tj.tensor(xs);
  const eagerRef = refAffineRelu(xs);

  test.each(['native', 'eager'] as const)('a tidy around the compiling call leaves the caches intact (%s)', (backend) => {
    // a constant made in the traced code is a cached graph constant
    const f = tj.compile((t: tj.Tensor) => tj.relu(tj.add(tj.mul(t, tj.tensor([2, 2, 2, 2, 2])), 1)), { backend });
    const first = tj.tidy(() => f(x));
    expect(Array.from(first.dataSync())).toEqual(eagerRef);
    for (let i = 0; i < 2; i++) expect(Array.from(f(x).dataSync())).toEqual(eagerRef);
  });

  test('graph breaks and assumeConstantResult inside a tidy', () => {
    const scale = tj.compiler.assumeConstantResult(() => tj.tensor([2, 2, 2, 2, 2]));
    const f = tj.compile((t: tj.Tensor) => {
      const m = tj.mul(t, scale());
      const s = m.sum().item(); // a break: m is materialised
      return tj.relu(tj.add(m, 1 + s - s));
    });
    for (let i = 0; i < 3; i++) {
      const y = tj.tidy(() => f(x));
      expect(Array.from(y.dataSync())).toEqual(eagerRef);
    }
    expect(Array.from(f(x).dataSync())).toEqual(eagerRef);
  });

  test('a tidy inside traced code leaves the trace alone', () => {
    const f = tj.compile((t: tj.Tensor) => {
      const m = tj.tidy(() => tj.mul(tj.add(t, 0), 2));
      const s = tj.tidy(() => m.dataSync()[0]); // the break materialises m inside this tidy
      return tj.tidy(() => tj.relu(tj.add(m, 1 + s - s))); // m must still be there
    });
    for (let i = 0; i < 3; i++) expect(Array.from(f(x).dataSync())).toEqual(eagerRef);
  });

  test('a compiled module made and first called inside a tidy', () => {
    const model = tj.tidy(() => {
      tj.manualSeed(3);
      const m = new tj.nn.Sequential(new tj.nn.Linear(5, 4), new tj.nn.ReLU());
      m.compile();
      m.forward(tj.ones([2, 5])); // compiles
      return m;
    });
    const [w, b] = model.parameters();
    const W = w.toArray() as number[][];
    const B = b.toArray() as number[];
    const ref = W.map((row, o) => Math.max(0, row.reduce((acc, wv, k) => acc + wv * xs[k], B[o])));
    const y = model.forward(tj.tensor([xs, xs])).toArray() as number[][];
    for (const rowOut of y) rowOut.forEach((v, o) => expect(v).toBeCloseTo(ref[o], 5));
  });

  test('runAsync results outlive the tidy that started them', async () => {
    const f = tj.compile((t: tj.Tensor) => tj.relu(tj.add(tj.mul(t, 2), 1)));
    f(x).dispose(); // compiled: later runAsync calls run natively off the loop
    let pending: Promise<tj.Tensor> | null = null;
    tj.tidy(() => {
      pending = f.runAsync(tj.add(x, 0));
    });
    const y = await pending!;
    expect(y.disposed).toBe(false);
    expect(Array.from(y.dataSync())).toEqual(eagerRef);
  });

  test('exported program made inside a tidy runs afterwards', async () => {
    const fn = (t: tj.Tensor) => tj.relu(tj.add(tj.mul(t, tj.tensor([2, 2, 2, 2, 2])), 1));
    const ep = tj.tidy(() => {
      const p = tj.exportProgram(fn, [tj.tensor(xs)]);
      p.run(tj.tensor(xs)); // compiles its executable inside the tidy
      return p;
    });
    expect(Array.from((ep.run(x) as tj.Tensor).dataSync())).toEqual(eagerRef);
    expect(Array.from(((await ep.runAsync(x)) as tj.Tensor).dataSync())).toEqual(eagerRef);
  });
});
