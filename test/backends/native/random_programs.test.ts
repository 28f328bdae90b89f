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
import { GENERATED_BATCH, checkAgainstEager as check, randomProgram } from '../../helpers/random_program';
import { eagerFallbacks, recordingNativeBackend } from '../../helpers/native_backend';

const dir = mkdtempSync(join(tmpdir(), 'tj-random-programs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// TJ_RANDOM_BACKEND=eager runs the static programs through the 'eager' backend instead (the
// tracer and functionalisation alone, the graphs run by the FX interpreter)
const otherBackend = process.env.TJ_RANDOM_BACKEND;

const [from, count, steps = 10] = (process.env.TJ_RANDOM_PROGRAMS ?? '0:300:10').split(':').map(Number);

test(`random programs ${from}..${from + count - 1}: compiled equals eager`, async () => {
  const failures: string[] = [];
  let ran = 0, numGraphs = 0;
  const fallbacks: string[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const program = randomProgram(seed, steps);
    try {
      program.make().fn(...program.inputs(1));
    } catch {
      continue;  // the generator can build a call eager rejects; compiled is not asked then
    }
    ran++;
    // One instance runs eagerly, one compiled, through the same calls (constants a program
    // updates in place evolve alike). Each call gets fresh inputs; a call's result is its
    // outputs, then its inputs and the instance's constants after the call.
    const eagerInstance = program.make(), compiledInstance = program.make();
    const { backend: native, graphs } = recordingNativeBackend();
    const compiled = tj.compile(compiledInstance.fn, { backend: otherBackend ?? native });
    const eager = (valueSeed: number): tj.Tensor[] => {
      const inputs = program.inputs(valueSeed);
      return [...eagerInstance.fn(...inputs), ...inputs, ...eagerInstance.constants];
    };
    const viaCompiled = async (valueSeed: number, async: boolean): Promise<tj.Tensor[]> => {
      const inputs = program.inputs(valueSeed);
      const outputs = async ? await compiled.runAsync(...inputs) : compiled(...inputs);
      return [...outputs, ...inputs, ...compiledInstance.constants];
    };
    try {
      for (const [what, valueSeed, async] of [['first call', 1, false], ['cached call', 1, false], ['runAsync', 1, true], ['new values', 2, false]] as const)
        check(what, await viaCompiled(valueSeed, async), eager(valueSeed));
      if (!program.mutatesConstants) {
        // runs in flight together, each with its own values
        const together = await Promise.all([3, 4, 5].map((valueSeed) => viaCompiled(valueSeed, true)));
        together.forEach((got, i) => check(`concurrent runAsync ${i}`, got, eager(3 + i)));
      }
      if (!program.breaks && !program.layoutDependent && !program.opaque) {
        // a fresh instance exported, saved, loaded and run (a program without breaks is one graph)
        const path = join(dir, `${seed}.safetensors`);
        await tj.exportProgram(program.make().fn, program.inputs(1)).save(path);
        const loaded = await tj.loadProgram(path);
        const inputs = program.inputs(2), reference = program.inputs(2);
        const got = [...(await loaded.runAsync(...inputs)), ...inputs];
        check('exported and loaded', got, [...program.make().fn(...reference), ...reference]);
      }
      numGraphs += graphs.length;
      const fellBack = eagerFallbacks(graphs);
      if (fellBack.length) fallbacks.push(`seed ${seed}: ${fellBack.length} graph(s) ran eagerly\n${program.text}`);
    } catch (e) {
      failures.push(`seed ${seed}: ${(e as Error).message}\n${program.text}`);
    }
  }
  expect(failures, failures.join('\n\n')).toEqual([]);
  expect(fallbacks, 'every graph of these ops runs natively').toEqual([]);
  if (!otherBackend) expect(numGraphs).toBeGreaterThanOrEqual(ran);
  expect(ran).toBeGreaterThan(count * 0.8);  // the generator builds mostly valid programs
}, 600_000);

// The same with a batch dim every op keeps symbolic: the first call compiles for the
// generated size, the second (another size) recompiles with the dim dynamic, later sizes
// reuse that graph; size 1 is specialised (DESIGN.md's rules). With dynamic: true the
// first graph is already symbolic.
const [dynFrom, dynCount, dynSteps = 8] = (process.env.TJ_RANDOM_DYNAMIC_PROGRAMS ?? '0:150:8').split(':').map(Number);

test(`random programs ${dynFrom}..${dynFrom + dynCount - 1} at batch sizes ${GENERATED_BATCH}, 5, 2, 8, 1, 6: compiled equals eager`, async () => {
  const failures: string[] = [];
  let ran = 0;
  for (let seed = dynFrom; seed < dynFrom + dynCount; seed++) {
    const program = randomProgram(seed, dynSteps, true);
    try {
      program.make().fn(...program.inputs(1));
    } catch {
      continue;
    }
    ran++;
    const eagerInstance = program.make(), compiledInstance = program.make();
    const eager = (valueSeed: number, batch: number): tj.Tensor[] => {
      const inputs = program.inputs(valueSeed, batch);
      return [...eagerInstance.fn(...inputs), ...inputs, ...eagerInstance.constants];
    };
    const { backend, graphs } = recordingNativeBackend();
    // odd seeds are shape-polymorphic from the first call (dynamic: true), even ones automatic
    const compiled = tj.compile(compiledInstance.fn, seed % 2 ? { backend, dynamic: true } : { backend });
    try {
      for (const [batch, async] of [[GENERATED_BATCH, false], [GENERATED_BATCH, false], [5, false], [2, true], [8, false], [1, false], [6, true]] as const) {
        const inputs = program.inputs(batch, batch);
        const outputs = async ? await compiled.runAsync(...inputs) : compiled(...inputs);
        check(`batch ${batch}${async ? ' (runAsync)' : ''}`, [...outputs, ...inputs, ...compiledInstance.constants], eager(batch, batch));
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
