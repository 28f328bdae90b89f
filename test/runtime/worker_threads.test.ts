/**
 * The addon is context-aware: worker threads load it and compute beside the main thread,
 * each isolate collecting its own dropped tensors (native/binding/gc_freed_buffer.h). A
 * worker that alone loaded the addon exits cleanly: Node unloads the addon with the
 * worker's environment, before the isolate frees the buffers whose deleters live in it,
 * so the addon is linked never to be unmapped (-z nodelete); without that, a segfault.
 * A worker terminated while its runs and builds are in flight, or inside a call, does not
 * abort the process.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { expect, test } from 'vitest';

const job = path.join(__dirname, 'fixtures', 'worker_job.ts');
const root = path.join(__dirname, '..', '..');
// the worker loads the TypeScript job through tsx's require hook
const boot = `require('tsx/cjs/api').register(); require(${JSON.stringify(job)});`;

function runJob(seed: number, rounds: number): Promise<{ sum: number; liveBytes: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(boot, { eval: true, workerData: { seed, rounds } });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
  });
}

/** The job's checksum in float64: tanh(2v + 1) + sigmoid(v) for v = seed .. seed + rounds - 1. */
function expectedSum(seed: number, rounds: number): number {
  let s = 0;
  for (let v = seed; v < seed + rounds; v++) s += Math.tanh(2 * v + 1) + 1 / (1 + Math.exp(-v));
  return s;
}

test('two workers compute beside each other and free what they drop', { timeout: 60_000 }, async () => {
  const cases = [
    { seed: -20, rounds: 32 },
    { seed: -3, rounds: 32 },
  ];
  const results = await Promise.all(cases.map((c) => runJob(c.seed, c.rounds)));
  results.forEach((r, i) => {
    expect(r.sum).toBeCloseTo(expectedSum(cases[i].seed, cases[i].rounds), 5);
    // each job dropped 96 MiB (3 MiB per round) without a turn of its event loop; its
    // collections freed them (the allocator's count is the whole process's: both jobs)
    expect(r.liveBytes).toBeLessThanOrEqual(8 << 20);
  });
});

test('a worker that alone loaded the addon exits cleanly', { timeout: 60_000 }, () => {
  // a fresh process whose main thread never loads the addon: only the worker does
  const main = `const { Worker } = require('node:worker_threads');
    const w = new Worker(${JSON.stringify(boot)}, { eval: true, workerData: { seed: 2, rounds: 8 } });
    w.once('message', (m) => console.log(JSON.stringify(m)));
    w.once('exit', (code) => { process.exitCode = code; });`;
  const run = spawnSync(process.execPath, ['-e', main], { cwd: root, encoding: 'utf8', timeout: 50_000 });
  expect(run.signal).toBeNull();
  expect(run.status).toBe(0);
  expect(JSON.parse(run.stdout).sum).toBeCloseTo(expectedSum(2, 8), 5);
});

test('a worker terminated with runAsync calls and a build in flight leaves the process running', { timeout: 60_000 }, () => {
  const inflight = path.join(__dirname, 'fixtures', 'worker_inflight.ts');
  const bootInflight = `require('tsx/cjs/api').register(); require(${JSON.stringify(inflight)});`;
  // workers terminated at once and after a few ms, one after another; then the process exits 0
  const main = `const { Worker } = require('node:worker_threads');
    const delays = [0, 0, 1, 2, 3, 5, 8, 10, 15, 20, 30, 40];
    const next = (i) => {
      if (i === delays.length) return console.log('done');
      const w = new Worker(${JSON.stringify(bootInflight)}, { eval: true });
      w.once('message', () => setTimeout(() => w.terminate(), delays[i]));
      w.once('exit', () => next(i + 1));
    };
    next(0);`;
  const run = spawnSync(process.execPath, ['-e', main], { cwd: root, encoding: 'utf8', timeout: 50_000 });
  expect(run.stderr).not.toMatch(/terminate called/);
  expect(run.signal).toBeNull();
  expect(run.status).toBe(0);
  expect(run.stdout.trim()).toBe('done');
});
