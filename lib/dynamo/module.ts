/**
 * Modules as the compiler sees them (duck-typed so lib/dynamo does not import lib/nn):
 * an object with a `forward` method; its submodules and tensors are own properties
 * (arrays of modules included), as DESIGN.md's Module defines them.
 */
import { Tensor } from '../tensor';

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
  owner: object;
  key: string;
  /** Dotted name (`layers.0.weight`), PyTorch's naming. */
  name: string;
}

/** Every tensor held directly by the modules (parameters and buffers), first name wins. */
export function tensorOwners(modules: readonly [string, object][]): Map<Tensor, TensorOwner> {
  const out = new Map<Tensor, TensorOwner>();
  for (const [prefix, m] of modules)
    for (const key of Object.keys(m)) {
      const v = (m as Record<string, unknown>)[key];
      if (v instanceof Tensor && !out.has(v)) out.set(v, { owner: m, key, name: prefix ? `${prefix}.${key}` : key });
    }
  return out;
}
