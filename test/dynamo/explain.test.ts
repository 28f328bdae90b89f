/** explain() output and TENSORJIT_LOGS. */
import { afterEach, describe, expect, test, vi } from 'vitest';
import * as tj from '../../lib/index';

afterEach(() => {
  vi.restoreAllMocks();
  delete process.env.TENSORJIT_LOGS;
});

function twoGraphs(x: tj.Tensor, w: tj.Tensor) {
  const y = tj.softmax(tj.matmul(x, w), -1);
  if ((tj.sum(y).item() as number) > 1e9) return y;
  return tj.cat([y, y.clone()], 0);
}

describe('explain', () => {
  test('returns exactly the documented fields', () => {
    const x = tj.ones([2, 3]), w = tj.ones([3, 2]);
    const report = tj.compiler.explain(twoGraphs)(x, w);
    expect(Object.keys(report).sort()).toEqual(['breakReasons', 'compileTimes', 'graphBreakCount', 'graphCount', 'graphs', 'guards', 'opsPerGraph'].sort());
    expect(report.graphCount).toBe(2);
    expect(report.graphBreakCount).toBe(1);
    expect(report.breakReasons).toEqual([{ reason: expect.stringContaining('item()'), location: expect.stringMatching(/explain\.test\.ts:12:\d+$/) }]);
    expect(report.opsPerGraph).toEqual([[tj.matmul, tj.softmax, tj.sum], [tj.clone, tj.cat]]);
    expect(report.graphs).toHaveLength(2);
    expect(report.graphs[0]).toBeInstanceOf(tj.GraphModule);
    expect(report.compileTimes).toHaveLength(2);
    expect(report.compileTimes.every((t) => typeof t === 'number' && t >= 0)).toBe(true);
    expect(report.guards).toEqual(expect.arrayContaining(["x.dtype === 'float32'", 'x.shape == [2, 3]', 'w.shape == [3, 2]', 'x and w do not share memory']));
  });

  test('a break-free function: one graph, no breaks, the guards of its cache entry', () => {
    const report = tj.compiler.explain((x: tj.Tensor, n: number) => tj.sum(x, n))(tj.ones([2, 2]), 1);
    expect([report.graphCount, report.graphBreakCount, report.breakReasons]).toEqual([1, 0, []]);
    expect(report.guards).toContain('n === 1');
  });

  test('explain of a compiled function or a module explains the original code', () => {
    const compiled = tj.compile(twoGraphs, { backend: 'eager' });
    const report = tj.compiler.explain(compiled)(tj.ones([2, 3]), tj.ones([3, 2]));
    expect(report.graphCount).toBe(2);
    const lin = new tj.nn.Linear(3, 2);
    const r2 = tj.compiler.explain(lin)(tj.ones([1, 3]));
    expect(r2.opsPerGraph).toEqual([[tj.linear]]);
    expect(Object.keys(r2.graphs[0].attrs)).toEqual(['weight', 'bias']);
  });
});

describe('TENSORJIT_LOGS', () => {
  function captureStderr() {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    });
    return () => lines.join('');
  }

  test('nothing is logged by default', () => {
    const out = captureStderr();
    tj.compile(twoGraphs, { backend: 'eager' })(tj.ones([2, 3]), tj.ones([3, 2]));
    expect(out()).toBe('');
  });

  test('graph_breaks: the reason and the user location', () => {
    process.env.TENSORJIT_LOGS = 'graph_breaks';
    const out = captureStderr();
    tj.compile(twoGraphs, { backend: 'eager' })(tj.ones([2, 3]), tj.ones([3, 2]));
    expect(out()).toMatch(/\[tensorjit:graph_breaks\] graph break in 'twoGraphs': Tensor\.item\(\) reads the data of a traced tensor\n\[tensorjit:graph_breaks\]     at .*explain\.test\.ts:12:\d+/);
  });

  test('recompiles: names the guard that failed', () => {
    process.env.TENSORJIT_LOGS = 'recompiles';
    const out = captureStderr();
    const f = tj.compile((x: tj.Tensor, n: number) => tj.sum(x, n), { backend: 'eager' });
    f(tj.ones([2, 2]), 0);
    expect(out()).toBe('');
    f(tj.ones([2, 2]), 1);
    expect(out()).toMatch(/\[tensorjit:recompiles\] recompiling 'anonymous': guard failed: n === 0/);
  });

  test('guards, graph_code and perf (read at each call, so a running process can turn them on)', () => {
    const out = captureStderr();
    const f = tj.compile(function scaled(x: tj.Tensor) { return tj.softmax(x, 0); }, { backend: 'eager' });
    f(tj.ones([2]));
    expect(out()).toBe('');
    process.env.TENSORJIT_LOGS = 'guards,graph_code,perf';
    f(tj.ones([3]));
    const text = out();
    expect(text).toMatch(/\[tensorjit:guards\] guards of 'scaled' entry 1:\n\[tensorjit:guards\]   called with 1 arguments/);
    expect(text).toMatch(/\[tensorjit:graph_code\] graph of 'scaled':\n\[tensorjit:graph_code\] function forward\(x\) \{/);
    expect(text).toContain('[tensorjit:graph_code] %softmax : f32[s0] = call_function[softmax](%x, 0)');
    expect(text).toMatch(/\[tensorjit:perf\] 'scaled': backend compiled a graph of \d+ nodes in [\d.]+ ms/);
    expect(text).not.toContain('[tensorjit:recompiles]');
  });
});
