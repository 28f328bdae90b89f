import { DType, dtypeCode, itemSize, typedArrayCtor, AnyTypedArray } from './dtype';
import { native } from './native';
import { Storage } from './storage';
import { trackTensor } from './scope';

/** Row-major strides (in elements) of a contiguous tensor of `shape`. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function shapeNumel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The most elements a tensor (or view) may have: sizes, element counts and byte offsets
 * are doubles here (exact to 2^53) and int64 natively, where a larger count would wrap.
 */
export const MAX_ELEMENTS = 2 ** 50;

/** "[2, 3] float32": how errors name a tensor. */
export function describeTensor(t: { shape: readonly number[]; dtype: DType }): string {
  return `[${t.shape.join(', ')}] ${t.dtype}`;
}

export interface TensorInit {
  storage: Storage | null;
  shape: number[];
  dtype: DType;
  strides?: number[];
  offset?: number;
}

/**
 * Hooks the compiler installs. A tensor without storage is a fake tensor (shape and
 * dtype only) made while tracing; reading its data asks the tracer to materialise it
 * (a graph break). Kept as a hook so this file does not depend on lib/dynamo.
 */
export const tensorHooks: {
  materialize: ((t: Tensor, reason: string) => Tensor) | null;
} = { materialize: null };

/**
 * An n-dimensional array. Views (reshape, transpose, slice, ...) share storage.
 * Op methods (`x.add(y)`, ...) are installed from the op registry (lib/ops).
 */
export class Tensor {
  readonly shape: number[];
  readonly strides: number[];
  readonly offset: number;
  readonly dtype: DType;
  private storageRef: Storage | null;
  /** Owned by the tracer: the graph value this tensor stands for while tracing. */
  _trace: unknown = undefined;
  private disposedFlag = false;

  constructor(init: TensorInit) {
    if (shapeNumel(init.shape) > MAX_ELEMENTS)
      throw new RangeError(`tensorjit: shape [${init.shape.join(', ')}] has ${shapeNumel(init.shape)} elements, more than a tensor can hold (2^50)`);
    this.shape = init.shape;
    this.dtype = init.dtype;
    this.strides = init.strides ?? contiguousStrides(init.shape);
    this.offset = init.offset ?? 0;
    this.storageRef = init.storage;
    if (this.storageRef) {
      this.storageRef.retain();
      trackTensor(this);
    }
  }

  /** The memory this tensor views; null for fake tensors (tracing/meta). */
  get storage(): Storage | null {
    return this.storageRef;
  }

  /** A new contiguous tensor with uninitialised (or zeroed) native memory. */
  static empty(shape: number[], dtype: DType, zeroFill = false): Tensor {
    return new Tensor({ storage: Storage.allocate(shapeNumel(shape) * itemSize[dtype], zeroFill), shape, dtype });
  }

  /** A fake tensor: shape and dtype, no memory. */
  static fake(shape: number[], dtype: DType): Tensor {
    return new Tensor({ storage: null, shape, dtype });
  }

