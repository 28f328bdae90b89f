/** A graph node, shaped like torch.fx's: op kind, name, target, args (Nodes for values), users, meta. */
import type { DType } from '../dtype';
import type { Graph } from './graph';

export type NodeOp = 'placeholder' | 'call_function' | 'get_attr' | 'output';

/**
 * call_function: the op object, an allowInGraph function or an fx builtin (lib/fx/builtins.ts);
 * placeholder: the input's name; get_attr: the attribute's (dotted) name in `gm.attrs`.
 */
export type Target = string | ((...args: any[]) => unknown);

export interface NodeMeta {
  shape: number[];
  dtype: DType;
  /** The dims as printed: a number, or a size expression ('s0', 's0 + 1') in shape-polymorphic graphs. */
  symShape?: (number | string)[];
  /** Placeholders and constants: the layout the graph was traced with. */
  strides?: number[];
  /** List-valued nodes (split): one entry per element; shape/dtype then describe element 0. */
  items?: NodeMeta[];
  /** Size nodes (shape-polymorphic graphs): the value is a JS number, described by this expression. */
  sym?: string;
}

export class Node {
  /** Nodes that take this node's value, in the order they were added (the output node included). */
  readonly users: Node[] = [];

  constructor(
    readonly graph: Graph,
    readonly op: NodeOp,
    public name: string,
    readonly target: Target,
    /** Node references stand for values; everything else is a literal (numbers, arrays, option objects). */
    readonly args: unknown[],
    readonly kwargs: Record<string, unknown>,
    public meta: NodeMeta,
  ) {}

  toString(): string {
    return this.name;
  }
}

/** Calls f on every Node inside a literal structure (arrays and plain objects). */
export function forEachNode(x: unknown, f: (n: Node) => void): void {
  if (x instanceof Node) f(x);
  else if (Array.isArray(x)) for (const v of x) forEachNode(v, f);
  else if (isPlainObject(x)) for (const k of Object.keys(x)) forEachNode(x[k], f);
}

/** Maps every Node inside a literal structure; other leaves are kept. */
export function mapNodes(x: unknown, f: (n: Node) => unknown): unknown {
  if (x instanceof Node) return f(x);
  if (Array.isArray(x)) return x.map((v) => mapNodes(v, f));
  if (isPlainObject(x)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(x)) out[k] = mapNodes(x[k], f);
    return out;
  }
  return x;
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== 'object') return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}
