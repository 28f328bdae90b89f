import { describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tj from '../../lib/index';

const { nn } = tj;

class Block extends nn.Module {
  attn = new nn.MultiheadAttention(8, 2);
  ln = new nn.LayerNorm(8);
  mlp = new nn.Sequential(new nn.Linear(8, 16), new nn.GELU(), new nn.Linear(16, 8));
}

class Net extends nn.Module {
  embed = new nn.Embedding(10, 8);
  layers = [new Block(), new Block()];
  norm = new nn.LayerNorm(8);
  head = new nn.Linear(8, 3, { bias: false });
  scale: tj.Tensor;
  constructor() {
    super();
    this.scale = tj.ones([3]);
    this.registerBuffer('positions', tj.arange(4));
    this.registerBuffer('cache', tj.zeros([2]), false);
  }
}

const blockKeys = (p: string) => [
  `${p}.attn.in_proj_weight`, `${p}.attn.in_proj_bias`, `${p}.attn.out_proj.weight`, `${p}.attn.out_proj.bias`,
  `${p}.ln.weight`, `${p}.ln.bias`,
  `${p}.mlp.0.weight`, `${p}.mlp.0.bias`, `${p}.mlp.2.weight`, `${p}.mlp.2.bias`,
];

describe('names follow PyTorch', () => {
  test('stateDict: own params, then buffers, then submodules; arrays of modules are lists', () => {
    const net = new Net();
    expect(Object.keys(net.stateDict())).toEqual([
      'scale', 'positions', 'embed.weight', ...blockKeys('layers.0'), ...blockKeys('layers.1'),
      'norm.weight', 'norm.bias', 'head.weight',
    ]);
    expect(net.stateDict()['layers.1.ln.weight']).toBe(net.layers[1].ln.weight);
  });

  test('namedParameters, parameters, namedBuffers, children, namedModules', () => {
    const net = new Net();
    const names = net.namedParameters().map(([n]) => n);
    expect(names).toEqual(['scale', 'embed.weight', ...blockKeys('layers.0'), ...blockKeys('layers.1'), 'norm.weight', 'norm.bias', 'head.weight']);
    expect(net.parameters().length).toBe(names.length);
    expect(net.parameters()[1]).toBe(net.embed.weight);
    expect(net.namedBuffers().map(([n]) => n)).toEqual(['positions', 'cache']);
    expect(net.buffers()[0]).toBe((net as unknown as { positions: tj.Tensor }).positions);
    expect(net.namedChildren().map(([n]) => n)).toEqual(['embed', 'layers.0', 'layers.1', 'norm', 'head']);
    expect(net.children()[1]).toBe(net.layers[0]);
    expect(net.namedModules().map(([n]) => n)).toEqual([
      '', 'embed', 'layers.0', 'layers.0.attn', 'layers.0.attn.out_proj', 'layers.0.ln', 'layers.0.mlp', 'layers.0.mlp.0',
      'layers.0.mlp.1', 'layers.0.mlp.2', 'layers.1', 'layers.1.attn', 'layers.1.attn.out_proj', 'layers.1.ln', 'layers.1.mlp',
      'layers.1.mlp.0', 'layers.1.mlp.1', 'layers.1.mlp.2', 'norm', 'head',
    ]);
    expect(net.namedParameters('model').map(([n]) => n)[1]).toBe('model.embed.weight');
    expect(net.namedParameters('', false).map(([n]) => n)).toEqual(['scale']);
  });

  test('ModuleList and named Sequential', () => {
    class M extends nn.Module {
      blocks = new nn.ModuleList([new nn.Linear(2, 2), new nn.ReLU(), new nn.Linear(2, 1)]);
      seq = new nn.Sequential({ fc: new nn.Linear(1, 1), act: new nn.ReLU() });
    }
    const m = new M();
    expect(Object.keys(m.stateDict())).toEqual(['blocks.0.weight', 'blocks.0.bias', 'blocks.2.weight', 'blocks.2.bias', 'seq.fc.weight', 'seq.fc.bias']);
    expect(m.blocks.length).toBe(3);
    expect(m.blocks.get(-1)).toBeInstanceOf(nn.Linear);
    expect([...m.blocks].length).toBe(3);
    m.blocks.append(new nn.Linear(1, 1));
    expect(Object.keys(m.stateDict())).toContain('blocks.3.weight');
    expect(() => m.blocks.forward()).toThrow(/not callable/);
    expect(() => m.blocks.get(9)).toThrow(RangeError);
    const many = new nn.ModuleList(Array.from({ length: 12 }, () => new nn.Linear(1, 1, false)));
    expect(Object.keys(many.stateDict())).toEqual(Array.from({ length: 12 }, (_, i) => `${i}.weight`));
  });

  test('MultiheadAttention parameter names and shapes (packed and separate kdim/vdim)', () => {
    const packed = new nn.MultiheadAttention(8, 2);
    expect(Object.entries(packed.stateDict()).map(([n, t]) => [n, t.shape])).toEqual([
      ['in_proj_weight', [24, 8]], ['in_proj_bias', [24]], ['out_proj.weight', [8, 8]], ['out_proj.bias', [8]],
    ]);
    const sep = new nn.MultiheadAttention(8, 4, { kdim: 5, vdim: 3, addBiasKV: true });
    expect(Object.entries(sep.stateDict()).map(([n, t]) => [n, t.shape])).toEqual([
      ['q_proj_weight', [8, 8]], ['k_proj_weight', [8, 5]], ['v_proj_weight', [8, 3]], ['in_proj_bias', [24]],
      ['bias_k', [1, 1, 8]], ['bias_v', [1, 1, 8]], ['out_proj.weight', [8, 8]], ['out_proj.bias', [8]],
    ]);
    const noBias = new nn.MultiheadAttention(4, 1, { bias: false });
    expect(Object.keys(noBias.stateDict())).toEqual(['in_proj_weight', 'out_proj.weight']);
    expect(Array.from(packed.in_proj_bias!.dataSync())).toEqual(new Array(24).fill(0));
    expect(Array.from(packed.out_proj.bias!.dataSync())).toEqual(new Array(8).fill(0));
  });

  test('shared parameters: namedParameters lists a tensor once, stateDict under every name', () => {
    const a = new nn.Linear(2, 2);
    class Tied extends nn.Module {
      first = a;
      second = a;
      extra = new nn.Linear(2, 2);
    }
    const t = new Tied();
    t.extra.weight = a.weight;
    expect(t.namedParameters().map(([n]) => n)).toEqual(['first.weight', 'first.bias', 'extra.bias']);
    expect(Object.keys(t.stateDict())).toEqual(['first.weight', 'first.bias', 'second.weight', 'second.bias', 'extra.weight', 'extra.bias']);
  });

  test('a tensor assigned after construction becomes a parameter; registerBuffer keeps a name a buffer', () => {
    const m = new nn.Linear(2, 2);
    (m as unknown as { extraParam: tj.Tensor }).extraParam = tj.zeros([1]);
    m.registerBuffer('stat', tj.zeros([2]));
    (m as unknown as { stat: tj.Tensor }).stat = tj.ones([2]);
    expect(m.namedParameters().map(([n]) => n)).toEqual(['weight', 'bias', 'extraParam']);
    expect(m.namedBuffers().map(([n]) => n)).toEqual(['stat']);
    m.registerParameter('stat', tj.ones([2]));
    expect(m.namedBuffers()).toEqual([]);
  });
});

describe('loadStateDict', () => {
  test('copies in place: the same tensor objects now hold the loaded values', () => {
    tj.manualSeed(1);
    const a = new nn.Sequential(new nn.Linear(3, 2), new nn.LayerNorm(2));
    tj.manualSeed(2);
    const b = new nn.Sequential(new nn.Linear(3, 2), new nn.LayerNorm(2));
    const weightBefore = b.get(0) as tj.nn.Linear;
    const captured = weightBefore.weight;
    expect(captured.dataSync()).not.toEqual(a.stateDict()['0.weight'].dataSync());
    const result = b.loadStateDict(a.stateDict());
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(weightBefore.weight).toBe(captured);
    expect(captured.dataSync()).toEqual(a.stateDict()['0.weight'].dataSync());
    expect(b.stateDict()['0.bias'].dataSync()).toEqual(a.stateDict()['0.bias'].dataSync());
    expect(captured.storage).not.toBe(a.stateDict()['0.weight'].storage);
  });

  test('strict: missing and unexpected keys are named and nothing is copied', () => {
    const m = new nn.Linear(2, 2);
    const before = m.weight.dataSync();
    let err: Error | undefined;
    try {
      m.loadStateDict({ weight: tj.zeros([2, 2]), 'extra.weight': tj.zeros([1]) });
    } catch (e) {
      err = e as Error;
    }
    expect(err!.message).toMatch(/Error\(s\) in loading state_dict for Linear/);
    expect(err!.message).toMatch(/Missing key\(s\) in state_dict: "bias"\./);
    expect(err!.message).toMatch(/Unexpected key\(s\) in state_dict: "extra.weight"\./);
    expect(m.weight.dataSync()).toEqual(before);
  });

  test('non-strict loads what matches and reports the rest', () => {
    const m = new nn.Linear(2, 2);
    const r = m.loadStateDict({ weight: tj.ones([2, 2]), other: tj.zeros([1]) }, { strict: false });
    expect(r).toEqual({ missingKeys: ['bias'], unexpectedKeys: ['other'] });
    expect(m.weight.toArray()).toEqual([[1, 1], [1, 1]]);
  });

  test('shape mismatch is an error even when not strict', () => {
    const m = new nn.Linear(2, 3);
    expect(() => m.loadStateDict({ weight: tj.zeros([2, 2]), bias: tj.zeros([3]) }, { strict: false })).toThrow(
      /size mismatch for weight: copying a param with shape \[2, 2\] from checkpoint, the shape in current model is \[3, 2\]/);
    expect(() => m.loadStateDict({ weight: 3 as unknown as tj.Tensor, bias: tj.zeros([3]) })).toThrow(/value for "weight" is not a Tensor/);
    expect(() => m.loadStateDict(null as unknown as Record<string, tj.Tensor>)).toThrow(TypeError);
  });

  test('loads into strided parameters and from strided sources', () => {
    const m = new nn.Linear(2, 3, { bias: false });
    const src = tj.tensor([[1, 2, 3], [4, 5, 6]]).transpose(0, 1);
    m.loadStateDict({ weight: src });
    expect(m.weight.toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
  });

  test('converts dtypes like copy_ (int32 checkpoint into float32 parameters)', () => {
    const m = new nn.Linear(2, 1, { bias: false });
    m.loadStateDict({ weight: tj.tensor(new Int32Array([3, -4]), { shape: [1, 2] }) });
    expect(m.weight.dtype).toBe('float32');
    expect(m.weight.toArray()).toEqual([[3, -4]]);
  });

  test('round trip through a safetensors file into a freshly initialised model', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tj-nn-')), 'net.safetensors');
    tj.manualSeed(3);
    const a = new Net();
    tj.io.saveSafetensors(file, a.stateDict(), { format: 'pt' });
    tj.manualSeed(4);
    const b = new Net();
    b.loadStateDict(tj.io.loadSafetensors(file).tensors);
    for (const [k, t] of Object.entries(a.stateDict())) expect(b.stateDict()[k].dataSync(), k).toEqual(t.dataSync());
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});

describe('modes, init, compile', () => {
  test('train()/eval() set training recursively and return the module', () => {
    const net = new Net();
    expect(net.modules().every((m) => m.training)).toBe(true);
    expect(net.eval()).toBe(net);
    expect(net.modules().every((m) => !m.training)).toBe(true);
    net.layers[0].train();
    expect(net.layers[0].mlp.get(1).training).toBe(true);
    expect(net.training).toBe(false);
    net.train(true);
    expect(net.modules().every((m) => m.training)).toBe(true);
    expect(() => net.train('yes' as unknown as boolean)).toThrow(TypeError);
  });

  test('Dropout in eval mode returns its input unchanged', () => {
    const d = new nn.Dropout(0.5).eval();
    const x = tj.ones([4]);
    expect(d.forward(x)).toBe(x);
    expect(nn.functional.dropout(x, 0.3, false)).toBe(x);
  });

  test('initialisation: reproducible under manualSeed, within torch bounds', () => {
    tj.manualSeed(7);
    const a = new nn.Linear(20, 30);
    tj.manualSeed(7);
    const b = new nn.Linear(20, 30);
    expect(a.weight.dataSync()).toEqual(b.weight.dataSync());
    expect(a.bias!.dataSync()).toEqual(b.bias!.dataSync());
    const w = Array.from(a.weight.dataSync() as Float32Array);
    const bound = 1 / Math.sqrt(20);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(bound * 0.9);
    expect(Math.abs(w.reduce((s, v) => s + v, 0) / w.length)).toBeLessThan(0.02);
    const conv = new nn.Conv2d(4, 6, [3, 2], { groups: 2 });
    expect(conv.weight.shape).toEqual([6, 2, 3, 2]);
    const cbound = 1 / Math.sqrt(2 * 3 * 2);
    expect(Math.max(...Array.from(conv.weight.dataSync() as Float32Array, Math.abs))).toBeLessThanOrEqual(cbound);
    const ln = new nn.LayerNorm([2, 3]);
    expect(ln.weight!.toArray()).toEqual([[1, 1, 1], [1, 1, 1]]);
    expect(ln.bias!.toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    const emb = new nn.Embedding(5, 3, { paddingIdx: -1 });
    expect(emb.paddingIdx).toBe(4);
    expect((emb.weight.toArray() as number[][])[4]).toEqual([0, 0, 0]);
    const mha = new nn.MultiheadAttention(8, 2);
    const xb = Math.sqrt(6 / 32);
    expect(Math.max(...Array.from(mha.in_proj_weight!.dataSync() as Float32Array, Math.abs))).toBeLessThanOrEqual(xb);
  });

  test('compile() uses the compiler hook and replaces forward in place', () => {
    const saved = nn.moduleHooks.compile;
    try {
      nn.moduleHooks.compile = null;
      expect(() => new nn.ReLU().compile()).toThrow(/ReLU.compile: the compiler is not available/);
      const calls: unknown[] = [];
      nn.moduleHooks.compile = (m, opts) => {
        calls.push(opts);
        const original = m.forward.bind(m);
        return { forward: (...args: unknown[]) => ['compiled', original(...args)] };
      };
      class Echo extends nn.Module {
        override forward(x: unknown) {
          return x;
        }
      }
      const m = new Echo();
      expect(m.compile({ backend: 'eager' })).toBe(m);
      expect(calls).toEqual([{ backend: 'eager' }]);
      expect(m.forward(5)).toEqual(['compiled', 5]);
      expect(Object.keys(m.stateDict())).toEqual([]);
      expect(Object.keys(m)).not.toContain('forward');
    } finally {
      nn.moduleHooks.compile = saved;
    }
  });

  test('compile() with the real compiler: in place, same results, parameters shared, exportable', () => {
    tj.manualSeed(8);
    class Head extends nn.Module {
      fc = new nn.Linear(4, 3);
      override forward(x: tj.Tensor) {
        return tj.softmax(this.fc.forward(x), -1);
      }
    }
    const m = new Head();
    const x = tj.randn([2, 4]);
    const want = m.forward(x).dataSync();
    expect(m.compile({ backend: 'eager' })).toBe(m);
    expect(m.forward(x).dataSync()).toEqual(want);
    expect(Object.keys(m.stateDict())).toEqual(['fc.weight', 'fc.bias']);
    m.loadStateDict({ 'fc.weight': tj.zeros([3, 4]), 'fc.bias': tj.zeros([3]) });
    expect(Array.from(m.forward(x).dataSync() as Float32Array).every((v) => Math.abs(v - 1 / 3) < 1e-6)).toBe(true);
    const ep = tj.exportProgram(m, [x]);
    expect(Object.keys(ep.stateDict)).toEqual(['fc.weight', 'fc.bias']);
    expect(ep.run(x).dataSync()).toEqual(m.forward(x).dataSync());
  });

  test('toString shows the structure', () => {
    const s = String(new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU()));
    expect(s).toBe('Sequential(\n  (0): Linear(inFeatures=2, outFeatures=3, bias=true)\n  (1): ReLU()\n)');
  });
});

describe('BAD CALL', () => {
  test('layer constructors name the bad argument', () => {
    expect(() => new nn.Linear(-1, 2)).toThrow(RangeError);
    expect(() => new nn.Linear(-1, 2)).toThrow(/Linear: argument 'inFeatures'/);
    expect(() => new nn.Conv2d(3, 4, 3, { groups: 2 })).toThrow(/Conv2d: inChannels 3 must be divisible by groups 2/);
    expect(() => new nn.Conv2d(4, 4, 3, { stride: 2, padding: 'same' })).toThrow(/padding='same' is not supported for strided/);
    expect(() => new nn.Conv2d(4, 4, 'x' as unknown as number)).toThrow(TypeError);
    expect(() => new nn.MultiheadAttention(10, 3)).toThrow(/embedDim 10 must be divisible by numHeads 3/);
    expect(() => new nn.Dropout(1.5)).toThrow(/probability has to be between 0 and 1/);
    expect(() => new nn.Embedding(4, 2, { paddingIdx: 4 })).toThrow(RangeError);
    expect(() => new nn.GELU('fast' as 'tanh')).toThrow(/GELU: approximate/);
    expect(() => new nn.Sequential(3 as unknown as tj.nn.Module)).toThrow(/Sequential: item 0 must be a Module/);
  });

  test('registerBuffer checks its arguments; forward of the base class is not implemented', () => {
    const m = new nn.Module();
    expect(() => m.registerBuffer('a.b', tj.zeros([1]))).toThrow(TypeError);
    expect(() => m.registerBuffer('a', [1] as unknown as tj.Tensor)).toThrow(/buffer 'a' must be a Tensor or null/);
    expect(() => m.forward()).toThrow(/Module: forward\(\) is not implemented/);
  });
});
