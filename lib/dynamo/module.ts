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

export interface TensorOwner {
  /** The module holding it, at `owner[key]`, or at `owner[key][index]` in an array or object there. */
  owner: object;
  key: string;
  index?: string;
  /** Dotted name (`layers.0.weight`, `cache.1`), PyTorch's naming. */
  name: string;
  /** Held by a class instance passed as an argument (its name leads `name`), not by the module. */
  ofArgument?: boolean;
}

/**
 * Every tensor the modules hold on their own attributes, directly (parameters, buffers) or
 * in an array or plain object there (a list of per-layer caches); first name wins.
 */
export function tensorOwners(modules: readonly [string, object][]): Map<Tensor, TensorOwner> {
  const out = new Map<Tensor, TensorOwner>();
  const add = (t: Tensor, owner: TensorOwner) => void (out.has(t) || out.set(t, owner));
  for (const [prefix, m] of modules)
    for (const key of Object.keys(m)) {
      const v = (m as Record<string, unknown>)[key];
      const name = prefix ? `${prefix}.${key}` : key;
      if (v instanceof Tensor) add(v, { owner: m, key, name });
      else if (Array.isArray(v) || isPlainObject(v))
        for (const index of Object.keys(v)) {
          const item = (v as Record<string, unknown>)[index];
          if (item instanceof Tensor) add(item, { owner: m, key, index, name: `${name}.${index}` });
        }
    }
  return out;
}

/** The value at a TensorOwner's place now. */
export function heldAt(o: { owner: object; key: string; index?: string }): unknown {
  const v = (o.owner as Record<string, unknown>)[o.key];
  return o.index === undefined ? v : (v as Record<string, unknown> | null | undefined)?.[o.index];
}

/** Puts `value` at a TensorOwner's place (nothing if its array or object is gone). */
export function holdAt(o: { owner: object; key: string; index?: string }, value: unknown): void {
  const at = o.owner as Record<string, unknown>;
  if (o.index === undefined) at[o.key] = value;
  else if (at[o.key] !== null && typeof at[o.key] === 'object') (at[o.key] as Record<string, unknown>)[o.index] = value;
}
