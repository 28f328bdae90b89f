import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { native, kernelId } from '../../../lib/native';
import { Tensor, packTensors } from '../../../lib/tensor';
import { expectClose, makeTensor, randomValues, refMap, toRef, LAYOUTS } from '../../helpers/reference';

// Opcodes of native/kernels/fused/vm_ops.h
const OP = { Load: 0, Const: 1, Store: 2, Neg: 10, Abs: 11, Exp: 12, Tanh: 18, Sigmoid: 19, Relu: 20, Add: 40, Sub: 41, Mul: 42, Div: 43, Maximum: 45, Gt: 64, Clamp: 80, Where: 81 };

function runVm(inputs: Tensor[], outShape: number[], numRegs: number, code: number[][], numOutputs = 1, given?: Tensor[]): Tensor[] {
  const outs = given ?? Array.from({ length: numOutputs }, () => Tensor.empty(outShape, 'float32'));
  const { buffers, meta } = packTensors([...inputs, ...outs]);
  const attrs = [numRegs, code.length, ...code.flatMap((c) => [...c, 0, 0, 0, 0].slice(0, 5))];
  native.exec(kernelId('fused_pointwise'), buffers, meta, inputs.length, Float64Array.from(attrs));
  return outs;
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

describe('fused pointwise VM', () => {
  for (const layout of LAYOUTS) {
    test.each([[7], [33], [4, 1023], [3, 2, 5]])(`tanh(sigmoid(x*1.5+0.5)*b) with broadcast b, ${layout} x %j`, (...shape) => {
      const n = shape.reduce((a, c) => a * c, 1);
      const x = makeTensor(randomValues(n, 3), shape, 'float32', layout);
      const b = makeTensor(randomValues(shape[shape.length - 1], 4), [shape[shape.length - 1]]);
      const [y] = runVm([x, b], shape, 4, [
        [OP.Load, 0, 0], [OP.Const, 1, 1.5], [OP.Mul, 2, 0, 1], [OP.Const, 1, 0.5], [OP.Add, 2, 2, 1],
        [OP.Sigmoid, 2, 2], [OP.Load, 3, 1], [OP.Mul, 2, 2, 3], [OP.Tanh, 2, 2], [OP.Store, 2, 0],
      ]);
      const expected = refMap([toRef(x), toRef(b)], (xv, bv) => Math.tanh(sigmoid(Math.fround(Math.fround(xv * 1.5) + 0.5)) * bv));
      expectClose(y, expected, { rtol: 1e-5, atol: 1e-6 });
    });
  }

  test('where over a bool mask, clamp with NaN, two outputs', () => {
    const x = tj.tensor([-2, -0.5, NaN, 0.25, 3, Infinity]);
    const mask = tj.tensor([true, false, true, false, true, false]);
    const [a, b] = runVm([x, mask], [6], 5, [
      [OP.Load, 0, 0], [OP.Load, 1, 1], [OP.Const, 2, -1], [OP.Const, 3, 1], [OP.Clamp, 4, 0, 2, 3],
      [OP.Neg, 2, 0], [OP.Where, 3, 1, 4, 2], [OP.Store, 3, 0], [OP.Relu, 4, 0], [OP.Store, 4, 1],
    ], 2);
    expect(Array.from(a.dataSync() as Float32Array)).toEqual([-1, 0.5, NaN, -0.25, 1, -Infinity]);
    expect(Array.from(b.dataSync() as Float32Array)).toEqual([0, 0, NaN, 0.25, 3, Infinity]);
  });

  test('a large tensor runs on the pool and matches', () => {
    const n = 1 << 20;
    const x = tj.tensor(Float32Array.from(randomValues(n, 5)), { shape: [n] });
    const [y] = runVm([x], [n], 2, [[OP.Load, 0, 0], [OP.Exp, 1, 0], [OP.Add, 1, 1, 0], [OP.Store, 1, 0]]);
    const expected = refMap([toRef(x)], (v) => Math.exp(v) + v);
    expectClose(y, expected, { rtol: 2e-6, atol: 1e-6 });
  });

  // Constants read by binary ops run as broadcast registers, and an op whose result is only
  // stored writes the output itself (streamed for outputs of 16 MiB and more); the bits
  // must not change.
  const constantsAndStores = [
    [OP.Load, 0, 0], [OP.Const, 1, 2], [OP.Sub, 2, 1, 0], [OP.Div, 3, 2, 1], [OP.Gt, 4, 0, 1],
    [OP.Where, 2, 4, 3, 1], [OP.Const, 1, -3], [OP.Mul, 3, 2, 1], [OP.Store, 3, 0], [OP.Store, 2, 1],
  ];
  const expectConstantsAndStores = (x: Float32Array, y0: Float32Array, y1: Float32Array) => {
    const f = Math.fround;
    for (let i = 0; i < x.length; i++) {
      const w = x[i] > 2 ? f(f(2 - x[i]) / 2) : 2;
      if (!Object.is(y1[i], w) || !Object.is(y0[i], f(w * -3))) expect.fail(`x = ${x[i]}: got ${y0[i]}, ${y1[i]}; want ${f(w * -3)}, ${w}`);
    }
  };

  test.each([[1000], [1 << 22]])('constants on either side of binary ops, a constant also read whole, a fused store: exact, %i elements', (n) => {
    const x = tj.tensor(Float32Array.from(randomValues(n, 6), (v) => 4 * v), { shape: [n] });
    const [y0, y1] = runVm([x], [n], 5, constantsAndStores, 2);
    expectConstantsAndStores(x.dataSync() as Float32Array, y0.dataSync() as Float32Array, y1.dataSync() as Float32Array);
  });

  test('a fused store into a streamed output that starts mid-vector', () => {
    const n = (1 << 22) + 5;
    const x = tj.tensor(Float32Array.from(randomValues(n, 7), (v) => 4 * v), { shape: [n] });
    const backing = [Tensor.empty([n + 3], 'float32'), Tensor.empty([n + 1], 'float32')];
    const outs = [backing[0].narrow(0, 3, n), backing[1].narrow(0, 1, n)];
    runVm([x], [n], 5, constantsAndStores, 2, outs);
    expectConstantsAndStores(x.dataSync() as Float32Array, outs[0].dataSync() as Float32Array, outs[1].dataSync() as Float32Array);
  });

  test('an output that is also an input (in place) gives the same result', () => {
    const n = 5000;
    const values = Float32Array.from(randomValues(n, 8));
    const x = tj.tensor(values.slice(), { shape: [n] });
    runVm([x], [n], 3, [[OP.Load, 0, 0], [OP.Exp, 1, 0], [OP.Add, 2, 1, 0], [OP.Store, 2, 0]], 1, [x]);
    const expected = tj.add(tj.exp(tj.tensor(values, { shape: [n] })), tj.tensor(values, { shape: [n] }));
    expect(Array.from(x.dataSync() as Float32Array)).toEqual(Array.from(expected.dataSync() as Float32Array));
  });

  test('malformed programs are errors, not crashes', () => {
    const x = tj.ones([4]);
    expect(() => runVm([x], [4], 2, [[OP.Load, 5, 0]])).toThrow(/bad register/);
    expect(() => runVm([x], [4], 2, [[OP.Load, 0, 3]])).toThrow(/bad input index/);
    expect(() => runVm([x], [4], 2, [[999, 0, 0]])).toThrow(/unknown opcode/);
    expect(() => runVm([x], [4], 64, [])).toThrow(/register count/);
    expect(() => runVm([tj.ones([5])], [4], 1, [[OP.Load, 0, 0]])).toThrow(/does not broadcast/);
  });
});
