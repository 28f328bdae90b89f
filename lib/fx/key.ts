/**
 * Structural keys of graphs (what caches are keyed by) and the integer literals of a
 * graph in a fixed order (what shape-polymorphic graphs generalise).
 * The exact key names every literal, shape and constant; the erased key replaces integer
 * literals and sizes >= 2 by '#', so two traces of the same code at different sizes share it.
 */
import { isOp } from '../ops/registry';
import { Tensor } from '../tensor';
import { builtinInfo } from './builtins';
import type { GraphModule } from './graph_module';
import { Node, isPlainObject } from './node';

const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;

/** A process-unique id for an object (functions, tensors), stable while it lives. */
export function objectId(x: object): number {
  let id = objectIds.get(x);
  if (id === undefined) objectIds.set(x, (id = nextObjectId++));
  return id;
}

export interface KeyOptions {
  erase: boolean;
  /** How a constant enters the key (identity by default). */
  constantKey?: (t: Tensor) => string;
}

function literalKey(x: unknown, index: Map<Node, number>, erase: boolean): string {
  if (x instanceof Node) return `%${index.get(x)}`;
  if (x === undefined) return 'u';
  if (x === null) return 'n';
  switch (typeof x) {
    case 'number':
      if (erase && Number.isInteger(x) && !Object.is(x, -0)) return '#';
      return Object.is(x, -0) ? '-0' : String(x);
    case 'bigint':
      return `${x}n`;
    case 'string':
      return JSON.stringify(x);
    case 'boolean':
      return x ? 'T' : 'F';
    case 'function':
      return isOp(x) ? `op:${x.opName}` : `f:${objectId(x)}`;
  }
  if (Array.isArray(x)) return `[${x.map((v) => literalKey(v, index, erase)).join(',')}]`;
  if (isPlainObject(x)) return `{${Object.keys(x).map((k) => `${JSON.stringify(k)}:${literalKey(x[k], index, erase)}`).join(',')}}`;
  return `o:${objectId(x as object)}`;
}

function targetKey(t: unknown): string {
  if (typeof t === 'string') return t;
  const b = builtinInfo(t);
  if (b) return `b:${b.name}:${objectId(t as object)}`;
  if (isOp(t)) return `op:${t.opName}`;
  return `f:${objectId(t as object)}`;
}

function dimsKey(shape: readonly number[], erase: boolean): string {
  return shape.map((d) => (erase && d >= 2 ? '#' : String(d))).join(',');
}

function layoutKey(shape: readonly number[], strides: readonly number[] | undefined): string {
  if (!strides) return '';
  if (isContiguousLayout(shape, strides)) return 'c';
  // a permuted contiguous tensor keys by its dim order, so the erased key is the same at other sizes
  const order = denseDimOrder(shape, strides);
  return order ? `p${order.join(',')}` : `s${strides.join(',')}`;
}

/** The structural key of a GraphModule's graph. */
export function graphKey(gm: GraphModule, opts: KeyOptions): string {
  const nodes = gm.graph.nodes;
  const index = new Map(nodes.map((n, i) => [n, i]));
  const constantKey = opts.constantKey ?? ((t: Tensor) => `t:${objectId(t)}`);
  const parts: string[] = [];
  for (const n of nodes) {
    switch (n.op) {
      case 'placeholder':
        parts.push(`P${n.meta.dtype}[${dimsKey(n.meta.shape, opts.erase)}]${layoutKey(n.meta.shape, n.meta.strides)}`);
        break;
      case 'get_attr': {
        const t = gm.attrs[String(n.target)];
        parts.push(`A${t instanceof Tensor ? constantKey(t) : String(n.target)}`);
        break;
      }
      case 'call_function':
        parts.push(`C${targetKey(n.target)}(${n.args.map((a) => literalKey(a, index, opts.erase)).join(',')})`);
        break;
      default:
        parts.push(`O${literalKey(n.args[0], index, opts.erase)}`);
    }
  }
  return parts.join(';');
}

/** An integer literal inside a call's args: node index, path inside args, value. */
export interface LiteralSite {
  node: number;
  path: (string | number)[];
  value: number;
}

/** Every integer literal in call_function args, in node order then depth-first arg order. */
export function integerLiterals(gm: GraphModule): LiteralSite[] {
  const out: LiteralSite[] = [];
  gm.graph.nodes.forEach((n, i) => {
    if (n.op !== 'call_function') return;
    const walk = (x: unknown, path: (string | number)[]) => {
      if (typeof x === 'number') {
        if (Number.isInteger(x) && !Object.is(x, -0)) out.push({ node: i, path, value: x });
      } else if (Array.isArray(x)) x.forEach((v, j) => walk(v, [...path, j]));
      else if (isPlainObject(x)) for (const k of Object.keys(x)) walk(x[k], [...path, k]);
    };
    n.args.forEach((a, j) => walk(a, [j]));
  });
  return out;
}

/**
 * For a dense layout without gaps or overlaps (a contiguous tensor with its dims permuted,
 * e.g. transposed), its dims of size > 1 from outermost to innermost; null otherwise (and for
 * empty tensors). The order does not depend on the sizes, so a tensor of the same order at
 * other sizes has the same layout.
 */
export function denseDimOrder(shape: readonly number[], strides: readonly number[]): number[] | null {
  if (shape.some((d) => d === 0)) return null;
  const order = shape.map((_, i) => i).filter((i) => shape[i] !== 1).sort((a, b) => strides[b] - strides[a] || a - b);
  let expected = 1;
  for (let k = order.length - 1; k >= 0; k--) {
    if (strides[order[k]] !== expected) return null;
    expected *= shape[order[k]];
  }
  return order;
}

/** Strides laying `shape` out densely in dim order `order` (dims of size 1 not in it get stride 1). */
export function stridesForDimOrder(shape: readonly number[], order: readonly number[]): number[] {
  const strides = shape.map(() => 1);
  let expected = 1;
  for (let k = order.length - 1; k >= 0; k--) {
    strides[order[k]] = expected;
    expected *= shape[order[k]];
  }
  return strides;
}

/**
 * Whether no two elements share memory: taken innermost first, each dim's stride is past
 * the span of the dims inside it (a slice of a larger tensor, with gaps, qualifies; an
 * expanded view does not). Empty tensors and dims of size 1 share nothing.
 */
export function isNonOverlapping(shape: readonly number[], strides: readonly number[]): boolean {
  if (shape.some((d) => d === 0)) return true;
  const dims = shape.map((_, i) => i).filter((i) => shape[i] !== 1).sort((a, b) => strides[a] - strides[b]);
  let span = 0;  // the largest offset the inner dims reach
  for (const i of dims) {
    if (strides[i] <= span) return false;
    span += (shape[i] - 1) * strides[i];
  }
  return true;
}

/** The contiguous-or-not layout check shared by keys and guards. */
export function isContiguousLayout(shape: readonly number[], strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}
