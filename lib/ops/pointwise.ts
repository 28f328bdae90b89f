/**
 * Pointwise ops: unary math, binary arithmetic with NumPy broadcasting, comparisons,
 * where, clamp, dtype casts, and the in-place forms inference code needs.
 *
 * Kernel attribute layout (native/kernels/pointwise/*.cc): attrs[0] is the compute
 * dtype code (lib/dtype.ts dtypeCode): operands are converted to it inside the kernel
 * and the result is converted to the output's dtype (so float16/bfloat16 storage is
 * computed in float32, and mixed int32/float32 operands need no separate cast). A JS
 * number operand travels as the next attribute (`add(x, 2)`: inputs [x], attrs [code, 2]).
 * Extra attributes: gelu [code, approximate (0 none, 1 tanh)],
 * clamp [code, hasMin, min, hasMax, max]. "cast" has none.
 */
import { DType, dtypeCode, isDType, isFloating, isIntegral, promoteTypes, promoteWithScalar } from '../dtype';
import { Tensor, describeTensor } from '../tensor';
import { defineOp, KernelCall, OpTrait } from './registry';
import { broadcastAll, broadcastShapes, expectTensor, typeName, valueText } from './checks';

/** A JS scalar operand (torch's Python scalar). */
export type Scalar = number | boolean;

const isScalar = (x: unknown): x is Scalar => typeof x === 'number' || typeof x === 'boolean';

/** float16/bfloat16 are storage types: their arithmetic runs in float32. */
const computeOf = (d: DType): DType => (d === 'float16' || d === 'bfloat16' ? 'float32' : d);

// torch's category order for "can the result be cast to the in-place target"
const category = (d: DType) => (d === 'bool' ? 0 : isIntegral(d) ? 1 : 2);

function pointwiseCall(kernel: string, inputs: Tensor[], shape: number[], dtype: DType, compute: DType, extra: number[] = []): KernelCall {
  return { kernel, inputs, attrs: [dtypeCode[compute], ...extra], outputs: [{ shape, dtype }] };
}

const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  int32: [-2147483648, 2147483647],
  int64: [-9223372036854775808, 9223372036854775807],
};

/** An integer scalar operand must fit the integer compute dtype (torch raises on overflow too). */
function checkScalarFits(op: string, value: Scalar, compute: DType): void {
  const range = INT_RANGE[compute];
  if (!range || typeof value === 'boolean') return;
  if (value < range[0] || value > range[1])
    throw new RangeError(`${op}: scalar ${value} cannot be converted to ${compute} without overflow`);
}

// ---- unary

type UnaryKind = 'float' | 'floatOnly' | 'numeric';

/**
 * 'float': integer/bool inputs promote to float32 (torch: exp(int) is float);
 * 'floatOnly': floating inputs only (torch has no integer silu/gelu);
 * 'numeric': keeps the dtype, bool rejected (neg, abs, relu).
 */
function unaryCall(op: string, kernel: string, x: unknown, kind: UnaryKind, extra: number[] = []): KernelCall {
  const t = expectTensor(op, 'input', x);
  let out: DType;
  if (kind === 'numeric') {
    if (t.dtype === 'bool') throw new TypeError(`${op}: not supported for bool tensors (${describeTensor(t)})`);
    out = t.dtype;
  } else if (kind === 'floatOnly') {
    if (!isFloating(t.dtype)) throw new TypeError(`${op}: expected a floating-point tensor, got ${describeTensor(t)}`);
    out = t.dtype;
  } else {
    out = isFloating(t.dtype) ? t.dtype : 'float32';
  }
  return pointwiseCall(kernel, [t], t.shape.slice(), out, computeOf(out), extra);
}

const UNARY: OpTrait[] = ['pointwise', 'unary'];

/** -x. @example tj.neg(tj.tensor([1, -2])) // [-1, 2] */
export const neg = defineOp({ name: 'neg', method: true, traits: UNARY, kernels: ['neg'],
  kernel: (x: Tensor) => unaryCall('neg', 'neg', x, 'numeric') });
