/**
 * `tj.nn.functional`: the registry's ops under torch.nn.functional's names, plus dropout.
 * Ops are looked up in the registry by name at call time, so this file does not depend on
 * the load order of the op families (and calls still dispatch through the tracer).
 */
import { Tensor } from '../tensor';
import { getOp } from '../ops/registry';

type PairArg = number | [number, number];

function registered<F extends (...args: any[]) => any>(name: string): F {
  const call = (...args: unknown[]) => {
    const op = getOp(name);
    if (!op) throw new Error(`tensorjit.nn.functional.${name}: the op '${name}' is not registered`);
    return op(...args);
  };
  Object.defineProperty(call, 'name', { value: name });
  return call as F;
}

/** @example F.relu(x) */
export const relu = registered<(x: Tensor) => Tensor>('relu');
/** @example F.gelu(x, { approximate: 'tanh' }) */
export const gelu = registered<(x: Tensor, opts?: { approximate?: 'none' | 'tanh' }) => Tensor>('gelu');
/** @example F.silu(x) */
export const silu = registered<(x: Tensor) => Tensor>('silu');
/** @example F.softmax(x, -1) */
export const softmax = registered<(x: Tensor, dim: number) => Tensor>('softmax');
/** @example F.logSoftmax(x, -1) */
export const logSoftmax = registered<(x: Tensor, dim: number) => Tensor>('logSoftmax');
/** @example F.linear(x, weight, bias) */
export const linear = registered<(x: Tensor, weight: Tensor, bias?: Tensor | null) => Tensor>('linear');
/** @example F.layerNorm(x, [16], weight, bias, 1e-5) */
export const layerNorm = registered<
  (x: Tensor, normalizedShape: number | number[], weight?: Tensor | null, bias?: Tensor | null, eps?: number) => Tensor
>('layerNorm');
/** @example F.embedding(indices, weight) */
export const embedding = registered<(indices: Tensor, weight: Tensor) => Tensor>('embedding');
/** @example F.conv2d(x, w, null, { stride: 2, padding: 1 }) */
export const conv2d = registered<
  (x: Tensor, weight: Tensor, bias?: Tensor | null,
    opts?: { stride?: PairArg; padding?: PairArg | 'same' | 'valid'; dilation?: PairArg; groups?: number }) => Tensor
>('conv2d');
/** @example F.maxPool2d(x, 2) */
export const maxPool2d = registered<
  (x: Tensor, kernelSize: PairArg, opts?: { stride?: PairArg; padding?: PairArg; dilation?: PairArg; ceilMode?: boolean }) => Tensor
>('maxPool2d');
/** @example F.avgPool2d(x, 2, { countIncludePad: false }) */
export const avgPool2d = registered<
  (x: Tensor, kernelSize: PairArg, opts?: { stride?: PairArg; padding?: PairArg; ceilMode?: boolean; countIncludePad?: boolean }) => Tensor
>('avgPool2d');
/** @example F.scaledDotProductAttention(q, k, v, null, { isCausal: true }) */
export const scaledDotProductAttention = registered<
  (q: Tensor, k: Tensor, v: Tensor, attnMask?: Tensor | null,
    opts?: { isCausal?: boolean; scale?: number; enableGqa?: boolean; dropoutP?: number }) => Tensor
>('scaledDotProductAttention');

// ops used by the layers below (not part of the functional namespace's contract)
export const _ops = {
  add: registered<(a: Tensor, b: Tensor | number) => Tensor>('add'),
  mul: registered<(a: Tensor, b: Tensor | number) => Tensor>('mul'),
  div: registered<(a: Tensor, b: Tensor | number) => Tensor>('div'),
  ge: registered<(a: Tensor, b: Tensor | number) => Tensor>('ge'),
  where: registered<(cond: Tensor, x: Tensor, y: Tensor | number) => Tensor>('where'),
  matmul: registered<(a: Tensor, b: Tensor) => Tensor>('matmul'),
  mean: registered<(x: Tensor, dim?: number | number[] | null, keepdim?: boolean) => Tensor>('mean'),
  rand: registered<(shape: number[]) => Tensor>('rand'),
  cat: registered<(tensors: Tensor[], dim?: number) => Tensor>('cat'),
};

/**
 * Zeroes each element with probability p and scales the rest by 1/(1-p) when training;
 * returns x itself otherwise (torch.nn.functional.dropout).
 * @example F.dropout(x, 0.1, model.training)
 */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`dropout: argument 'input' must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1))
    throw new RangeError(`dropout: probability has to be between 0 and 1, but got ${p}`);
  if (!training || p === 0) return x;
  const keep = _ops.ge(_ops.rand(x.shape.slice()), p);
  return _ops.where(keep, _ops.div(x, 1 - p), 0);
}
