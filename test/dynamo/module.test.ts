/** compile(module), module.compile(), train()/eval(), attribute and parameter guards, state changed by forward, dotted constant names. */
import { describe, expect, test, vi } from 'vitest';
import * as tj from '../../lib/index';
import { expectClose, makeTensor, randomValues, toRef } from '../helpers/reference';

const { CompileCounterWithBackend } = tj.compiler.testing;
const rand = (shape: number[], seed: number) => makeTensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);

class Block extends tj.nn.Module {
  fc = new tj.nn.Linear(4, 3);
  calls = 0;
  override forward(x: tj.Tensor): tj.Tensor {
    this.calls++;
    const y = this.fc.forward(x);
    // a mode-dependent path, as Dropout/BatchNorm have
    return this.training ? tj.cat([y, y], 1) : tj.softmax(y, -1);
  }
}

class Net extends tj.nn.Module {
  block = new Block();
  head = new tj.nn.Linear(3, 2);
  override forward(x: tj.Tensor): tj.Tensor {
    const y = this.block.forward(x);
    return this.block.training ? y : this.head.forward(y);
  }
}

describe('compile(module)', () => {
  test('returns a module-like object whose forward is compiled; parameters are shared', () => {
    const net = new Net().eval();
    const cnt = new CompileCounterWithBackend('eager');
    const compiled = tj.compile(net, { backend: cnt });
    const x = rand([2, 4], 1);
    expectClose(compiled.forward(x), toRef(net.forward(x)));
    expect(compiled.head.weight).toBe(net.head.weight);
    expect(compiled.parameters()).toEqual(net.parameters());
    expect(compiled).toBeInstanceOf(Net);
    expect(typeof compiled.runAsync).toBe('function');
    expect(net.forward).toBe(Net.prototype.forward);
    // Block counts its calls: the first trace changes module.block.calls; a second trace
    // from the same state but another count gives the same graph, so the count is a side
    // effect, left out of the guards, and the graph is cached (cached runs count too)
    expect(cnt.frameCount).toBe(1);
    const before = net.block.calls;
    compiled.forward(x);
    expect(net.block.calls).toBe(before + 1);
    compiled.forward(x);
    expect(net.block.calls).toBe(before + 2);
    expect(cnt.frameCount).toBe(1);
  });

  test('module state enters the graph under its dotted names', () => {
    const net = new Net().eval();
    const cnt = new CompileCounterWithBackend('eager');
    tj.compile(net, { backend: cnt }).forward(rand([2, 4], 2));
    const gm = cnt.graphs[0];
    expect(Object.keys(gm.attrs)).toEqual(['block.fc.weight', 'block.fc.bias', 'head.weight', 'head.bias']);
    expect(gm.attrs['head.weight']).toBe(net.head.weight);
    expect(gm.code).toMatchInlineSnapshot(`
      "function forward(x) {
        const block_fc_weight = attrs["block.fc.weight"];
        const block_fc_bias = attrs["block.fc.bias"];
        const linear = ops.linear(x, block_fc_weight, block_fc_bias);
        const softmax = ops.softmax(linear, -1);
        const head_weight = attrs["head.weight"];
        const head_bias = attrs["head.bias"];
        const linear_1 = ops.linear(softmax, head_weight, head_bias);
        return [linear_1];
      }"
    `);
  });

  test('train()/eval() are guarded, for submodules too', () => {
    const net = new Net();
    const cnt = new CompileCounterWithBackend('eager');
    const compiled = tj.compile(net, { backend: cnt });
    const x = rand([2, 4], 3);
    const check = () => expectClose(compiled.forward(x), toRef(net.forward(x)));
    check(); // training (Block's call counter: a side effect, settled by a retrace)
    net.eval();
    check();
    net.train();
    check();  // the training entry again
    expect(cnt.frameCount).toBe(2);
    check();
    expect(cnt.frameCount).toBe(2);
    net.block.eval(); // only the submodule
    check();
    expect(cnt.frameCount).toBe(3);
    const report = tj.compiler.explain(compiled)(x);
    expect(report.guards).toEqual(expect.arrayContaining(['module.training === true', 'module.block.training === false']));
  });

  test('replacing a parameter recompiles; loadStateDict (in place) does not need to', () => {
    const net = new Net().eval();
    const cnt = new CompileCounterWithBackend('eager');
    const compiled = tj.compile(net, { backend: cnt });
    const x = rand([2, 4], 4);
    compiled.forward(x);
    net.head.weight = tj.zeros([2, 3]);
    expectClose(compiled.forward(x), toRef(net.forward(x)));
    expect(cnt.frameCount).toBe(2);
    const sd = net.stateDict();
    const fresh: Record<string, tj.Tensor> = {};
    for (const [k, v] of Object.entries(sd)) fresh[k] = tj.full(v.shape, 0.5);
    net.loadStateDict(fresh);
    expectClose(compiled.forward(x), toRef(net.forward(x)));
    expect(cnt.frameCount).toBe(2);
  });
});