/** |x|. @example tj.abs(tj.tensor([-1.5])) // [1.5] */
export const abs = defineOp({ name: 'abs', method: true, traits: UNARY, kernels: ['abs'],
  kernel: (x: Tensor) => unaryCall('abs', 'abs', x, 'numeric') });
/** max(x, 0); NaN stays NaN. @example tj.relu(tj.tensor([-1, 2])) // [0, 2] */
export const relu = defineOp({ name: 'relu', method: true, traits: UNARY, kernels: ['relu'],
  kernel: (x: Tensor) => unaryCall('relu', 'relu', x, 'numeric') });
/** e^x (max error 1 ulp). @example tj.exp(tj.tensor([0])) // [1] */
export const exp = defineOp({ name: 'exp', method: true, traits: UNARY, kernels: ['exp'],
  kernel: (x: Tensor) => unaryCall('exp', 'exp', x, 'float') });
/** Natural log; log(0) = -inf, log(x < 0) = NaN. @example tj.log(tj.tensor([1])) // [0] */
export const log = defineOp({ name: 'log', method: true, traits: UNARY, kernels: ['log'],
  kernel: (x: Tensor) => unaryCall('log', 'log', x, 'float') });
/** Square root (IEEE). @example tj.sqrt(tj.tensor([4])) // [2] */
export const sqrt = defineOp({ name: 'sqrt', method: true, traits: UNARY, kernels: ['sqrt'],
  kernel: (x: Tensor) => unaryCall('sqrt', 'sqrt', x, 'float') });
/** 1 / sqrt(x); rsqrt(0) = inf, rsqrt(inf) = 0. @example tj.rsqrt(tj.tensor([4])) // [0.5] */
export const rsqrt = defineOp({ name: 'rsqrt', method: true, traits: UNARY, kernels: ['rsqrt'],
  kernel: (x: Tensor) => unaryCall('rsqrt', 'rsqrt', x, 'float') });
/** sin(x). @example tj.sin(tj.tensor([0])) // [0] */
export const sin = defineOp({ name: 'sin', method: true, traits: UNARY, kernels: ['sin'],
  kernel: (x: Tensor) => unaryCall('sin', 'sin', x, 'float') });
/** cos(x). @example tj.cos(tj.tensor([0])) // [1] */
export const cos = defineOp({ name: 'cos', method: true, traits: UNARY, kernels: ['cos'],
  kernel: (x: Tensor) => unaryCall('cos', 'cos', x, 'float') });
/** tanh(x); tanh(±inf) = ±1. @example tj.tanh(tj.tensor([0])) // [0] */
export const tanh = defineOp({ name: 'tanh', method: true, traits: UNARY, kernels: ['tanh'],
  kernel: (x: Tensor) => unaryCall('tanh', 'tanh', x, 'float') });
/** 1 / (1 + e^-x). @example tj.sigmoid(tj.tensor([0])) // [0.5] */
export const sigmoid = defineOp({ name: 'sigmoid', method: true, traits: UNARY, kernels: ['sigmoid'],
  kernel: (x: Tensor) => unaryCall('sigmoid', 'sigmoid', x, 'float') });
/** x * sigmoid(x) (floating inputs only, as torch). @example tj.silu(tj.tensor([0])) // [0] */
export const silu = defineOp({ name: 'silu', method: true, traits: UNARY, kernels: ['silu'],
  kernel: (x: Tensor) => unaryCall('silu', 'silu', x, 'floatOnly') });
/** The error function. @example tj.erf(tj.tensor([0])) // [0] */
export const erf = defineOp({ name: 'erf', method: true, traits: UNARY, kernels: ['erf'],
  kernel: (x: Tensor) => unaryCall('erf', 'erf', x, 'float') });

