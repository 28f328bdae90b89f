/**
 * A module tree's own non-tensor state (numbers, strings, flags, which submodules and
 * functions sit where, arrays and plain objects of them), copied so that a later state can
 * be compared with it. A compiled module's forward that changes this state while it runs
 * (a call counter, a lazily set flag) has side effects a cached graph repeats only by rule:
 * a number moved by an amount or a value set (StateStepKind); other changes run eagerly.
 */
import { isPlainObject } from '../fx';
import { Tensor } from '../tensor';
import { Holder, NestedHolder, entriesOf, getIn, holderEntries, nestedHolders, setIn, stateObjects } from './module';
import type { AttrStore } from './session';

type Copy = unknown;
export type ModuleStateSnapshot = Map<object, [string, Copy][]>;

const MAX_DEPTH = 3;

function copyOf(x: unknown, depth: number): Copy {
  if (depth < MAX_DEPTH && Array.isArray(x)) return { array: x.map((v) => copyOf(v, depth + 1)) };
  if (depth < MAX_DEPTH && isPlainObject(x)) return { object: Object.keys(x).map((k) => [k, copyOf(x[k], depth + 1)]) };
  // a Map's entries as an object's (keys compared by identity, as the Map does), a Set's members as an array's
  if (depth < MAX_DEPTH && x instanceof Map) return { object: [...x].map(([k, v]) => [k, copyOf(v, depth + 1)]) };
  if (depth < MAX_DEPTH && x instanceof Set) return { array: [...x].map((v) => copyOf(v, depth + 1)) };
  // tensors held in arrays and objects are data, as tensor attributes are: forward may store new ones
  if (x instanceof Tensor) return { tensor: true };
  return { value: x };  // primitives by value, objects (submodules, functions) by identity
}

function sameCopies(a: Copy, b: Copy): boolean {
  const x = a as { array?: Copy[]; object?: [unknown, Copy][]; tensor?: true; value?: unknown }, y = b as typeof x;
  if (x.tensor || y.tensor) return !!x.tensor && !!y.tensor;
  if (x.array || y.array) return !!x.array && !!y.array && x.array.length === y.array.length && x.array.every((v, i) => sameCopies(v, y.array![i]));
  if (x.object || y.object)
    return !!x.object && !!y.object && x.object.length === y.object.length && x.object.every(([k, v], i) => Object.is(y.object![i][0], k) && sameCopies(v, y.object![i][1]));
  return Object.is(x.value, y.value);
}

/** Whether two snapshots hold the same state, apart from the attributes in `skip`. */
export function sameSnapshots(a: ModuleStateSnapshot, b: ModuleStateSnapshot, skip: Map<object, Set<string>>): boolean {
  if (a.size !== b.size) return false;
  for (const [m, entries] of a) {
    const other = b.get(m);
    if (!other) return false;
    const left = entries.filter(([k]) => !skip.get(m)?.has(k)), right = other.filter(([k]) => !skip.get(m)?.has(k));
    if (left.length !== right.length || left.some(([k, v], i) => right[i][0] !== k || !sameCopies(v, right[i][1]))) return false;
  }
  return true;
}

/** The roots whose state objects a compiled function may change: [name, root] ('module', its module; an argument's name, a class instance passed). */
export type StateRoots = readonly [string, object][];

export function snapshotModuleState(roots: StateRoots): ModuleStateSnapshot {
  const out: ModuleStateSnapshot = new Map();
  for (const m of roots.flatMap(([, root]) => stateObjects(root).map(([, o]) => o))) {
    if (out.has(m)) continue;
    const own = m as unknown as Record<string, unknown>;
    // tensor attributes are parameters and buffers: their updates are data, not state changes
    out.set(m, Object.keys(own).filter((k) => !(own[k] instanceof Tensor)).map((k) => [k, copyOf(own[k], 0)]));
  }
  return out;
}

/** The attributes whose state differs from the snapshot: each module with its changed keys (and a name for messages). */
export function changedModuleState(before: ModuleStateSnapshot, roots: StateRoots): { module: object; keys: string[]; names: string[] }[] {
  const names = new Map<object, string>();
  for (const [rootName, root] of roots) for (const [name, m] of stateObjects(root)) if (!names.has(m)) names.set(m, name ? `${rootName}.${name}` : rootName);
  const out: { module: object; keys: string[]; names: string[] }[] = [];
  for (const [m, entries] of before) {
    const own = m as unknown as Record<string, unknown>;
    const was = new Map(entries);
    const keys = new Set([...entries.map(([k]) => k), ...Object.keys(own).filter((k) => !(own[k] instanceof Tensor))]);
    // a tensor stored where there was none (`this.last = h`) is data, stored again by each run
    const changed = [...keys].filter((k) => !(own[k] instanceof Tensor) && (!was.has(k) || !Object.hasOwn(own, k) || !sameCopies(was.get(k), copyOf(own[k], 0))));
    if (changed.length) out.push({ module: m, keys: changed, names: changed.map((k) => `${names.get(m) ?? 'a submodule'}.${k}`) });
  }
  return out;
}

