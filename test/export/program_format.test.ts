/**
 * The saved program format, on graphs built by hand with the fx API (independent of the
 * tracer): save -> load (same and fresh process), the JSON shape, and malformed programs.
 */
import { afterAll, describe, expect, test } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tj from '../../lib/index';
import { Graph, GraphModule, flatten, getitem } from '../../lib/fx/index';
import { ExportedProgram, PROGRAM_FORMAT, ProgramSignature } from '../../lib/export/index';
import { runInFreshProcess } from './fresh_process';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tj-program-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** probs = softmax(linear(x, fc.weight, fc.bias), -1); parts = split(probs, [1, 3], 1); {probs, first: parts[0], total: sum(probs, 0), tag: 'v1'} */
function handBuilt(): ExportedProgram {
  tj.manualSeed(11);
  const weight = tj.randn([4, 3]), bias = tj.randn([4]);
  const g = new Graph();
  const x = g.placeholder('x', { shape: [2, 3], dtype: 'float32' });
  const w = g.getAttr('fc.weight', { shape: [4, 3], dtype: 'float32' }, 'fc_weight');
  const b = g.getAttr('fc.bias', { shape: [4], dtype: 'float32' }, 'fc_bias');
  const lin = g.callFunction(tj.linear, [x, w, b], { shape: [2, 4], dtype: 'float32' });
  const probs = g.callFunction(tj.softmax, [lin, -1], { shape: [2, 4], dtype: 'float32' });
  const parts = g.callFunction(tj.split, [probs, [1, 3], 1], { shape: [2, 1], dtype: 'float32', items: [{ shape: [2, 1], dtype: 'float32' }, { shape: [2, 3], dtype: 'float32' }] });
  const first = g.callFunction(getitem, [parts, 0], { shape: [2, 1], dtype: 'float32' });
  const total = g.callFunction(tj.sum, [probs, [0], false], { shape: [4], dtype: 'float32' });
  const scaled = g.callFunction(tj.layerNorm, [total, [4], null, null, 1e-5], { shape: [4], dtype: 'float32' });
  g.output([probs, first, scaled]);
  const gm = new GraphModule(g, { 'fc.weight': weight, 'fc.bias': bias });
  const example = [tj.zeros([2, 3])];
  const outSpec = flatten({ probs: 0, first: 0, total: 0, tag: 'v1', extra: [NaN, -Infinity, null, undefined] });
  const signature: ProgramSignature = {
    inputSpec: flatten(example).spec,
    inputLeaves: [{ kind: 'tensor', placeholder: 'x' }],
    outputSpec: outSpec.spec,
    outputLeaves: [
      { kind: 'graph', index: 0 }, { kind: 'graph', index: 1 }, { kind: 'graph', index: 2 },
      { kind: 'value', value: 'v1' }, { kind: 'value', value: NaN }, { kind: 'value', value: -Infinity },
      { kind: 'value', value: null }, { kind: 'value', value: undefined },
    ],
    copyBacks: [],
    dynamicDims: [],
  };
  return new ExportedProgram(gm, { 'fc.weight': weight, 'fc.bias': bias }, signature);
}

function expectSameOutputs(a: any, b: any): void {
  for (const k of ['probs', 'first', 'total']) {
    expect(b[k].shape, k).toEqual(a[k].shape);
    expect(b[k].dataSync(), k).toEqual(a[k].dataSync());
  }
}

