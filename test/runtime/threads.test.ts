/**
 * The intra-op thread count: setNumThreads's range, TENSORJIT_NUM_THREADS parsing, and a
 * system that refuses threads (a process thread limit) giving an error, not an abort.
 * Each case runs in a child process, so this process's pools stay as they are.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, test } from 'vitest';

const root = path.join(__dirname, '..', '..');
const entry = JSON.stringify(path.join(root, 'lib', 'index.ts'));

/** Runs `body` (CommonJS, `tj` bound to the library) in a fresh Node process. */
function child(body: string, env: Record<string, string> = {}, wrap = (cmd: string[]) => cmd) {
  const script = `require('tsx/cjs/api').register(); const tj = require(${entry}); ${body}`;
  const [cmd, ...args] = wrap([process.execPath, '-e', script]);
  return spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 50_000, env: { ...process.env, ...env } });
}

// a matmul whose every value is known: ones [64, 32] x ones [32, 16] sums to 64 * 32 * 16
const check = `console.log(tj.getNumThreads(), tj.matmul(tj.ones([64, 32]), tj.ones([32, 16])).sum().item());`;

test('setNumThreads takes integers in [1, 1024]', () => {
  const run = child(`
    for (const n of [0, -1, 1.5, NaN, 1025]) {
      try { tj.setNumThreads(n); console.log('accepted', n); } catch (e) { console.log(e.constructor.name); }
    }
    tj.setNumThreads(3); ${check}`);
  expect(run.status, run.stderr).toBe(0);
  expect(run.stdout.trim().split('\n')).toEqual(['RangeError', 'RangeError', 'RangeError', 'RangeError', 'RangeError', '3 32768']);
});

test.each(['abc', '0', '-3', '1.5', '99999'])('TENSORJIT_NUM_THREADS=%j is ignored with a warning', (value) => {
  const run = child(check, { TENSORJIT_NUM_THREADS: value });
  expect(run.status, run.stderr).toBe(0);
  expect(run.stdout.trim().split(' ')[1]).toBe('32768');
  expect(run.stderr).toContain(`ignoring TENSORJIT_NUM_THREADS=${value} (expected an integer in [1, 1024])`);
});

test('TENSORJIT_NUM_THREADS=3 sets the count', () => {
  const run = child(check, { TENSORJIT_NUM_THREADS: '3' });
  expect(run.stdout.trim()).toBe('3 32768');
});

// RLIMIT_NPROC binds an unprivileged user only: as root, the child drops to nobody first
// (when setpriv exists and nobody can read the checkout)
const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const isRoot = process.getuid?.() === 0;
const nobodyCanRun = () => spawnSync(asNobody[0], [...asNobody.slice(1), 'test', '-r', path.join(root, 'lib', 'index.ts')]).status === 0;
const canLimit = process.platform === 'linux' && (!isRoot || nobodyCanRun());
test.runIf(canLimit)('a thread limit makes setNumThreads a RangeError; the pools run with the threads they got', () => {
  const run = child(
    // libuv's own pool starts first (it aborts the process when it cannot start its threads)
    `require('node:fs').promises.readFile(${entry}).then(() => {
       try { tj.setNumThreads(200); console.log('no error'); } catch (e) { console.log(e.constructor.name, e.message); } ${check}
       // runAsync with no thread left for a background runner: the run computes on the libuv worker
       const f = tj.compile((x) => tj.matmul(x, x).relu());
       return Promise.all(Array.from({ length: 8 }, () => f.runAsync(tj.ones([64, 64]))));
     }).then((rs) => console.log(rs.map((r) => r.sum().item()).join(',')));`,
    {},
    (cmd) => {
      const limited = `ulimit -u 60 && exec ${cmd.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}`;
      return isRoot ? [...asNobody, 'bash', '-c', limited] : ['bash', '-c', limited];
    },
  );
  expect(run.signal, run.stderr).toBeNull();
  expect(run.status, run.stderr).toBe(0);
  const [first, second, third] = run.stdout.trim().split('\n');
  const m = /^RangeError setNumThreads: the system started only (\d+) of 200 threads \(a thread limit\?\); running with (\d+)$/.exec(first);
  expect(m, first).not.toBeNull();
  expect(second).toBe(`${m![2]} 32768`);
  expect(third).toBe(Array(8).fill(64 * 64 * 64).join(','));
});