/**
 * How a cached run repeats a change forward makes to an attribute its graph does not read:
 * a number moved by an amount (`this.calls += 1`, `this.pos += x.shape[1]`), or a value set
 * (`this.mode = 'decode'`). The amount or value is the trace's, and follows dynamic sizes.
 */
export type StateStepKind = 'add' | 'set';

const isPrimitive = (v: unknown) => v === null || (typeof v !== 'object' && typeof v !== 'function');

/** The value of `module[key]` in a snapshot: a primitive, or undefined when absent or not one. */
export function primitiveIn(s: ModuleStateSnapshot, module: object, key: string): { value: unknown } | undefined {
  const copy = s.get(module)?.find(([k]) => k === key)?.[1] as { value?: unknown } | undefined;
  return copy && 'value' in copy && isPrimitive(copy.value) ? { value: copy.value } : undefined;
}

/**
 * The rule that explains what two traces at the same inputs did to `module[key]` (each a
 * snapshot before and after), or null when none does (a new object, an array grown, a
 * string that differs each time): the same amount added to a number, else the same value set.
 */
export function stepKindOf(traces: readonly [ModuleStateSnapshot, ModuleStateSnapshot][], module: object, key: string): StateStepKind | null {
  const seen = traces.map(([before, after]) => [primitiveIn(before, module, key), primitiveIn(after, module, key)] as const);
  if (seen.some(([, after]) => !after)) return null;
  const amounts = seen.map(([before, after]) => (typeof before?.value === 'number' && typeof after!.value === 'number' ? after!.value - before.value : NaN));
  if (amounts.every((a) => Number.isFinite(a) && Object.is(a, amounts[0]))) return 'add';
  return seen.every(([, after]) => Object.is(after!.value, seen[0][1]!.value)) ? 'set' : null;
}

/** What one trace did under rule `kind`: the amount added or the value set (null: something else). */
export function stepValueOf(kind: StateStepKind, before: { value: unknown } | undefined, after: unknown): { value: unknown } | null {
  if (kind === 'set') return isPrimitive(after) ? { value: after } : null;
  if (typeof before?.value !== 'number' || typeof after !== 'number') return null;
  const amount = after - before.value;
  return Number.isFinite(amount) ? { value: amount } : null;
}

/** Each state object's own attributes and the entries of the arrays, objects, Maps and Sets there, nested too (to restore them from). */
export function ownAttributes(root: object): Map<object, Map<unknown, unknown>> {
  const out = new Map<object, Map<unknown, unknown>>();
  const add = (o: object) => {
    if (!out.has(o)) out.set(o, entriesOf(o as Holder | Set<unknown>));
  };
  for (const [, m] of stateObjects(root))
    for (const o of [m as Holder, ...nestedHolders(m).map((h) => h.holder)]) {
      add(o);
      for (const [, v] of holderEntries(o)) if (v instanceof Set) add(v);
    }
  return out;
}

/**
 * Where traced code stored a tensor it traced: on a module attribute (forward's
 * `this.last = h`) or in arrays, objects or Maps there (`this.cache[i] = k`,
 * `this.tables.set(n, t)`, `this.past[i][0] = k`).
 */
export function tracedStores(root: object, isTraced: (t: Tensor) => boolean): AttrStore[] {
  const out: AttrStore[] = [];
  const seen = new Set<object>();
  for (const [, m] of stateObjects(root))
    for (const o of [m as Holder, ...nestedHolders(m).map((h) => h.holder)]) {
      if (seen.has(o)) continue;
      seen.add(o);
      for (const [k, v] of holderEntries(o)) if (v instanceof Tensor && isTraced(v)) out.push({ target: o, key: k, value: v });
    }
  return out;
}

/** The arrays, objects and Maps under the state objects' attributes (where tracedStores looks), parents first. */
export function attributeHolders(root: object): NestedHolder[] {
  return stateObjects(root).flatMap(([, m]) => nestedHolders(m));
}

/**
 * Puts the module tree's own attributes, and the entries of arrays and objects there, back
 * as ownAttributes found them: after a trace that is not a call of forward (a probe at
 * other sizes, an export) or that failed, whose stores hold fake tensors.
 */
export function restoreAttributes(before: Map<object, Map<unknown, unknown>>): void {
  for (const [o, entries] of before) {
    if (o instanceof Set) {
      o.clear();
      for (const m of entries.keys()) o.add(m);
      continue;
    }
    if (o instanceof Map) {
      for (const k of [...o.keys()]) if (!entries.has(k)) o.delete(k);
    } else {
      const own = o as Record<string, unknown>;
      for (const k of Object.keys(own)) if (!entries.has(k)) delete own[k];
      if (Array.isArray(o)) o.length = entries.size;
    }
    for (const [k, v] of entries) if (getIn(o as Holder, k) !== v) setIn(o as Holder, k, v);
  }
}