export interface GeluOptions {
  /** 'none' (default): x Φ(x) with the exact erf; 'tanh': torch's tanh approximation. */
  approximate?: 'none' | 'tanh';
}
/**
 * GELU, `F.gelu(x, approximate=...)` (floating inputs only).
 * @example tj.gelu(x); tj.gelu(x, { approximate: 'tanh' })
 */
export const gelu = defineOp({ name: 'gelu', method: true, traits: UNARY, kernels: ['gelu'],
  kernel: (x: Tensor, opts?: GeluOptions) => {
    if (opts !== undefined && opts !== null && (typeof opts !== 'object' || Array.isArray(opts)))
      throw new TypeError(`gelu: options must be an object like {approximate: 'tanh'}, got ${typeName(opts)}`);
    const approximate = opts?.approximate ?? 'none';
    if (approximate !== 'none' && approximate !== 'tanh')
      throw new TypeError(`gelu: approximate must be 'none' or 'tanh', got ${valueText(approximate)}`);
    return unaryCall('gelu', 'gelu', x, 'floatOnly', [approximate === 'tanh' ? 1 : 0]);
  } });

// ---- binary

type BinaryRule = 'arith' | 'sub' | 'div' | 'pow' | 'minmax' | 'compare';

interface Resolved {
  inputs: Tensor[];
  shape: number[];
  /** promoted dtype of the operands */
  promoted: DType;
  /** the JS number operand, if any */
  scalar?: Scalar;
}

function resolveOperands(op: string, a: unknown, b: unknown, tensorOnly: boolean): Resolved {
  const x = expectTensor(op, 'input', a);
  if (b instanceof Tensor) {
    return { inputs: [x, b], shape: broadcastShapes(op, x.shape, b.shape), promoted: promoteTypes(x.dtype, b.dtype) };
  }
  if (!tensorOnly && isScalar(b)) {
    return { inputs: [x], shape: x.shape.slice(), promoted: promoteWithScalar(x.dtype, b), scalar: b };
  }
  throw new TypeError(`${op}: argument 'other' must be a Tensor${tensorOnly ? '' : ' or a number'}, got ${typeName(b)}`);
}

function binaryCall(op: string, kernel: string, a: unknown, b: unknown, rule: BinaryRule): KernelCall {
  const r = resolveOperands(op, a, b, rule === 'minmax');
  const extra = r.scalar === undefined ? [] : [Number(r.scalar)];
  const hasBoolTensor = r.inputs.some((t) => t.dtype === 'bool');
  let out = r.promoted;
  let compute = computeOf(r.promoted);
  switch (rule) {
    case 'sub':
      if (hasBoolTensor)
        throw new TypeError(`sub: subtraction with a bool tensor is not supported (${r.inputs.map(describeTensor).join(', ')}); use logical ops or where`);
      break;
    case 'div':
      out = isFloating(r.promoted) ? r.promoted : 'float32';
      compute = 'float32';
      break;
    case 'pow':
      if (r.promoted === 'bool') throw new TypeError(`pow: not supported for bool operands (${r.inputs.map(describeTensor).join(', ')})`);
      if (r.scalar !== undefined && isIntegral(compute) && Number(r.scalar) < 0)
        throw new RangeError(`pow: integers to negative integer powers are not allowed (${describeTensor(r.inputs[0])} ** ${r.scalar})`);
      break;
    case 'compare':
      out = 'bool';
      // an integer scalar beyond int32 is compared exactly in int64
      if (compute === 'int32' && r.scalar !== undefined && INT_RANGE.int32 &&
          (Number(r.scalar) < INT_RANGE.int32[0] || Number(r.scalar) > INT_RANGE.int32[1])) compute = 'int64';
      break;
    default:
      break;
  }
  if (r.scalar !== undefined) checkScalarFits(op, r.scalar, compute);
  return pointwiseCall(kernel, r.inputs, r.shape, out, compute, extra);
}

