/**
 * Guards: the conditions under which a cache entry's graph computes what the function
 * would. Each entry gets two generated functions (new Function), built from one list of
 * checks over the call's arguments: `check(args)` returns the graph inputs (the distinct
 * tensor leaves, in placeholder order) or null, with straight-line property reads and
 * comparisons and no pytree walk; `failure(args)` names the first failing check (logs).
 */
import { Tensor, contiguousStrides } from '../tensor';
import { denseDimOrder, isPlainObject, isTreeMap } from '../fx';
import { registryState } from './state';
import { HOLDER_DEPTH } from './module';

export interface GuardSpec {
  args: unknown[];
  /** Argument names for messages (parameter names of the traced function). */
  paramNames: string[];
  /** Placeholder i is argument leaf inputLeaves[i] (leaves numbered in flatten order). */
  inputLeaves: number[];
  /** Dynamic dims: groups of [leaf, dim]; the first member is the symbol's source. */
  symbols?: [number, number][][];
  /**
   * Modules whose state the graph depends on, with display names: their `training` flag and
   * their other attributes (numbers, strings and flags by value; submodules, functions and
   * other objects by identity; arrays and plain objects by contents). Tensors there are
   * `owners`' business; `skip` names attributes forward itself changes (side effects).
   */
  modules?: { module: object; name: string; skip?: Set<string> }[];
  /** Module state read as graph constants: owner[key] (or down `path` from there) must still be this tensor. */
  owners?: { owner: object; key: string; path?: unknown[]; value: Tensor; name: string }[];
}

export interface Guard {
  check(args: unknown[]): Tensor[] | null;
  /** The first failing check's description, or null when all pass. */
  failure(args: unknown[]): string | null;
  descriptions: string[];
}

type Stmt = { decl: string } | { fail: string; desc: string };

const sameKeys = (o: Record<string, unknown>, keys: string[]): boolean => {
  let n = 0;
  for (const k in o) {
    if (!Object.hasOwn(o, k)) continue;
    if (keys[n] !== k) return false;
    n++;
  }
  return n === keys.length;
};

/** A Map with exactly these keys in this order (the pytree's order of its entries). */
const sameMapKeys = (m: unknown, keys: unknown[]): boolean => {
  if (!(m instanceof Map) || m.size !== keys.length) return false;
  let n = 0;
  for (const k of m.keys()) if (keys[n++] !== k) return false;
  return true;
};

/** A Set with exactly these members (strings, numbers...): what `flags.has(...)` read. */
const sameSetMembers = (s: unknown, members: unknown[]): boolean =>
  s instanceof Set && s.size === members.length && members.every((m) => s.has(m));

/** A Set guarded by its members (primitives, not too many), not by identity. */
const isSmallPrimitiveSet = (x: unknown): x is Set<unknown> =>
  x instanceof Set && x.size <= 64 && [...x].every((m) => m === null || (typeof m !== 'object' && typeof m !== 'function'));

const isContiguous = (t: Tensor): boolean => t.isContiguous();
/** A permuted contiguous tensor's dim order as text (null for other layouts). */
const dimOrder = (t: Tensor): string | null => denseDimOrder(t.shape, t.strides)?.join(',') ?? null;

function labelOf(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

function literalCheck(v: string, value: unknown, K: unknown[]): string {
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return `!(typeof ${v} === 'number' && ${v} !== ${v})`;
    if (Object.is(value, -0)) return `!Object.is(${v}, -0)`;
    return `${v} !== ${value}`;
  }
  if (typeof value === 'string') return `${v} !== ${JSON.stringify(value)}`;
  if (typeof value === 'bigint') return `${v} !== ${value}n`;
  if (typeof value === 'boolean' || value === null || value === undefined) return `${v} !== ${String(value)}`;
  if (isSmallPrimitiveSet(value)) {
    K.push([...value]);
    return `!K[7](${v}, K[${K.length - 1}])`;
  }
  K.push(value);
  return `${v} !== K[${K.length - 1}]`;
}

function describeLiteral(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return `the function ${value.name || '(anonymous)'}`;
  if (isSmallPrimitiveSet(value)) return `a Set of [${[...value].map((m) => (typeof m === 'string' ? JSON.stringify(m) : String(m))).join(', ')}]`;
  if (value !== null && typeof value === 'object') return `the same ${value.constructor?.name ?? 'object'}`;
  return Object.is(value, -0) ? '-0' : String(value);
}

