/**
 * Reductions (sum, mean, amax, amin, argmax) and softmax/logSoftmax. Kernels live in
 * native/kernels/reduce/.
 *
 * Reduction kernels take attrs `[keepdim (0/1), ...reduced dims]`: normalised,
 * ascending, no repeats; "all dims" is spelled out as every dim (an empty list on
 * a 0-d input reduces its one element). softmax/logSoftmax take attrs `[dim]`.
 */
import { DType } from '../dtype';
import { Tensor, describeTensor } from '../tensor';
import { defineOp, KernelCall } from './registry';
import { expectTensor, normalizeDim, typeName } from './checks';

/** A dim argument: one dim, a list of dims, or null/undefined for every dim. */
export type DimArg = number | number[] | null | undefined;

/** Normalised, sorted reduced dims; null, undefined and [] mean every dim (torch). */
function reducedDims(op: string, x: Tensor, dim: DimArg): number[] {
  const all = x.shape.map((_, i) => i);
  if (dim === null || dim === undefined) return all;
  const list = typeof dim === 'number' ? [dim] : dim;
  if (!Array.isArray(list))
    throw new TypeError(`${op}: argument 'dim' must be a number, an array of numbers or null, got ${typeName(dim)}`);
  if (list.length === 0) return all;
  const seen = new Set<number>();
  for (const d of list) {
    const n = normalizeDim(op, d, x.ndim);
    if (seen.has(n)) throw new RangeError(`${op}: dim ${n} appears multiple times in the list of dims [${list.join(', ')}]`);
    seen.add(n);
  }
  // a 0-d tensor accepts dim 0/-1 but has no dim to name in the kernel
  return x.ndim === 0 ? [] : [...seen].sort((a, b) => a - b);
}

function expectKeepdim(op: string, keepdim: unknown): boolean {
  if (keepdim === undefined || keepdim === null) return false;
  if (typeof keepdim !== 'boolean') throw new TypeError(`${op}: argument 'keepdim' must be a boolean, got ${typeName(keepdim)}`);
  return keepdim;
}

function reducedShape(x: Tensor, dims: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  x.shape.forEach((s, i) => {
    if (!dims.includes(i)) out.push(s);
    else if (keepdim) out.push(1);
  });
  return out;
}

/** torch refuses max-like reductions over an empty dim (there is no identity). */
function rejectEmptyReduction(op: string, x: Tensor, dims: readonly number[], dimArg: DimArg): void {
  for (const d of dims) {
    if (x.shape[d] === 0) {
      const what = dimArg === null || dimArg === undefined ? 'every dim' : `dim ${d}`;
      throw new RangeError(`${op}: cannot reduce over ${what} of ${describeTensor(x)}: dim ${d} has size 0 (no identity)`);
    }
  }
}

function expectDTypeIn(op: string, x: Tensor, allowed: readonly DType[], why = ''): void {
  if (!allowed.includes(x.dtype))
    throw new TypeError(`${op}: argument 'input' (${describeTensor(x)}) must have dtype ${allowed.join(', ')}${why}`);
}

function reduceCall(op: string, x: Tensor, dim: DimArg, keepdimArg: unknown, dtype: DType): KernelCall {
  const keepdim = expectKeepdim(op, keepdimArg);
  const dims = reducedDims(op, x, dim);
  return { kernel: op, inputs: [x], attrs: [keepdim ? 1 : 0, ...dims], outputs: [{ shape: reducedShape(x, dims, keepdim), dtype }] };
}

/**
 * `sum(x, dim?, keepdim = false)`: sum over `dim` (a dim, a list of dims, or null for all).
 * int32/int64/bool inputs sum into int64 (torch); float32 stays float32.
 * @example tj.sum(tj.ones([2, 3]), 1).toArray() // [3, 3]
 */
export const sum = defineOp({
  name: 'sum',
  method: true,
  traits: ['reduction'],
  kernels: ['sum'],
  kernel: (x: Tensor, dim: DimArg = null, keepdim: boolean = false): KernelCall => {
    expectTensor('sum', 'input', x);
    expectDTypeIn('sum', x, ['float32', 'int32', 'int64', 'bool']);
    return reduceCall('sum', x, dim, keepdim, x.dtype === 'float32' ? 'float32' : 'int64');
  },
});

/**
 * `mean(x, dim?, keepdim = false)`: float32 only (torch rejects integer means); the mean
 * of an empty reduction is NaN.
 * @example tj.mean(tj.tensor([[1, 2], [3, 4]]), 0).toArray() // [2, 3]
 */
