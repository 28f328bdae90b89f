/**
 * The ONNX conformance cases (../shared/conformance/onnx-node, README there): loading,
 * decoding, building inputs in each layout variant, invoking a case's call, and comparing
 * a result with an expectation. Shared by the eager and the compiled conformance suites.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import * as tj from '../../lib/index';
import type { DType } from '../../lib/index';

export interface EncodedTensor { dtype: DType; shape: number[]; data: string }
export interface Call { op: string; args: unknown[] }
export type Tolerance = { exact: true } | { rtol: number; atol: number };
export interface Case {
  id: string;
  op: string;
  inputs: EncodedTensor[];
  call: Call;
  expected: EncodedTensor[];
  list: boolean;
  tol: Tolerance;
  strided?: ('T' | 'S')[];
}
/** 'T': built transposed and transposed back; 'S': every other element of a longer last dim. */
export type Variant = 'contiguous' | 'T' | 'S';

const repoRoot = path.join(__dirname, '..', '..');
export const casesDir = path.join(repoRoot, '..', 'shared', 'conformance', 'onnx-node');
export const haveCases = fs.existsSync(casesDir);

export function loadCases(): Case[] {
  if (!haveCases) return [];
  return ['onnx-node.json', 'onnx-pytorch.json'].flatMap((f) => {
    const file = JSON.parse(fs.readFileSync(path.join(casesDir, f), 'utf8')) as { format: string; cases: Case[] };
    if (file.format !== 'tensorjit-ops-vectors/1') throw new Error(`${f}: unknown format ${file.format}`);
    return file.cases;
  });
}

/** Every case once contiguous and once per strided variant it marks, with a test name. */
export function caseRuns(cases: readonly Case[]): { name: string; c: Case; variant: Variant }[] {
  return cases.flatMap((c) => [
    { name: c.id, c, variant: 'contiguous' as Variant },
    ...(c.strided ?? []).map((v) => ({ name: `${c.id} [strided ${v}]`, c, variant: v as Variant })),
  ]);
}

const ctorOf: Record<string, new (buf: ArrayBuffer) => ArrayLike<number | bigint>> = {
  float32: Float32Array, int32: Int32Array, int64: BigInt64Array, bool: Uint8Array,
};

/** Row-major values of an encoded tensor (copied into an aligned buffer). */
export function decode(t: EncodedTensor): ArrayLike<number | bigint> {
  const bytes = Buffer.from(t.data, 'base64');
  const Ctor = ctorOf[t.dtype];
  if (!Ctor) throw new Error(`unsupported dtype ${t.dtype}`);
  const aligned = new ArrayBuffer(bytes.length);
  new Uint8Array(aligned).set(bytes);
  return new Ctor(aligned);
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const rowMajorStrides = (shape: readonly number[]) => {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
};

/** The input as a tensor in the requested layout (same logical values either way). */
export function buildInput(t: EncodedTensor, variant: Variant): tj.Tensor {
  const values = decode(t);
  const Ctor = ctorOf[t.dtype];
  const shape = t.shape, r = shape.length, n = numel(shape);
  const make = (storeShape: number[], fill: (dst: { [i: number]: number | bigint }) => void) => {
    const dst = new Ctor(new ArrayBuffer(numel(storeShape) * (t.dtype === 'int64' ? 8 : t.dtype === 'bool' ? 1 : 4)));
    fill(dst as unknown as { [i: number]: number | bigint });
    return tj.tensor(dst as unknown as Float32Array, { shape: storeShape, dtype: t.dtype });
  };
  if (variant === 'contiguous' || r === 0 || n === 0 || (variant === 'T' && r < 2))
    return make(shape.slice(), (dst) => { for (let i = 0; i < n; i++) dst[i] = values[i]; });
  const st = rowMajorStrides(shape);
  if (variant === 'T') {
    // stored with the last two dims swapped, then transposed back to the logical shape
    const stored = shape.slice();
    [stored[r - 1], stored[r - 2]] = [stored[r - 2], stored[r - 1]];
    const sst = rowMajorStrides(stored);
    const base = make(stored, (dst) => {
      for (let i = 0; i < n; i++) {
        let rem = i, off = 0;
        for (let d = 0; d < r; d++) {
          const v = Math.floor(rem / st[d]);
          rem -= v * st[d];
          const sd = d === r - 1 ? r - 2 : d === r - 2 ? r - 1 : d;
          off += v * sst[sd];
        }
        dst[off] = values[i];
      }
    });
    return base.transpose(-1, -2);
  }
  // 'S': a last dim of 2n+1 with the values at the odd positions, read back with slice(r-1, 1, 2n+1, 2)
  const wide = shape.slice();
  wide[r - 1] = 2 * shape[r - 1] + 1;
  const wst = rowMajorStrides(wide);
  const base = make(wide, (dst) => {
    const zero = t.dtype === 'int64' ? 0n : 0;
    for (let i = 0; i < numel(wide); i++) dst[i] = zero;
    for (let i = 0; i < n; i++) {
      let rem = i, off = 0;
      for (let d = 0; d < r; d++) {
        const v = Math.floor(rem / st[d]);
        rem -= v * st[d];
        off += (d === r - 1 ? 2 * v + 1 : v) * wst[d];
      }
      dst[off] = values[i];
    }
  });
  return base.slice(r - 1, 1, 2 * shape[r - 1] + 1, 2);
}

/** Resolves call arguments: {$t: i} inputs, {$call} nested calls, arrays/objects element-wise. */
function resolve(arg: unknown, inputs: readonly tj.Tensor[]): unknown {
  if (Array.isArray(arg)) return arg.map((a) => resolve(a, inputs));
  if (arg !== null && typeof arg === 'object') {
    const o = arg as Record<string, unknown>;
    if ('$t' in o) return inputs[o.$t as number];
    if ('$call' in o) return invoke(o.$call as Call, inputs);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v, inputs)]));
  }
  return arg;
}

