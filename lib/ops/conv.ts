/**
 * Convolution and pooling. conv2d (this first section) runs as implicit-im2col GEMMs
 * (native/kernels/conv/conv2d.cc); the pooling section below has its own owner.
 */
import { Tensor, describeTensor } from '../tensor';
import { defineOp, KernelCall } from './registry';
import { expectTensor, pair, typeName, valueText } from './checks';

export interface Conv2dOptions {
  /** number or [h, w]; default 1 */
  stride?: number | number[];
  /** number, [h, w], 'valid' (0) or 'same' (stride 1 only; the odd extra goes bottom/right); default 0 */
  padding?: number | number[] | 'same' | 'valid';
  /** number or [h, w]; default 1 */
  dilation?: number | number[];
  /** default 1 */
  groups?: number;
}

function positivePair(arg: string, v: unknown): [number, number] {
  const p = pair('conv2d', arg, v);
  if (p[0] < 1 || p[1] < 1) throw new RangeError(`conv2d: argument '${arg}' must be >= 1, got ${valueText(v)}`);
  return p;
}

/**
 * 2-D convolution over NCHW input (or unbatched CHW), weight [O, C/groups, kh, kw], as F.conv2d.
 * @example tj.conv2d(tj.ones([1, 3, 8, 8]), tj.ones([4, 3, 3, 3]), null, { padding: 1 }).shape // [1, 4, 8, 8]
 */
export const conv2d = defineOp({
  name: 'conv2d',
  traits: ['gemm'],
  kernels: ['conv2d'],
  kernel: (input: Tensor, weight: Tensor, bias?: Tensor | null, options?: Conv2dOptions): KernelCall => {
    expectTensor('conv2d', 'input', input);
    expectTensor('conv2d', 'weight', weight);
    const hasBias = bias !== undefined && bias !== null;
    if (hasBias) expectTensor('conv2d', 'bias', bias);
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options)))
      throw new TypeError(`conv2d: argument 'options' must be an object, got ${typeName(options)}`);
    const operands = hasBias ? [input, weight, bias] : [input, weight];
    const names = ['input', 'weight', 'bias'];
    operands.forEach((t, i) => {
      if (t.dtype !== 'float32')
        throw new TypeError(`conv2d: argument '${names[i]}' (${describeTensor(t)}) must be float32; got ${operands.map((o) => o.dtype).join(', ')}`);
    });
    if (input.ndim !== 3 && input.ndim !== 4)
      throw new RangeError(`conv2d: expected 3-D (unbatched) or 4-D (batched) input, got ${describeTensor(input)}`);
    if (weight.ndim !== 4)
      throw new RangeError(`conv2d: argument 'weight' must be 4-D [O, C/groups, kh, kw], got ${describeTensor(weight)}`);
    const groups = options?.groups ?? 1;
    if (typeof groups !== 'number' || !Number.isInteger(groups) || groups < 1)
      throw new RangeError(`conv2d: argument 'groups' must be a positive integer, got ${String(groups)}`);
    const batched = input.ndim === 4;
    const [C, H, W] = input.shape.slice(-3);
    const [O, Cg, kh, kw] = weight.shape;
    if (Cg * groups !== C)
      throw new RangeError(
        `conv2d: input ${describeTensor(input)} has ${C} channels but weight ${describeTensor(weight)} with groups=${groups} expects ${Cg * groups}`,
      );
    if (O % groups !== 0)
      throw new RangeError(`conv2d: weight ${describeTensor(weight)}: ${O} output channels are not divisible by groups=${groups}`);
    if (kh < 1 || kw < 1) throw new RangeError(`conv2d: weight ${describeTensor(weight)} has an empty kernel`);
    if (hasBias && (bias.ndim !== 1 || bias.shape[0] !== O))
      throw new RangeError(`conv2d: argument 'bias' must be [${O}] for weight ${describeTensor(weight)}, got ${describeTensor(bias)}`);
    const [sh, sw] = positivePair('stride', options?.stride ?? 1);
    const [dh, dw] = positivePair('dilation', options?.dilation ?? 1);
    const padding = options?.padding ?? 0;
    let pads: [number, number, number, number]; // top, left, bottom, right
    if (padding === 'valid') {
      pads = [0, 0, 0, 0];
    } else if (padding === 'same') {
      if (sh !== 1 || sw !== 1)
        throw new RangeError(`conv2d: padding='same' is not supported for strided convolutions (stride [${sh}, ${sw}])`);
      const th = dh * (kh - 1), tw = dw * (kw - 1);
      pads = [th >> 1, tw >> 1, th - (th >> 1), tw - (tw >> 1)];
    } else if (typeof padding === 'string') {
      throw new RangeError(`conv2d: argument 'padding' must be a number, a pair, 'same' or 'valid', got '${padding}'`);
    } else {
      const [ph, pw] = pair('conv2d', 'padding', padding);
      if (ph < 0 || pw < 0) throw new RangeError(`conv2d: argument 'padding' must be >= 0, got ${valueText(padding)}`);
      pads = [ph, pw, ph, pw];
    }
    const spanH = H + pads[0] + pads[2], spanW = W + pads[1] + pads[3];
    if (spanH < dh * (kh - 1) + 1 || spanW < dw * (kw - 1) + 1)
      throw new RangeError(
        `conv2d: kernel size (${kh} x ${kw}, dilation ${dh} x ${dw}) is larger than the padded input (${spanH} x ${spanW}) of ${describeTensor(input)}`,
      );
    const OH = Math.floor((spanH - dh * (kh - 1) - 1) / sh) + 1;
    const OW = Math.floor((spanW - dw * (kw - 1) - 1) / sw) + 1;
    const shape = batched ? [input.shape[0], O, OH, OW] : [O, OH, OW];
    // The native graph pass may append an epilogue [activation, residualMode] (conv2d.cc documents it).
    return {
      kernel: 'conv2d',
      inputs: operands,
      attrs: [sh, sw, pads[0], pads[1], pads[2], pads[3], dh, dw, groups, hasBias ? 1 : 0],
      outputs: [{ shape, dtype: 'float32' }],
    };
  },
});