describe('saved programs', () => {
  test('one safetensors file at exactly the path: weights as tensors, program JSON in __metadata__', async () => {
    const ep = handBuilt();
    const file = path.join(dir, 'model.bin');
    await ep.save(file);
    expect(fs.readdirSync(dir)).toContain('model.bin');
    const { tensors, metadata } = tj.io.loadSafetensors(file);
    expect(Object.keys(tensors)).toEqual(['fc.weight', 'fc.bias']);
    expect(Object.keys(metadata)).toEqual(['tensorjit.program']);
    const program = JSON.parse(metadata['tensorjit.program']);
    expect(program.format).toBe('tensorjit.program/1');
    expect(PROGRAM_FORMAT).toBe('tensorjit.program/1');
    expect(program.constants).toEqual(['fc.weight', 'fc.bias']);
    const byName = Object.fromEntries(program.graph.nodes.map((n: { name: string }) => [n.name, n]));
    expect(byName.linear).toEqual({
      name: 'linear', op: 'call_function', target: { op: 'linear' },
      args: [{ $node: 'x' }, { $node: 'fc_weight' }, { $node: 'fc_bias' }], kwargs: { $obj: {} }, meta: { shape: [2, 4], dtype: 'float32' },
    });
    expect(byName.fc_weight).toMatchObject({ op: 'get_attr', target: 'fc.weight' });
    expect(byName.getitem.target).toEqual({ builtin: 'getitem' });
    expect(byName.layerNorm.args).toEqual([{ $node: 'sum' }, [4], null, null, 1e-5]);
    expect(program.graph.nodes.at(-1)).toMatchObject({ op: 'output', args: [[{ $node: 'softmax' }, { $node: 'getitem' }, { $node: 'layerNorm' }]] });
    expect(typeof program.code).toBe('string');
    expect(program.code).toContain('ops.linear(x, fc_weight, fc_bias)');
  });

  test('load gives the same outputs, output structure and state dict (native and eager)', async () => {
    const ep = handBuilt();
    const file = path.join(dir, 'same.safetensors');
    await ep.save(file);
    const x = tj.tensor([[1, 2, 3], [-1, 0.5, 2]]);
    const want = ep.run(x);
    expect(want.tag).toBe('v1');
    for (const backend of ['native', 'eager'] as const) {
      const loaded = await tj.loadProgram(file, { backend });
      const got = loaded.run(x);
      expectSameOutputs(want, got);
      expect(got.tag).toBe('v1');
      expect(got.extra[0]).toBeNaN();
      expect(got.extra.slice(1)).toEqual([-Infinity, null, undefined]);
      expect(Object.keys(loaded.stateDict)).toEqual(['fc.weight', 'fc.bias']);
      expect(loaded.stateDict['fc.weight'].dataSync()).toEqual(ep.stateDict['fc.weight'].dataSync());
      expectSameOutputs(want, loaded.module().forward(x));
      expect(loaded.graphModule.code).toBe(ep.graphModule.code);
    }
  });

  test('a fresh process with only the library reproduces the outputs', async () => {
    const ep = handBuilt();
    const file = path.join(dir, 'fresh.safetensors');
    await ep.save(file);
    const x = tj.tensor([[0.25, -2, 3], [1, 1, 1]]);
    const want = ep.run(x);
    const { outputs, structure } = runInFreshProcess(file, [x]);
    expect(structure).toMatchObject({ probs: 'tensor', first: 'tensor', total: 'tensor', tag: 'v1' });
    expect(outputs.map((t) => t.dataSync())).toEqual([want.probs.dataSync(), want.first.dataSync(), want.total.dataSync()]);
  });

  test('run checks arguments against the export', () => {
    const ep = handBuilt();
    expect(() => ep.run(tj.zeros([3, 3]))).toThrow(/dim 0 was exported as static size 2/);
    expect(() => ep.run(tj.zeros([2, 3], { dtype: 'int32' }))).toThrow(/args\[0\] is \[2, 3\] int32, but the program expects \[2, 3\] float32/);
    expect(() => ep.run(tj.zeros([2, 3]), 1)).toThrow(/structured as/);
    expect(() => ep.run([tj.zeros([2, 3])])).toThrow(TypeError);
  });
});

