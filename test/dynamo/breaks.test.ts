/**
 * Graph breaks: each cause in DESIGN.md's list, what a graph outputs at a break, reuse
 * of compiled graphs by position and structure, recomputation, fullgraph errors, runAsync
 * (the last graph off the event loop).
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import * as tj from '../../lib/index';
import { GraphModule } from '../../lib/fx';
import { settlesAfterATimer } from '../helpers/event_loop';
import { expectClose, makeTensor, randomValues, toRef } from '../helpers/reference';

const rand = (shape: number[], seed: number) => makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);
const THIS_FILE = /breaks\.test\.ts:\d+:\d+$/;

function recorder() {
  const graphs: GraphModule[] = [];
  const backend = (gm: GraphModule) => {
    graphs.push(gm);
    return (...xs: tj.Tensor[]) => gm(...xs);
  };
  return { graphs, backend };
}

afterEach(() => {
  vi.restoreAllMocks();
  delete process.env.TENSORJIT_LOGS;
});

describe('data reads break the graph', () => {
  test.each(['item', 'toArray', 'dataSync', 'data'] as const)('%s()', (read) => {
    const counter = new tj.compiler.testing.CompileCounter();
    let runs = 0;
    const fn = (x: tj.Tensor, w: tj.Tensor) => {
      runs++;
      const y = tj.matmul(x, w);
      const s = tj.sum(y);
      const v = read === 'item' ? (s.item() as number) : read === 'toArray' ? (s.toArray() as number) : Number(read === 'data' ? (s.data(), s.dataSync()[0]) : s.dataSync()[0]);
      return v > 0 ? tj.softmax(y, -1) : tj.softmax(y, 0);
    };
    const f = tj.compile(fn, { backend: counter });
    const x = rand([3, 4], 1), w = rand([4, 2], 2);
    for (let i = 0; i < 3; i++) expectClose(f(x, w) as tj.Tensor, toRef(fn(x, w)));
    expect(counter.frameCount).toBe(2);
    // a function whose trace broke re-runs its JS on every call: 3 compiled calls + 3 eager reference calls
    expect(runs).toBe(6);
    const report = tj.compiler.explain(fn)(x, w);
    expect(report.graphCount).toBe(2);
    expect(report.graphBreakCount).toBe(read === 'data' ? 2 : 1);
    expect(report.breakReasons[0].reason).toContain(read === 'toArray' ? 'toArray' : read === 'item' ? 'item' : 'dataSync');
    expect(report.breakReasons[0].location).toMatch(THIS_FILE);
  });

  test('the data read sees the value computed by the first graph; the code after the break is a second graph', () => {
    const { graphs, backend } = recorder();
    let seen = 0;
    const f = tj.compile((x: tj.Tensor) => {
      const total = tj.sum(x.clone());
      seen = total.item() as number;
      return tj.softmax(x, 0);
    }, { backend });
    f(tj.tensor([1, 2, 3]));
    expect(seen).toBe(6);
    expect(graphs.map((g) => g.code)).toMatchInlineSnapshot(`
      [
        "function forward(x) {
        const clone = ops.clone(x);
        const sum = ops.sum(clone);
        return [sum];
      }",
        "function forward(x) {
        const softmax = ops.softmax(x, 0);
        return [softmax];
      }",
      ]
    `);
  });
});

describe('what a graph outputs at a break', () => {
  test('what the breaking code needs plus every value not consumed inside the graph', () => {
    const { graphs, backend } = recorder();
    const f = tj.compile((x: tj.Tensor) => {
      const a = x.clone(); // consumed by b: not an output
      const b = tj.sum(a, 0); // needed by item()
      const c = tj.softmax(x, 0); // never consumed: an output
      const n = b.item() as number;
      return { c, n };
    }, { backend });
    const out = f(tj.tensor([1, 2])) as { c: tj.Tensor; n: number };
    expect(out.n).toBe(3);
    expect(graphs).toHaveLength(1);
    const output = graphs[0].graph.nodes.at(-1)!;
    expect((output.args[0] as { name: string }[]).map((n) => n.name)).toEqual(['sum', 'softmax']);
    expectClose(out.c, toRef(tj.softmax(tj.tensor([1, 2]), 0)));
  });

  test('a later use of a value that was not an output is recomputed (logged under perf), never wrong', () => {
    process.env.TENSORJIT_LOGS = 'perf';
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const { graphs, backend } = recorder();
    const fn = (x: tj.Tensor, w: tj.Tensor) => {
      const y = tj.matmul(x, w); // consumed by sum below
      if ((tj.sum(y).item() as number) > -1e9) return tj.cat([y, y], 0);
      return y;
    };
    const f = tj.compile(fn, { backend });
    const x = rand([2, 3], 3), w = rand([3, 2], 4);
    expectClose(f(x, w) as tj.Tensor, toRef(fn(x, w)));
    expect(graphs).toHaveLength(2);
    expect(err.mock.calls.map((c) => String(c[0])).join('')).toMatch(/\[tensorjit:perf\] recomputing 'matmul'/);
  });

  // Found by test/backends/native/random_programs.test.ts: a value recomputed after memory it
  // read was written in place gave the new contents (silently wrong) or refused.
  describe('a recomputed value reads memory as its graph did, whoever writes it later', () => {
    // runs fn eagerly and compiled on copies of the same inputs: results and inputs after must agree
    const agree = (fn: (...xs: tj.Tensor[]) => tj.Tensor, inputs: () => tj.Tensor[]) => {
      const eagerInputs = inputs(), compiledInputs = inputs();
      const want = fn(...eagerInputs);
      const f = tj.compile(fn);
      expectClose(f(...compiledInputs) as tj.Tensor, toRef(want));
      compiledInputs.forEach((x, i) => expectClose(x, toRef(eagerInputs[i])));
      // a second call reuses the compiled graphs
      const again = inputs(), wantAgain = fn(...inputs());
      expectClose(f(...again) as tj.Tensor, toRef(wantAgain));
    };

    test('written by the graph that computed it', () => {
      agree((x) => {
        const y = tj.mul(x, 3); // consumed by sum: not an output unless it must be
        const s = tj.sum(y);
        x.mul_(0.5);
        return (s.item() as number) > -1e9 ? tj.add(y, 1) : y;
      }, () => [rand([4, 5], 11)]);
    });

    test('written by a later graph', () => {
      agree((x) => {
        const y = tj.exp(x);
        const s = tj.sum(y);
        tj.compiler.graphBreak();
        x.add_(1);
        const t = tj.mul(x, s);
        tj.compiler.graphBreak();
        return tj.add(y, t);
      }, () => [rand([3, 4], 12)]);
    });

    test('written eagerly by an in-place op the graph cannot take (a non-contiguous input)', () => {
      agree((x) => {
        const y = tj.sigmoid(x);
        const s = tj.sum(y);
        x.mul_(2); // x is transposed: this write runs eagerly, at a break
        return tj.add(tj.add(y, s), x);
      }, () => [makeTensor(randomValues(12, 13), [3, 4], 'float32', 'transposed')]);
    });

    test('written by eager user code: refused with an error, never a wrong value', () => {
      const scale = tj.compiler.disable((x: tj.Tensor) => x.mul_(2));
      const f = tj.compile((x: tj.Tensor) => {
        const y = tj.sigmoid(x);
        const s = tj.sum(y);
        scale(x);
        return tj.add(y, s);
      });
      expect(() => f(rand([3, 4], 14))).toThrow(/cannot recompute 'sigmoid'.*written in place since, by code that ran eagerly/);
    });
  });

  test('values across breaks are real values of the earlier graph (views keep sharing memory)', () => {
    const f = tj.compile((x: tj.Tensor) => {
      const a = x.clone();
      const v = a.narrow(0, 1, 2);
      tj.compiler.graphBreak();
      v.copy_(tj.tensor([7, 8]));
      return a;
    }, { backend: 'eager' });
    expect((f(tj.tensor([1, 2, 3])) as tj.Tensor).toArray()).toEqual([1, 7, 8]);
    expect((f(tj.tensor([4, 5, 6])) as tj.Tensor).toArray()).toEqual([4, 7, 8]);
  });
});

describe('each kind of break', () => {
  test('graphBreak() splits the graph; outside tracing it does nothing', () => {
    const counter = new tj.compiler.testing.CompileCounter();
    const fn = (x: tj.Tensor) => {
      const a = tj.softmax(x, 0);
      tj.compiler.graphBreak();
      return tj.cat([a, x]);
    };
    expect(() => fn(tj.ones([2]))).not.toThrow();
    const f = tj.compile(fn, { backend: counter });
    expectClose(f(tj.tensor([1, 2])) as tj.Tensor, toRef(fn(tj.tensor([1, 2]))));
    expect(counter.frameCount).toBe(2);
    expect(counter.opCount).toBe(2);
  });

  test('a disallowed op runs eagerly between two graphs, however it is called', () => {
    const counter = new tj.compiler.testing.CompileCounter();
    const fn = (x: tj.Tensor) => {
      const a = tj.softmax(x, 0);
      const b = a.clone(); // method form
      const c = tj.clone(b); // function form
      return tj.softmax(c, 0);
    };
    tj.compiler.disallowInGraph(tj.clone);
    try {
      const f = tj.compile(fn, { backend: counter });
      expectClose(f(tj.tensor([1, 2])) as tj.Tensor, toRef(fn(tj.tensor([1, 2]))));
      expect(counter.frameCount).toBe(2);
      expect(counter.opCount).toBe(2);
      const report = tj.compiler.explain(fn)(tj.tensor([1, 2]));
      expect(report.graphBreakCount).toBe(2);
      expect(report.breakReasons[0].reason).toMatch(/'clone' is disallowed/);
      expect(report.breakReasons.map((b) => b.location)).toEqual([expect.stringMatching(THIS_FILE), expect.stringMatching(THIS_FILE)]);
    } finally {
      tj.compiler.allowInGraph(tj.clone);
    }
    const g = tj.compile(fn, { backend: counter });
    counter.clear();
    g(tj.tensor([1, 2]));
    expect(counter.frameCount).toBe(1);
  });

  test('disabled code may use traced tensors it reaches through closures', () => {
    let held: tj.Tensor | null = null;
    const show = tj.compiler.disable(() => tj.cat([held!.clone(), tj.ones([1])]));
    const fn = (x: tj.Tensor) => {
      held = tj.softmax(x, 0);
      return tj.sum(show());
    };
    const f = tj.compile(fn, { backend: 'eager' });
    expectClose(f(tj.tensor([1, 2])) as tj.Tensor, toRef(fn(tj.tensor([1, 2]))));
    expectClose(f(tj.tensor([3, 1])) as tj.Tensor, toRef(fn(tj.tensor([3, 1]))));
  });

  test('TS-only ops without meta (randn) run eagerly; tensor() of literal data is a constant', () => {
    const counter = new tj.compiler.testing.CompileCounter();
    const f = tj.compile((x: tj.Tensor) => {
      const k = tj.tensor([[1, 0], [0, 1]]);
      const y = tj.matmul(x, k);
      const noise = tj.randn([2, 2]);
      return tj.cat([y, tj.mean(tj.stack([noise, noise]), 0)], 0);
    }, { backend: counter });
    tj.manualSeed(1);
    const out = f(tj.ones([2, 2])) as tj.Tensor;
    tj.manualSeed(1);
    const expected = tj.cat([tj.ones([2, 2]), tj.randn([2, 2])], 0);
    expectClose(out, toRef(expected));
    expect(counter.frameCount).toBe(2);
    const report = tj.compiler.explain((x: tj.Tensor) => tj.matmul(x, tj.tensor([[1, 0], [0, 1]])))(tj.ones([2, 2]));
    expect(report.graphBreakCount).toBe(0);
    expect(report.graphs[0].graph.nodes.some((n) => n.op === 'get_attr')).toBe(true);
  });

  test('typed-array data is not baked into the graph (it runs eagerly each call)', () => {
    let runs = 0;
    const f = tj.compile((data: Float32Array) => {
      runs++;
      return tj.softmax(tj.tensor(data, { shape: [2] }), 0);
    }, { backend: 'eager' });
    const data = new Float32Array([1, 2]);
    expectClose(f(data) as tj.Tensor, toRef(tj.softmax(tj.tensor([1, 2]), 0)));
    data[0] = 5;
    expectClose(f(data) as tj.Tensor, toRef(tj.softmax(tj.tensor([5, 2]), 0)));
    expect(runs).toBe(2);
  });
});

describe('re-running functions with breaks', () => {
  test('compiled graphs are reused by position and structure; a new branch compiles a new graph', () => {
    const counter = new tj.compiler.testing.CompileCounter();
    let runs = 0;
    const fn = (x: tj.Tensor) => {
      runs++;
      const s = tj.sum(x).item() as number;
      return s > 0 ? tj.softmax(x, 0) : tj.cat([x, x]);
    };
    const f = tj.compile(fn, { backend: counter });
    const pos = tj.tensor([1, 2]), neg = tj.tensor([-1, -2]);
    f(pos);
    f(pos);
    f(tj.tensor([3, 4]));
    expect(counter.frameCount).toBe(2);
    expect(runs).toBe(3);
    expect((f(neg) as tj.Tensor).toArray()).toEqual([-1, -2, -1, -2]);
    expect(counter.frameCount).toBe(3);
    f(neg);
    f(pos);
    expect(counter.frameCount).toBe(3);
  });

  test('two alike graphs at different positions are compiled separately', () => {
    const counter = new tj.compiler.testing.CompileCounter();
    const f = tj.compile((x: tj.Tensor) => {
      const a = tj.softmax(x, 0);
      tj.compiler.graphBreak();
      const b = tj.softmax(x, 0);
      return [a, b];
    }, { backend: counter });
    f(tj.ones([3]));
    f(tj.ones([3]));
    expect(counter.frameCount).toBe(2);
  });

  test('isCompiling() is true while the JS of a function with breaks re-runs', () => {
    const flags: boolean[] = [];
    const f = tj.compile((x: tj.Tensor) => {
      flags.push(tj.compiler.isCompiling());
      tj.compiler.graphBreak();
      flags.push(tj.compiler.isCompiling());
      return x.clone();
    }, { backend: 'eager' });
    f(tj.ones([1]));
    f(tj.ones([1]));
    expect(flags).toEqual([true, true, true, true]);
  });

  test('in-place updates of inputs before a break are applied before the eager code sees them', () => {
    const f = tj.compile((x: tj.Tensor, y: tj.Tensor) => {
      x.copy_(tj.softmax(y, 0));
      const seen = x.toArray() as number[];
      return seen;
    }, { backend: 'eager' });
    const x = tj.zeros([2]);
    const seen = f(x, tj.tensor([0, 0])) as number[];
    expect(seen).toEqual([0.5, 0.5]);
    expect(x.toArray()).toEqual([0.5, 0.5]);
  });
});

describe('fullgraph: true', () => {
  test.each([
    ['a data read', (x: tj.Tensor) => (tj.sum(x).item() as number) + 1, /item\(\) reads the data/],
    ['graphBreak()', (x: tj.Tensor) => (tj.compiler.graphBreak(), x.clone()), /graphBreak\(\) was called/],
    ['a disabled function', (x: tj.Tensor) => tj.compiler.disable((t: tj.Tensor) => t.clone(), { reason: 'logs stuff' })(x), /disabled function.*logs stuff/],
    ['a TS-only op', (x: tj.Tensor) => tj.cat([x, tj.randn([1])]), /'randn' has no meta function/],
  ])('%s is an error naming the reason and the user location', (_, fn, reason) => {
    const f = tj.compile(fn, { backend: 'eager', fullgraph: true });
    let error: unknown;
    try {
      f(tj.ones([2]));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    const e = error as Error & { reason: string; location: string };
    expect(e.message).toMatch(reason);
    expect(e.message).toMatch(/fullgraph: true/);
    expect(e.location).toMatch(THIS_FILE);
    expect(e.message).toContain(e.location);
    expect(tj.compiler.isCompiling()).toBe(false);
  });

  test('a break-free function compiles with fullgraph', () => {
    const f = tj.compile((x: tj.Tensor) => tj.softmax(x, 0), { backend: 'eager', fullgraph: true });
    expectClose(f(tj.tensor([1, 2])) as tj.Tensor, toRef(tj.softmax(tj.tensor([1, 2]), 0)));
  });
});

test('async functions are rejected with a clear error', () => {
  const f = tj.compile(async (x: tj.Tensor) => x.clone(), { backend: 'eager' });
  expect(() => f(tj.ones([1]))).toThrow(/returned a Promise/);
});

describe('runAsync of a function with breaks', () => {
  // a backend whose compiled graphs record how they were called
  function callRecorder() {
    const calls: string[] = [];
    const backend = (gm: GraphModule) => {
      const index = calls.filter((c) => c.startsWith('compile')).length;
      calls.push(`compile ${index}`);
      const run = (...xs: tj.Tensor[]) => {
        calls.push(`run ${index}`);
        return gm(...xs);
      };
      return Object.assign(run, {
        runAsync: async (...xs: tj.Tensor[]) => {
          calls.push(`runAsync ${index}`);
          await new Promise((r) => setImmediate(r));
          return gm(...xs);
        },
      });
    };
    return { calls, backend };
  }
  const fn = (x: tj.Tensor, w: tj.Tensor) => {
    const s = tj.sum(tj.matmul(x, w)).item() as number;  // the break: its graph must run first
    return s > 0 ? tj.softmax(tj.matmul(x, w).mul(2), -1) : tj.tanh(tj.matmul(x, w));
  };

  test('the graphs before a break run at it; the last one goes through runAsync', async () => {
    const { calls, backend } = callRecorder();
    const f = tj.compile(fn, { backend });
    const x = rand([3, 4], 40), w = rand([4, 5], 41);
    const want = toRef(fn(x, w));
    const pending = f.runAsync(x, w);
    expect(calls).toEqual(['compile 0', 'run 0', 'compile 1', 'runAsync 1']);
    expectClose((await pending) as tj.Tensor, want);
    // a later call re-runs the JS: graph 0 again at the break, the reused last graph async
    calls.length = 0;
    expectClose((await f.runAsync(x, w)) as tj.Tensor, want);
    expect(calls).toEqual(['run 0', 'runAsync 1']);
    // and a synchronous call runs both on the calling thread
    calls.length = 0;
    expectClose(f(x, w) as tj.Tensor, want);
    expect(calls).toEqual(['run 0', 'run 1']);
  });

  test('an in-place update in the last graph lands before the promise settles', async () => {
    const { backend } = callRecorder();
    const g = (x: tj.Tensor, acc: tj.Tensor) => {
      const n = tj.sum(x).item() as number;
      acc.add_(x.mul(n));
      return acc.sum();
    };
    const f = tj.compile(g, { backend });
    const x = rand([6], 42);
    const acc = tj.zeros([6]), accRef = tj.zeros([6]);
    const want = toRef(g(x, accRef));
    const total = (await f.runAsync(x, acc)) as tj.Tensor;
    expectClose(total, want);
    expectClose(acc, toRef(accRef));
  });

  test('natively, the last graph computes off the event loop: a timer fires before it settles', async () => {
    const n = 384;
    const a = makeTensor(randomValues(n * n, 43, 'float32', -0.05, 0.05), [n, n]);
    const long = (x: tj.Tensor) => {
      if ((tj.sum(x).item() as number) > 1e9) return x;  // a break before the long part
      let h = x;
      for (let i = 0; i < 8; i++) h = tj.tanh(tj.matmul(h, x));
      return h;
    };
    const f = tj.compile(long);
    const want = toRef(long(a));
    expectClose(f(a) as tj.Tensor, want);  // compiled and run once: the runs below only run
    const { value, inFlightAtTimer } = await settlesAfterATimer(() => f.runAsync(a));
    expect(inFlightAtTimer, 'the last graph is still in flight when a timer fires').toBe(true);
    expectClose(value as tj.Tensor, want);
  });
});
