/** Tensor creation: from JS data, filled, ranges, random (seedable), wrapped buffers. */
import { AnyTypedArray, DType, isDType, itemSize, typedArrayCtor } from '../dtype';
import { Storage } from '../storage';
import { Tensor, shapeNumel } from '../tensor';
import { defineOp } from './registry';
import { expectNumber, expectShape, typeName } from './checks';

export interface CreateOptions {
  dtype?: DType;
}
export interface TensorOptions extends CreateOptions {
  shape?: number[];
}

function dtypeOption(op: string, opts: CreateOptions | undefined, dflt: DType): DType {
  const d = opts?.dtype ?? dflt;
  if (!isDType(d)) throw new TypeError(`${op}: unknown dtype '${String(d)}'`);
  return d;
}

function dtypeOfTypedArray(a: ArrayBufferView): DType | null {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Uint8Array) return 'bool';
  return null;
}

/** Flattens nested arrays, checking they are rectangular; returns values and shape. */
function flattenNested(data: unknown): { values: unknown[]; shape: number[] } {
  const shape: number[] = [];
  let probe: unknown = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const values: unknown[] = [];
  const walk = (x: unknown, depth: number) => {
    if (depth === shape.length) {
      if (Array.isArray(x)) throw new RangeError('tensor: nested arrays are ragged (deeper than the first element)');
      values.push(x);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth])
      throw new RangeError(`tensor: nested arrays are ragged at depth ${depth} (expected length ${shape[depth]})`);
    for (const v of x) walk(v, depth + 1);
  };
  walk(data, 0);
  return { values, shape };
}

