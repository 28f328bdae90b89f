/**
 * Matrix products over the native GEMM (native/kernels/gemm): matmul, bmm, linear.
 * float32 only (integer matmul is a TypeError naming the dtypes).
 */
import { Tensor, describeTensor } from '../tensor';
import { defineOp, KernelCall } from './registry';
import { expectTensor } from './checks';

function expectFloat32Operands(op: string, names: string[], ts: Tensor[]): void {
  if (ts.every((t) => t.dtype === 'float32')) return;
  const what = ts.map((t, i) => `${names[i]} ${describeTensor(t)}`).join(', ');
  throw new TypeError(`${op}: expected float32 operands, got ${what}`);
}

function shapesOf(a: Tensor, b: Tensor): string {
  return `[${a.shape.join(', ')}] and [${b.shape.join(', ')}]`;
}

/** torch.matmul's result shape (1-D operands promoted, then their dim dropped; batch dims broadcast). */
export function matmulShape(op: string, a: Tensor, b: Tensor): number[] {
  if (a.ndim === 0 || b.ndim === 0)
    throw new RangeError(`${op}: both arguments need at least 1 dim, got shapes ${shapesOf(a, b)}`);
  const K = a.shape[a.ndim - 1];
  const Kb = b.ndim >= 2 ? b.shape[b.ndim - 2] : b.shape[0];
  if (K !== Kb) throw new RangeError(`${op}: shapes ${shapesOf(a, b)} cannot be multiplied (${K} vs ${Kb})`);
  const ab = a.shape.slice(0, Math.max(0, a.ndim - 2)), bb = b.shape.slice(0, Math.max(0, b.ndim - 2));
  const n = Math.max(ab.length, bb.length);
  const batch: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = ab[ab.length - n + i] ?? 1, db = bb[bb.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new RangeError(`${op}: batch dims of shapes ${shapesOf(a, b)} are not broadcastable (${da} vs ${db})`);
    batch.push(da === 1 ? db : da);
  }
  if (a.ndim >= 2) batch.push(a.shape[a.ndim - 2]);
  if (b.ndim >= 2) batch.push(b.shape[b.ndim - 1]);
  return batch;
}

/**
 * Matrix product with torch.matmul semantics: 1-D·1-D gives a 0-d dot product, a 1-D
 * operand is promoted and its dim removed from the result, batch dims broadcast.
 * @example tj.matmul(tj.ones([2, 3]), tj.ones([3])) // shape [2], values [3, 3]
 */
export const matmul = defineOp({
  name: 'matmul',
  method: true,
  traits: ['gemm'],
  kernels: ['matmul'],
  kernel: (input: Tensor, other: Tensor): KernelCall => {
    expectTensor('matmul', 'input', input);
    expectTensor('matmul', 'other', other);
    expectFloat32Operands('matmul', ['input', 'other'], [input, other]);
    const shape = matmulShape('matmul', input, other);
    return { kernel: 'matmul', inputs: [input, other], attrs: [], outputs: [{ shape, dtype: 'float32' }] };
  },
});

/**
 * Batched matrix product of two 3-D tensors [B, M, K] x [B, K, N] -> [B, M, N] (no broadcasting).
 * @example tj.bmm(tj.ones([2, 3, 4]), tj.ones([2, 4, 5])).shape // [2, 3, 5]
 */
export const bmm = defineOp({
  name: 'bmm',
  method: true,
  traits: ['gemm'],
  kernels: ['matmul'],
  kernel: (input: Tensor, mat2: Tensor): KernelCall => {
    expectTensor('bmm', 'input', input);
    expectTensor('bmm', 'mat2', mat2);
    if (input.ndim !== 3 || mat2.ndim !== 3)
      throw new RangeError(`bmm: expected 3-D tensors, got shapes ${shapesOf(input, mat2)}`);
    expectFloat32Operands('bmm', ['input', 'mat2'], [input, mat2]);
    if (input.shape[0] !== mat2.shape[0])
      throw new RangeError(`bmm: batch sizes of shapes ${shapesOf(input, mat2)} differ`);
    const shape = matmulShape('bmm', input, mat2);
    return { kernel: 'matmul', inputs: [input, mat2], attrs: [], outputs: [{ shape, dtype: 'float32' }] };
  },
});

/**
 * `x @ weight^T + bias` (F.linear): weight is [out, in], x is [..., in], bias [out].
 * @example tj.linear(tj.ones([4, 3]), tj.ones([2, 3]), tj.zeros([2])).shape // [4, 2]
 */
export const linear = defineOp({
  name: 'linear',
  traits: ['gemm'],
  kernels: ['linear'],
  kernel: (input: Tensor, weight: Tensor, bias?: Tensor | null): KernelCall => {
    expectTensor('linear', 'input', input);
    expectTensor('linear', 'weight', weight);
    const hasBias = bias !== undefined && bias !== null;
    if (hasBias) expectTensor('linear', 'bias', bias);
    const operands = hasBias ? [input, weight, bias] : [input, weight];
    expectFloat32Operands('linear', ['input', 'weight', 'bias'], operands);
    if (weight.ndim !== 2)
      throw new RangeError(`linear: argument 'weight' must be 2-D [out, in], got [${weight.shape.join(', ')}]`);
    if (input.ndim === 0 || input.shape[input.ndim - 1] !== weight.shape[1])
      throw new RangeError(
        `linear: input [${input.shape.join(', ')}] and weight [${weight.shape.join(', ')}] do not match ` +
          `(input's last dim must equal weight.shape[1])`,
      );
    const out = weight.shape[0];
    if (hasBias && (bias.ndim !== 1 || bias.shape[0] !== out))
      throw new RangeError(`linear: argument 'bias' must be [${out}] for weight [${weight.shape.join(', ')}], got [${bias.shape.join(', ')}]`);
    return {
      kernel: 'linear',
      inputs: operands,
      attrs: [hasBias ? 1 : 0],
      outputs: [{ shape: [...input.shape.slice(0, -1), out], dtype: 'float32' }],
    };
  },
});
