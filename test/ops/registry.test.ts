/**
 * Integrity of the one op registry: every op has a meta path, every kernel id it names
 * exists in the addon and every addon kernel is used, every op the docs list exists as
 * `tj.<name>` (the registry object itself, reached the same way through `x.<name>(...)`),
 * and the generated lib/tensor_methods.ts matches the registry.
 * Each check collects every offender before failing, so one run lists all that is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { native } from '../../lib/native';
import { AnyOp, DispatchMode, allOps, getOp, isOp, withMode } from '../../lib/ops/registry';
import { renderTensorMethods } from '../../scripts/gen-tensor-methods';

const repoRoot = path.join(__dirname, '..', '..');
const sharedDir = path.join(repoRoot, '..', 'shared');

/** Native kernels the runtime uses outside any op (not op kernels). */
const HELPER_KERNELS: Record<string, string> = {
  fma_probe: 'bench/lib/probes.ts measures the FMA peak with it',
  fused_pointwise: "the native backend runs fused pointwise chains with it (native/kernels/fused)",
};

/** Names the docs mention beside ops that are plain functions, not ops. */
const NON_OP_FUNCTIONS = ['manualSeed'];

const IDENT = /^[a-z][A-Za-z0-9]*_?$/;

function backticked(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
}

/** `tj.tensor(data, ...)` -> tensor, `slice(dim, ...)` -> slice, `zeros` -> zeros. */
function leadingName(token: string): string | null {
  const m = /^(?:tj\.)?([A-Za-z_][A-Za-z0-9_]*)/.exec(token.trim());
  return m && IDENT.test(m[1]) ? m[1] : null;
}

function between(text: string, start: string, end: string, file: string): string {
  const i = text.indexOf(start);
  const j = text.indexOf(end, i + start.length);
  if (i < 0 || j < 0) throw new Error(`${file}: cannot find the section from '${start}' to '${end}' (did the doc change?)`);
  return text.slice(i + start.length, j);
}

/** Every op name in DESIGN.md's API lists and OPS.md's op table, with where it was found. */
function docOpNames(): Map<string, string> {
  const names = new Map<string, string>();
  const add = (n: string | null, where: string) => {
    if (n && !names.has(n)) names.set(n, where);
  };
  const design = fs.readFileSync(path.join(sharedDir, 'DESIGN.md'), 'utf8');
  // "Tensors: `tj.tensor(...)`, `zeros`, ... A `Tensor` has ..."
  for (const tok of backticked(between(design, 'Tensors:', 'A `Tensor` has', 'DESIGN.md'))) add(leadingName(tok), 'DESIGN.md tensors');
  // "Views share storage: `reshape`, ..., `contiguous`."
  for (const tok of backticked(between(design, 'Views share storage:', '\n\n', 'DESIGN.md'))) add(leadingName(tok), 'DESIGN.md views');
  // The op list: space-separated groups (`add sub mul ...`) and the in-place forms (`copy_`, ...);
  // single words without a trailing underscore there are argument names (`dim`/`keepdim`).
  const opsPara = between(design, 'Ops, each both', 'NumPy\nbroadcasting everywhere', 'DESIGN.md');
  for (const tok of backticked(opsPara.slice(opsPara.indexOf(':')))) {
    const words = tok.trim().split(/\s+/);
    if (words.length > 1) words.forEach((w) => add(IDENT.test(w) ? w : null, 'DESIGN.md ops'));
    else if (tok.endsWith('_')) add(leadingName(tok), 'DESIGN.md in-place ops');
  }
  const opsMd = fs.readFileSync(path.join(sharedDir, 'OPS.md'), 'utf8');
  const table = opsMd.slice(opsMd.indexOf('\n## Ops'));
  for (const line of table.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const firstCell = line.split('|')[1];
    for (const tok of backticked(firstCell)) for (const w of tok.trim().split(/\s+/)) add(IDENT.test(w) ? w : null, 'OPS.md');
  }
  return names;
}

/** The op a Tensor method dispatches to, observed by a mode that records and stops the call. */
function opReachedByMethod(name: string): AnyOp | undefined {
  let seen: AnyOp | undefined;
  const recorder: DispatchMode = {
    call(op) {
      seen ??= op;
      return undefined;
    },
  };
  const x = tj.zeros([2]);
  const method = (x as unknown as Record<string, unknown>)[name];
  if (typeof method !== 'function') return undefined;
  withMode(recorder, () => (method as (...a: unknown[]) => unknown).call(x));
  return seen;
}

