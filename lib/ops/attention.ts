/**
 * scaledDotProductAttention: F.scaled_dot_product_attention as one fused native kernel
 * (native/kernels/attention/sdpa.cc: blocked Q·K^T, online softmax, P·V).
 */
import { Tensor, describeTensor } from '../tensor';
import { defineOp, KernelCall } from './registry';
import { expectTensor, typeName } from './checks';

export interface ScaledDotProductAttentionOptions {
  /** tril(ones(L, S)) aligned top-left; not together with attnMask */
  isCausal?: boolean;
  /** defaults to 1/sqrt(E) */
  scale?: number | null;
  /** repeat k/v heads (dim -3) repeat_interleave-style to q's head count */
  enableGqa?: boolean;
  /** only 0 is supported (inference) */
  dropoutP?: number;
}

const OP = 'scaledDotProductAttention';

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

/** Broadcast batch shape of q, k, v (k/v's dim -3 stretched to q's with enableGqa). */
function batchShape(q: Tensor, k: Tensor, v: Tensor, gqa: boolean): number[] {
  const batches = [q, k, v].map((t) => t.shape.slice(0, -2));
  const n = Math.max(...batches.map((b) => b.length));
  const qb = batches[0];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const qd = qb[qb.length - n + i] ?? 1;
    let size = qd;
    for (const [j, b] of batches.entries()) {
      const d = b[b.length - n + i] ?? 1;
      if (d === size || d === 1) continue;
      if (size === 1) {
        size = d;
        continue;
      }
      const headDim = i === n - 1;
      if (gqa && headDim && j > 0 && d > 0 && qd % d === 0 && size === qd) continue;
      const why = gqa && headDim && j > 0 ? ` (enableGqa needs q's heads ${qd} to be a multiple of ${d})` : '';
      throw new RangeError(
        `${OP}: batch dims of query ${shapeStr(q.shape)}, key ${shapeStr(k.shape)} and value ${shapeStr(v.shape)} do not broadcast${why}`,
      );
    }
    out.push(size);
  }
  return out;
}

/**
 * Attention: softmax(q k^T * scale + mask) v, fused.
 * @example tj.scaledDotProductAttention(tj.ones([2, 4, 8]), tj.ones([2, 6, 8]), tj.ones([2, 6, 8])).shape // [2, 4, 8]
 */
export const scaledDotProductAttention = defineOp({
  name: 'scaledDotProductAttention',
  kernels: ['sdpa'],
  kernel: (
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attnMask?: Tensor | null,
    options?: ScaledDotProductAttentionOptions,
  ): KernelCall => {
    expectTensor(OP, 'query', query);
    expectTensor(OP, 'key', key);
    expectTensor(OP, 'value', value);
    const hasMask = attnMask !== undefined && attnMask !== null;
    if (hasMask) expectTensor(OP, 'attnMask', attnMask);
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options)))
      throw new TypeError(`${OP}: argument 'options' must be an object, got ${typeName(options)}`);
    const qkv = [query, key, value];
    const names = ['query', 'key', 'value'];
    qkv.forEach((t, i) => {
      if (t.dtype !== 'float32')
        throw new TypeError(`${OP}: argument '${names[i]}' (${describeTensor(t)}) must be float32; got ${qkv.map((x) => x.dtype).join(', ')}`);
      if (t.ndim < 2) throw new RangeError(`${OP}: argument '${names[i]}' needs at least 2 dims, got ${describeTensor(t)}`);
    });
    if (hasMask && attnMask.dtype !== 'bool' && attnMask.dtype !== 'float32')
      throw new TypeError(`${OP}: argument 'attnMask' (${describeTensor(attnMask)}) must be bool or float32`);
    const isCausal = options?.isCausal ?? false;
    const gqa = options?.enableGqa ?? false;
    if (typeof isCausal !== 'boolean') throw new TypeError(`${OP}: option 'isCausal' must be a boolean, got ${typeName(isCausal)}`);
    if (typeof gqa !== 'boolean') throw new TypeError(`${OP}: option 'enableGqa' must be a boolean, got ${typeName(gqa)}`);
    if (isCausal && hasMask) throw new RangeError(`${OP}: attnMask and isCausal cannot be given together`);
    const dropoutP = options?.dropoutP ?? 0;
    if (dropoutP !== 0) throw new RangeError(`${OP}: dropoutP must be 0 (inference only), got ${String(dropoutP)}`);
    const [L, E] = query.shape.slice(-2);
    const [S, Ek] = key.shape.slice(-2);
    const [Sv, Ev] = value.shape.slice(-2);
    if (Ek !== E)
      throw new RangeError(`${OP}: query ${describeTensor(query)} and key ${describeTensor(key)} must share the last dim (${E} vs ${Ek})`);
    if (Sv !== S)
      throw new RangeError(`${OP}: key ${describeTensor(key)} and value ${describeTensor(value)} must share dim -2 (${S} vs ${Sv})`);
    if (gqa && (key.ndim < 3 || value.ndim < 3 || query.ndim < 3))
      throw new RangeError(`${OP}: enableGqa needs a head dim (-3) on query, key and value`);
    const batch = batchShape(query, key, value, gqa);
    const outShape = [...batch, L, Ev];
    if (hasMask) {
      const target = [...batch, L, S];
      const ms = attnMask.shape;
      const fits = ms.length <= target.length && ms.every((d, i) => d === 1 || d === target[target.length - ms.length + i]);
      if (!fits)
        throw new RangeError(`${OP}: attnMask ${describeTensor(attnMask)} does not broadcast to the attention shape ${shapeStr(target)}`);
    }
    const scale = options?.scale ?? null;
    if (scale !== null && typeof scale !== 'number') throw new TypeError(`${OP}: option 'scale' must be a number, got ${typeName(scale)}`);
    const s = scale ?? 1 / Math.sqrt(E);
    return {
      kernel: 'sdpa',
      inputs: hasMask ? [query, key, value, attnMask] : [query, key, value],
      attrs: [s, isCausal ? 1 : 0, hasMask ? (attnMask.dtype === 'bool' ? 1 : 2) : 0, gqa ? 1 : 0],
      outputs: [{ shape: outShape, dtype: 'float32' }],
    };
  },
});
