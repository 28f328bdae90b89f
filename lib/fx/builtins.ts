/**
 * Graph targets that are not registry ops: list indexing, size arithmetic of
 * shape-polymorphic graphs, and the pieces functionalisation needs. Each knows how it
 * prints in gm.code; `internal` ones are bookkeeping and are not counted as ops.
 */
import { Tensor } from '../tensor';
import type { AnyOp } from '../ops/registry';
import { getOp } from '../ops/registry';

export interface BuiltinInfo {
  /** Base of the node names it gets. */
  name: string;
  /** Bookkeeping (indexing, size arithmetic): not an op for counters and explain. */
  internal: boolean;
  /** The JS expression for a call, given the printed arguments. */
  print(args: string[]): string;
}

const infos = new WeakMap<Function, BuiltinInfo>();

export function builtinInfo(f: unknown): BuiltinInfo | undefined {
  return typeof f === 'function' ? infos.get(f) : undefined;
}

function builtin<F extends (...args: any[]) => unknown>(fn: F, info: BuiltinInfo): F {
  infos.set(fn, info);
  Object.defineProperty(fn, 'name', { value: info.name });
  return fn;
}

/** Element i of a list-valued node (split, allowInGraph functions returning arrays). */
export const getitem = builtin((xs: unknown, i: number): unknown => {
  // a loaded program's graph is data: say what is wrong instead of reading undefined
  if (!Array.isArray(xs) || !Number.isInteger(i) || i < 0 || i >= xs.length)
    throw new TypeError(`getitem: element ${String(i)} of ${Array.isArray(xs) ? `a list of ${xs.length}` : typeof xs}`);
  return xs[i];
}, {
  name: 'getitem',
  internal: true,
  print: ([xs, i]) => `${xs}[${i}]`,
});

/** A size of a graph input: the symbols of shape-polymorphic graphs. */
export const symSize = builtin((t: Tensor, dim: number): number => t.shape[dim], {
  name: 's',
  internal: true,
  print: ([t, d]) => `${t}.shape[${d}]`,
});

/** a * s + b */
export const symAffine = builtin((s: number, a: number, b: number): number => a * s + b, {
  name: 's',
  internal: true,
  print: ([s, a, b]) => affineText(s, Number(a), Number(b)),
});

/** c * s * t */
export const symProduct = builtin((s: number, t: number, c: number): number => c * s * t, {
  name: 's',
  internal: true,
  print: ([s, t, c]) => (Number(c) === 1 ? `${s} * ${t}` : `${s} * ${t} * ${c}`),
});

export function affineText(s: string, a: number, b: number): string {
  const head = a === 1 ? s : a === -1 ? `-${s}` : `${s} * ${a}`;
  if (b === 0) return head;
  return b > 0 ? `${head} + ${b}` : `${head} - ${-b}`;
}

const cloneOp = (): AnyOp => {
  const op = getOp('clone');
  if (!op) throw new Error('tensorjit.fx: the clone op is not registered');
  return op;
};

/**
 * The functional form of an in-place op that has no out-of-place twin: the op applied
 * to a copy of its first argument (the graph never mutates its inputs).
 */
export const outOfPlace = builtin(
  (op: AnyOp, self: Tensor, ...rest: unknown[]): Tensor => {
    const copy = cloneOp()(self) as Tensor;
    op(copy, ...rest);
    return copy;
  },
  { name: 'out_of_place', internal: false, print: ([op, ...rest]) => `fx.outOfPlace(${[op, ...rest].join(', ')})` },
);

/** A loaded program's graph is data: a view's layout must be integers before a Tensor is made of it. */
export function checkLayout(name: string, root: unknown, shape: unknown, strides: unknown, offset: unknown): void {
  if (!(root instanceof Tensor)) throw new TypeError(`${name}: the root must be a tensor, got ${typeof root}`);
  const ints = (xs: unknown) => Array.isArray(xs) && xs.every((x) => Number.isInteger(x));
  if (!ints(shape) || !ints(strides) || (shape as number[]).length !== (strides as number[]).length || !Number.isInteger(offset))
    throw new TypeError(`${name}: a view needs integer sizes and strides of one length and an integer offset`);
}

/**
 * A view of `root`'s memory (offset relative to root's own): rebuilds views of a value
 * after the value was (functionally) updated in place.
 */
export const asStrided = builtin(
  (root: Tensor, shape: number[], strides: number[], offset: number): Tensor => {
    checkLayout('asStrided', root, shape, strides, offset);
    return new Tensor({ storage: root.storage, shape: shape.slice(), strides: strides.slice(), offset: root.offset + offset, dtype: root.dtype });
  },
  { name: 'as_strided', internal: false, print: (a) => `fx.asStrided(${a.join(', ')})` },
);

/**
 * A copy of contiguous `root` with `value` written into the view (shape, strides, offset)
 * of it: the functional form of an in-place update made through a view.
 */
export const viewScatter = builtin(
  (root: Tensor, value: Tensor, shape: number[], strides: number[], offset: number): Tensor => {
    checkLayout('viewScatter', root, shape, strides, offset);
    const copy = cloneOp()(root) as Tensor;
    const view = new Tensor({ storage: copy.storage, shape: shape.slice(), strides: strides.slice(), offset: copy.offset + offset, dtype: copy.dtype });
    const copyInPlace = getOp('copy_');
    if (!copyInPlace) throw new Error('tensorjit.fx: the copy_ op is not registered');
    copyInPlace(view, value);
    return copy;
  },
  { name: 'view_scatter', internal: false, print: (a) => `fx.viewScatter(${a.join(', ')})` },
);

/** What generated code sees as `fx`. */
export const fxNamespace = { outOfPlace, asStrided, viewScatter, getitem, symSize, symAffine, symProduct };
