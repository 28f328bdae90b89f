/**
 * Every registered op called with random arguments, most of them wrong (tensors of other
 * dtypes, ranks and sizes, 0-d and empty tensors, NaN, infinite, negative, fractional and
 * huge numbers, strings, null, arrays of sizes, objects): each call returns a value or
 * throws an Error that names the op. Never a crash of the process, never a non-Error throw,
 * never an anonymous message. Then the same calls compiled (native backend): a call eager
 * rejects is rejected with an Error naming the op, one eager accepts gives eager's outputs
 * and leaves its tensor arguments as eager does. Seeded; TJ_BAD_ARGS=count sets the calls
 * per op (TJ_BAD_ARGS_COMPILED for the compiled ones).
 */
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { AnyOp, allOps } from '../../lib/ops/registry';
import { expectClose, rng, toRef, tolFor } from '../helpers/reference';

const CALLS_PER_OP = Number(process.env.TJ_BAD_ARGS ?? 400);
const COMPILED_CALLS_PER_OP = Number(process.env.TJ_BAD_ARGS_COMPILED ?? 60);

// Ops that draw random numbers or read the clock are fine to call; none of these sizes may
// ask for more than a few MB: a valid call must stay cheap.
function argumentPool(): unknown[] {
  const f = (shape: number[], dtype: tj.DType = 'float32') => tj.ones(shape, { dtype });
  return [
    f([2, 3]), f([3]), f([2, 3, 4]), f([1, 3, 1, 4]), f([]), f([0, 3]), f([2, 3], 'int32'), f([3], 'int64'),
    f([2, 3], 'bool'), f([2, 3], 'float16'), f([4, 4], 'bfloat16'), f([2, 2, 5, 5]), f([4]).expand([3, 4]), f([3, 4]).transpose(0, 1),
    tj.tensor([0, 2, 1], { dtype: 'int32' }), tj.tensor([5, -7], { dtype: 'int64' }), tj.tensor([[1, -1, 3], [0, 2, -4]], { dtype: 'int32' }),
    tj.tensor([NaN, Infinity, -Infinity, -0]), f([2, 1, 3, 1, 2, 1, 2]), f([5, 5]), f([1]), tj.tensor([[true, false]]), f([3], 'float16'),
    0, 1, 2, -1, -3, 1.5, NaN, Infinity, -Infinity, 1e12, 2 ** 53, -0,
    'x', '', 'float32', 'int32', true, false, null, undefined,
    [2, 3], [3, 2], [-1], [0], [6], [1e9, 1e9], [1.5], [NaN], [], [[2]], ['a'],
    {}, { dim: 0 }, { keepdim: true }, { approximate: 'tanh' }, { dtype: 'int32' }, { isCausal: true }, { stride: 0 }, { padding: -1 },
    () => 1, Symbol('s'), 10n,
  ];
}

/** The tensors among an op's result (a tensor, a list of them, or other values). */
function tensorsOf(out: unknown): tj.Tensor[] {
  return (Array.isArray(out) ? out : [out]).filter((t): t is tj.Tensor => t instanceof tj.Tensor);
}

function namesOp(message: string, op: AnyOp): boolean {
  const name = op.opName.replace(/_$/, '');
  return message.toLowerCase().includes(name.toLowerCase());
}

describe('ops called with random (mostly wrong) arguments', () => {
  const pool = argumentPool();
  for (const op of allOps()) {
    test(`${op.opName}: returns or throws an Error naming it`, () => {
      const rand = rng(op.opName.split('').reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7));
      const pick = () => pool[Math.floor(rand() * pool.length)];
      const bad: string[] = [];
      for (let i = 0; i < CALLS_PER_OP; i++) {
        const args = Array.from({ length: Math.floor(rand() * 5) }, pick);
        try {
          const out = (op as (...a: unknown[]) => unknown)(...args);
          // a returned tensor holds readable data (a huge expanded view is valid but not read)
          for (const t of tensorsOf(out)) if (t.numel() <= 1 << 20) t.dataSync();
        } catch (e) {
          if (!(e instanceof Error)) bad.push(`threw a non-Error ${String(e)}`);
          else if (!namesOp(e.message, op)) bad.push(`${e.name}: ${e.message}`);
        }
      }
      expect(bad.slice(0, 8), `${bad.length} of ${CALLS_PER_OP} calls`).toEqual([]);
    });
  }
});

// Ops whose result is random by design, or that take no tensor (nothing to compile as input).
const NOT_COMPARED = new Set(['rand', 'randn']);

describe('the same calls compiled', () => {
  for (const op of allOps()) {
    if (NOT_COMPARED.has(op.opName)) continue;
    test(`${op.opName}: compiled rejects what eager rejects and gives eager's values otherwise`, () => {
      const rand = rng(op.opName.split('').reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 11));
      const size = argumentPool().length;
      const bad: string[] = [];
      for (let i = 0; i < COMPILED_CALLS_PER_OP; i++) {
        // argument positions into a fresh pool per run: in-place ops write their arguments
        const picks = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Math.floor(rand() * size));
        const argsFrom = (pool: unknown[]) => picks.map((k) => pool[k]);
        const eagerArgs = argsFrom(argumentPool()), compiledArgs = argsFrom(argumentPool());
        let eagerOut: unknown, eagerError: Error | null = null;
        try {
          eagerOut = (op as (...a: unknown[]) => unknown)(...eagerArgs);
        } catch (e) {
          eagerError = e as Error;
        }
        const inputs = compiledArgs.filter((a): a is tj.Tensor => a instanceof tj.Tensor);
        const fn = (...ts: tj.Tensor[]) => {
          let k = 0;
          return (op as (...a: unknown[]) => unknown)(...compiledArgs.map((a) => (a instanceof tj.Tensor ? ts[k++] : a)));
        };
        let compiledOut: unknown;
        try {
          compiledOut = tj.compile(fn)(...inputs);
        } catch (e) {
          if (!eagerError) bad.push(`call ${i}: eager accepted, compiled threw ${(e as Error).message}`);
          else if (!(e instanceof Error) || !namesOp(e.message, op)) bad.push(`call ${i}: compiled threw ${String(e)}`);
          continue;
        }
        if (eagerError) {
          bad.push(`call ${i}: eager threw '${eagerError.message}', compiled returned`);
          continue;
        }
        const want = [...tensorsOf(eagerOut), ...eagerArgs.filter((a): a is tj.Tensor => a instanceof tj.Tensor)];
        const got = [...tensorsOf(compiledOut), ...inputs];
        try {
          expect(got.length).toBe(want.length);
          got.forEach((t, j) => {
            expect(t.dtype, `tensor ${j} dtype`).toBe(want[j].dtype);
            expectClose(t, toRef(want[j]), tolFor(t.dtype), `call ${i} tensor ${j}`);
          });
        } catch (e) {
          bad.push(`call ${i} (${picks.join(',')}): ${(e as Error).message.split('\n')[0]}`);
        }
      }
      expect(bad.slice(0, 8), `${bad.length} of ${COMPILED_CALLS_PER_OP} calls`).toEqual([]);
    });
  }
});