// ---- pooling (maxPool2d, avgPool2d): kernels in native/kernels/pool/pool2d.cc.
// Imported under pool-specific names so this section never collides with conv2d's imports above.
import { defineOp as definePoolOp, KernelCall as PoolKernelCall } from './registry';
import { Tensor as PoolTensor, describeTensor as describePoolInput } from '../tensor';
import { expectDType as expectPoolDType, expectTensor as expectPoolTensor, pair as poolPair, typeName as poolTypeName } from './checks';

export interface MaxPool2dOptions {
  /** defaults to kernelSize */
  stride?: number | number[] | null;
  padding?: number | number[];
  dilation?: number | number[];
  ceilMode?: boolean;
}

export interface AvgPool2dOptions {
  /** defaults to kernelSize */
  stride?: number | number[] | null;
  padding?: number | number[];
  ceilMode?: boolean;
  /** count the zero padding in the divisor (default true) */
  countIncludePad?: boolean;
}

interface PoolWindow {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  ceilMode: boolean;
}

/** torch's pooling_output_shape: in ceil mode a last window starting in the right padding is dropped. */
function poolOutputSize(size: number, k: number, s: number, p: number, d: number, ceilMode: boolean): number {
  let out = Math.floor((size + 2 * p - d * (k - 1) - 1 + (ceilMode ? s - 1 : 0)) / s) + 1;
  if (ceilMode && (out - 1) * s >= size + p) out--;
  return out;
}

function poolBool(op: string, arg: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`${op}: option '${arg}' must be a boolean, got ${poolTypeName(v)}`);
  return v;
}