  get ndim(): number {
    return this.shape.length;
  }
  dim(): number {
    return this.shape.length;
  }
  numel(): number {
    return shapeNumel(this.shape);
  }
  /** size() is the shape; size(d) one dim (negative d counts from the end). */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number | number[] {
    if (dim === undefined) return this.shape.slice();
    const d = dim < 0 ? dim + this.ndim : dim;
    if (!(d >= 0 && d < this.ndim)) throw new RangeError(`size: dim ${dim} out of range for ${describeTensor(this)}`);
    return this.shape[d];
  }
  stride(): number[];
  stride(dim: number): number;
  stride(dim?: number): number | number[] {
    if (dim === undefined) return this.strides.slice();
    return this.strides[dim < 0 ? dim + this.ndim : dim];
  }
  isContiguous(): boolean {
    let expected = 1;
    for (let i = this.ndim - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expected) return false;
      expected *= this.shape[i];
    }
    return true;
  }
  get isFake(): boolean {
    return this.storage === null;
  }
  get disposed(): boolean {
    return this.disposedFlag || (this.storage !== null && this.storage.released);
  }

  /** Releases this tensor's hold on its storage now (memory returns when no view holds it). */
  dispose(): void {
    if (this.disposedFlag || !this.storage) return;
    this.disposedFlag = true;
    // While views still use the memory, this handle lets go of it, so dropping the views
    // frees it even if this disposed tensor stays referenced.
    if (!this.storageRef!.release()) this.storageRef = Storage.released();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The real tensor behind this one (itself, or the tracer's materialised value). */
  private concrete(reason: string): Tensor {
    if (this.storage) {
      if (this.disposed) throw new Error(`${reason}: tensor ${describeTensor(this)} was disposed`);
      return this;
    }
    if (tensorHooks.materialize) return tensorHooks.materialize(this, reason);
    throw new Error(`${reason}: fake tensor ${describeTensor(this)} has no data`);
  }

  /** Row-major copy of the logical elements (float16/bfloat16 as raw bits). */
  dataSync(): AnyTypedArray {
    const t = this.concrete('dataSync');
    const Ctor = typedArrayCtor(t.dtype);
    const n = t.numel();
    if (t.isContiguous()) {
      return new Ctor(t.storage!.buffer.slice(t.offset * itemSize[t.dtype], (t.offset + n) * itemSize[t.dtype]));
    }
    const out = Tensor.empty(t.shape.slice(), t.dtype);
    copyInto(out, t);
    const data = new Ctor(out.storage!.buffer.slice(0, n * itemSize[t.dtype]));
    out.dispose();
    return data;
  }

  /** Async read of the data (resolves to the same copy as dataSync). */
  async data(): Promise<AnyTypedArray> {
    return this.dataSync();
  }

  /** Nested JS arrays (numbers; booleans for bool; int64 as numbers). */
  toArray(): unknown {
    const flat = this.concrete('toArray').dataSync();
    const values: (number | boolean)[] = decodeValues(flat, this.dtype);
    const build = (dim: number, start: number): unknown => {
      if (dim === this.ndim) return values[start];
      const step = shapeNumel(this.shape.slice(dim + 1));
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[dim]; i++) out.push(build(dim + 1, start + i * step));
      return out;
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number | boolean {
    if (this.numel() !== 1)
      throw new RangeError(`item: only one-element tensors can be converted, got ${describeTensor(this)}`);
    const v = decodeValues(this.concrete('item').dataSync(), this.dtype)[0];
    return v;
  }

  toString(): string {
    return `Tensor(${describeTensor(this)})`;
  }
}

function decodeValues(flat: AnyTypedArray, dtype: DType): (number | boolean)[] {
  switch (dtype) {
    case 'bool': return Array.from(flat as Uint8Array, (v) => v !== 0);
    case 'int64': return Array.from(flat as BigInt64Array, (v) => Number(v));
    case 'float16': return Array.from(flat as Uint16Array, halfToFloat);
    case 'bfloat16': return Array.from(flat as Uint16Array, (b) => bitsToFloat(b << 16));
    default: return Array.from(flat as Float32Array | Int32Array);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsToFloat(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// ---- packing tensors for native.exec

let metaScratch = new Float64Array(256);

/** [count, then per tensor: dtype, ndim, offset, shape..., strides...] (native/binding/tensor_args.h). */
export function packTensors(tensors: readonly Tensor[]): { buffers: ArrayBuffer[]; meta: Float64Array } {
  let size = 1;
  for (const t of tensors) size += 3 + 2 * t.shape.length;
  if (metaScratch.length < size) metaScratch = new Float64Array(size * 2);
  const meta = metaScratch;
  const buffers: ArrayBuffer[] = new Array(tensors.length);
  let p = 0;
  meta[p++] = tensors.length;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (!t.storage) throw new Error(`tensorjit: fake tensor ${describeTensor(t)} reached a native kernel`);
    buffers[i] = t.storage.buffer;
    meta[p++] = dtypeCode[t.dtype];
    meta[p++] = t.shape.length;
    meta[p++] = t.offset;
    for (const d of t.shape) meta[p++] = d;
    for (const s of t.strides) meta[p++] = s;
  }
  return { buffers, meta: meta.subarray(0, p) };
}

// Kept larger than V8's on-heap limit for typed arrays (64 bytes): the native side reading a
// small on-heap array makes V8 move it to a new off-heap backing store, a malloc and a GC
// sweep per kernel call (a fifth of a small eager op's time).
let attrsScratch = new Float64Array(64);

/** A kernel call's attrs as a Float64Array for native.exec: a view of a reused buffer, valid until the next call. */
export function packAttrs(attrs: readonly number[]): Float64Array {
  if (attrsScratch.length < attrs.length) attrsScratch = new Float64Array(attrs.length * 2);
  for (let i = 0; i < attrs.length; i++) attrsScratch[i] = attrs[i];
  return attrsScratch.subarray(0, attrs.length);
}

let copyKernelId = -1;

/** dst <- src elementwise (same dtype; src may broadcast). Used by dataSync and contiguous(). */
export function copyInto(dst: Tensor, src: Tensor): void {
  if (copyKernelId < 0) copyKernelId = native.kernelNames().indexOf('copy');
  const { buffers, meta } = packTensors([src, dst]);
  native.exec(copyKernelId, buffers, meta, 1, packAttrs([]));
}
