/**
 * Parameter initialisation as torch.nn.init does it, drawing from tj.rand/tj.randn so
 * tj.manualSeed makes models reproducible. Values are written through the storage of
 * fresh contiguous float32 tensors (no kernels involved).
 */
import { Tensor } from '../tensor';
import { rand, randn, full } from '../ops/creation';

function floatsOf(t: Tensor): Float32Array {
  return new Float32Array(t.storage!.buffer, t.offset * 4, t.numel());
}

/** U(low, high) samples of `shape`. */
export function uniform(shape: number[], low: number, high: number): Tensor {
  const t = rand(shape);
  const a = floatsOf(t);
  for (let i = 0; i < a.length; i++) a[i] = low + (high - low) * a[i];
  return t;
}

/** N(0, std^2) samples. */
export function normal(shape: number[], std = 1): Tensor {
  const t = randn(shape);
  if (std !== 1) {
    const a = floatsOf(t);
    for (let i = 0; i < a.length; i++) a[i] *= std;
  }
  return t;
}

export const constant = (shape: number[], value: number): Tensor => full(shape, value);

/**
 * torch's default for Linear/Conv weights: kaiming_uniform_(a=sqrt(5)), which is
 * U(-1/sqrt(fanIn), 1/sqrt(fanIn)); biases use the same bound. fanIn 0 gives zeros.
 */
export function fanInUniform(shape: number[], fanIn: number): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform(shape, -bound, bound);
}

/** xavier_uniform_: U(-b, b) with b = sqrt(6 / (fanIn + fanOut)). */
export function xavierUniform(shape: number[], fanIn: number, fanOut: number): Tensor {
  const bound = Math.sqrt(6 / Math.max(fanIn + fanOut, 1));
  return uniform(shape, -bound, bound);
}

/** Sets row `index` of a contiguous 2-d float32 tensor to zero (Embedding's paddingIdx). */
export function zeroRow(t: Tensor, index: number): void {
  const width = t.shape[1];
  floatsOf(t).fill(0, index * width, (index + 1) * width);
}
