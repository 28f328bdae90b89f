/**
 * Pytrees: arrays, plain objects and Maps keyed by strings and numbers (as Python's dicts
 * are pytree nodes) are containers; everything else (tensors, numbers, strings, booleans,
 * null, undefined, functions, class instances, Maps with other keys) is a leaf.
 */
import { isPlainObject } from './node';

export type MapKey = string | number;

export type TreeSpec =
  | { kind: 'leaf' }
  | { kind: 'array'; children: TreeSpec[] }
  | { kind: 'object'; keys: string[]; children: TreeSpec[] }
  | { kind: 'map'; keys: MapKey[]; children: TreeSpec[] };

/** A Map the pytree opens: every key a string or a finite number (keys a spec can name). */
export function isTreeMap(x: unknown): x is Map<MapKey, unknown> {
  if (!(x instanceof Map)) return false;
  for (const k of x.keys()) if (typeof k !== 'string' && !(typeof k === 'number' && Number.isFinite(k))) return false;
  return true;
}

const LEAF: TreeSpec = { kind: 'leaf' };

export interface Flat {
  leaves: unknown[];
  spec: TreeSpec;
  /** Per leaf, the access path from the root (indices and keys). */
  paths: (string | number)[][];
}

export function flatten(x: unknown): Flat {
  const leaves: unknown[] = [];
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]): TreeSpec => {
    if (Array.isArray(v)) return { kind: 'array', children: v.map((c, i) => walk(c, [...path, i])) };
    if (isPlainObject(v)) {
      const keys = Object.keys(v);
      return { kind: 'object', keys, children: keys.map((k) => walk(v[k], [...path, k])) };
    }
    if (isTreeMap(v)) {
      const keys = [...v.keys()];
      return { kind: 'map', keys, children: keys.map((k) => walk(v.get(k), [...path, k])) };
    }
    leaves.push(v);
    paths.push(path);
    return LEAF;
  };
  const spec = walk(x, []);
  return { leaves, spec, paths };
}

export function unflatten(spec: TreeSpec, leaves: readonly unknown[]): unknown {
  let i = 0;
  const build = (s: TreeSpec): unknown => {
    if (s.kind === 'leaf') return leaves[i++];
    if (s.kind === 'array') return s.children.map(build);
    if (s.kind === 'map') return new Map(s.keys.map((k, j) => [k, build(s.children[j])]));
    const out: Record<string, unknown> = {};
    s.keys.forEach((k, j) => (out[k] = build(s.children[j])));
    return out;
  };
  return build(spec);
}

/** Maps the leaves of a pytree. */
export function mapLeaves(x: unknown, f: (leaf: unknown) => unknown): unknown {
  if (Array.isArray(x)) return x.map((v) => mapLeaves(v, f));
  if (isPlainObject(x)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x)) out[k] = mapLeaves(x[k], f);
    return out;
  }
  if (isTreeMap(x)) return new Map([...x].map(([k, v]) => [k, mapLeaves(v, f)]));
  return f(x);
}

export function specKey(spec: TreeSpec): string {
  if (spec.kind === 'leaf') return '*';
  if (spec.kind === 'array') return `[${spec.children.map(specKey).join(',')}]`;
  if (spec.kind === 'map') return `Map{${spec.keys.map((k, i) => `${JSON.stringify(k)}:${specKey(spec.children[i])}`).join(',')}}`;
  return `{${spec.keys.map((k, i) => `${JSON.stringify(k)}:${specKey(spec.children[i])}`).join(',')}}`;
}
