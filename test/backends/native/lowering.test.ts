import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { MAX_PROGRAMS_PER_GRAPH, PROGRAM_BYTES_PER_GRAPH, compileNative } from '../../../lib/backends/native/index';
import { expectClose, toRef, makeTensor, randomValues } from '../../helpers/reference';

const x0 = () => makeTensor(randomValues(12, 1), [3, 4]);

describe('native backend lowering', () => {
  test('views, copies and cat run natively and match eager', () => {
    const graph = (x: unknown) => {
      const t = x as tj.Tensor;
      return tj.cat([t.transpose(0, 1).clone(), t.transpose(0, 1).slice(1, 0, 3, 2).contiguous().reshape([4, 2]).transpose(0, 1).transpose(0, 1)], 1);
    };
    const compiled = compileNative(graph);
    const x = x0();
    const got = compiled(x) as tj.Tensor;
    expect(compiled.lastProgram()).not.toBeNull();
    expectClose(got, toRef(graph(x) as tj.Tensor));
  });

  test('strided inputs are read through their strides', () => {
    const graph = (x: unknown) => (x as tj.Tensor).reshape([12]).clone();
    const compiled = compileNative(graph);
    const base = makeTensor(randomValues(12, 2), [3, 4], 'float32', 'transposed');
    expectClose(compiled(base) as tj.Tensor, toRef(graph(base) as tj.Tensor));
  });

  test('constants are referenced by storage: in-place updates stay visible', () => {
    const w = tj.tensor([1, 2, 3]);
    const compiled = compileNative((x: unknown) => tj.cat([x as tj.Tensor, w]));
    const x = tj.tensor([0]);
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([0, 1, 2, 3]);
    w.copy_(tj.tensor([7, 8, 9]));
    expect((compiled(x) as tj.Tensor).toArray()).toEqual([0, 7, 8, 9]);
  });

  test('pytree outputs, repeated outputs and returned inputs', () => {
    const compiled = compileNative((x: unknown) => {
      const t = x as tj.Tensor;
      const c = t.clone();
      return { a: c, b: [c, t], n: 3 };
    });
    const x = tj.tensor([1, 2]);
    const out = compiled(x) as { a: tj.Tensor; b: tj.Tensor[]; n: number };
    expect(out.a.toArray()).toEqual([1, 2]);
    expect(out.b[0].toArray()).toEqual([1, 2]);
    expect(out.b[0].storage).not.toBe(out.a.storage);
    expect(out.b[1].toArray()).toEqual([1, 2]);
    expect(out.n).toBe(3);
  });

  test('one executable per input signature', () => {
    const compiled = compileNative((x: unknown) => (x as tj.Tensor).transpose(0, 1).clone());
    const a = compiled(tj.ones([2, 3])) as tj.Tensor;
    const p1 = compiled.lastProgram();
    const b = compiled(tj.ones([4, 5])) as tj.Tensor;
    expect(compiled.lastProgram()).not.toBe(p1);
    compiled(tj.ones([2, 3]));
    expect(compiled.lastProgram()).toBe(p1);
    expect(a.shape).toEqual([3, 2]);
    expect(b.shape).toEqual([5, 4]);
  });

  // A dynamic graph called at ever new sizes (a growing sequence) kept one executable per
  // size, each holding its own arena: memory grew with every size (660 MB after 600 sizes of
  // a small attention). Arenas now go back to the allocator after each run, and the programs
  // of the least recently used sizes are dropped.
  test('a graph called at many sizes keeps the recent programs and no arena between runs', () => {
    const w = makeTensor(randomValues(64 * 64, 2), [64, 64]);
    const fn = (x: unknown) => tj.matmul(tj.relu(tj.matmul(x as tj.Tensor, w)), w);
    const compiled = compileNative(fn);
    const x = (rows: number) => makeTensor(randomValues(rows * 64, rows), [rows, 64]);
    const first = x(100);
    (compiled(first) as tj.Tensor).dispose();
    const p100 = compiled.lastProgram();
    const live = tj.memory().liveBytes;
    for (let rows = 101; rows < 101 + MAX_PROGRAMS_PER_GRAPH + 10; rows++) {
      const input = x(rows);
      const out = compiled(input) as tj.Tensor;
      if (rows % 16 === 0) expectClose(out, tj.tidy(() => toRef(fn(input) as tj.Tensor)));
      out.dispose();
      input.dispose();
    }
    // nothing stays live between runs (each arena was [rows, 64] floats, 26-44 KiB)
    expect(tj.memory().liveBytes - live).toBeLessThan(4096);
    // size 100 was the least recently used: its program was dropped, and is built anew
    compiled(first);
    expect(compiled.lastProgram()).not.toBe(p100);
  });

  test('the programs kept for a large graph are bounded by their bytes', () => {
    // 1500 ops: each program is large enough that fewer than MAX_PROGRAMS_PER_GRAPH fit the budget
    const fn = (x: unknown) => {
      let y = x as tj.Tensor;
      for (let i = 0; i < 1500; i++) y = tj.add(y, (i % 7) - 3);
      return y;
    };
    let shift = 0;
    for (let i = 0; i < 1500; i++) shift += (i % 7) - 3;
    const compiled = compileNative(fn);
    const programs: unknown[] = [];
    const call = (n: number) => {
      const out = compiled(tj.arange(0, n)) as tj.Tensor;
      expect(out.toArray()).toEqual(Array.from({ length: n }, (_, i) => i + shift));
      out.dispose();
      return compiled.lastProgram();
    };
    programs[1] = call(1);
    const kept = Math.floor(PROGRAM_BYTES_PER_GRAPH / compiled.lastProgram()!.footprintBytes);
    expect(kept).toBeLessThan(MAX_PROGRAMS_PER_GRAPH);
    for (let n = 2; n <= kept + 1; n++) programs[n] = call(n);
    // sizes 2..kept+1 are the most recent `kept`: size 2's program is still there, size 1's was dropped
    expect(call(2)).toBe(programs[2]);
    expect(call(1)).not.toBe(programs[1]);
  });

  // Found by the argument fuzzer (test/ops/bad_arguments.test.ts): eager errors name the op,
  // compiled ones gave the kernel's bare message ("index 5 is out of bounds ...").
  test('a kernel error in a compiled graph names the ops that run that kernel', async () => {
    const w = tj.ones([4, 3]);
    const f = tj.compile((i: tj.Tensor) => tj.relu(tj.embedding(i, w)));
    const named = /^indexSelect\/embedding \(compiled graph, kernel index_select\): index 5 is out of bounds for dim 0 with size 4$/;
    expect(() => f(tj.tensor([5], { dtype: 'int64' }))).toThrow(named);
    await expect(f.runAsync(tj.tensor([5], { dtype: 'int64' }))).rejects.toThrow(named);
    // an output too large to allocate: the op that makes it
    expect(() => tj.compile(() => tj.arange(1e12))()).toThrow(/^arange \(compiled graph, kernel arange\): output 0 \[1000000000000\] int64: /);
    // more than a tensor can hold: the op, in eager, tracing and compiled code alike
    expect(() => tj.arange(2 ** 53)).toThrow(/^arange: the result \[9007199254740992\] has/);
    expect(() => tj.compile(() => tj.arange(2 ** 53))()).toThrow(/^arange: the result \[9007199254740992\] has/);
  });

  test('runAsync gives the same result off the event loop', async () => {
    const graph = (x: unknown) => tj.stack([(x as tj.Tensor).clone(), x as tj.Tensor], 0);
    const compiled = compileNative(graph);
    const x = x0();
    const results = await Promise.all(Array.from({ length: 20 }, () => compiled.runAsync(x)));
    for (const r of results) expectClose(r as tj.Tensor, toRef(graph(x) as tj.Tensor));
  });

  test('TS-only ops fall back to the graph run eagerly', () => {
    const compiled = compileNative(() => tj.tensor([1, 2]));
    expect((compiled() as tj.Tensor).toArray()).toEqual([1, 2]);
    expect(compiled.lastProgram()).toBeNull();
  });

  test('inputs of the wrong shape are a clear error', () => {
    const compiled = compileNative((x: unknown) => (x as tj.Tensor).clone());
    compiled(tj.ones([2]));
    const p = compiled.lastProgram()!;
    expect(() => p.run([tj.ones([3])])).toThrow(/input 0 must have shape \[2\]/);
  });
});