/** Runs a case's call (nested calls included) on these input tensors. */
export function invoke(call: Call, inputs: readonly tj.Tensor[]): unknown {
  const fn = (tj as unknown as Record<string, unknown>)[call.op];
  if (typeof fn !== 'function') throw new Error(`tj.${call.op} does not exist`);
  return (fn as (...a: unknown[]) => unknown)(...call.args.map((a) => resolve(a, inputs)));
}

/** The result as a list (a case's call returns a Tensor, or a Tensor[] when `list`). */
export function resultList(c: Case, result: unknown): tj.Tensor[] {
  if (!c.list) return [result as tj.Tensor];
  expect(Array.isArray(result), 'result is a Tensor[]').toBe(true);
  return result as tj.Tensor[];
}

/**
 * Checks `got` against expected values (an encoded tensor, or another tensor's values):
 * dtype, shape, then each value exactly (int, bool, `exact`, ±inf), NaN for NaN, else within tol.
 */
export function compare(got: tj.Tensor, want: EncodedTensor | tj.Tensor, tol: Tolerance, what: string): void {
  const wantDtype = want instanceof tj.Tensor ? want.dtype : want.dtype;
  const wantShape = want instanceof tj.Tensor ? want.shape : want.shape;
  expect(got, `${what}: result is a Tensor`).toBeInstanceOf(tj.Tensor);
  expect(got.dtype, `${what}: dtype`).toBe(wantDtype);
  expect(got.shape, `${what}: shape`).toEqual(wantShape);
  const a = got.dataSync() as ArrayLike<number | bigint>;
  const e = want instanceof tj.Tensor ? (want.dataSync() as ArrayLike<number | bigint>) : decode(want);
  const exact = 'exact' in tol;
  const bad: string[] = [];
  for (let i = 0; i < e.length && bad.length < 5; i++) {
    const x = Number(a[i]), y = Number(e[i]);
    if (typeof e[i] === 'bigint' ? a[i] === e[i] : Number.isNaN(y) ? Number.isNaN(x) : !Number.isFinite(y) || exact ? x === y
      : Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y)) continue;
    bad.push(`[${i}] got ${String(a[i])}, expected ${String(e[i])}`);
  }
  if (bad.length) expect.fail(`${what}: values differ (${exact ? 'exact' : `rtol ${JSON.stringify(tol)}`}): ${bad.join('; ')}`);
}
