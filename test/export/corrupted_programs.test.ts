/**
 * Saved programs with corrupted program JSON: random programs (test/helpers/random_program.ts)
 * are exported and saved, then values deep in their program JSON are changed (numbers to
 * other numbers, strings to other strings and op names, array entries dropped or repeated,
 * keys deleted) before loading and running them with valid inputs. Loading and running
 * either work or throw an Error, on both backends; never a crash of the process, never a
 * non-Error throw. Seeded; TJ_CORRUPT_PROGRAMS=from:count sets the programs.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { loadSafetensors, serializeSafetensors } from '../../lib/io/safetensors';
import { PROGRAM_METADATA_KEY } from '../../lib/export/serialize';
import { randomProgram } from '../helpers/random_program';
import { rng } from '../helpers/reference';

const [from, count] = (process.env.TJ_CORRUPT_PROGRAMS ?? '0:30').split(':').map(Number);
const CORRUPTIONS_PER_PROGRAM = 25;
const dir = mkdtempSync(join(tmpdir(), 'tj-corrupt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const INTERNAL = /Cannot read propert|is not a function|is not iterable|Cannot convert|Maximum call stack|Invalid array length|Cannot set propert|Cannot destructure/;
const NUMBERS = [0, 1, 2, 3, -1, 7, 0.5, 1e6, 2 ** 31, 1e15, -(2 ** 53)];
const STRINGS = ['', 'x', 'add', 'matmul', 'reshape', 'float32', 'int64', 'bool', 'call_function', 'placeholder', 'output', 'get_attr', 'w0', '__proto__'];

/** Every [container, key] inside a JSON value (the places a corruption can change). */
function places(x: unknown, out: [Record<string | number, unknown>, string | number][] = []): typeof out {
  if (Array.isArray(x)) x.forEach((v, i) => (out.push([x as unknown as Record<number, unknown>, i]), places(v, out)));
  else if (x && typeof x === 'object') for (const k of Object.keys(x)) out.push([x as Record<string, unknown>, k]), places((x as Record<string, unknown>)[k], out);
  return out;
}

function corrupt(program: unknown, rand: () => number): string {
  const copy = JSON.parse(JSON.stringify(program));
  const all = places(copy);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  for (let n = 1 + Math.floor(rand() * 2); n > 0 && all.length; n--) {
    const [at, key] = pick(all);
    const v = at[key];
    const how = rand();
    if (Array.isArray(at) && how < 0.15) (at as unknown[]).splice(key as number, 1);
    else if (Array.isArray(at) && how < 0.25) (at as unknown[]).splice(key as number, 0, v);
    else if (!Array.isArray(at) && how < 0.25) delete at[key];
    else if (typeof v === 'number') at[key] = rand() < 0.5 ? v + pick([-1, 1, 2]) : pick(NUMBERS);
    else if (typeof v === 'string') at[key] = pick(STRINGS);
    else at[key] = pick<unknown>([null, 0, 'x', [], {}, [1, 2]]);
  }
  return JSON.stringify(copy);
}

test(`programs ${from}..${from + count - 1}, ${CORRUPTIONS_PER_PROGRAM} corruptions each: load and run work or throw an Error`, async () => {
  const bad: string[] = [];
  let loaded = 0, tried = 0;
  for (let seed = from; seed < from + count; seed++) {
    const program = randomProgram(seed, 6);
    if (program.breaks || program.opaque || program.layoutDependent) continue;
    const path = join(dir, `${seed}.safetensors`);
    try {
      await tj.exportProgram(program.make().fn, program.inputs(1)).save(path);
    } catch {
      continue;  // not a valid program (the generator's invalid ones)
    }
    const { tensors, metadata } = loadSafetensors(readFileSync(path));
    const json = JSON.parse(metadata[PROGRAM_METADATA_KEY]);
    const rand = rng(seed * 7 + 1);
    for (let c = 0; c < CORRUPTIONS_PER_PROGRAM; c++) {
      tried++;
      const bytes = serializeSafetensors(tensors, { ...metadata, [PROGRAM_METADATA_KEY]: corrupt(json, rand) });
      for (const backend of ['native', 'eager'] as const) {
        try {
          const ep = await tj.loadProgram(bytes, { backend });
          loaded++;
          const outs = ep.run(...program.inputs(2));
          for (const t of (Array.isArray(outs) ? outs : [outs]).flat(2)) if (t instanceof tj.Tensor && t.numel() <= 1 << 20) t.dataSync();
        } catch (e) {
          if (!(e instanceof Error)) bad.push(`seed ${seed} corruption ${c} (${backend}): threw a non-Error ${String(e)}`);
          // an internal error leaking out (a field the loader did not check) is not a message for users
          else if (INTERNAL.test(e.message) || e.name === 'ReferenceError') bad.push(`seed ${seed} corruption ${c} (${backend}): ${e.stack?.split('\n').slice(0, 3).join(' | ')}`);
        }
      }
    }
  }
  expect(bad.slice(0, 10), `${bad.length} bad of ${tried} corruptions`).toEqual([]);
  expect(tried).toBeGreaterThan(count * CORRUPTIONS_PER_PROGRAM * 0.5);
  expect(loaded).toBeGreaterThan(0);  // some corruptions keep a valid program (a number moved by one)
}, 600_000);
