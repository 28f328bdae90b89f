/**
 * Stores into the objects and arrays a compiled function is passed (`cache.k = tj.cat([cache.k,
 * k])`, `state.steps = n + 1`, `delete opts.first`): side effects its callers see, so every
 * call makes them again, as torch.compile replays mutations of its arguments. The traced
 * call works on copies of the argument containers (the pytree is rebuilt around fake
 * tensors); what changed in them is found by comparing each with its entries as passed, and
 * is then applied to each call's own arguments, by path.
 */
import { isPlainObject } from '../fx';
import { Tensor } from '../tensor';
import type { ArgStore } from './session';

export interface ArgContainer {
  path: (string | number)[];
  container: Record<string, unknown>;
  entries: Map<string, unknown>;
}

/** The objects and arrays among `args` (the traced call's copies), with their entries now. */
export function argContainers(args: readonly unknown[]): ArgContainer[] {
  const out: ArgContainer[] = [];
  const seen = new Set<object>();
  const visit = (v: unknown, path: (string | number)[]) => {
    if ((!Array.isArray(v) && !isPlainObject(v)) || seen.has(v as object)) return;
    seen.add(v as object);
    const container = v as Record<string, unknown>;
    out.push({ path, container, entries: new Map(Object.keys(container).map((k) => [k, container[k]])) });
    for (const k of Object.keys(container)) visit(container[k], [...path, Array.isArray(v) ? Number(k) : k]);
  };
  args.forEach((a, i) => visit(a, [i]));
  return out;
}

/** What the traced code stored in the containers, or deleted from them, since argContainers. */
export function argStoresOf(containers: readonly ArgContainer[], fnName: string): ArgStore[] {
  const out: ArgStore[] = [];
  for (const { path, container, entries } of containers) {
    const isArray = Array.isArray(container);
    for (const key of Object.keys(container)) {
      const value = container[key];
      if (entries.has(key) && entries.get(key) === value) continue;
      // a new object or array holding traced tensors would be stored by identity, fakes and all
      if ((Array.isArray(value) || isPlainObject(value)) && holdsFake(value))
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
      for (const key of entries.keys()) if (!Object.hasOwn(container, key)) out.push({ path, key, value: undefined, deleted: true });
    }
  }
  return out;
}

/** Applies stores to a call's own arguments: `valueOf` gives each stored value (null: deleted). */
export function replayArgStores<S>(stores: readonly { path: (string | number)[]; key: string; slot: S | null }[], args: readonly unknown[], valueOf: (slot: S) => unknown): void {
  for (const { path, key, slot } of stores) {
    let at: unknown = args;
    for (const k of path) at = (at as Record<string | number, unknown> | null | undefined)?.[k];
    if (at === null || typeof at !== 'object') continue;
    const target = at as Record<string, unknown>;
    if (slot === null) delete target[key];
    else target[key] = valueOf(slot);
  }
}

function holdsFake(v: unknown): boolean {
  if (v instanceof Tensor) return v.isFake;
  if (Array.isArray(v)) return v.some(holdsFake);
  if (isPlainObject(v)) return Object.values(v).some(holdsFake);
  return false;
}

function describePath(path: readonly (string | number)[], key: string): string {
  return `argument ${path[0]}${path.slice(1).map((k) => `[${JSON.stringify(k)}]`).join('')}[${JSON.stringify(key)}]`;
}