export const mean = defineOp({
  name: 'mean',
  method: true,
  traits: ['reduction'],
  kernels: ['mean'],
  kernel: (x: Tensor, dim: DimArg = null, keepdim: boolean = false): KernelCall => {
    expectTensor('mean', 'input', x);
    expectDTypeIn('mean', x, ['float32'], ' (mean needs a floating input; convert with .to(\'float32\'))');
    return reduceCall('mean', x, dim, keepdim, 'float32');
  },
});

function extremum(op: 'amax' | 'amin') {
  return (x: Tensor, dim: DimArg = null, keepdim: boolean = false): KernelCall => {
    expectTensor(op, 'input', x);
    expectDTypeIn(op, x, ['float32', 'int32', 'int64', 'bool']);
    const call = reduceCall(op, x, dim, keepdim, x.dtype);
    rejectEmptyReduction(op, x, call.attrs.slice(1), dim);
    return call;
  };
}

/**
 * `amax(x, dim?, keepdim = false)`: maximum over dims, keeping the dtype; NaN propagates.
 * @example tj.amax(tj.tensor([[1, 5], [3, 2]]), 1).toArray() // [5, 3]
 */
export const amax = defineOp({
  name: 'amax',
  method: true,
  traits: ['reduction'],
  kernels: ['amax'],
  kernel: extremum('amax'),
});

/**
 * `amin(x, dim?, keepdim = false)`: minimum over dims, keeping the dtype; NaN propagates.
 * @example tj.amin(tj.tensor([[1, 5], [3, 2]]), 1).toArray() // [1, 2]
 */
export const amin = defineOp({
  name: 'amin',
  method: true,
  traits: ['reduction'],
  kernels: ['amin'],
  kernel: extremum('amin'),
});

/**
 * `argmax(x)` (index into the flattened input, 0-d result), `argmax(x, dim, keepdim = false)`.
 * int64 result; ties give the first index; NaN counts as the maximum (torch).
 * @example tj.argmax(tj.tensor([[1, 5], [7, 2]])).item() // 2
 */
export const argmax = defineOp({
  name: 'argmax',
  method: true,
  traits: ['reduction'],
  kernels: ['argmax'],
  kernel: (x: Tensor, dim: number | null = null, keepdim: boolean = false): KernelCall => {
    expectTensor('argmax', 'input', x);
    expectDTypeIn('argmax', x, ['float32', 'int32', 'int64']);
    if (dim !== null && dim !== undefined && typeof dim !== 'number')
      throw new TypeError(`argmax: argument 'dim' must be a number or null, got ${typeName(dim)}`);
    const call = reduceCall('argmax', x, dim, keepdim, 'int64');
    rejectEmptyReduction('argmax', x, call.attrs.slice(1), dim);
    return call;
  },
});

function softmaxLike(op: 'softmax' | 'logSoftmax') {
  return (x: Tensor, dim: number): KernelCall => {
    expectTensor(op, 'input', x);
    if (dim === undefined || dim === null) throw new TypeError(`${op}: argument 'dim' is required (no implicit dim)`);
    const d = normalizeDim(op, dim, x.ndim);
    expectDTypeIn(op, x, ['float32']);
    // attrs [dim]; the native graph pass may append [scale, hasMask, divide?] (a fused x * s + mask prologue).
    return { kernel: op, inputs: [x], attrs: [x.ndim === 0 ? 0 : d], outputs: [{ shape: x.shape.slice(), dtype: 'float32' }] };
  };
}

/**
 * `softmax(x, dim)`: exp(x - max) / sum(exp(x - max)) along dim; a row of -inf gives NaN (torch).
 * @example tj.softmax(tj.tensor([1, 1]), 0).toArray() // [0.5, 0.5]
 */
export const softmax = defineOp({
  name: 'softmax',
  method: true,
  traits: ['reduction'],
  kernels: ['softmax'],
  kernel: softmaxLike('softmax'),
});

/**
 * `logSoftmax(x, dim)`: x - max - log(sum(exp(x - max))) along dim.
 * @example tj.logSoftmax(tj.tensor([0, 0]), 0).toArray() // [-0.693..., -0.693...]
 */
export const logSoftmax = defineOp({
  name: 'logSoftmax',
  method: true,
  traits: ['reduction'],
  kernels: ['logSoftmax'],
  kernel: softmaxLike('logSoftmax'),
});
