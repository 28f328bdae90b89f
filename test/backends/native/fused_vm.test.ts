import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { native, kernelId } from '../../../lib/native';
import { Tensor, packTensors } from '../../../lib/tensor';
import { expectClose, makeTensor, randomValues, refMap, toRef, LAYOUTS } from '../../helpers/reference';

// Opcodes of native/kernels/fused/vm_ops.h
const OP = { Load: 0, Const: 1, Store: 2, Neg: 10, Abs: 11, Exp: 12, Tanh: 18, Sigmoid: 19, Relu: 20, Add: 40, Sub: 41, Mul: 42, Div: 43, Maximum: 45, Minimum: 46, Gt: 64, Clamp: 80, Where: 81 };

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

  // Cheap ops (add, sub, mul, maximum, minimum, neg, abs, relu) that read the value the op
  // before them wrote, and nothing else reads, run as steps of that op's pass, in
  // registers. Every step form: the running value on the left, on the right, or both
  // sides; the other operand a constant or a block. Exact against float32 arithmetic.
  const f = Math.fround;
  const maxRef = (a: number, b: number) => (Number.isNaN(a) ? a : a > b ? a : b);
  const minRef = (a: number, b: number) => (Number.isNaN(a) ? a : a < b ? a : b);
  const chainSteps: [number[][], (v: number, x: number, z: number) => number][] = [
    [[[OP.Const, 2, 0.5], [OP.Add, 3, 3, 2]], (v) => f(v + 0.5)],
    [[[OP.Const, 2, 3], [OP.Sub, 3, 2, 3]], (v) => f(3 - v)],
    [[[OP.Relu, 3, 3]], (v) => (0 > v ? 0 : v)],
    [[[OP.Mul, 3, 3, 3]], (v) => f(v * v)],
    [[[OP.Sub, 3, 3, 0]], (v, x) => f(v - x)],
    [[[OP.Sub, 3, 1, 3]], (v, _x, z) => f(z - v)],
    [[[OP.Maximum, 3, 3, 1]], (v, _x, z) => maxRef(v, z)],
    [[[OP.Maximum, 3, 0, 3]], (v, x) => maxRef(x, v)],
    [[[OP.Const, 2, -0.25], [OP.Minimum, 3, 3, 2]], (v) => minRef(v, -0.25)],
    [[[OP.Minimum, 3, 1, 3]], (v, _x, z) => minRef(z, v)],
    [[[OP.Neg, 3, 3]], (v) => -v],
    [[[OP.Add, 3, 3, 3]], (v) => f(v + v)],
    [[[OP.Abs, 3, 3]], (v) => Math.abs(v)],
    [[[OP.Maximum, 3, 3, 3]], (v) => v],
    [[[OP.Sub, 3, 3, 3]], (v) => f(v - v)],
    [[[OP.Const, 2, 2], [OP.Mul, 3, 2, 3]], (v) => f(2 * v)],
    [[[OP.Minimum, 3, 3, 3]], (v) => v],
  ];
  const chainProgram = [[OP.Load, 0, 0], [OP.Load, 1, 1], [OP.Const, 2, 1.5], [OP.Mul, 3, 0, 2], ...chainSteps.flatMap(([code]) => code), [OP.Store, 3, 0]];
  const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -3e38, 3e38];
  const chainInputs = (n: number, seed: number) => {
    const values = (s: number) => Float32Array.from(randomValues(n, s), (v, i) => (i % 97 < specials.length ? specials[i % 97] : 3 * v));
    return [values(seed), values(seed + 1).reverse()];
  };
  const expectChain = (x: Float32Array, z: Float32Array, y: Float32Array) => {
    for (let i = 0; i < x.length; i++) {
      let v = f(x[i] * 1.5);
      for (const [, step] of chainSteps) v = step(v, x[i], z[i]);
      if (!Object.is(y[i], v)) expect.fail(`element ${i} (x = ${x[i]}, z = ${z[i]}): got ${y[i]}, want ${v}`);
    }
  };

  test.each([[1], [15], [17], [127], [129], [4096 + 37], [(1 << 22) + 5]])('a chain of every step form is exact, %i elements', (n) => {
    const [xv, zv] = chainInputs(n, 20);
    const x = tj.tensor(xv, { shape: [n] });
    const z = tj.tensor(zv, { shape: [n] });
    const [y] = runVm([x, z], [n], 4, chainProgram);
    expectChain(xv, zv, y.dataSync() as Float32Array);
  });

  test('a chain into a streamed output that starts mid-vector, and in place over an input', () => {
    const n = (1 << 22) + 3;
    const [xv, zv] = chainInputs(n, 22);
    const backing = Tensor.empty([n + 7], 'float32');
    const out = backing.narrow(0, 7, n);
    runVm([tj.tensor(xv, { shape: [n] }), tj.tensor(zv, { shape: [n] })], [n], 4, chainProgram, 1, [out]);
    expectChain(xv, zv, out.dataSync() as Float32Array);
    const small = 3000;
    const [xs, zs] = chainInputs(small, 23);
    const z = tj.tensor(zs, { shape: [small] });
    runVm([tj.tensor(xs, { shape: [small] }), z], [small], 4, chainProgram, 1, [z]);
    expectChain(xs, zs, z.dataSync() as Float32Array);
  });

  test('a value read again later is not chained away; steps after a long op', () => {
    const n = 3000;
    const xv = Float32Array.from(randomValues(n, 24), (v) => 3 * v);
    const x = tj.tensor(xv, { shape: [n] });
    // r1 = sigmoid(x); r2 = r1 * 2 (a step); r3 = r2 - x (a step); r1 is read again by the last op
    const [y, w] = runVm([x], [n], 5, [
      [OP.Load, 0, 0], [OP.Sigmoid, 1, 0], [OP.Const, 4, 2], [OP.Mul, 2, 1, 4], [OP.Sub, 3, 2, 0], [OP.Abs, 3, 3],
      [OP.Store, 3, 0], [OP.Neg, 4, 3], [OP.Mul, 4, 4, 1], [OP.Store, 4, 1],
    ], 2);
    const s = tj.sigmoid(x).dataSync() as Float32Array;
    const yv = y.dataSync() as Float32Array, wv = w.dataSync() as Float32Array;
    for (let i = 0; i < n; i++) {
      const r3 = Math.abs(f(f(s[i] * 2) - xv[i]));
      if (!Object.is(yv[i], r3) || !Object.is(wv[i], f(-r3 * s[i]))) expect.fail(`x = ${xv[i]}: got ${yv[i]}, ${wv[i]}; want ${r3}, ${f(-r3 * s[i])}`);
    }
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
