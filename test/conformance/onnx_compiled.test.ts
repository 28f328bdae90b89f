/**
 * The ONNX conformance cases (and their strided variants) through `tj.compile(fn)` with
 * the native backend: the compiled result equals the eager one and the stored
 * expectation, on the tracing call, the cached call and runAsync; and the native
 * backend really lowered every graph (no fallback to the graph's eager interpreter).
 */
import { afterAll, describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { nativeBackend } from '../../lib/backends/index';
import type { BackendFn } from '../../lib/backends/index';
import type { NativeCompiled } from '../../lib/backends/native/index';
import { LoweringError, lowerGraph } from '../../lib/backends/native/lower';
import type { GraphModule } from '../../lib/fx';
import { Case, Variant, buildInput, caseRuns, compare, haveCases, invoke, loadCases, resultList } from './cases';

/**
 * The default backend, wrapped to keep what it compiled: each graph's NativeCompiled
 * tells through lastProgram() whether its last call ran a native program (null: the
 * graph fell back to running eagerly).
 */
function recordingNativeBackend() {
  const graphs: { gm: GraphModule; compiled: NativeCompiled; example: tj.Tensor[] }[] = [];
  const backend: BackendFn = (gm, exampleInputs, options) => {
    const compiled = nativeBackend(gm, exampleInputs, options) as NativeCompiled;
    graphs.push({ gm, compiled, example: exampleInputs });
    return compiled;
  };
  return { backend, graphs };
}

/** Why lowering refused a graph (the native backend logs it under `perf`). */
function fallbackReason(gm: GraphModule, inputs: unknown[]): string {
  try {
    lowerGraph((...xs: unknown[]) => (gm as unknown as (...a: unknown[]) => unknown)(...xs), inputs);
    return 'lowered when retried';
  } catch (e) {
    return e instanceof LoweringError ? e.message : `lowering threw ${String(e)}`;
  }
}

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

  // A call with only literal results compiles no graph; every case here has tensor results.
  expect(graphs.length, 'graphs compiled').toBe(1);
  for (const g of graphs) {
    if (g.compiled.lastProgram() === null) {
      const reason = fallbackReason(g.gm, inputs);
      fallbacks.set(c.op, reason);
      expect.fail(`${c.id}: the native backend ran the graph eagerly: ${reason}`);
    }
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
