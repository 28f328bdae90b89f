// The examples run end to end as a user runs them, and their modes agree: the demo's
// compiled and runAsync outputs with eager, the decoder's tokens (KV caches written in
// place, static shapes) in all three modes.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';

function runExample(file: string): string {
  const root = join(__dirname, '..', '..');
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'examples', file)], { cwd: root, encoding: 'utf8' });
  expect(r.stderr.replace(/^npm warn.*\n/gm, ''), `${file} stderr`).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

test('the demo: compiled and runAsync agree with eager', () => {
  const out = runExample('demo.ts');
  const m = /max \|eager - compiled\| = (\S+), max \|eager - runAsync\| = (\S+)/.exec(out);
  expect(m, out).not.toBeNull();
  expect(Number(m![1])).toBeLessThan(1e-5);
  expect(Number(m![2])).toBeLessThan(1e-5);
}, 120_000);

test('the decoder: compiled and runAsync decode the same tokens as eager', () => {
  const out = runExample('decoder.ts');
  expect(out).toContain('compiled tokens equal eager: true, runAsync tokens equal eager: true');
  expect(out.match(/sequence \d: (\d+ ){47}\d+/g)).toHaveLength(2);
}, 120_000);
