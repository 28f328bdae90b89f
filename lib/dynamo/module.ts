/**
 * Modules as the compiler sees them (duck-typed so lib/dynamo does not import lib/nn):
 * an object with a `forward` method; its submodules and tensors are own properties
 * (arrays of modules included), as DESIGN.md's Module defines them.
 */
import { Tensor } from '../tensor';
import { isPlainObject } from '../fx';

export interface ModuleLike {
  forward: (...args: any[]) => any;
  training?: boolean;
}

export function isModuleLike(x: unknown): x is ModuleLike {
  return x !== null && typeof x === 'object' && typeof (x as { forward?: unknown }).forward === 'function';
}

/** A class whose instances are modules (it defines or inherits `forward`). */
export function isModuleClass(x: unknown): x is new (...args: any[]) => ModuleLike {
  if (typeof x !== 'function' || !x.prototype) return false;
  if (typeof (x.prototype as { forward?: unknown }).forward !== 'function') return false;
  return /^class\b/.test(Function.prototype.toString.call(x)) || Object.getOwnPropertyNames(x.prototype).length > 1;
}

/** The module and its submodules, pre-order, with dotted names ('' for the root). */
export function namedModules(root: object): [string, object][] {
  const named = (root as { namedModules?: () => [string, object][] }).namedModules;
  if (typeof named === 'function') return named.call(root);
  const out: [string, object][] = [];
  const seen = new Set<object>();
  const visit = (m: object, name: string) => {
    if (seen.has(m)) return;
    seen.add(m);
    out.push([name, m]);
    for (const key of Object.keys(m)) {
      const v = (m as Record<string, unknown>)[key];
      const join = (k: string) => (name ? `${name}.${k}` : k);
      if (isModuleLike(v)) visit(v, join(key));
      else if (Array.isArray(v)) v.forEach((item, i) => isModuleLike(item) && visit(item, join(`${key}.${i}`)));
    }
  };
  visit(root, '');
  return out;
}

/** Objects of the language's own kinds: no tensors or settings of the user's live in them. */
const BUILTIN_KINDS = [ArrayBuffer, Map, Set, WeakMap, WeakSet, Date, RegExp, Promise, Error];

/** An instance of one of the user's classes (a config, a cache, a module): not a tensor, array, plain object or builtin. */
export function isClassInstance(x: unknown): x is object {
  if (x === null || typeof x !== 'object' || x instanceof Tensor || Array.isArray(x) || isPlainObject(x)) return false;
  return !ArrayBuffer.isView(x) && !BUILTIN_KINDS.some((kind) => x instanceof kind);
}

/** A module attribute that holds entries: an array, a plain object, or a Map (a memo of tables per length). */
export type Holder = Record<string, unknown> | Map<unknown, unknown>;

export function isHolder(v: unknown): v is Holder {
  return Array.isArray(v) || isPlainObject(v) || v instanceof Map;
}

/** A holder's entries, keys as the holder keeps them (Map keys of any type). */
export function holderEntries(h: Holder): [unknown, unknown][] {
  return h instanceof Map ? [...h.entries()] : Object.keys(h).map((k) => [k, h[k]]);
}

/** Entries to compare or restore a holder or Set by (a Set's members, each mapped to true). */
export function entriesOf(o: Holder | Set<unknown>): Map<unknown, unknown> {
  return new Map(o instanceof Set ? [...o].map((m) => [m, true]) : holderEntries(o));
}

function holderSize(h: Holder): number {
  return h instanceof Map ? h.size : Array.isArray(h) ? h.length : Object.keys(h).length;
}

export function getIn(h: Holder, key: unknown): unknown {
  return h instanceof Map ? h.get(key) : h[key as string];
}

export function setIn(h: Holder, key: unknown, value: unknown): void {
  if (h instanceof Map) h.set(key, value);
  else h[key as string] = value;
}

/**
 * The objects whose attributes are a module tree's state, pre-order, named as namedModules
 * names them: its modules, the modules namedModules does not list (held in a plain object or
 * Map), and the instances of the user's other classes they hold (a config, a KV cache), on
 * an attribute, in an array, plain object or Map there, or on such an instance (up to three
 * levels down). Each is guarded, snapshotted, scanned for stores and restored as a module is.
 */
