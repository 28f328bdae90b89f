/**
 * `tj.nn.functional`: the registry's ops under torch.nn.functional's names (the same op
 * objects as `tj.relu`, `tj.linear`, ...), plus dropout.
 */
import { Tensor } from '../tensor';
import { ge, div, where } from '../ops/pointwise';
import { rand } from '../ops/creation';

export { relu, gelu, silu } from '../ops/pointwise';
export { softmax, logSoftmax } from '../ops/reduce';
export { linear } from '../ops/linalg';
export { layerNorm } from '../ops/norm';
export { embedding } from '../ops/indexing';
export { conv2d, maxPool2d, avgPool2d } from '../ops/conv';
export { scaledDotProductAttention } from '../ops/attention';

/**
 * Zeroes each element with probability p and scales the rest by 1/(1-p) when training;
 * returns x itself otherwise (torch.nn.functional.dropout). Draws from tj.rand.
 * @example F.dropout(x, 0.1, model.training)
 */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`dropout: argument 'input' must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1))
    throw new RangeError(`dropout: probability has to be between 0 and 1, but got ${p}`);
  if (!training || p === 0) return x;
  const keep = ge(rand(x.shape.slice()), p);
  return where(keep, div(x, 1 - p), 0);
}
