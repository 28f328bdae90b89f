/**
 * torch.nn.MultiheadAttention on top of scaledDotProductAttention. Parameter properties
 * keep torch's snake_case names (in_proj_weight, out_proj.weight, ...) because state
 * dict keys come from property names and checkpoints use torch's.
 */
import { Tensor, describeTensor } from '../tensor';
import { full, tensor, zeros } from '../ops/creation';
import { add, mul, where } from '../ops/pointwise';
import { matmul } from '../ops/linalg';
import { mean } from '../ops/reduce';
import { cat } from '../ops/indexing';
import { Module } from './module';
import { Linear } from './layers';
import * as F from './functional';
import { constant, normal, xavierUniform } from './init';

export interface MultiheadAttentionOptions {
  /** dropout probability on the attention weights (training only) */
  dropout?: number;
  bias?: boolean;
  addBiasKV?: boolean;
  addZeroAttn?: boolean;
  kdim?: number;
  vdim?: number;
  /** inputs/outputs are [batch, seq, feature] instead of [seq, batch, feature] */
  batchFirst?: boolean;
}

export interface MultiheadAttentionForwardOptions {
  /** [L, S] or [N*numHeads, L, S]; bool true = may NOT attend (torch's convention), float = added */
  attnMask?: Tensor | null;
  /** [N, S] ([S] unbatched); bool true = ignore that key, float = added */
  keyPaddingMask?: Tensor | null;
  /** also return the attention weights (default false) */
  needWeights?: boolean;
  /** average the returned weights over heads (default true) */
  averageAttnWeights?: boolean;
  /** causal attention (aligned top-left); used when attnMask is not given */
  isCausal?: boolean;
}

const ERR = 'MultiheadAttention';

/**
 * Multi-head attention with torch's parameters, layouts and mask conventions.
 * @example
 *   const mha = new tj.nn.MultiheadAttention(64, 8, { batchFirst: true });
 *   const [out] = mha.forward(x, x, x, { keyPaddingMask: pad });
 */
export class MultiheadAttention extends Module {
  readonly embedDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  readonly addZeroAttn: boolean;
  // parameters, declared in torch's registration order (state dict order)
  in_proj_weight: Tensor | null;
  q_proj_weight: Tensor | null;
  k_proj_weight: Tensor | null;
  v_proj_weight: Tensor | null;
  in_proj_bias: Tensor | null;
  out_proj: Linear;
  bias_k: Tensor | null;
  bias_v: Tensor | null;

