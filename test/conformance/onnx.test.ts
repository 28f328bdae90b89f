/**
 * The ONNX backend conformance cases (../shared/conformance/onnx-node, README there),
 * run eagerly: each case is one test named by its id; cases marked `strided` also run
 * with their inputs as non-contiguous views ("T": built transposed and transposed back,
 * "S": every other element of a longer last dim).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import type { DType } from '../../lib/index';
import { DispatchMode, withMode } from '../../lib/ops/registry';

interface EncodedTensor { dtype: DType; shape: number[]; data: string }
interface Call { op: string; args: unknown[] }
interface Case {
  id: string;
  op: string;
  inputs: EncodedTensor[];
  call: Call;
  expected: EncodedTensor[];
  list: boolean;
  tol: { exact: true } | { rtol: number; atol: number };
  strided?: ('T' | 'S')[];
}
type Variant = 'contiguous' | 'T' | 'S';

const repoRoot = path.join(__dirname, '..', '..');
const casesDir = path.join(repoRoot, '..', 'shared', 'conformance', 'onnx-node');
const haveCases = fs.existsSync(casesDir);
if (!haveCases) console.warn(`ONNX conformance: ${casesDir} is missing; the suite is skipped`);

function loadCases(): Case[] {
  if (!haveCases) return [];
  return ['onnx-node.json', 'onnx-pytorch.json'].flatMap((f) => {
    const file = JSON.parse(fs.readFileSync(path.join(casesDir, f), 'utf8')) as { format: string; cases: Case[] };
    if (file.format !== 'tensorjit-ops-vectors/1') throw new Error(`${f}: unknown format ${file.format}`);
    return file.cases;
  });
}

const ctorOf: Record<string, new (buf: ArrayBuffer) => ArrayLike<number | bigint>> = {
  float32: Float32Array, int32: Int32Array, int64: BigInt64Array, bool: Uint8Array,
};

/** Row-major values of an encoded tensor (copied into an aligned buffer). */
function decode(t: EncodedTensor): ArrayLike<number | bigint> {
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
function buildInput(t: EncodedTensor, variant: Variant): tj.Tensor {
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
function resolve(arg: unknown, inputs: tj.Tensor[]): unknown {
  if (Array.isArray(arg)) return arg.map((a) => resolve(a, inputs));
  if (arg !== null && typeof arg === 'object') {
    const o = arg as Record<string, unknown>;
    if ('$t' in o) return inputs[o.$t as number];
    if ('$call' in o) return invoke(o.$call as Call, inputs);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v, inputs)]));
  }
  return arg;
}

function invoke(call: Call, inputs: tj.Tensor[]): unknown {
  const fn = (tj as unknown as Record<string, unknown>)[call.op];
  if (typeof fn !== 'function') throw new Error(`tj.${call.op} does not exist`);
  return (fn as (...a: unknown[]) => unknown)(...call.args.map((a) => resolve(a, inputs)));
}

function compare(got: tj.Tensor, want: EncodedTensor, tol: Case['tol'], what: string): void {
  expect(got, `${what}: result is a Tensor`).toBeInstanceOf(tj.Tensor);
  expect(got.dtype, `${what}: dtype`).toBe(want.dtype);
  expect(got.shape, `${what}: shape`).toEqual(want.shape);
  const a = got.dataSync() as ArrayLike<number | bigint>;
  const e = decode(want);
  const exact = 'exact' in tol;
  const bad: string[] = [];
  for (let i = 0; i < e.length && bad.length < 5; i++) {
    const x = Number(a[i]), y = Number(e[i]);
    if (typeof e[i] === 'bigint' ? a[i] === e[i] : Number.isNaN(y) ? Number.isNaN(x) : !Number.isFinite(y) || exact ? x === y
      : Math.abs(x - y) <= (tol as { atol: number }).atol + (tol as { rtol: number }).rtol * Math.abs(y)) continue;
    bad.push(`[${i}] got ${String(a[i])}, expected ${String(e[i])}`);
  }
  if (bad.length) expect.fail(`${what}: values differ (${exact ? 'exact' : `rtol ${JSON.stringify(tol)}`}): ${bad.join('; ')}`);
}

/** Kernel ids ops used without listing them in `kernels: [...]` (the tracer and backends trust that list). */
const unlistedKernels = new Set<string>();
const kernelListCheck: DispatchMode = {
  call(op, args, next) {
    if (op.spec.kernel) {
      const { kernel } = op.spec.kernel(...args);
      if (!(op.spec.kernels ?? []).includes(kernel)) unlistedKernels.add(`${op.opName} -> ${kernel}`);
    }
    return next(op, args);
  },
};

function runCase(c: Case, variant: Variant): void {
  const inputs = c.inputs.map((t) => buildInput(t, variant));
  const result = withMode(kernelListCheck, () => invoke(c.call, inputs));
  if (c.list) {
    expect(Array.isArray(result), 'result is a Tensor[]').toBe(true);
    const list = result as tj.Tensor[];
    expect(list.length, 'number of results').toBe(c.expected.length);
    list.forEach((t, i) => compare(t, c.expected[i], c.tol, `result ${i}`));
  } else {
    expect(c.expected.length).toBe(1);
    compare(result as tj.Tensor, c.expected[0], c.tol, 'result');
  }
}

const cases = loadCases();
const runs = cases.flatMap((c) => [
  { name: c.id, c, variant: 'contiguous' as Variant },
  ...(c.strided ?? []).map((v) => ({ name: `${c.id} [strided ${v}]`, c, variant: v as Variant })),
]);

describe.skipIf(!haveCases)('ONNX conformance (eager)', () => {
  test('all 272 cases are present', () => {
    expect(cases.length).toBe(272);
  });
  test.each(runs.map((r) => [r.name, r] as const))('%s', (_name, { c, variant }) => runCase(c, variant));
  test('every kernel the cases ran is listed by its op', () => {
    expect([...unlistedKernels]).toEqual([]);
  });
});