/**
 * In-place form: runs the op's kernel writing into `self` (`inplace: 0`). The broadcast
 * may not change self's shape, the result dtype must cast to self's (torch's rules),
 * self may not be an expanded view, and `other` may not partially overlap self.
 */
function inplaceCall(op: string, self: unknown, other: unknown, call: KernelCall): KernelCall {
  const x = self as Tensor;
  const result = call.outputs[0];
  if (result.shape.length !== x.shape.length || result.shape.some((d, i) => d !== x.shape[i]))
    throw new RangeError(`${op}: output with shape [${x.shape.join(', ')}] doesn't match the broadcast shape [${result.shape.join(', ')}]`);
  if (category(result.dtype) > category(x.dtype))
    throw new TypeError(`${op}: result type ${result.dtype} can't be cast to the desired output type ${x.dtype}`);
  // (an empty tensor has none to share: its contiguous strides have zeros, [3, 0] -> [0, 1])
  if (x.numel() > 0 && x.shape.some((d, i) => d > 1 && x.strides[i] === 0))
    throw new RangeError(`${op}: ${describeTensor(x)} has elements sharing memory (an expanded view); clone() it before writing in place`);
  if (other instanceof Tensor && x.storage !== null && other.storage === x.storage) {
    const same = other.offset === x.offset && other.shape.length === x.shape.length &&
      other.shape.every((d, i) => d === x.shape[i] && (d === 1 || other.strides[i] === x.strides[i]));
    if (!same) throw new RangeError(`${op}: the other operand partially overlaps the tensor written in place; clone() it first`);
  }
  return { ...call, outputs: [{ shape: x.shape.slice(), dtype: x.dtype }], inplace: 0 };
}

const BINARY: OpTrait[] = ['pointwise', 'binary'];
const INPLACE: OpTrait[] = ['pointwise', 'binary', 'inplace'];
const COMPARE: OpTrait[] = ['pointwise', 'binary', 'comparison'];

