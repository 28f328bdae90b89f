/**
 * The ONNX backend conformance cases (../shared/conformance/onnx-node, README there),
 * run eagerly: each case is one test named by its id; cases marked `strided` also run
 * with their inputs as non-contiguous views ("T": built transposed and transposed back,
 * "S": every other element of a longer last dim). Case handling lives in ./cases.
 */
import { describe, expect, test } from 'vitest';
import { DispatchMode, withMode } from '../../lib/ops/registry';
import { Case, Variant, buildInput, caseRuns, casesDir, compare, haveCases, invoke, loadCases, resultList } from './cases';

if (!haveCases) console.warn(`ONNX conformance: ${casesDir} is missing; the suite is skipped`);

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
  const list = resultList(c, withMode(kernelListCheck, () => invoke(c.call, inputs)));
  expect(list.length, 'number of results').toBe(c.expected.length);
  list.forEach((t, i) => compare(t, c.expected[i], c.tol, c.list ? `result ${i}` : 'result'));
}

const cases = loadCases();
const runs = caseRuns(cases);

describe.skipIf(!haveCases)('ONNX conformance (eager)', () => {
  test('all 272 cases are present', () => {
    expect(cases.length).toBe(272);
  });
  test.each(runs.map((r) => [r.name, r] as const))('%s', (_name, { c, variant }) => runCase(c, variant));
  test('every kernel the cases ran is listed by its op', () => {
    expect([...unlistedKernels]).toEqual([]);
  });
});
