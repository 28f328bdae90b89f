/** Normalisation ops. Kernels live in native/kernels/norm/. */
import { Tensor, describeTensor } from '../tensor';
import { defineOp, KernelCall } from './registry';
import { expectTensor, typeName } from './checks';

const shapeStr = (s: readonly number[]) => `[${s.join(', ')}]`;

function expectNormalizedShape(x: Tensor, normalizedShape: unknown): number[] {
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
  if (!Array.isArray(ns) || !ns.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0))
    throw new TypeError(`layerNorm: argument 'normalizedShape' must be an array of sizes, got ${typeName(normalizedShape)}`);
  if (ns.length === 0) throw new RangeError('layerNorm: normalizedShape must have at least one dim, got []');
  const trailing = x.shape.slice(x.ndim - ns.length);
  if (ns.length > x.ndim || ns.some((d, i) => d !== trailing[i]))
    throw new RangeError(
      `layerNorm: normalizedShape ${shapeStr(ns)} does not match the trailing dims of input ${describeTensor(x)} ` +
        `(expected input of shape [*, ${ns.join(', ')}])`);
  return ns.slice();
}

function expectParam(arg: 'weight' | 'bias', t: unknown, ns: number[]): Tensor | null {
  if (t === null || t === undefined) return null;
  expectTensor('layerNorm', arg, t);
  const p = t as Tensor;
  if (p.dtype !== 'float32') throw new TypeError(`layerNorm: argument '${arg}' (${describeTensor(p)}) must be float32`);
  if (p.ndim !== ns.length || p.shape.some((d, i) => d !== ns[i]))
    throw new RangeError(`layerNorm: argument '${arg}' has shape ${shapeStr(p.shape)}, expected normalizedShape ${shapeStr(ns)}`);
  return p;
}

/**
 * `layerNorm(x, normalizedShape, weight?, bias?, eps = 1e-5)` in F.layer_norm order: normalises
 * over the trailing dims given by normalizedShape (biased variance), then scales and shifts.
 * @example tj.layerNorm(tj.tensor([[1, 3]]), [2]).toArray() // [[-0.99999..., 0.99999...]]
 *
 * Kernel 'layerNorm': inputs [x, weight?, bias?], attrs [k, eps, hasWeight, hasBias]. The native graph pass
 * (native/graph/reduction_fusion.cc) may append hasResidual (inputs [..., residual], outputs [y, sum?]).
 */
export const layerNorm = defineOp({
  name: 'layerNorm',
  kernels: ['layerNorm'],
  kernel: (
    x: Tensor,
    normalizedShape: number[] | number,
    weight: Tensor | null = null,
    bias: Tensor | null = null,
    eps: number = 1e-5,
  ): KernelCall => {
    expectTensor('layerNorm', 'input', x);
    if (x.dtype !== 'float32') throw new TypeError(`layerNorm: argument 'input' (${describeTensor(x)}) must be float32`);
    const ns = expectNormalizedShape(x, normalizedShape);
    const w = expectParam('weight', weight, ns);
    const b = expectParam('bias', bias, ns);
    if (typeof eps !== 'number') throw new TypeError(`layerNorm: argument 'eps' must be a number, got ${typeName(eps)}`);
    if (!Number.isFinite(eps) || eps < 0) throw new RangeError(`layerNorm: argument 'eps' must be finite and >= 0, got ${eps}`);
    const inputs = [x, ...(w ? [w] : []), ...(b ? [b] : [])];
    return {
      kernel: 'layerNorm',
      inputs,
      attrs: [ns.length, eps, w ? 1 : 0, b ? 1 : 0],
      outputs: [{ shape: x.shape.slice(), dtype: 'float32' }],
    };
  },
});