/** a + b with broadcasting; bool + bool is logical or. @example tj.add(x, 1) */
export const add = defineOp({ name: 'add', method: true, traits: BINARY, kernels: ['add'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('add', 'add', a, b, 'arith') });
/** a - b with broadcasting (bool operands are rejected, as torch). @example tj.sub(x, y) */
export const sub = defineOp({ name: 'sub', method: true, traits: BINARY, kernels: ['sub'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('sub', 'sub', a, b, 'sub') });
/** a * b with broadcasting; bool * bool is logical and. @example tj.mul(x, 0.5) */
export const mul = defineOp({ name: 'mul', method: true, traits: BINARY, kernels: ['mul'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('mul', 'mul', a, b, 'arith') });
/** True division: integer operands give float32. @example tj.div(tj.tensor([1], {dtype: 'int32'}), 2) // [0.5] */
export const div = defineOp({ name: 'div', method: true, traits: BINARY, kernels: ['div'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('div', 'div', a, b, 'div') });
/** a ** b; pow(int32, int32) stays int32. @example tj.pow(x, 2) */
export const pow = defineOp({ name: 'pow', method: true, traits: BINARY, kernels: ['pow'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('pow', 'pow', a, b, 'pow') });
/** Elementwise max of two tensors; NaN propagates. @example tj.maximum(a, b) */
export const maximum = defineOp({ name: 'maximum', method: true, traits: BINARY, kernels: ['maximum'],
  kernel: (a: Tensor, b: Tensor) => binaryCall('maximum', 'maximum', a, b, 'minmax') });
/** Elementwise min of two tensors; NaN propagates. @example tj.minimum(a, b) */
export const minimum = defineOp({ name: 'minimum', method: true, traits: BINARY, kernels: ['minimum'],
  kernel: (a: Tensor, b: Tensor) => binaryCall('minimum', 'minimum', a, b, 'minmax') });

/** x += other in place; returns x. @example x.add_(y) */
export const add_ = defineOp({ name: 'add_', method: true, traits: INPLACE, kernels: ['add'],
  kernel: (x: Tensor, other: Tensor | Scalar) => inplaceCall('add_', x, other, binaryCall('add_', 'add', x, other, 'arith')) });
/** x -= other in place; returns x. @example x.sub_(1) */
export const sub_ = defineOp({ name: 'sub_', method: true, traits: INPLACE, kernels: ['sub'],
  kernel: (x: Tensor, other: Tensor | Scalar) => inplaceCall('sub_', x, other, binaryCall('sub_', 'sub', x, other, 'sub')) });
/** x *= other in place; returns x. @example x.mul_(0.5) */
export const mul_ = defineOp({ name: 'mul_', method: true, traits: INPLACE, kernels: ['mul'],
  kernel: (x: Tensor, other: Tensor | Scalar) => inplaceCall('mul_', x, other, binaryCall('mul_', 'mul', x, other, 'arith')) });
/** x /= other in place (x must be floating); returns x. @example x.div_(2) */
export const div_ = defineOp({ name: 'div_', method: true, traits: INPLACE, kernels: ['div'],
  kernel: (x: Tensor, other: Tensor | Scalar) => inplaceCall('div_', x, other, binaryCall('div_', 'div', x, other, 'div')) });

/** a == b (bool result). @example tj.eq(x, 0) */
export const eq = defineOp({ name: 'eq', method: true, traits: COMPARE, kernels: ['eq'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('eq', 'eq', a, b, 'compare') });
/** a != b (bool result; NaN != NaN). @example tj.ne(x, y) */
export const ne = defineOp({ name: 'ne', method: true, traits: COMPARE, kernels: ['ne'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('ne', 'ne', a, b, 'compare') });
/** a < b (bool result). @example tj.lt(x, 0) */
export const lt = defineOp({ name: 'lt', method: true, traits: COMPARE, kernels: ['lt'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('lt', 'lt', a, b, 'compare') });
/** a <= b (bool result). @example tj.le(x, 0) */
export const le = defineOp({ name: 'le', method: true, traits: COMPARE, kernels: ['le'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('le', 'le', a, b, 'compare') });
/** a > b (bool result). @example x.gt(0) */
export const gt = defineOp({ name: 'gt', method: true, traits: COMPARE, kernels: ['gt'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('gt', 'gt', a, b, 'compare') });
/** a >= b (bool result). @example tj.ge(x, y) */
export const ge = defineOp({ name: 'ge', method: true, traits: COMPARE, kernels: ['ge'],
  kernel: (a: Tensor, b: Tensor | Scalar) => binaryCall('ge', 'ge', a, b, 'compare') });

// ---- where, clamp

/**
 * `where(cond, x, y)`: x where cond is true, else y; cond (bool), x and y broadcast
 * together; y may be a number. Not a Tensor method: torch's `x.where(cond, y)` puts x
 * first, which the registry's method form would not.
 * @example tj.where(mask, x, 0)
 */
export const where = defineOp({ name: 'where', traits: ['pointwise'], kernels: ['where'],
  kernel: (condition: Tensor, x: Tensor, y: Tensor | Scalar) => {
    const c = expectTensor('where', 'condition', condition);
    const t = expectTensor('where', 'input', x);
    if (c.dtype !== 'bool') throw new TypeError(`where: argument 'condition' must be a bool tensor, got ${describeTensor(c)}`);
    if (y instanceof Tensor) {
      const dtype = promoteTypes(t.dtype, y.dtype);
      const shape = broadcastAll('where', [c.shape, t.shape, y.shape]);
      return pointwiseCall('where', [c, t, y], shape, dtype, computeOf(dtype));
    }
    if (!isScalar(y)) throw new TypeError(`where: argument 'other' must be a Tensor or a number, got ${typeName(y)}`);
    const dtype = promoteWithScalar(t.dtype, y);
    checkScalarFits('where', y, computeOf(dtype));
    const shape = broadcastAll('where', [c.shape, t.shape]);
    return pointwiseCall('where', [c, t], shape, dtype, computeOf(dtype), [Number(y)]);
  } });

function clampCall(op: string, x: unknown, min: unknown, max: unknown): KernelCall {
  const t = expectTensor(op, 'input', x);
  if (t.dtype === 'bool') throw new TypeError(`${op}: not supported for bool tensors (${describeTensor(t)})`);
  const bound = (name: string, v: unknown): number | null => {
    if (v === null || v === undefined) return null;
    if (typeof v !== 'number') throw new TypeError(`${op}: argument '${name}' must be a number or null, got ${typeName(v)}`);
    return v;
  };
  const lo = bound('min', min), hi = bound('max', max);
  if (lo === null && hi === null) throw new TypeError(`${op}: at least one of 'min' or 'max' must be given`);
  let dtype: DType = t.dtype;
  if (lo !== null) dtype = promoteWithScalar(dtype, lo);
  if (hi !== null) dtype = promoteWithScalar(dtype, hi);
  return pointwiseCall('clamp', [t], t.shape.slice(), dtype, computeOf(dtype),
    [lo === null ? 0 : 1, lo ?? 0, hi === null ? 0 : 1, hi ?? 0]);
}

/**
 * Clamps into [min, max] (numbers; either may be null). NaN stays NaN; min > max gives
 * max everywhere (torch). @example tj.clamp(x, -0.5, 0.5); tj.clamp(x, null, 1)
 */
export const clamp = defineOp({ name: 'clamp', method: true, traits: UNARY, kernels: ['clamp'],
  kernel: (x: Tensor, min?: number | null, max?: number | null) => clampCall('clamp', x, min, max) });
/** clamp in place; returns x. @example x.clamp_(0, 6) */
export const clamp_ = defineOp({ name: 'clamp_', method: true, traits: ['pointwise', 'unary', 'inplace'], kernels: ['clamp'],
  kernel: (x: Tensor, min?: number | null, max?: number | null) => inplaceCall('clamp_', x, undefined, clampCall('clamp_', x, min, max)) });
/** relu in place; returns x. @example x.relu_() */
export const relu_ = defineOp({ name: 'relu_', method: true, traits: ['pointwise', 'unary', 'inplace'], kernels: ['relu'],
  kernel: (x: Tensor) => inplaceCall('relu_', x, undefined, unaryCall('relu_', 'relu', x, 'numeric')) });

// ---- dtype conversion

/** A converted copy (torch's aten._to_copy); `to` returns x itself when nothing changes. */
export const toCopy = defineOp({ name: 'toCopy', traits: UNARY, kernels: ['cast'],
  kernel: (x: Tensor, dtype: DType): KernelCall => {
    const t = expectTensor('toCopy', 'input', x);
    if (!isDType(dtype)) throw new TypeError(`toCopy: unknown dtype ${valueText(dtype)}`);
    return { kernel: 'cast', inputs: [t], attrs: [], outputs: [{ shape: t.shape.slice(), dtype }] };
  } });

/**
 * `x.to(dtype)` (or another tensor's dtype): float32, int32, int64, bool, float16,
 * bfloat16. float -> int truncates; NaN/inf/out of range give INT_MIN (x86);
 * float16/bfloat16 round to nearest even. Returns x when the dtype already matches.
 * @example x.to('int32'); tj.to(x, 'float16')
 */
export const to = defineOp({ name: 'to', method: true, traits: ['pointwise', 'unary'],
  decompose: (x: Tensor, dtype: DType | Tensor): Tensor => {
    const t = expectTensor('to', 'input', x);
    const target = dtype instanceof Tensor ? dtype.dtype : dtype;
    if (!isDType(target)) throw new TypeError(`to: unknown dtype ${valueText(target)} (expected one of float32, int32, int64, bool, float16, bfloat16)`);
    return target === t.dtype ? t : toCopy(t, target);
  } });