  constructor(embedDim: number, numHeads: number, opts: MultiheadAttentionOptions = {}) {
    super();
    for (const [arg, v] of [['embedDim', embedDim], ['numHeads', numHeads]] as const)
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${ERR}: argument '${arg}' must be a positive integer, got ${v}`);
    if (embedDim % numHeads !== 0) throw new RangeError(`${ERR}: embedDim ${embedDim} must be divisible by numHeads ${numHeads}`);
    const dropout = opts.dropout ?? 0;
    if (!(dropout >= 0 && dropout <= 1)) throw new RangeError(`${ERR}: dropout must be between 0 and 1, got ${dropout}`);
    this.embedDim = embedDim;
    this.kdim = opts.kdim ?? embedDim;
    this.vdim = opts.vdim ?? embedDim;
    this.numHeads = numHeads;
    this.headDim = embedDim / numHeads;
    this.dropout = dropout;
    this.batchFirst = opts.batchFirst ?? false;
    this.addZeroAttn = opts.addZeroAttn ?? false;
    const E = embedDim;
    if (this.kdim === E && this.vdim === E) {
      this.in_proj_weight = xavierUniform([3 * E, E], E, 3 * E);
      this.q_proj_weight = this.k_proj_weight = this.v_proj_weight = null;
    } else {
      this.in_proj_weight = null;
      this.q_proj_weight = xavierUniform([E, E], E, E);
      this.k_proj_weight = xavierUniform([E, this.kdim], this.kdim, E);
      this.v_proj_weight = xavierUniform([E, this.vdim], this.vdim, E);
    }
    const bias = opts.bias ?? true;
    this.in_proj_bias = bias ? constant([3 * E], 0) : null;
    this.out_proj = new Linear(E, E, { bias });
    if (bias) this.out_proj.bias = constant([E], 0);
    if (opts.addBiasKV) {
      // xavier_normal_ of a [1, 1, E] tensor: std = sqrt(2 / (E + E))
      this.bias_k = normal([1, 1, E], Math.sqrt(1 / E));
      this.bias_v = normal([1, 1, E], Math.sqrt(1 / E));
    } else {
      this.bias_k = this.bias_v = null;
    }
  }

  /** The q, k, v projection weights (views of in_proj_weight when it is packed). */
  private projections(): { w: [Tensor, Tensor, Tensor]; b: [Tensor | null, Tensor | null, Tensor | null] } {
    const E = this.embedDim;
    const w: [Tensor, Tensor, Tensor] = this.in_proj_weight
      ? [0, 1, 2].map((i) => this.in_proj_weight!.narrow(0, i * E, E)) as [Tensor, Tensor, Tensor]
      : [this.q_proj_weight!, this.k_proj_weight!, this.v_proj_weight!];
    const b = this.in_proj_bias
      ? [0, 1, 2].map((i) => this.in_proj_bias!.narrow(0, i * E, E)) as [Tensor, Tensor, Tensor]
      : [null, null, null] as [null, null, null];
    return { w, b };
  }

  /**
   * Returns `[output, weights]`: output in the input's layout; weights [N, L, S]
   * (averaged over heads) or [N, numHeads, L, S] when needWeights, else null.
   */
  override forward(query: Tensor, key: Tensor, value: Tensor, opts: MultiheadAttentionForwardOptions = {}): [Tensor, Tensor | null] {
    const attnMask = opts.attnMask ?? null;
    const keyPaddingMask = opts.keyPaddingMask ?? null;
    const needWeights = opts.needWeights ?? false;
    const averageAttnWeights = opts.averageAttnWeights ?? true;
    const isCausal = opts.isCausal ?? false;
    for (const [arg, t] of [['query', query], ['key', key], ['value', value]] as const)
      if (!(t instanceof Tensor)) throw new TypeError(`${ERR}: argument '${arg}' must be a Tensor`);
    const batched = query.ndim === 3;
    if (!batched && query.ndim !== 2)
      throw new RangeError(`${ERR}: query should be 2-d (unbatched) or 3-d (batched), got ${describeTensor(query)}`);
    if (key.ndim !== query.ndim || value.ndim !== query.ndim)
      throw new RangeError(`${ERR}: query ${describeTensor(query)}, key ${describeTensor(key)} and value ${describeTensor(value)} must have the same rank`);

    // work batch-first: [N, L, E]
    let q = query, k = key, v = value;
    if (!batched) [q, k, v] = [q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)];
    else if (!this.batchFirst) [q, k, v] = [q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)];
    const [N, L, E] = q.shape;
    let S = k.shape[1];
    if (E !== this.embedDim) throw new RangeError(`${ERR}: query ${describeTensor(query)} should have embedDim ${this.embedDim} features`);
    if (k.shape[2] !== this.kdim || v.shape[2] !== this.vdim)
      throw new RangeError(`${ERR}: key ${describeTensor(key)} / value ${describeTensor(value)} should have ${this.kdim} / ${this.vdim} features`);
    if (k.shape[0] !== N || v.shape[0] !== N || v.shape[1] !== S)
      throw new RangeError(`${ERR}: batch or sequence sizes of query ${describeTensor(query)}, key ${describeTensor(key)} and value ${describeTensor(value)} do not match`);

    const { w, b } = this.projections();
    const lin = (x: Tensor, weight: Tensor, bias: Tensor | null) => (bias ? F.linear(x, weight, bias) : F.linear(x, weight));
    const qp = lin(q, w[0], b[0]);
    let kp = lin(k, w[1], b[1]);
    let vp = lin(v, w[2], b[2]);

    let mask = this.additiveMask(attnMask, keyPaddingMask, N, L, S, batched);
    let causal = isCausal && attnMask === null;
    // the explicit path (weights, dropout) and the padded layouts need causality as a mask
    const explicit = needWeights || (this.training && this.dropout > 0);
    const padded = this.bias_k !== null || this.addZeroAttn;
    if (causal && (explicit || padded || mask !== null)) {
      mask = mask ? add(mask, causalMask(L, S)) : causalMask(L, S);
      causal = false;
    }
    if (this.bias_k && this.bias_v) {
      kp = cat([kp, this.bias_k.expand([N, 1, E])], 1);
      vp = cat([vp, this.bias_v.expand([N, 1, E])], 1);
      mask = mask && padColumn(mask);
      S += 1;
    }
    const H = this.numHeads, D = this.headDim;
    const heads = (x: Tensor, len: number) => x.reshape([N, len, H, D]).transpose(1, 2);
    const qh = heads(qp, L);
    let kh = heads(kp, S), vh = heads(vp, S);
    if (this.addZeroAttn) {
      kh = cat([kh, zeros([N, H, 1, D])], 2);
      vh = cat([vh, zeros([N, H, 1, D])], 2);
      mask = mask && padColumn(mask);
      S += 1;
    }

    let out: Tensor;
    let weights: Tensor | null = null;
    if (!explicit) {
      out = causal
        ? F.scaledDotProductAttention(qh, kh, vh, null, { isCausal: true })
        : mask ? F.scaledDotProductAttention(qh, kh, vh, mask) : F.scaledDotProductAttention(qh, kh, vh);
    } else {
      let scores = mul(matmul(qh, kh.transpose(-2, -1)), 1 / Math.sqrt(D));
      if (mask) scores = add(scores, mask);
      const attn = F.softmax(scores, -1);
      out = matmul(F.dropout(attn, this.dropout, this.training), vh);
      if (needWeights) weights = averageAttnWeights ? mean(attn, 1) : attn;
    }
    let y = this.out_proj.forward(out.transpose(1, 2).reshape([N, L, E]));
    if (!batched) {
      y = y.squeeze(0);
      weights = weights && weights.squeeze(0);
    } else if (!this.batchFirst) {
      y = y.transpose(0, 1);
    }
    return [y, weights];
  }

  /** attnMask and keyPaddingMask merged into one float mask broadcastable to [N, H, L, S], or null. */
  private additiveMask(attnMask: Tensor | null, keyPaddingMask: Tensor | null, N: number, L: number, S: number, batched: boolean): Tensor | null {
    let mask: Tensor | null = null;
    if (attnMask !== null) {
      const m = asAdditive('attnMask', attnMask);
      if (m.ndim === 2) {
        if (m.shape[0] !== L || m.shape[1] !== S)
          throw new RangeError(`${ERR}: the shape of the 2-d attnMask is [${m.shape}], but should be [${L}, ${S}]`);
        mask = m;
      } else if (m.ndim === 3) {
        const want = [N * this.numHeads, L, S];
        if (m.shape.some((d, i) => d !== want[i]))
          throw new RangeError(`${ERR}: the shape of the 3-d attnMask is [${m.shape}], but should be [${want}]`);
        mask = m.reshape([N, this.numHeads, L, S]);
      } else {
        throw new RangeError(`${ERR}: attnMask must be 2-d or 3-d, got ${describeTensor(attnMask)}`);
      }
    }
    if (keyPaddingMask !== null) {
      const m = asAdditive('keyPaddingMask', keyPaddingMask);
      const want = batched ? [N, S] : [S];
      if (m.ndim !== want.length || m.shape.some((d, i) => d !== want[i]))
        throw new RangeError(`${ERR}: keyPaddingMask ${describeTensor(keyPaddingMask)} should have shape [${want}]`);
      const kpm = m.reshape([N, 1, 1, S]);
      mask = mask ? add(mask, kpm) : kpm;
    }
    return mask;
  }

  override extraRepr(): string {
    return `embedDim=${this.embedDim}, numHeads=${this.numHeads}, dropout=${this.dropout}, batchFirst=${this.batchFirst}`;
  }
}

/** torch's canonical mask: bool true (masked out) becomes -inf, float masks are added as they are. */
function asAdditive(arg: string, m: Tensor): Tensor {
  if (!(m instanceof Tensor)) throw new TypeError(`${ERR}: argument '${arg}' must be a Tensor or null`);
  if (m.dtype === 'bool') return where(m, full([], -Infinity), 0);
  if (m.dtype === 'float32' || m.dtype === 'float16' || m.dtype === 'bfloat16') return m;
  throw new TypeError(`${ERR}: only bool and float masks are supported for ${arg}, got ${describeTensor(m)}`);
}

/** [L, S] float mask: 0 where key j <= query i (top-left aligned), -inf above. */
function causalMask(L: number, S: number): Tensor {
  const data = new Float32Array(L * S);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < S; j++) data[i * S + j] = -Infinity;
  return tensor(data, { shape: [L, S] });
}

/** Appends a zero (attend) column on the key axis, as torch pads masks for bias_k / zero attention. */
function padColumn(mask: Tensor): Tensor {
  return cat([mask, zeros([...mask.shape.slice(0, -1), 1])], -1);
}