export function stateObjects(root: object): [string, object][] {
  const out: [string, object][] = [];
  const seen = new Set<object>();
  const join = (name: string, k: unknown) => (name ? `${name}.${String(k)}` : String(k));
  const visit = (o: object, name: string, depth: number) => {
    const consider = (v: unknown, at: string) => {
      if (!isClassInstance(v) || seen.has(v)) return;
      const isModule = isModuleLike(v);
      if (!isModule && depth >= 3) return;
      seen.add(v);
      out.push([at, v]);
      visit(v, at, isModule ? 0 : depth + 1);
    };
    for (const key of Object.keys(o)) {
      const v = (o as Record<string, unknown>)[key];
      consider(v, join(name, key));
      // (a long list of objects is data, not settings: not opened)
      if (isHolder(v) && holderSize(v) <= 64) for (const [k, item] of holderEntries(v)) consider(item, join(join(name, key), k));
    }
  };
  const listed = namedModules(root);
  for (const [name, m] of listed) {
    seen.add(m);
    out.push([name, m]);
  }
  for (const [name, m] of listed) visit(m, name, 0);
  return out;
}

/** How many arrays, objects and Maps deep under an attribute tensors are state (`this.past[i][0]`: 2). */
export const HOLDER_DEPTH = 3;

export interface TensorOwner {
  /**
   * The state object holding it (a module, a KV cache object), at `owner[key]`, or down
   * `path` through the arrays, objects and Maps there (`owner[key][path[0]][path[1]]`).
   */
  owner: object;
  key: string;
  path?: unknown[];
  /** Dotted name (`layers.0.weight`, `cache.1`), PyTorch's naming. */
  name: string;
  /** Held by a class instance passed as an argument (its name leads `name`), not by the module. */
  ofArgument?: boolean;
}

/**
 * Every tensor the state objects (stateObjects) hold on their own attributes, directly
 * (parameters, buffers, a KV cache's keys) or in an array, plain object or Map there (a
 * list of per-layer caches); first name wins.
 */
export function tensorOwners(modules: readonly [string, object][]): Map<Tensor, TensorOwner> {
  const out = new Map<Tensor, TensorOwner>();
  const add = (t: Tensor, owner: TensorOwner) => void (out.has(t) || out.set(t, owner));
  for (const [prefix, m] of modules) {
    const named = (path: unknown[]) => [...(prefix ? [prefix] : []), ...path.map(String)].join('.');
    for (const key of Object.keys(m)) {
      const v = (m as Record<string, unknown>)[key];
      if (v instanceof Tensor) add(v, { owner: m, key, name: named([key]) });
    }
    // (attributes first: a tensor both on an attribute and in a list there is named by the attribute)
    for (const { holder, path } of nestedHolders(m))
      for (const [k, item] of holderEntries(holder))
        if (item instanceof Tensor) add(item, { owner: m, key: String(path[0]), path: [...path.slice(1), k], name: named([...path, k]) });
  }
  return out;
}

/** An array, object or Map under a state object's attributes: where it is held, and its path from the state object. */
export interface NestedHolder {
  holder: Holder;
  owner: Holder;
  key: unknown;
  path: unknown[];
}

/** The arrays, objects and Maps under a state object's attributes, HOLDER_DEPTH deep, parents first. */
export function nestedHolders(m: object): NestedHolder[] {
  const out: NestedHolder[] = [];
  const inside = (owner: Holder, path: unknown[]) => {
    for (const [key, v] of holderEntries(owner)) {
      if (!isHolder(v)) continue;
      const at = [...path, key];
      out.push({ holder: v, owner, key, path: at });
      if (at.length < HOLDER_DEPTH) inside(v, at);
    }
  };
  inside(m as Holder, []);
  return out;
}

/** The value at a TensorOwner's place now (undefined if a holder on the way is gone). */
export function heldAt(o: { owner: object; key: string; path?: readonly unknown[] }): unknown {
  let v = (o.owner as Record<string, unknown>)[o.key];
  for (const k of o.path ?? []) {
    if (!isHolder(v)) return undefined;
    v = getIn(v, k);
  }
  return v;
}

/** The holder a TensorOwner's place is in, and its key there (owner itself for an attribute). */
export function placeOf(o: { owner: object; key: string; path?: readonly unknown[] }): { holder: Holder | undefined; key: unknown } {
  const path = o.path ?? [];
  if (path.length === 0) return { holder: o.owner as Holder, key: o.key };
  const holder = heldAt({ owner: o.owner, key: o.key, path: path.slice(0, -1) });
  return { holder: isHolder(holder) ? holder : undefined, key: path[path.length - 1] };
}

/** Puts `value` at a TensorOwner's place (nothing if its holder is gone). */
export function holdAt(o: { owner: object; key: string; path?: readonly unknown[] }, value: unknown): void {
  const { holder, key } = placeOf(o);
  if (holder) setIn(holder, key, value);
}