function writeValues(t: Tensor, values: ArrayLike<unknown>): void {
  const Ctor = typedArrayCtor(t.dtype);
  const dst = new Ctor(t.storage!.buffer, 0, values.length) as AnyTypedArray;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (t.dtype === 'int64') (dst as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
    else if (t.dtype === 'float16' || t.dtype === 'bfloat16') (dst as Uint16Array)[i] = encodeHalfLike(t.dtype, Number(v));
    else (dst as Float32Array)[i] = typeof v === 'boolean' ? Number(v) : Number(v);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function encodeHalfLike(dtype: 'float16' | 'bfloat16', v: number): number {
  f32[0] = v;
  const x = u32[0];
  if (dtype === 'bfloat16') {
    if (Number.isNaN(v)) return 0x7fc0;
    return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  const sign = (x >>> 16) & 0x8000;
  const a = x & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a < 0x38800000) return sign | Math.round(Math.abs(f32[0]) * 16777216);
  return (sign | ((a + 0xfff + ((a >>> 13) & 1) - 0x38000000) >>> 13)) & 0xffff;
}

/**
 * `tensor(data, {shape, dtype})` copies nested arrays or a TypedArray into a new tensor.
 * Nested numbers default to float32, booleans to bool, bigints to int64.
 * @example tj.tensor([[1, 2], [3, 4]]); tj.tensor(new Int32Array([1, 2, 3]), { shape: [3] })
 */
export const tensor = defineOp({
  name: 'tensor',
  traits: ['creation'],
  impl: (data: unknown, opts?: TensorOptions): Tensor => {
    if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
      const inferred = dtypeOfTypedArray(data);
      const dtype = dtypeOption('tensor', opts, inferred ?? 'float32');
      const arr = data as unknown as ArrayLike<unknown>;
      const shape = opts?.shape ? expectShape('tensor', 'shape', opts.shape) : [arr.length];
      if (shapeNumel(shape) !== arr.length)
        throw new RangeError(`tensor: shape [${shape.join(', ')}] needs ${shapeNumel(shape)} values, got ${arr.length}`);
      const t = Tensor.empty(shape, dtype);
      if (inferred === dtype || (data instanceof Uint16Array && (dtype === 'float16' || dtype === 'bfloat16'))) {
        new Uint8Array(t.storage!.buffer, 0, arr.length * itemSize[dtype]).set(
          new Uint8Array(data.buffer, data.byteOffset, arr.length * itemSize[dtype]));
      } else {
        writeValues(t, arr);
      }
      return t;
    }
    if (typeof data === 'number' || typeof data === 'boolean' || typeof data === 'bigint' || Array.isArray(data)) {
      const { values, shape: nestedShape } = flattenNested(data);
      const first = values[0];
      const dflt: DType = typeof first === 'boolean' ? 'bool' : typeof first === 'bigint' ? 'int64' : 'float32';
      const dtype = dtypeOption('tensor', opts, dflt);
      for (const v of values)
        if (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'bigint')
          throw new TypeError(`tensor: data must hold numbers, booleans or bigints, found ${typeName(v)}`);
      const shape = opts?.shape ? expectShape('tensor', 'shape', opts.shape) : nestedShape;
      if (shapeNumel(shape) !== values.length)
        throw new RangeError(`tensor: shape [${shape.join(', ')}] needs ${shapeNumel(shape)} values, got ${values.length}`);
      const t = Tensor.empty(shape, dtype);
      writeValues(t, values);
      return t;
    }
    throw new TypeError(`tensor: data must be a nested array, a number or a TypedArray, got ${typeName(data)}`);
  },
});

/**
 * Wraps a caller's TypedArray or ArrayBuffer without copying (shares memory).
 * @example const t = tj.fromBuffer(new Float32Array(6), [2, 3]);
 */
export const fromBuffer = defineOp({
  name: 'fromBuffer',
  traits: ['creation'],
  impl: (data: ArrayBuffer | ArrayBufferView, shape?: number[], dtype?: DType): Tensor => {
    let buffer: ArrayBuffer, byteOffset = 0, length: number;
    let d: DType;
    if (data instanceof ArrayBuffer) {
      d = dtype ?? 'float32';
      if (!isDType(d)) throw new TypeError(`fromBuffer: unknown dtype '${String(d)}'`);
      buffer = data;
      length = Math.floor(data.byteLength / itemSize[d]);
    } else if (ArrayBuffer.isView(data) && data.buffer instanceof ArrayBuffer) {
      d = dtype ?? dtypeOfTypedArray(data) ?? 'float32';
      if (!isDType(d)) throw new TypeError(`fromBuffer: unknown dtype '${String(d)}'`);
      buffer = data.buffer;
      byteOffset = data.byteOffset;
      length = Math.floor(data.byteLength / itemSize[d]);
    } else {
      throw new TypeError(`fromBuffer: expected an ArrayBuffer or TypedArray, got ${typeName(data)}`);
    }
    if (byteOffset % itemSize[d] !== 0) throw new RangeError(`fromBuffer: byteOffset ${byteOffset} is not aligned to ${d}`);
    const s = shape ? expectShape('fromBuffer', 'shape', shape) : [length];
    if (shapeNumel(s) > length)
      throw new RangeError(`fromBuffer: shape [${s.join(', ')}] needs ${shapeNumel(s)} elements, the buffer holds ${length}`);
    return new Tensor({ storage: new Storage(buffer, false), shape: s, dtype: d, offset: byteOffset / itemSize[d] });
  },
});

export const full = defineOp({
  name: 'full',
  traits: ['creation'],
  kernels: ['fill'],
  kernel: (shape: number[], value: number | boolean, opts?: CreateOptions) => {
    const s = expectShape('full', 'shape', shape);
    if (typeof value !== 'number' && typeof value !== 'boolean')
      throw new TypeError(`full: argument 'value' must be a number, got ${typeName(value)}`);
    const dflt: DType = typeof value === 'boolean' ? 'bool' : 'float32';
    return { kernel: 'fill', inputs: [], attrs: [Number(value)], outputs: [{ shape: s, dtype: dtypeOption('full', opts, dflt) }] };
  },
});

export const zeros = defineOp({
  name: 'zeros',
  traits: ['creation'],
  decompose: (shape: number[], opts?: CreateOptions): Tensor => full(expectShape('zeros', 'shape', shape), 0, { dtype: dtypeOption('zeros', opts, 'float32') }),
});

export const ones = defineOp({
  name: 'ones',
  traits: ['creation'],
  decompose: (shape: number[], opts?: CreateOptions): Tensor => full(expectShape('ones', 'shape', shape), 1, { dtype: dtypeOption('ones', opts, 'float32') }),
});

/** `arange(end)`, `arange(start, end, step?, {dtype})`; integer args give int64 (torch), else float32. */
export const arange = defineOp({
  name: 'arange',
  traits: ['creation'],
  kernels: ['arange'],
  kernel: (a: number, b?: number | CreateOptions, c?: number | CreateOptions, d?: CreateOptions) => {
    const nums: number[] = [];
    let opts: CreateOptions | undefined;
    for (const x of [a, b, c, d]) {
      if (typeof x === 'number') nums.push(x);
      else if (x !== undefined && x !== null) opts = x as CreateOptions;
    }
    nums.forEach((x, i) => expectNumber('arange', ['start', 'end', 'step'][i], x));
    const [start, end, step] = nums.length === 1 ? [0, nums[0], 1] : [nums[0], nums[1], nums[2] ?? 1];
    if (step === 0) throw new RangeError('arange: step must be nonzero');
    if (!Number.isFinite(start) || !Number.isFinite(end)) throw new RangeError('arange: start and end must be finite');
    if ((end - start) * step < 0)
      throw new RangeError(`arange: upper bound and lower bound inconsistent with step sign (${start}, ${end}, ${step})`);
    const n = Math.max(0, Math.ceil((end - start) / step));
    const allInt = [start, end, step].every(Number.isInteger);
    const dtype = dtypeOption('arange', opts, allInt ? 'int64' : 'float32');
    return { kernel: 'arange', inputs: [], attrs: [start, step], outputs: [{ shape: [n], dtype }] };
  },
});

// ---- random numbers: a seedable generator (xoshiro128**), shared by rand and randn

let rngState = new Uint32Array([0x9e3779b9, 0x243f6a88, 0xb7e15162, 0x12345678]);

/** Seeds the generator behind rand/randn. */
export function manualSeed(seed: number): void {
  // splitmix32 expansion of the seed into the 128-bit state
  let s = (Math.trunc(seed) >>> 0) ^ 0xdeadbeef;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  rngState = new Uint32Array([next(), next(), next(), next()]);
}

function nextUint32(): number {
  const s = rngState;
  const result = Math.imul(((Math.imul(s[1], 5) << 7) | (Math.imul(s[1], 5) >>> 25)) >>> 0, 9) >>> 0;
  const t = (s[1] << 9) >>> 0;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = ((s[3] << 11) | (s[3] >>> 21)) >>> 0;
  return result;
}
const uniform01 = () => (nextUint32() + 0.5) / 4294967296;

function randomTensor(op: string, shape: number[], opts: CreateOptions | undefined, sample: () => number): Tensor {
  const s = expectShape(op, 'shape', shape);
  const dtype = dtypeOption(op, opts, 'float32');
  if (dtype !== 'float32') throw new TypeError(`${op}: only float32 is supported, got ${dtype}`);
  const t = Tensor.empty(s, dtype);
  const out = new Float32Array(t.storage!.buffer, 0, t.numel());
  for (let i = 0; i < out.length; i++) out[i] = sample();
  return t;
}

/** Uniform samples in [0, 1). */
export const rand = defineOp({
  name: 'rand',
  traits: ['creation', 'random'],
  impl: (shape: number[], opts?: CreateOptions): Tensor => randomTensor('rand', shape, opts, uniform01),
});

/** Standard normal samples (Box-Muller). */
export const randn = defineOp({
  name: 'randn',
  traits: ['creation', 'random'],
  impl: (shape: number[], opts?: CreateOptions): Tensor =>
    randomTensor('randn', shape, opts, () => Math.sqrt(-2 * Math.log(uniform01())) * Math.cos(2 * Math.PI * uniform01())),
});