// Module attributes were not guarded: a compiled module kept the scale, mode, config and
// submodules of its first trace after the user changed them (silent wrong answers).
class Configurable extends tj.nn.Module {
  scale = 2;
  mode = 'plain';
  cfg = { k: 1, dims: [3] };
  lin = new tj.nn.Linear(3, 3);
  extra: tj.nn.Module | null = null;
  act: (t: tj.Tensor) => tj.Tensor = tj.relu;
  override forward(x: tj.Tensor): tj.Tensor {
    let y = tj.mul(this.lin.forward(x), this.scale * this.cfg.k);
    if (this.mode === 'gated') y = this.act(y);
    if (this.extra) y = this.extra.forward(y);
    return y.reshape([-1, this.cfg.dims[0]]);
  }
}

describe('module state', () => {
  test('attributes forward reads are guarded: numbers, strings, nested configs, functions, swapped or added submodules', () => {
    const m = new Configurable();
    const cnt = new CompileCounterWithBackend('native');
    const compiled = tj.compile(m, { backend: cnt });
    const x = rand([2, 3], 6);
    const changes: [string, () => void][] = [
      ['scale', () => (m.scale = 3)],
      ['mode', () => (m.mode = 'gated')],
      ['nested config', () => (m.cfg.k = 5)],
      ['function attribute', () => (m.act = tj.sigmoid)],
      ['added submodule', () => (m.extra = new tj.nn.Linear(3, 3))],
      ['swapped submodule', () => (m.lin = new tj.nn.Linear(3, 3))],
      ['its weight updated in place', () => m.lin.weight.mul_(2)],
      ['its weight replaced', () => (m.lin.weight = rand([3, 3], 7))],
    ];
    expectClose(compiled.forward(x), toRef(m.forward(x)));
    for (const [what, change] of changes) {
      change();
      expectClose(compiled.forward(x), toRef(m.forward(x)), undefined, what);
      expectClose(compiled.forward(x), toRef(m.forward(x)), undefined, `${what}, cached`);
    }
    // every change but the in-place update recompiled once; unchanged calls did not
    expect(cnt.frameCount).toBe(1 + changes.length - 1);
  });

  test('a Set of flags and a Map of settings on the module are guarded by contents (they were by identity: changes were not seen)', () => {
    class Flagged extends tj.nn.Module {
      flags = new Set(['bias']);
      settings = new Map<string, number>([['scale', 2]]);
      override forward(x: tj.Tensor): tj.Tensor {
        const y = tj.mul(x, this.settings.get('scale')!);
        return this.flags.has('relu') ? tj.relu(y) : tj.neg(y);
      }
    }
    const m = new Flagged();
    const compiled = tj.compile(m);
    const x = tj.tensor([-1, 2]);
    expect((compiled.forward(x) as tj.Tensor).toArray()).toEqual([2, -4]);
    m.flags.add('relu');
    expect((compiled.forward(x) as tj.Tensor).toArray()).toEqual([0, 4]);
    m.settings.set('scale', 3);
    expect((compiled.forward(x) as tj.Tensor).toArray()).toEqual([0, 6]);
    m.flags = new Set(['bias']);
    expect((compiled.forward(x) as tj.Tensor).toArray()).toEqual([3, -6]);
  });

  test('a settings object of the user\'s own class on the module is guarded field by field (it was by identity)', () => {
    class Settings {
      scale = 2;
      act = 'relu';
      inner = { shift: 0 };
    }
    class Net extends tj.nn.Module {
      settings = new Settings();
      override forward(x: tj.Tensor): tj.Tensor {
        const y = tj.add(tj.mul(x, this.settings.scale), this.settings.inner.shift);
        return this.settings.act === 'relu' ? tj.relu(y) : y;
      }
    }
    const m = new Net();
    const cnt = new CompileCounterWithBackend('native');
    const compiled = tj.compile(m, { backend: cnt });
    const x = tj.tensor([-1, 1]);
    const steps: [() => void, number[]][] = [
      [() => {}, [0, 2]],
      [() => (m.settings.scale = 5), [0, 5]],
      [() => (m.settings.act = 'none'), [-5, 5]],
      [() => (m.settings.inner.shift = 1), [-4, 6]],
      [() => {}, [-4, 6]],
    ];
    for (const [change, want] of steps) {
      change();
      expect((compiled.forward(x) as tj.Tensor).toArray()).toEqual(want);
    }
    expect(cnt.frameCount).toBe(4);
    const report = tj.compiler.explain(compiled)(x);
    expect(report.guards).toEqual(expect.arrayContaining(['module.settings.scale === 5']));
  });

  test('modules kept in a plain object or a Map (not registered children) are guarded as submodules are', () => {
    // before, their weights were unguarded constants: a replaced weight was not seen
    class Heads extends tj.nn.Module {
      byKey = { a: new tj.nn.Linear(2, 2) };
      byName = new Map([['b', new tj.nn.Linear(2, 2)]]);
      override forward(x: tj.Tensor): tj.Tensor {
        return tj.add(this.byKey.a.forward(x), this.byName.get('b')!.forward(x));
      }
    }
    const m = new Heads();
    const compiled = tj.compile(m);
    const x = rand([3, 2], 90);
    const check = (what: string) => expectClose(compiled.forward(x) as tj.Tensor, toRef(m.forward(x)), undefined, what);
    check('first call');
    m.byKey.a.weight = rand([2, 2], 91);
    check('a weight replaced in the object');
    m.byName.get('b')!.bias = rand([2], 92);
    check('a bias replaced in the Map');
    m.byName.set('b', new tj.nn.Linear(2, 2));
    check('a module replaced in the Map');
  });

  test('a large array attribute is guarded by identity, not element by element', () => {
    class Vocab extends tj.nn.Module {
      vocab = Array.from({ length: 10000 }, (_, i) => i);
      k = 2;
      override forward(x: tj.Tensor): tj.Tensor {
        return tj.mul(x, this.k + this.vocab.length);
      }
    }
    const m = new Vocab();
    const compiled = tj.compile(m);
    const x = rand([3], 8);
    expectClose(compiled.forward(x), toRef(m.forward(x)));
    const guards = tj.compiler.explain(compiled)(x).guards;
    expect(guards).toContain('module.vocab is the same object');
    expect(guards.length).toBeLessThan(20);
    m.k = 3;
    expectClose(compiled.forward(x), toRef(m.forward(x)));
    m.vocab = [1];
    expectClose(compiled.forward(x), toRef(m.forward(x)));
  });

  test('numbers and values forward changes without reading them are changed by cached runs too', async () => {
    // a call counter, a position advanced by each input's (dynamic) length, a mode set once per call
    class Stepper extends tj.nn.Module {
      calls = 0;
      pos = 0;
      mode = 'idle';
      override forward(x: tj.Tensor): tj.Tensor {
        this.calls++;
        this.pos += x.shape[0];
        this.mode = 'ran';
        return tj.mul(x, 2);
      }
    }
    const eager = new Stepper(), m = new Stepper();
    const cnt = new CompileCounterWithBackend('eager');
    const compiled = tj.compile(m, { backend: cnt });
    const lengths = [3, 3, 3, 4, 5, 6, 3, 7, 4, 5, 8, 9, 3];
    for (const [i, n] of lengths.entries()) {
      const x = rand([n, 2], 40 + i);
      const y = i % 3 === 2 ? await compiled.runAsync(x) : compiled.forward(x);
      expectClose(y, toRef(eager.forward(x)), undefined, `call ${i}`);
      expect([m.calls, m.pos, m.mode], `call ${i}`).toEqual([eager.calls, eager.pos, eager.mode]);
    }
    // traces at length 3 settle the rules (the first also set the mode, so the second starts
    // from other state and a third is needed), one more at 4 makes the length dynamic
    expect(cnt.frameCount).toBeLessThanOrEqual(4);
    // changed from outside, the counters go on from there (they are not guarded)
    m.calls = 100;
    compiled.forward(rand([5, 2], 60));
    expect(m.calls).toBe(101);
    expect(cnt.frameCount).toBeLessThanOrEqual(4);
  });

  test('a position counter beside a KV cache grown by concatenation is a side effect too (it ran eagerly, never settling)', () => {
    // each call starts from other state (a longer cache), so no two traces met the same state:
    // a retrace from the same state with another count settles the counter at the first call
    class CachedAttention extends tj.nn.Module {
      qkv = new tj.nn.Linear(8, 24);
      k = tj.zeros([1, 0, 8]);
      v = tj.zeros([1, 0, 8]);
      pos = 0;
      phase = 'idle';
      override forward(x: tj.Tensor): tj.Tensor {
        const [q, k, v] = tj.split(this.qkv.forward(x), 8, -1);
        this.k = tj.cat([this.k, k], 1);
        this.v = tj.cat([this.v, v], 1);
        this.pos += x.shape[1];
        this.phase = 'decoding';
        return tj.scaledDotProductAttention(q, this.k, this.v);
      }
    }
    tj.manualSeed(21);
    const eager = new CachedAttention().eval(), m = new CachedAttention().eval();
    m.loadStateDict(eager.stateDict());
    const cnt = new CompileCounterWithBackend('eager');
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const compiled = tj.compile(m, { backend: cnt });
      for (let i = 0; i < 12; i++) {
        const x = rand([1, i === 0 ? 3 : 1, 8], 900 + i);
        expectClose(compiled.forward(x), toRef(eager.forward(x)), undefined, `call ${i}`);
        expect([m.pos, m.phase, m.k.shape], `call ${i}`).toEqual([eager.pos, eager.phase, eager.k.shape]);
      }
      expect(warn).not.toHaveBeenCalled();
      // the prompt (static: an empty cache), a step, and the cache's length made dynamic
      expect(cnt.frameCount).toBeLessThanOrEqual(3);
    } finally {
      warn.mockRestore();
    }
  });

  test('a flag forward sets on its first call and tests (lazy set-up) compiles from the next call', () => {
    // a retrace with the flag already set takes the other branch: that says nothing for sure,
    // and the next call, from the new state, changes nothing (an earlier version of the
    // retrace sent such modules to eager)
    class Lazy extends tj.nn.Module {
      ready = false;
      scale = 1;
      override forward(x: tj.Tensor): tj.Tensor {
        if (!this.ready) {
          this.scale = 3;
          this.ready = true;
        }
        return tj.mul(x, this.scale);
      }
    }
    const eager = new Lazy(), m = new Lazy();
    const cnt = new CompileCounterWithBackend('eager');
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const compiled = tj.compile(m, { backend: cnt });
      for (let i = 0; i < 5; i++) {
        const x = rand([3], 950 + i);
        expectClose(compiled.forward(x), toRef(eager.forward(x)), undefined, `call ${i}`);
        expect([m.ready, m.scale]).toEqual([eager.ready, eager.scale]);
      }
      expect(warn).not.toHaveBeenCalled();
      expect(cnt.frameCount).toBe(2);  // the first call's trace (not cached), then one graph
    } finally {
      warn.mockRestore();
    }
  });

  test('a change no rule explains (an array grown, a new string each call) runs eagerly, with the right state', () => {
    class Logger extends tj.nn.Module {
      seen: number[] = [];
      label = '';
      override forward(x: tj.Tensor): tj.Tensor {
        this.seen.push(x.shape[0]);
        this.label = `call ${this.seen.length}`;
        return tj.add(x, 1);
      }
    }
    const eager = new Logger(), m = new Logger();
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const compiled = tj.compile(m);
      for (let i = 0; i < 6; i++) {
        const x = rand([2], 70 + i);
        expectClose(compiled.forward(x), toRef(eager.forward(x)), undefined, `call ${i}`);
        expect([m.seen, m.label]).toEqual([eager.seen, eager.label]);
      }
      expect(warn.mock.calls.filter((c) => String(c[0]).includes('module.seen')).length).toBe(1);
    } finally {
      warn.mockRestore();
    }
  });

  test('a Set forward adds each new length to stays right: probes at other sizes neither leak into it nor generalise past it', () => {
    // before, the probe traces of the dynamic-shape generalisation added their sizes to the
    // Set, and the generalised graph served new lengths without adding them
    class Lengths extends tj.nn.Module {
      seen = new Set<number>();
      override forward(x: tj.Tensor): tj.Tensor {
        this.seen.add(x.shape[0]);
        return tj.mul(x, 2);
      }
    }
    const m = new Lengths(), eager = new Lengths();
    const compiled = tj.compile(m);
    for (const [i, n] of [2, 2, 3, 3, 4, 2, 5, 5, 6].entries()) {
      const x = rand([n], 500 + i);
      expectClose(compiled.forward(x) as tj.Tensor, toRef(eager.forward(x)), undefined, `call ${i}`);
      expect([...m.seen], `call ${i}`).toEqual([...eager.seen]);
    }
  });

  test('a forward that changes state it reads (a position counter) runs eagerly, with a warning', () => {
    class Writer extends tj.nn.Module {
      pos = 0;
      constructor() {
        super();
        this.registerBuffer('cache', tj.zeros([8, 2]));
      }
      override forward(x: tj.Tensor): tj.Tensor {
        const cache = (this as unknown as { cache: tj.Tensor }).cache;
        cache.narrow(0, this.pos, 1).copy_(x);
        this.pos += 1;
        return tj.sum(cache, 0);
      }
    }
    const eager = new Writer(), m = new Writer();
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const compiled = tj.compile(m);
      for (let i = 0; i < 5; i++) {
        const x = rand([1, 2], 10 + i);
        expectClose(compiled.forward(x), toRef(eager.forward(x)), undefined, `call ${i}`);
      }
      expect(m.pos).toBe(5);
      expectClose((m as unknown as { cache: tj.Tensor }).cache, toRef((eager as unknown as { cache: tj.Tensor }).cache));
      expect(warn.mock.calls.filter((c) => String(c[0]).includes('module.pos')).length).toBe(1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('module.compile()', () => {
  test('compiles in place and returns the module', () => {
    const net = new Net().eval();
    const x = rand([2, 4], 5);
    const ref = net.forward(x);
    const cnt = new CompileCounterWithBackend('eager');
    expect(net.compile({ backend: cnt })).toBe(net);
    expectClose(net.forward(x), toRef(ref));
    expectClose(net.forward(x), toRef(ref));
    expectClose(net.forward(x), toRef(ref));
    expect(cnt.frameCount).toBe(1);  // Block's call counter is a side effect (see above)
    expect(typeof (net as unknown as { runAsync: unknown }).runAsync).toBe('function');
  });

  test('a compiled submodule called from a compiled parent is part of the parent graph', () => {
    const net = new Net().eval();
    const inner = new CompileCounterWithBackend('eager'), outer = new CompileCounterWithBackend('eager');
    net.block.compile({ backend: inner });
    const compiled = tj.compile(net, { backend: outer });
    const x = rand([2, 4], 6);
    compiled.forward(x);
    expect([inner.frameCount, outer.frameCount]).toEqual([0, 1]);
    expect(outer.opCount).toBe(3);
    // the inlined submodule's mode is guarded by the parent entry
    net.block.train();
    compiled.forward(x);
    expect(outer.frameCount).toBe(2);
    // called on its own, the submodule uses its own cache
    net.block.forward(x);
    expect(inner.frameCount).toBe(1);
  });
});
