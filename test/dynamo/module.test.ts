/** compile(module), module.compile(), train()/eval() and parameter guards, dotted constant names. */
import { describe, expect, test } from 'vitest';
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
    const before = net.block.calls;
    compiled.forward(x);
    expect(net.block.calls).toBe(before);
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
    check(); // training
    net.eval();
    check();
    net.train();
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

describe('module.compile()', () => {
  test('compiles in place and returns the module', () => {
    const net = new Net().eval();
    const x = rand([2, 4], 5);
    const ref = net.forward(x);
    const cnt = new CompileCounterWithBackend('eager');
    expect(net.compile({ backend: cnt })).toBe(net);
    expectClose(net.forward(x), toRef(ref));
    expectClose(net.forward(x), toRef(ref));
    expect(cnt.frameCount).toBe(1);
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
