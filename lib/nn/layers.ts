/** The basic layers, each a thin Module over one registry op (torch.nn semantics and defaults). */
import { Tensor } from '../tensor';
import { Module } from './module';
import * as F from './functional';
import { constant, fanInUniform, normal, zeroRow } from './init';

function expectSize(layer: string, arg: string, x: unknown, min = 0): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min)
    throw new RangeError(`${layer}: argument '${arg}' must be an integer >= ${min}, got ${String(x)}`);
  return x;
}

function biasOption(opts: boolean | { bias?: boolean } | undefined): boolean {
  return typeof opts === 'boolean' ? opts : opts?.bias ?? true;
}

/**
 * y = x Wᵀ + b with weight [outFeatures, inFeatures]; torch's default init.
 * @example const fc = new tj.nn.Linear(16, 4); const y = fc.forward(tj.randn([2, 16]));
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, opts?: boolean | { bias?: boolean }) {
    super();
    this.inFeatures = expectSize('Linear', 'inFeatures', inFeatures);
    this.outFeatures = expectSize('Linear', 'outFeatures', outFeatures);
    this.weight = fanInUniform([outFeatures, inFeatures], inFeatures);
    this.bias = biasOption(opts) ? fanInUniform([outFeatures], inFeatures) : null;
  }

  override forward(x: Tensor): Tensor {
    return this.bias ? F.linear(x, this.weight, this.bias) : F.linear(x, this.weight);
  }
  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

export interface LayerNormOptions {
  eps?: number;
  elementwiseAffine?: boolean;
  /** with elementwiseAffine: learn a bias too (default true) */
  bias?: boolean;
}

/**
 * Normalises over the trailing `normalizedShape` dims; weight ones, bias zeros.
 * @example const ln = new tj.nn.LayerNorm(16); ln.forward(x);
 */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  weight: Tensor | null;
  bias: Tensor | null;

  constructor(normalizedShape: number | number[], opts: LayerNormOptions = {}) {
    super();
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    if (!Array.isArray(shape)) throw new TypeError(`LayerNorm: argument 'normalizedShape' must be a number or an array of numbers`);
    shape.forEach((d) => expectSize('LayerNorm', 'normalizedShape', d));
    this.normalizedShape = shape.slice();
    this.eps = opts.eps ?? 1e-5;
    this.elementwiseAffine = opts.elementwiseAffine ?? true;
    this.weight = this.elementwiseAffine ? constant(this.normalizedShape, 1) : null;
    this.bias = this.elementwiseAffine && (opts.bias ?? true) ? constant(this.normalizedShape, 0) : null;
  }

  override forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
  override extraRepr(): string {
    return `[${this.normalizedShape.join(', ')}], eps=${this.eps}, elementwiseAffine=${this.elementwiseAffine}`;
  }
}