/** Reads and checks the window options the way torch's pool2d_shape_check does; returns the output shape. */
function poolWindow(op: string, x: PoolTensor, kernelSize: unknown, opts: MaxPool2dOptions | AvgPool2dOptions | undefined,
  hasDilation: boolean): { window: PoolWindow; outShape: number[] } {
  expectPoolTensor(op, 'input', x);
  expectPoolDType(op, 'input', x, ['float32']);
  if (opts !== undefined && opts !== null && (typeof opts !== 'object' || Array.isArray(opts)))
    throw new TypeError(`${op}: argument 'options' must be an object, got ${poolTypeName(opts)}`);
  const o = (opts ?? {}) as MaxPool2dOptions & AvgPool2dOptions;
  const kernel = poolPair(op, 'kernelSize', kernelSize);
  const stride = o.stride === undefined || o.stride === null || (Array.isArray(o.stride) && o.stride.length === 0)
    ? kernel : poolPair(op, 'stride', o.stride);
  const padding = poolPair(op, 'padding', o.padding ?? 0);
  const dilation = hasDilation ? poolPair(op, 'dilation', o.dilation ?? 1) : ([1, 1] as [number, number]);
  const ceilMode = poolBool(op, 'ceilMode', o.ceilMode, false);
  if (kernel[0] <= 0 || kernel[1] <= 0)
    throw new RangeError(`${op}: kernelSize should be greater than zero, got [${kernel.join(', ')}]`);
  if (stride[0] <= 0 || stride[1] <= 0) throw new RangeError(`${op}: stride should be greater than zero, got [${stride.join(', ')}]`);
  if (dilation[0] <= 0 || dilation[1] <= 0)
    throw new RangeError(`${op}: dilation should be greater than zero, got [${dilation.join(', ')}]`);
  if (padding[0] < 0 || padding[1] < 0) throw new RangeError(`${op}: padding must be non-negative, got [${padding.join(', ')}]`);
  // torch allows padding <= kernelSize / 2; the ONNX conformance cases pad a 3x3 window by 2, so
  // the bound is onnxruntime's (padding < kernelSize: every window still overlaps the input).
  if (padding[0] >= kernel[0] || padding[1] >= kernel[1])
    throw new RangeError(`${op}: padding should be smaller than kernelSize, but got padding [${padding.join(', ')}] with kernelSize [${kernel.join(', ')}]`);
  const nd = x.ndim;
  if ((nd !== 3 && nd !== 4) || x.shape.slice(nd - 3).some((s) => s === 0))
    throw new RangeError(`${op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input with non-zero C, H, W, got ${describePoolInput(x)}`);
  const [H, W] = x.shape.slice(nd - 2);
  const OH = poolOutputSize(H, kernel[0], stride[0], padding[0], dilation[0], ceilMode);
  const OW = poolOutputSize(W, kernel[1], stride[1], padding[1], dilation[1], ceilMode);
  if (OH < 1 || OW < 1)
    throw new RangeError(`${op}: input ${describePoolInput(x)} gives output size ${OH}x${OW} with kernelSize [${kernel.join(', ')}], stride [${stride.join(', ')}], padding [${padding.join(', ')}], dilation [${dilation.join(', ')}]: output size is too small`);
  return { window: { kernel, stride, padding, dilation, ceilMode }, outShape: [...x.shape.slice(0, nd - 2), OH, OW] };
}

/**
 * `maxPool2d(x, kernelSize, {stride, padding, dilation, ceilMode})` over NCHW or CHW float32.
 * Padding acts as -inf; NaN propagates.
 * @example tj.maxPool2d(tj.randn([1, 3, 8, 8]), 2).shape // [1, 3, 4, 4]
 *
 * Kernel "max_pool2d", attrs: [kh, kw, sh, sw, ph, pw, dh, dw].
 */
export const maxPool2d = definePoolOp({
  name: 'maxPool2d',
  kernels: ['max_pool2d'],
  kernel: (x: PoolTensor, kernelSize: number | number[], opts?: MaxPool2dOptions): PoolKernelCall => {
    const { window: w, outShape } = poolWindow('maxPool2d', x, kernelSize, opts, true);
    return {
      kernel: 'max_pool2d',
      inputs: [x],
      attrs: [...w.kernel, ...w.stride, ...w.padding, ...w.dilation],
      outputs: [{ shape: outShape, dtype: 'float32' }],
    };
  },
});

/**
 * `avgPool2d(x, kernelSize, {stride, padding, ceilMode, countIncludePad = true})` over NCHW or
 * CHW float32, with torch's divisors (in ceil mode the overhang past the padding never counts).
 * @example tj.avgPool2d(tj.randn([1, 3, 8, 8]), 3, { stride: 2, padding: 1 }).shape // [1, 3, 4, 4]
 *
 * Kernel "avg_pool2d", attrs: [kh, kw, sh, sw, ph, pw, countIncludePad (0/1)].
 */
export const avgPool2d = definePoolOp({
  name: 'avgPool2d',
  kernels: ['avg_pool2d'],
  kernel: (x: PoolTensor, kernelSize: number | number[], opts?: AvgPool2dOptions): PoolKernelCall => {
    const { window: w, outShape } = poolWindow('avgPool2d', x, kernelSize, opts, false);
    const countIncludePad = poolBool('avgPool2d', 'countIncludePad', opts?.countIncludePad, true);
    return {
      kernel: 'avg_pool2d',
      inputs: [x],
      attrs: [...w.kernel, ...w.stride, ...w.padding, countIncludePad ? 1 : 0],
      outputs: [{ shape: outShape, dtype: 'float32' }],
    };
  },
});
