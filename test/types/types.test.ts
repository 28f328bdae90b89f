// The public API as a TypeScript user writes it (public_api.ts) and the demo must type-check:
// vitest strips types without checking them, so this runs tsc on them.
import { spawnSync } from 'node:child_process';
import { expect, test } from 'vitest';

test('typical user code and the demo type-check against the public API (strict)', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', `${__dirname}/tsconfig.json`], { encoding: 'utf8' });
  expect(r.stdout + r.stderr, 'tsc output').toBe('');
  expect(r.status).toBe(0);
}, 120_000);