/**
 * A lookup table [numEmbeddings, embeddingDim] initialised N(0, 1); the paddingIdx row starts at zero.
 * @example const emb = new tj.nn.Embedding(1000, 64); emb.forward(tj.tensor([1, 5], { dtype: 'int64' }));
 */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  weight: Tensor;

  constructor(numEmbeddings: number, embeddingDim: number, opts: { paddingIdx?: number | null } = {}) {
    super();
    this.numEmbeddings = expectSize('Embedding', 'numEmbeddings', numEmbeddings);
    this.embeddingDim = expectSize('Embedding', 'embeddingDim', embeddingDim);
    let pad = opts.paddingIdx ?? null;
    if (pad !== null) {
      if (!Number.isInteger(pad) || pad < -numEmbeddings || pad >= numEmbeddings)
        throw new RangeError(`Embedding: paddingIdx ${pad} must be within numEmbeddings ${numEmbeddings}`);
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    this.weight = normal([numEmbeddings, embeddingDim]);
    if (pad !== null) zeroRow(this.weight, pad);
  }

  override forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight);
  }
  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx !== null ? `, paddingIdx=${this.paddingIdx}` : ''}`;
  }
}

type Pair = number | [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  /** only 'zeros' (torch's default) */
  paddingMode?: 'zeros';
}

function pairOf(layer: string, arg: string, x: Pair): [number, number] {
  const p: unknown[] = typeof x === 'number' ? [x, x] : Array.isArray(x) ? x : [];
  if (p.length !== 2 || !p.every((v) => typeof v === 'number' && Number.isInteger(v)))
    throw new TypeError(`${layer}: argument '${arg}' must be an integer or a pair of integers, got ${JSON.stringify(x)}`);
  return p as [number, number];
}

/**
 * 2-d convolution over NCHW input; weight [out, in/groups, kh, kw], torch's default init.
 * @example const conv = new tj.nn.Conv2d(3, 8, 3, { padding: 1 }); conv.forward(tj.randn([1, 3, 32, 32]));
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number] | 'same' | 'valid';
  readonly dilation: [number, number];
  readonly groups: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, opts: Conv2dOptions = {}) {
    super();
    this.inChannels = expectSize('Conv2d', 'inChannels', inChannels);
    this.outChannels = expectSize('Conv2d', 'outChannels', outChannels);
    this.kernelSize = pairOf('Conv2d', 'kernelSize', kernelSize);
    this.kernelSize.forEach((k) => expectSize('Conv2d', 'kernelSize', k, 1));
    this.stride = pairOf('Conv2d', 'stride', opts.stride ?? 1);
    this.stride.forEach((s) => expectSize('Conv2d', 'stride', s, 1));
    const padding = opts.padding ?? 0;
    if (padding === 'same' || padding === 'valid') {
      if (padding === 'same' && this.stride.some((s) => s !== 1))
        throw new RangeError("Conv2d: padding='same' is not supported for strided convolutions");
      this.padding = padding;
    } else {
      this.padding = pairOf('Conv2d', 'padding', padding);
      this.padding.forEach((p) => expectSize('Conv2d', 'padding', p));
    }
    this.dilation = pairOf('Conv2d', 'dilation', opts.dilation ?? 1);
    this.dilation.forEach((d) => expectSize('Conv2d', 'dilation', d, 1));
    this.groups = expectSize('Conv2d', 'groups', opts.groups ?? 1, 1);
    if (inChannels % this.groups !== 0) throw new RangeError(`Conv2d: inChannels ${inChannels} must be divisible by groups ${this.groups}`);
    if (outChannels % this.groups !== 0) throw new RangeError(`Conv2d: outChannels ${outChannels} must be divisible by groups ${this.groups}`);
    if ((opts.paddingMode ?? 'zeros') !== 'zeros')
      throw new RangeError(`Conv2d: paddingMode '${String(opts.paddingMode)}' is not supported (only 'zeros')`);
    const fanIn = (inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1];
    this.weight = fanInUniform([outChannels, inChannels / this.groups, ...this.kernelSize], fanIn);
    this.bias = opts.bias ?? true ? fanInUniform([outChannels], fanIn) : null;
  }

  override forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, {
      stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups,
    });
  }
  override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernelSize=[${this.kernelSize}], stride=[${this.stride}], ` +
      `padding=${typeof this.padding === 'string' ? this.padding : `[${this.padding}]`}, dilation=[${this.dilation}], groups=${this.groups}, bias=${this.bias !== null}`;
  }
}

/** @example new tj.nn.ReLU().forward(x) */
export class ReLU extends Module {
  override forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

/** GELU, exact (erf) by default or `approximate: 'tanh'`. @example new tj.nn.GELU('tanh') */
export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';
  constructor(approximate: 'none' | 'tanh' | { approximate?: 'none' | 'tanh' } = 'none') {
    super();
    const a = typeof approximate === 'string' ? approximate : approximate.approximate ?? 'none';
    if (a !== 'none' && a !== 'tanh') throw new RangeError(`GELU: approximate must be 'none' or 'tanh', got '${String(a)}'`);
    this.approximate = a;
  }
  override forward(x: Tensor): Tensor {
    return this.approximate === 'none' ? F.gelu(x) : F.gelu(x, { approximate: this.approximate });
  }
  override extraRepr(): string {
    return `approximate='${this.approximate}'`;
  }
}

/**
 * Identity in eval mode; in training zeroes elements with probability p (RNG) and scales by 1/(1-p).
 * @example const drop = new tj.nn.Dropout(0.1); model.eval(); // drop.forward(x) === x
 */
export class Dropout extends Module {
  readonly p: number;
  constructor(p: number | { p?: number } = 0.5) {
    super();
    const v = typeof p === 'number' ? p : p.p ?? 0.5;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RangeError(`Dropout: probability has to be between 0 and 1, but got ${v}`);
    this.p = v;
  }
  override forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
  override extraRepr(): string {
    return `p=${this.p}`;
  }
}
