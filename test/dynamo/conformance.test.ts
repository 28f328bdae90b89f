/**
 * The ONNX conformance cases (../shared/conformance/onnx-node) through tj.compile: every
 * op call form traces into one graph (no break), the compiled result matches the stored
 * expectation on the first (traced) and second (cached, JS body not run) call, also with
 * transposed (non-contiguous) inputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import type { DType } from '../../lib/index';

interface EncodedTensor { dtype: DType; shape: number[]; data: string }
interface Call { op: string; args: unknown[] }
interface Case { id: string; inputs: EncodedTensor[]; call: Call; expected: EncodedTensor[]; list: boolean; tol: { exact: true } | { rtol: number; atol: number } }

const casesDir = path.join(__dirname, '..', '..', '..', 'shared', 'conformance', 'onnx-node');
const haveCases = fs.existsSync(casesDir);
const cases: Case[] = haveCases
  ? ['onnx-node.json', 'onnx-pytorch.json'].flatMap((f) => (JSON.parse(fs.readFileSync(path.join(casesDir, f), 'utf8')) as { cases: Case[] }).cases)
  : [];

const ctorOf: Record<string, new (buf: ArrayBuffer) => ArrayLike<number | bigint>> = { float32: Float32Array, int32: Int32Array, int64: BigInt64Array, bool: Uint8Array };

function decode(t: EncodedTensor): ArrayLike<number | bigint> {
  const bytes = Buffer.from(t.data, 'base64');
  const aligned = new ArrayBuffer(bytes.length);
  new Uint8Array(aligned).set(bytes);
  return new ctorOf[t.dtype](aligned);
}

function input(t: EncodedTensor, transposed: boolean): tj.Tensor {
  const x = tj.tensor(decode(t) as unknown as Float32Array, { shape: t.shape, dtype: t.dtype });
  return transposed && t.shape.length >= 2 ? x.transpose(-1, -2).contiguous().transpose(-1, -2) : x;
}

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
  return ((tj as unknown as Record<string, (...a: unknown[]) => unknown>)[call.op])(...call.args.map((a) => resolve(a, inputs)));
}

function compare(got: tj.Tensor, want: EncodedTensor, tol: Case['tol']): void {
  expect(got.dtype).toBe(want.dtype);
  expect(got.shape).toEqual(want.shape);
  const a = got.dataSync() as ArrayLike<number | bigint>, e = decode(want);
  for (let i = 0; i < e.length; i++) {
    const x = Number(a[i]), y = Number(e[i]);
    const ok = typeof e[i] === 'bigint' ? a[i] === e[i] : Number.isNaN(y) ? Number.isNaN(x)
      : !Number.isFinite(y) || 'exact' in tol ? x === y : Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y);
    if (!ok) expect.fail(`[${i}] got ${String(a[i])}, expected ${String(e[i])}`);
  }
}

describe.skipIf(!haveCases)('ONNX conformance through tj.compile', () => {
  test.each(cases.flatMap((c) => [[c.id, c, false], [`${c.id} [transposed inputs]`, c, true]] as const))('%s', (_, c, transposed) => {
    const inputs = c.inputs.map((t) => input(t, transposed));
    const cnt = new tj.compiler.testing.CompileCounterWithBackend('native');
    let runs = 0;
    const f = tj.compile((...xs: tj.Tensor[]) => {
      runs++;
      return invoke(c.call, xs);
    }, { backend: cnt, fullgraph: true });
    for (let call = 0; call < 2; call++) {
      const result = f(...inputs);
      const list = c.list ? (result as tj.Tensor[]) : [result as tj.Tensor];
      expect(list.length).toBe(c.expected.length);
      list.forEach((t, i) => compare(t, c.expected[i], c.tol));
    }
    expect(runs).toBe(1);
    expect(cnt.frameCount).toBeLessThanOrEqual(1);
  });
});
