/**
 * Stores into the objects and arrays a compiled function is passed (`cache.k = tj.cat([cache.k,
 * k])`, `state.steps = n + 1`, `delete opts.first`): side effects its callers see, so every
 * call makes them again, as torch.compile replays mutations of its arguments. The traced
 * call works on copies of the argument containers (the pytree is rebuilt around fake
 * tensors); what changed in them is found by comparing each with its entries as passed, and
 * is then applied to each call's own arguments, by path (Maps included: `memo.set(n, t)`;
 * Sets too: `seen.add(id)`).
 */
import { isPlainObject, isTreeMap } from '../fx';
import { Tensor } from '../tensor';
import { Holder, entriesOf, getIn, holderEntries, isHolder, setIn } from './module';
import type { ArgStore } from './session';

export interface ArgContainer {
  path: (string | number)[];
  container: Holder | Set<unknown>;
  /** Its entries when passed (a Set's: each member, mapped to true). */
  entries: Map<unknown, unknown>;
}

/**
 * The objects, arrays and Maps among the first `count` of `args` (the traced call's
 * arguments: the pytree's copies), with their entries now. A Map the pytree leaves whole
 * (object keys) is the caller's own: it is replaced by a copy, so what the traced code
 * stores in it stays out of the caller's until replayed.
 */
export function argContainers(args: unknown[], count = args.length): ArgContainer[] {
  const out: ArgContainer[] = [];
  const seen = new Set<object>();
  const visit = (v: unknown, path: (string | number)[]): unknown => {
    if (v instanceof Set) {
      // a pytree leaf, the caller's own: the trace gets a copy, whose changes are replayed
      const copy = new Set(v);
      out.push({ path, container: copy, entries: entriesOf(copy) });
      return copy;
    }
    if (!isHolder(v) || seen.has(v)) return v;
    const own = v instanceof Map && !isTreeMap(v);
    const container: Holder = own ? new Map(v) : v;
    seen.add(container);
    out.push({ path, container, entries: entriesOf(container) });
    if (own) return container;  // its entries are the caller's objects, not copies
    for (const [k, child] of holderEntries(container)) {
      const copy = visit(child, [...path, Array.isArray(container) ? Number(k) : (k as string | number)]);
      if (copy !== child) setIn(container, k, copy);
    }
    return container;
  };
  for (let i = 0; i < count; i++) args[i] = visit(args[i], [i]);
  return out;
}

/** What the traced code stored in the containers, or deleted from them, since argContainers. */
export function argStoresOf(containers: readonly ArgContainer[], fnName: string): ArgStore[] {
  const out: ArgStore[] = [];
  for (const { path, container, entries } of containers) {
    if (container instanceof Set) {
      for (const m of container)
        if (!entries.has(m)) {
          if (m instanceof Tensor && m.isFake)
            throw new Error(`tensorjit: compiled function '${fnName}' added a traced tensor to a Set in ${describeArgument(path)}; a Set cannot hold it across calls`);
          out.push({ path, key: m, value: true, deleted: false });
        }
      for (const m of entries.keys()) if (!container.has(m)) out.push({ path, key: m, value: undefined, deleted: true });
      continue;
    }
    const isArray = Array.isArray(container);
    for (const [key, value] of holderEntries(container)) {
      if (entries.has(key) && entries.get(key) === value) continue;
      // a new object or array holding traced tensors would be stored by identity, fakes and all
      if (isHolder(value) && holdsFake(value))
        throw new Error(
          `tensorjit: compiled function '${fnName}' stored an object or array of traced tensors into its argument at ${describePath(path, key)}; ` +
            'store the tensors one by one (cache.k = ..., not cache = {...}) so each call can store them again',
        );
      out.push({ path, key, value, deleted: false });
    }
    if (isArray) {
      // pushed or popped: the length says it (the entries past it go with it)
      if ((container as unknown as unknown[]).length !== entries.size) out.push({ path, key: 'length', value: (container as unknown as unknown[]).length, deleted: false });
    } else {
      const has = (key: unknown) => (container instanceof Map ? container.has(key) : Object.hasOwn(container, key as string));
      for (const key of entries.keys()) if (!has(key)) out.push({ path, key, value: undefined, deleted: true });
    }
  }
  return out;
}

/** Applies stores to a call's own arguments: `valueOf` gives each stored value (null: deleted). */
export function replayArgStores<S>(stores: readonly { path: (string | number)[]; key: unknown; slot: S | null }[], args: readonly unknown[], valueOf: (slot: S) => unknown): void {
  for (const { path, key, slot } of stores) {
    let at: unknown = args;
    for (const k of path) at = isHolder(at) ? getIn(at, k) : undefined;
    if (at === null || typeof at !== 'object') continue;
    if (at instanceof Set) {
      if (slot === null) at.delete(key);
      else at.add(key);
      continue;
    }
    const target = at as Holder;
    if (slot !== null) setIn(target, key, valueOf(slot));
    else if (target instanceof Map) target.delete(key);
    else delete target[key as string];
  }
}

function holdsFake(v: unknown): boolean {
  if (v instanceof Tensor) return v.isFake;
  if (Array.isArray(v)) return v.some(holdsFake);
  if (isPlainObject(v)) return Object.values(v).some(holdsFake);
  if (v instanceof Map) return [...v.values()].some(holdsFake);
  return false;
}

function describeArgument(path: readonly (string | number)[]): string {
  return `argument ${path[0]}${path.slice(1).map((k) => `[${JSON.stringify(k)}]`).join('')}`;
}

function describePath(path: readonly (string | number)[], key: unknown): string {
  return `${describeArgument(path)}[${typeof key === 'string' ? JSON.stringify(key) : String(key)}]`;
}
