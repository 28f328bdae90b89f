/**
 * The ONNX conformance cases (and their strided variants) through `tj.compile(fn)` with
 * the native backend: the compiled result equals the eager one and the stored
 * expectation, on the tracing call, the cached call and runAsync; and the native
 * backend really lowered every graph (no fallback to the graph's eager interpreter).
 */
import { afterAll, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { eagerFallbacks, loweringFailure, recordingNativeBackend } from '../helpers/native_backend';
import { Case, Variant, buildInput, caseRuns, compare, haveCases, invoke, loadCases, resultList } from './cases';

/** Ops (by case op) whose graph ran eagerly instead of natively, with the reason. */
const fallbacks = new Map<string, string>();

async function runCompiled(c: Case, variant: Variant): Promise<void> {
  const inputs = c.inputs.map((t) => buildInput(t, variant));
  const eager = resultList(c, invoke(c.call, inputs));
  expect(eager.length, 'number of eager results').toBe(c.expected.length);

  const { backend, graphs } = recordingNativeBackend();
  let jsRuns = 0;
  const f = tj.compile((...xs: tj.Tensor[]) => {
    jsRuns++;
    return invoke(c.call, xs);
  }, { backend, fullgraph: true });

  const check = (result: unknown, when: string) => {
    const list = resultList(c, result);
    expect(list.length, `${when}: number of results`).toBe(c.expected.length);
    list.forEach((t, i) => {
      compare(t, eager[i], c.tol, `${when}: result ${i} vs eager`);
      compare(t, c.expected[i], c.tol, `${when}: result ${i} vs expected`);
    });
  };
  check(f(...inputs), 'first (traced) call');
  check(f(...inputs), 'second (cached) call');
  check(await f.runAsync(...inputs), 'runAsync');
  expect(jsRuns, 'the JS body runs once (later calls hit the cache)').toBe(1);

  // One graph, or none when every result is a view of an input (transpose, split: made again
  // as views after each call, as eager returns them) or a literal.
  expect(graphs.length, 'graphs compiled').toBeLessThanOrEqual(1);
  for (const g of eagerFallbacks(graphs)) {
    const reason = loweringFailure(g.gm, inputs) ?? 'lowers when retried';
    fallbacks.set(c.op, reason);
    expect.fail(`${c.id}: the native backend ran the graph eagerly: ${reason}`);
  }
}

const cases = loadCases();
const runs = caseRuns(cases);

describe.skipIf(!haveCases)('ONNX conformance through tj.compile (native backend)', () => {
  test('all 272 cases are present', () => {
    expect(cases.length).toBe(272);
  });
  test.each(runs.map((r) => [r.name, r] as const))('%s', async (_name, { c, variant }) => runCompiled(c, variant));
  afterAll(() => {
    if (fallbacks.size) console.warn(`ops whose graphs fell back to eager:\n${[...fallbacks].map(([op, why]) => `  ${op}: ${why}`).join('\n')}`);
  });
});
