// Differential testing of graph splitting (lib/fx/split.ts) with native segments: each
// graph of a seeded random program (test/helpers/random_program.ts) is split where a
// seeded coin says, its segments run as native executables and the rest by the
// interpreter; the program must give the eager values and leave its inputs and constants
// as eager does. TJ_RANDOM_SEGMENTS=from:count runs another range.
import { expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { compileNative } from '../../../lib/backends/native/index';
import type { BackendFn } from '../../../lib/backends/index';
import { GraphModule, Node, forEachNode } from '../../../lib/fx';
import { splitModule } from '../../../lib/fx/split';
import { checkAgainstEager, randomProgram } from '../../helpers/random_program';
import { rng } from '../../helpers/reference';

const [from, count] = (process.env.TJ_RANDOM_SEGMENTS ?? '0:150').split(':').map(Number);

/** A backend that splits each graph at random (a node joins a segment with probability 0.7). */
function randomlySplitting(seed: number, stats: { segments: number }): BackendFn {
  const coin = rng(seed);
  return (gm: GraphModule) => {
    const split = splitModule(gm, {
      accepts(n: Node, inSegment) {
        let tensorInputs = true;
        forEachNode(n.args, (m) => {
          if (m.op !== 'get_attr' && !inSegment(m) && (m.meta.items !== undefined || m.meta.sym !== undefined)) tensorInputs = false;
        });
        return tensorInputs && coin() < 0.7;
      },
      worthSplitting: () => coin() < 0.8,
      compile(segment) {
        const compiled = compileNative(segment);
        return (...inputs) => compiled(...inputs) as unknown[];
      },
    });
    if (!split) return (...inputs: unknown[]) => gm.forward(...inputs);
    stats.segments += split.segments.length;
    return (...inputs: unknown[]) => split.outer.forward(...inputs);
  };
}

test(`random programs ${from}..${from + count - 1}, their graphs split at random: equal to eager`, () => {
  const failures: string[] = [];
  const stats = { segments: 0 };
  let ran = 0;
  for (let seed = from; seed < from + count; seed++) {
    const program = randomProgram(seed, 10);
    try {
      program.make().fn(...program.inputs(1));
    } catch {
      continue;  // the generator can build a call eager rejects
    }
    ran++;
    const eagerInstance = program.make(), splitInstance = program.make();
    const compiled = tj.compile(splitInstance.fn, { backend: randomlySplitting(seed, stats) });
    try {
      for (const valueSeed of [1, 1, 2]) {
        const inputs = program.inputs(valueSeed), reference = program.inputs(valueSeed);
        const got = [...compiled(...inputs), ...inputs, ...splitInstance.constants];
        const want = [...eagerInstance.fn(...reference), ...reference, ...eagerInstance.constants];
        checkAgainstEager(`values ${valueSeed}`, got, want);
      }
    } catch (e) {
      failures.push(`seed ${seed}: ${(e as Error).message}\n${program.text}`);
    }
  }
  expect(failures, failures.join('\n\n')).toEqual([]);
  expect(ran).toBeGreaterThan(count * 0.8);
  expect(stats.segments).toBeGreaterThan(count);  // most graphs were split, many more than once
}, 300_000);