describe('malformed programs are clear errors', () => {
  async function saveWith(mutate: (program: any) => void, name: string): Promise<string> {
    const ep = handBuilt();
    const file = path.join(dir, name);
    await ep.save(file);
    const { tensors, metadata } = tj.io.loadSafetensors(file);
    const program = JSON.parse(metadata['tensorjit.program']);
    mutate(program);
    tj.io.saveSafetensors(file, tensors, { 'tensorjit.program': JSON.stringify(program) });
    return file;
  }

  test('unknown format version', async () => {
    const file = await saveWith((p) => (p.format = 'tensorjit.program/2'), 'v2.safetensors');
    await expect(tj.loadProgram(file)).rejects.toThrow(
      'loadProgram: unknown program format "tensorjit.program/2" (this version of tensorjit reads "tensorjit.program/1")');
    const none = await saveWith((p) => delete p.format, 'none.safetensors');
    await expect(tj.loadProgram(none)).rejects.toThrow(/unknown program format undefined/);
  });

  test('unregistered ops, dangling references, missing constants, bad meta', async () => {
    const cases: [(p: any) => void, RegExp][] = [
      [(p) => (p.graph.nodes[3].target = { op: 'frobnicate' }), /calls the op 'frobnicate', which is not registered/],
      [(p) => (p.graph.nodes[3].args[0] = { $node: 'nowhere' }), /refers to 'nowhere', which is not defined before it/],
      [(p) => (p.constants = ['fc.weight', 'fc.missing']), /the constant 'fc.missing' is not among the file's tensors/],
      [(p) => (p.graph.nodes[1].meta.shape = [3, 4]), /constant 'fc.weight' is \[4, 3\] float32 in the file but \[3, 4\] float32 in the graph/],
      [(p) => (p.graph.nodes[3].meta.dtype = 'float64'), /meta.dtype "float64" is not a dtype/],
      [(p) => (p.graph.nodes[3].name = 'x'), /the name 'x' is used twice/],
      [(p) => (p.graph.nodes[3].name = 'a b'), /is not a valid identifier/],
      [(p) => p.graph.nodes.pop(), /the graph has no output node/],
      [(p) => (p.graph.nodes[0].op = 'call_method'), /unknown node kind "call_method"/],
      [(p) => (p.graph.nodes[3].target = { builtin: 'eval' }), /unknown target/],
      [(p) => (p.inputs.leaves = []), /inputs.spec and inputs.leaves disagree/],
      [(p) => (p.graph.nodes[4].args[1] = { $num: 'lots' }), /bad number "lots"/],
    ];
    let i = 0;
    for (const [mutate, message] of cases) {
      const file = await saveWith(mutate, `bad${i++}.safetensors`);
      await expect(tj.loadProgram(file), String(message)).rejects.toThrow(message);
    }
  });

  test('a plain weights file and malformed JSON', async () => {
    const plain = path.join(dir, 'plain.safetensors');
    tj.io.saveSafetensors(plain, { w: tj.ones([1]) });
    await expect(tj.loadProgram(plain)).rejects.toThrow(/holds no program .* a plain weights file loads with tj.io.loadSafetensors/);
    const broken = path.join(dir, 'broken.safetensors');
    tj.io.saveSafetensors(broken, { w: tj.ones([1]) }, { 'tensorjit.program': '{"format":' });
    await expect(tj.loadProgram(broken)).rejects.toThrow(/the program JSON in .* is malformed/);
    await expect(tj.loadProgram(plain, { backend: 'gpu' as 'eager' })).rejects.toThrow(TypeError);
  });

  test('functions put in the graph with allowInGraph cannot be saved', async () => {
    const g = new Graph();
    const x = g.placeholder('x', { shape: [2], dtype: 'float32' });
    const myFn = (t: tj.Tensor) => t;
    const y = g.callFunction(myFn, [x], { shape: [2], dtype: 'float32' });
    g.output([y]);
    const ep = new ExportedProgram(new GraphModule(g, {}), {}, {
      inputSpec: flatten([0]).spec, inputLeaves: [{ kind: 'tensor', placeholder: 'x' }],
      outputSpec: flatten(0).spec, outputLeaves: [{ kind: 'graph', index: 0 }], copyBacks: [], dynamicDims: [],
    });
    await expect(ep.save(path.join(dir, 'fn.safetensors'))).rejects.toThrow(/node 'myFn' calls the function 'myFn' \(allowInGraph\), which a saved program cannot hold/);
    expect(fs.existsSync(path.join(dir, 'fn.safetensors'))).toBe(false);
  });
});
