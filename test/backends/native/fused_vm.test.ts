import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { native, kernelId } from '../../../lib/native';
import { Tensor, packTensors } from '../../../lib/tensor';
import { expectClose, makeTensor, randomValues, refMap, toRef, LAYOUTS } from '../../helpers/reference';

// Opcodes of native/kernels/fused/vm_ops.h
const OP = { Load: 0, Const: 1, Store: 2, Neg: 10, Abs: 11, Exp: 12, Tanh: 18, Sigmoid: 19, Relu: 20, Add: 40, Sub: 41, Mul: 42, Div: 43, Maximum: 45, Gt: 64, Clamp: 80, Where: 81 };

function runVm(inputs: Tensor[], outShape: number[], numRegs: number, code: number[][], numOutputs = 1): Tensor[] {
  const outs = Array.from({ length: numOutputs }, () => Tensor.empty(outShape, 'float32'));
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

  test('malformed programs are errors, not crashes', () => {
    const x = tj.ones([4]);
    expect(() => runVm([x], [4], 2, [[OP.Load, 5, 0]])).toThrow(/bad register/);
    expect(() => runVm([x], [4], 2, [[OP.Load, 0, 3]])).toThrow(/bad input index/);
    expect(() => runVm([x], [4], 2, [[999, 0, 0]])).toThrow(/unknown opcode/);
    expect(() => runVm([x], [4], 64, [])).toThrow(/register count/);
    expect(() => runVm([tj.ones([5])], [4], 1, [[OP.Load, 0, 0]])).toThrow(/does not broadcast/);
  });
});