describe('op registry integrity', () => {
  const ops = allOps();
  const kernelNames = new Set(native.kernelNames());

  test('the registry is populated', () => {
    expect(ops.length).toBeGreaterThan(20);
  });

  test('every op has a meta path (kernel, view or decompose; impl only for creation/random ops)', () => {
    const bad: string[] = [];
    for (const op of ops) {
      const s = op.spec;
      const ways = [s.kernel && 'kernel', s.view && 'view', s.decompose && 'decompose', s.impl && 'impl'].filter(Boolean);
      if (ways.length !== 1) bad.push(`${op.opName}: has ${ways.join('+') || 'no way to run'}`);
      if (s.impl && !op.traits.has('creation') && !op.traits.has('random'))
        bad.push(`${op.opName}: TS-only impl without the 'creation' or 'random' trait (no meta for the tracer)`);
      if (s.kernel && !(s.kernels && s.kernels.length > 0)) bad.push(`${op.opName}: kernel op lists no native kernel ids`);
    }
    expect(bad).toEqual([]);
  });

  test('every kernel id an op lists exists in the addon', () => {
    const missing = ops.flatMap((op) => (op.spec.kernels ?? []).filter((k) => !kernelNames.has(k)).map((k) => `${op.opName} -> ${k}`));
    expect(missing).toEqual([]);
  });

  test('every native kernel is used by some op (or is a documented helper kernel)', () => {
    const used = new Set(ops.flatMap((op) => op.spec.kernels ?? []));
    for (const k of Object.keys(HELPER_KERNELS)) used.add(k);
    const unused = [...kernelNames].filter((k) => !used.has(k));
    expect(unused, 'native kernels no op lists in kernels: [...]').toEqual([]);
  });

  test('op objects carry their registry name and identity', () => {
    const bad = ops.filter((op) => op.opName !== op.name || getOp(op.opName) !== op || !isOp(op)).map((op) => op.opName);
    expect(bad).toEqual([]);
    const exported = tj as unknown as Record<string, unknown>;
    const notExported = ops.filter((op) => exported[op.opName] !== op).map((op) => op.opName);
    expect(notExported, 'registered ops that are not tj.<name>').toEqual([]);
  });

  test('every method op is reached through x.<name>(...)', () => {
    const bad: string[] = [];
    for (const op of ops.filter((o) => o.method)) {
      const reached = opReachedByMethod(op.opName);
      if (reached !== op) bad.push(`${op.opName}: x.${op.opName} reaches ${reached ? reached.opName : 'nothing'}`);
    }
    expect(bad).toEqual([]);
  });

  test('lib/tensor_methods.ts is generated from the current registry (npm run gen:methods)', () => {
    const onDisk = fs.readFileSync(path.join(repoRoot, 'lib', 'tensor_methods.ts'), 'utf8');
    expect(onDisk).toBe(renderTensorMethods());
  });

  const haveDocs = fs.existsSync(path.join(sharedDir, 'DESIGN.md')) && fs.existsSync(path.join(sharedDir, 'OPS.md'));
  if (!haveDocs) console.warn(`registry test: ${sharedDir} has no DESIGN.md/OPS.md; the doc op-list check is skipped`);

  test.skipIf(!haveDocs)('every op DESIGN.md and OPS.md list is tj.<name>, the registry op', () => {
    const names = docOpNames();
    expect(names.size).toBeGreaterThan(50);
    const exported = tj as unknown as Record<string, unknown>;
    const problems: string[] = [];
    for (const [name, where] of names) {
      if (NON_OP_FUNCTIONS.includes(name)) {
        if (typeof exported[name] !== 'function') problems.push(`${name} (${where}): tj.${name} is not a function`);
        continue;
      }
      const op = getOp(name);
      if (!op) problems.push(`${name} (${where}): not in the registry`);
      else if (exported[name] !== op) problems.push(`${name} (${where}): tj.${name} is not the registry op`);
      else if (name in tj.Tensor.prototype && opReachedByMethod(name) !== op)
        problems.push(`${name} (${where}): x.${name} does not reach the registry op`);
    }
    expect(problems).toEqual([]);
  });
});