export function buildGuard(spec: GuardSpec): Guard {
  const K: unknown[] = [Tensor, isPlainObject, sameKeys, isContiguous, registryState, dimOrder, sameMapKeys, sameSetMembers];
  const stmts: Stmt[] = [];
  let vars = 0;
  const leafVar: string[] = [];
  const leafLabel: string[] = [];
  const leafValue: unknown[] = [];
  const symbolOf = new Map<string, { sym: number; first: boolean }>();
  (spec.symbols ?? []).forEach((members, sym) => members.forEach(([leaf, dim], j) => symbolOf.set(`${leaf}:${dim}`, { sym, first: j === 0 })));

  const tensorChecks = (v: string, label: string, t: Tensor, leaf: number) => {
    stmts.push({ fail: `!(${v} instanceof K[0]) || ${v}.storage === null`, desc: `${label} is a Tensor` });
    stmts.push({ fail: `${v}.dtype !== ${JSON.stringify(t.dtype)}`, desc: `${label}.dtype === '${t.dtype}'` });
    const s = `s${vars++}`;
    stmts.push({ decl: `const ${s} = ${v}.shape;` });
    const staticDims: string[] = [`${s}.length !== ${t.ndim}`];
    const shown: string[] = [];
    let dynamic = false;
    t.shape.forEach((d, i) => {
      const sym = symbolOf.get(`${leaf}:${i}`);
      if (!sym) {
        staticDims.push(`${s}[${i}] !== ${d}`);
        shown.push(String(d));
      } else {
        dynamic = true;
        shown.push(`s${sym.sym}`);
      }
    });
    stmts.push({ fail: staticDims.join(' || '), desc: `${label}.shape == [${shown.join(', ')}]` });
    t.shape.forEach((_, i) => {
      const sym = symbolOf.get(`${leaf}:${i}`);
      if (!sym) return;
      if (sym.first) stmts.push({ fail: `${s}[${i}] < 2`, desc: `s${sym.sym} = ${label}.shape[${i}] >= 2 (dynamic; sizes 0 and 1 are specialised)` });
      else {
        const [srcLeaf, srcDim] = spec.symbols![sym.sym][0];
        stmts.push({ fail: `${s}[${i}] !== ${leafVar[srcLeaf] ?? `(${v})`}.shape[${srcDim}]`, desc: `${label}.shape[${i}] == s${sym.sym}` });
      }
    });
    if (t.isContiguous()) {
      if (dynamic) stmts.push({ fail: `!K[3](${v})`, desc: `${label} is contiguous` });
      else {
        const want = contiguousStrides(t.shape);
        const checks = t.shape.map((d, i) => (d === 1 ? null : `${v}.strides[${i}] !== ${want[i]}`)).filter(Boolean);
        if (checks.length) stmts.push({ fail: checks.join(' || '), desc: `${label} is contiguous` });
      }
    } else if (dynamic && dimOrder(t) !== null) {
      // strides follow the sizes: the layout is the dim order (outermost first)
      const order = dimOrder(t)!;
      stmts.push({ fail: `K[5](${v}) !== ${JSON.stringify(order)}`, desc: `${label} is dense in dim order [${order}]` });
    } else {
      stmts.push({
        fail: t.strides.map((st, i) => `${v}.strides[${i}] !== ${st}`).join(' || '),
        desc: `${label}.strides == [${t.strides.join(', ')}]`,
      });
    }
  };

  // An array's length or a plain object's keys (v holds it), then `each` of its entries;
  // false for other values.
  const containerChecks = (v: string, label: string, value: unknown, each: (child: unknown, expr: string, label: string) => void): boolean => {
    if (Array.isArray(value)) {
      stmts.push({ fail: `!Array.isArray(${v}) || ${v}.length !== ${value.length}`, desc: `${label} is an array of length ${value.length}` });
      value.forEach((c, i) => each(c, `${v}[${i}]`, labelOf(label, i)));
      return true;
    }
    if (isTreeMap(value)) {
      // a Map the pytree opens (string and number keys): its size and keys, then its entries
      const keys = [...value.keys()];
      K.push(keys);
      stmts.push({ fail: `!K[6](${v}, K[${K.length - 1}])`, desc: `${label} is a Map with keys [${keys.join(', ')}]` });
      keys.forEach((k) => each(value.get(k), `${v}.get(${JSON.stringify(k)})`, labelOf(label, k)));
      return true;
    }
    if (!isPlainObject(value)) return false;
    const keys = Object.keys(value);
    K.push(keys);
    stmts.push({ fail: `!K[1](${v}) || !K[2](${v}, K[${K.length - 1}])`, desc: `${label} is an object with keys [${keys.join(', ')}]` });
    keys.forEach((k) => each(value[k], `${v}[${JSON.stringify(k)}]`, labelOf(label, k)));
    return true;
  };

  const visit = (value: unknown, expr: string, label: string) => {
    const v = `v${vars++}`;
    stmts.push({ decl: `const ${v} = ${expr};` });
    if (!containerChecks(v, label, value, visit)) {
      const leaf = leafVar.length;
      leafVar.push(v);
      leafLabel.push(label);
      leafValue.push(value);
      if (value instanceof Tensor) tensorChecks(v, label, value, leaf);
      else stmts.push({ fail: literalCheck(v, value, K), desc: `${label} === ${describeLiteral(value)}` });
    }
  };

  const argName = (i: number) => spec.paramNames[i] ?? `args[${i}]`;
  stmts.push({ fail: `args.length !== ${spec.args.length}`, desc: `called with ${spec.args.length} arguments` });
  spec.args.forEach((a, i) => visit(a, `args[${i}]`, argName(i)));

  // aliasing between tensor arguments: the same object, shared memory, or distinct
  const tensorLeaves = leafValue.map((v, i) => (v instanceof Tensor ? i : -1)).filter((i) => i >= 0);
  for (let a = 0; a < tensorLeaves.length; a++)
    for (let b = a + 1; b < tensorLeaves.length; b++) {
      const i = tensorLeaves[a], j = tensorLeaves[b];
      const ti = leafValue[i] as Tensor, tj = leafValue[j] as Tensor;
      const vi = leafVar[i], vj = leafVar[j];
      if (ti === tj) stmts.push({ fail: `${vi} !== ${vj}`, desc: `${leafLabel[i]} and ${leafLabel[j]} are the same tensor` });
      else if (ti.storage === tj.storage)
        stmts.push({ fail: `${vi} === ${vj} || ${vi}.storage !== ${vj}.storage`, desc: `${leafLabel[i]} and ${leafLabel[j]} share memory` });
      else stmts.push({ fail: `${vi} === ${vj} || ${vi}.storage === ${vj}.storage`, desc: `${leafLabel[i]} and ${leafLabel[j]} do not share memory` });
    }

  stmts.push({ fail: `K[4].version !== ${registryState.version}`, desc: 'the allow/disallow/disable registries are unchanged' });
  // Module attributes: what forward read from them was baked into the graph (a scale, a
  // mode string, which submodule runs), so a change recompiles, as torch.compile's guards do.
  let budget = 0;  // state checks left for the current module (deep configs are guarded by identity past it)
  const stateChecks = (v: string, label: string, value: unknown, depth: number): void => {
    // (an object of the user's own class, a config or a KV cache, is guarded by identity here
    // and field by field as one of the state objects, as a submodule is)
    const container = Array.isArray(value) || isPlainObject(value) || isTreeMap(value);
    const size = Array.isArray(value) ? value.length : value instanceof Map || value instanceof Set ? value.size : container ? Object.keys(value as object).length : 0;
    // tensors, functions, submodules and other objects by identity; so are containers too deep or too large
    const byMembers = isSmallPrimitiveSet(value) && value.size < budget;  // a Set of flags, by what it holds
    if (typeof value === 'function' || (value !== null && typeof value === 'object' && !byMembers && (!container || depth >= 3 || size >= budget))) {
      // a parameter, a buffer, or a tensor in arrays or objects on the module (as deep as
      // tensorOwners looks): `owners` guards the ones the graph reads
      if (value instanceof Tensor && depth <= HOLDER_DEPTH) return;
      K.push(value);
      stmts.push({ fail: `${v} !== K[${K.length - 1}]`, desc: `${label} is the same ${value instanceof Tensor ? 'tensor' : typeof value === 'function' ? 'function' : 'object'}` });
      return;
    }
    budget -= 1 + size;  // a large array (a vocabulary) is guarded by identity instead
    if (container) {
      const c = `v${vars++}`;
      stmts.push({ decl: `const ${c} = ${v};` });
      containerChecks(c, label, value, (child, expr, childLabel) => stateChecks(expr, childLabel, child, depth + 1));
    } else {
      stmts.push({ fail: literalCheck(v, value, K), desc: `${label} === ${describeLiteral(value)}` });
    }
  };

  for (const { module, name, skip } of spec.modules ?? []) {
    K.push(module);
    const m = `K[${K.length - 1}]`;
    budget = 64;
    const keys = Object.keys(module);
    K.push(keys);
    // an attribute added since (forward may test for it) fails this as much as a changed one
    stmts.push({ fail: `!K[2](${m}, K[${K.length - 1}])`, desc: `${name} has the attributes [${keys.join(', ')}]` });
    for (const key of keys) if (!skip?.has(key)) stateChecks(`${m}[${JSON.stringify(key)}]`, labelOf(name, key), (module as Record<string, unknown>)[key], 0);
  }
  for (const { owner, key, path, value, name } of spec.owners ?? []) {
    K.push(owner, value);
    const tensor = `K[${K.length - 1}]`;
    let at = `K[${K.length - 2}][${JSON.stringify(key)}]`;
    for (const k of path ?? []) {
      K.push(k);  // a Map's key may be any value
      const held = at;
      at = `(${held} instanceof Map ? ${held}.get(K[${K.length - 1}]) : ${held}?.[K[${K.length - 1}]])`;
    }
    stmts.push({ fail: `${at} !== ${tensor}`, desc: `${name} is the traced tensor` });
  }

  const inputs = spec.inputLeaves.map((leaf) => leafVar[leaf]);
  const lines = (onFail: (s: { desc: string }) => string) =>
    stmts.map((s) => ('decl' in s ? `  ${s.decl}` : `  if (${s.fail}) return ${onFail(s)};`)).join('\n');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const check = new Function('K', `"use strict";\nreturn function guard(args) {\n${lines(() => 'null')}\n  return [${inputs.join(', ')}];\n};`)(K);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const failure = new Function('K', `"use strict";\nreturn function guardFailure(args) {\n${lines((s) => JSON.stringify(s.desc))}\n  return null;\n};`)(K);
  return { check, failure, descriptions: stmts.filter((s): s is { fail: string; desc: string } => 'fail' in s).map((s) => s.desc) };
}
