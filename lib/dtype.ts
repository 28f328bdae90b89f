/** Element types. Codes match native/core/dtype.h. */
export type DType = 'float32' | 'int32' | 'int64' | 'bool' | 'float16' | 'bfloat16';

export const DTYPES: readonly DType[] = ['float32', 'int32', 'int64', 'bool', 'float16', 'bfloat16'];

export const dtypeCode: Record<DType, number> = {
  float32: 0, int32: 1, int64: 2, bool: 3, float16: 4, bfloat16: 5,
};

export const itemSize: Record<DType, number> = {
  float32: 4, int32: 4, int64: 8, bool: 1, float16: 2, bfloat16: 2,
};

/** The TypedArray that holds each dtype's raw elements (float16/bfloat16 as raw bits). */
export type TypedArrayFor<D extends DType> = D extends 'float32' ? Float32Array
  : D extends 'int32' ? Int32Array
  : D extends 'int64' ? BigInt64Array
  : D extends 'bool' ? Uint8Array
  : Uint16Array;

export type AnyTypedArray = Float32Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

export function typedArrayCtor(dtype: DType) {
  switch (dtype) {
    case 'float32': return Float32Array;
    case 'int32': return Int32Array;
    case 'int64': return BigInt64Array;
    case 'bool': return Uint8Array;
    case 'float16': case 'bfloat16': return Uint16Array;
  }
}

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export const isFloating = (d: DType) => d === 'float32' || d === 'float16' || d === 'bfloat16';
export const isIntegral = (d: DType) => d === 'int32' || d === 'int64';

// torch's category order: bool < integral < floating.
const category = (d: DType) => (d === 'bool' ? 0 : isIntegral(d) ? 1 : 2);

/** Promotion of two tensor dtypes (torch.promote_types, restricted to our dtypes). */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  const ca = category(a), cb = category(b);
  if (ca !== cb) return ca > cb ? a : b;
  if (ca === 1) return 'int64'; // int32 with int64
  // two different floating types: float16 with bfloat16 promotes to float32, like torch
  if (a === 'float32' || b === 'float32') return 'float32';
  return 'float32';
}

/**
 * Result dtype of `tensor op scalar` (torch: a Python scalar does not widen a tensor of
 * the same category; a float scalar with an integral/bool tensor gives the default float).
 */
export function promoteWithScalar(t: DType, scalar: number | boolean): DType {
  if (typeof scalar === 'boolean') return t;
  const scalarIsInt = Number.isInteger(scalar);
  if (isFloating(t)) return t;
  if (!scalarIsInt) return 'float32';
  if (t === 'bool') return 'int64';
  return t;
}
