// Differential testing: seeded random programs (test/helpers/random_program.ts) compiled
// with the native backend must give the eager values and leave the inputs as eager does,
// on the first call, a cached call, runAsync, new input values, three concurrent runAsync
// calls, and exported, saved and loaded, with every graph run natively. TJ_RANDOM_PROGRAMS=from:count[:steps] runs another range (the default runs in
// CI; longer ranges are run by hand).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { GENERATED_BATCH, randomProgram } from '../../helpers/random_program';
import { eagerFallbacks, recordingNativeBackend } from '../../helpers/native_backend';

const dir = mkdtempSync(join(tmpdir(), 'tj-random-programs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const [from, count, steps = 10] = (process.env.TJ_RANDOM_PROGRAMS ?? '0:300:10').split(':').map(Number);

/** null when `got` matches `want` (NaN where NaN, infinities exactly), else where not. */
function mismatch(got: tj.Tensor, want: tj.Tensor): string | null {
  if (got.shape.join() !== want.shape.join() || got.dtype !== want.dtype)
    return `[${got.shape}] ${got.dtype} where eager gives [${want.shape}] ${want.dtype}`;
  const g = got.dataSync(), w = want.dataSync();
  for (let i = 0; i < w.length; i++) {
    const p = Number(g[i]), q = Number(w[i]);
    const ok = Number.isNaN(q) ? Number.isNaN(p) : p === q || Math.abs(p - q) <= 1e-4 + 1e-3 * Math.abs(q);
    if (!ok) return `element ${i}: ${p} where eager gives ${q}`;
  }
  return null;
}

test(`random programs ${from}..${from + count - 1}: compiled equals eager`, async () => {
  const failures: string[] = [];
  let ran = 0, numGraphs = 0;
  const fallbacks: string[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const program = randomProgram(seed, steps);
    // Each call gets fresh inputs (programs may update inputs in place); a call's result
    // is its outputs followed by its inputs after the call.
    const eager = (valueSeed: number): tj.Tensor[] => {
      const inputs = program.inputs(valueSeed);
      return [...program.fn(...inputs), ...inputs];
    };
    let want: tj.Tensor[];
    try {
      want = eager(1);
    } catch {
      continue;  // the generator can build a call eager rejects; compiled is not asked then
    }
    ran++;
    const { backend, graphs } = recordingNativeBackend();
    const compiled = tj.compile(program.fn, { backend });
    const viaCompiled = async (valueSeed: number, async: boolean): Promise<tj.Tensor[]> => {
      const inputs = program.inputs(valueSeed);
      const outputs = async ? await compiled.runAsync(...inputs) : compiled(...inputs);
      return [...outputs, ...inputs];
    };
    try {
      const calls: [string, () => Promise<tj.Tensor[]>, tj.Tensor[]][] = [
        ['first call', () => viaCompiled(1, false), want],
        ['cached call', () => viaCompiled(1, false), want],
        ['runAsync', () => viaCompiled(1, true), want],
        ['new values', () => viaCompiled(2, false), eager(2)],
      ];
      if (!program.breaks && !program.layoutDependent) {
        // exported, saved, loaded and run (a program without breaks is one graph)
        const viaExport = async (): Promise<tj.Tensor[]> => {
          const path = join(dir, `${seed}.safetensors`);
          await tj.exportProgram(program.fn, program.inputs(1)).save(path);
          const loaded = await tj.loadProgram(path);
          const inputs = program.inputs(2);
          return [...(await loaded.runAsync(...inputs)), ...inputs];
        };
        calls.push(['exported and loaded', viaExport, eager(2)]);
      }
      for (const [what, call, expected] of calls) {
        const got = await call();
        const bad = expected.map((w, k) => mismatch(got[k], w)).find((m) => m !== null);
        if (bad) throw new Error(`${what}: ${bad}`);
      }
      // runs in flight together, each with its own values
      const together = await Promise.all([3, 4, 5].map((valueSeed) => viaCompiled(valueSeed, true)));
      together.forEach((got, i) => {
        const bad = eager(3 + i).map((w, k) => mismatch(got[k], w)).find((m) => m !== null);
        if (bad) throw new Error(`concurrent runAsync ${i}: ${bad}`);
      });
      numGraphs += graphs.length;
      const fellBack = eagerFallbacks(graphs);
      if (fellBack.length) fallbacks.push(`seed ${seed}: ${fellBack.length} graph(s) ran eagerly\n${program.text}`);
    } catch (e) {
      failures.push(`seed ${seed}: ${(e as Error).message}\n${program.text}`);
    }
  }
  expect(failures, failures.join('\n\n')).toEqual([]);
  expect(fallbacks, 'every graph of these ops runs natively').toEqual([]);
  expect(numGraphs).toBeGreaterThanOrEqual(ran);
  expect(ran).toBeGreaterThan(count * 0.8);  // the generator builds mostly valid programs
}, 600_000);

// The same with a batch dim every op keeps symbolic: the first call compiles for the
// generated size, the second (another size) recompiles with the dim dynamic, later sizes
// reuse that graph; size 1 is specialised (DESIGN.md's rules).
const [dynFrom, dynCount, dynSteps = 8] = (process.env.TJ_RANDOM_DYNAMIC_PROGRAMS ?? '0:150:8').split(':').map(Number);

test(`random programs ${dynFrom}..${dynFrom + dynCount - 1} at batch sizes ${GENERATED_BATCH}, 5, 2, 8, 1, 6: compiled equals eager`, async () => {
  const failures: string[] = [];
  let ran = 0;
  for (let seed = dynFrom; seed < dynFrom + dynCount; seed++) {
    const program = randomProgram(seed, dynSteps, true);
    const eager = (valueSeed: number, batch: number): tj.Tensor[] => {
      const inputs = program.inputs(valueSeed, batch);
      return [...program.fn(...inputs), ...inputs];
    };
    try {
      eager(1, GENERATED_BATCH);
    } catch {
      continue;
    }
    ran++;
    const { backend, graphs } = recordingNativeBackend();
    const compiled = tj.compile(program.fn, { backend });
    try {
      for (const [batch, async] of [[GENERATED_BATCH, false], [GENERATED_BATCH, false], [5, false], [2, true], [8, false], [1, false], [6, true]] as const) {
        const inputs = program.inputs(batch, batch);
        const outputs = async ? await compiled.runAsync(...inputs) : compiled(...inputs);
        const got = [...outputs, ...inputs], want = eager(batch, batch);
        const bad = want.map((w, k) => mismatch(got[k], w)).find((m) => m !== null);
        if (bad) throw new Error(`batch ${batch}${async ? ' (runAsync)' : ''}: ${bad}`);
      }
      const fellBack = eagerFallbacks(graphs);
      if (fellBack.length) throw new Error(`${fellBack.length} graph(s) ran eagerly`);
    } catch (e) {
      failures.push(`seed ${seed}: ${(e as Error).message}\n${program.text}`);
    }
  }
  expect(failures, failures.join('\n\n')).toEqual([]);
  expect(ran).toBeGreaterThan(dynCount * 0.8);
}, 600_000);
