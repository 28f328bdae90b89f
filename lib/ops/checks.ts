/** Argument checks shared by op declarations. Errors name the op, the argument, shapes and dtypes. */
import { DType } from '../dtype';
import { MAX_ELEMENTS, Tensor, describeTensor } from '../tensor';

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

export function expectTensor(op: string, arg: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: argument '${arg}' must be a Tensor, got ${typeName(x)}`);
  return x;
}

export function expectNumber(op: string, arg: string, x: unknown): number {
  if (typeof x !== 'number') throw new TypeError(`${op}: argument '${arg}' must be a number, got ${typeName(x)}`);
  return x;
}

export function expectInt(op: string, arg: string, x: unknown, min = -Infinity): number {
  if (typeof x !== 'number' || !Number.isInteger(x))
    throw new TypeError(`${op}: argument '${arg}' must be an integer, got ${typeName(x)}`);
  if (x < min) throw new RangeError(`${op}: argument '${arg}' must be >= ${min}, got ${x}`);
  return x;
}

export function expectDType(op: string, arg: string, t: Tensor, allowed: readonly DType[]): void {
  if (!allowed.includes(t.dtype))
    throw new TypeError(`${op}: argument '${arg}' (${describeTensor(t)}) must have dtype ${allowed.join(' or ')}`);
}

export function expectShape(op: string, arg: string, x: unknown): number[] {
  if (!Array.isArray(x)) throw new TypeError(`${op}: argument '${arg}' must be an array of sizes, got ${typeName(x)}`);
  for (const d of x) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0)
      throw new RangeError(`${op}: argument '${arg}' has an invalid size ${String(d)} in ${listText(x)}`);
  }
  const numel = x.reduce((a: number, b: number) => a * b, 1);
  if (numel > MAX_ELEMENTS)
    throw new RangeError(`${op}: argument '${arg}' [${x.join(', ')}] has ${numel} elements, more than a tensor can hold (2^50)`);
  return x.slice();
}

/** A user-given value as text for an error message: any value (bigints, symbols, arrays, tensors). */
export function valueText(x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x === 'bigint') return `${x}n`;
  if (Array.isArray(x)) return listText(x);
  if (x instanceof Tensor) return `Tensor(${describeTensor(x)})`;
  if (typeof x === 'object' && x !== null) return 'an object';
  return String(x);
}

/** A user-given list as text for an error message. */
export function listText(xs: readonly unknown[]): string {
  return `[${xs.map(valueText).join(', ')}]`;
}

export function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (x instanceof Tensor) return `Tensor(${describeTensor(x)})`;
  if (Array.isArray(x)) return 'array';
  return typeof x;
}

/** Normalises a possibly negative dim; `ndim` 0 accepts dims -1 and 0 like torch. */
export function normalizeDim(op: string, dim: unknown, ndim: number, arg = 'dim'): number {
  if (typeof dim !== 'number' || !Number.isInteger(dim))
    throw new TypeError(`${op}: argument '${arg}' must be an integer, got ${typeName(dim)}`);
  const n = Math.max(ndim, 1);
  if (dim < -n || dim >= n)
    throw new RangeError(`${op}: ${arg} ${dim} is out of range for a ${ndim}-d tensor (expected in [${-n}, ${n - 1}])`);
  return dim < 0 ? dim + n : dim;
}

/** NumPy broadcasting of two shapes. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1)
      throw new RangeError(`${op}: shapes [${a.join(', ')}] and [${b.join(', ')}] are not broadcastable (dim ${i}: ${da} vs ${db})`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

export function broadcastAll(op: string, shapes: readonly (readonly number[])[]): number[] {
  return shapes.reduce<number[]>((acc, s) => broadcastShapes(op, acc, s), []);
}

/** A number or [h, w] pair argument (conv/pool options). */
export function pair(op: string, arg: string, x: unknown): [number, number] {
  if (typeof x === 'number' && Number.isInteger(x)) return [x, x];
  if (Array.isArray(x) && x.length === 2 && x.every((v) => typeof v === 'number' && Number.isInteger(v)))
    return [x[0], x[1]];
  if (Array.isArray(x) && x.length === 1 && Number.isInteger(x[0])) return [x[0], x[0]];
  throw new TypeError(`${op}: argument '${arg}' must be an integer or a pair of integers, got ${valueText(x)}`);
}
