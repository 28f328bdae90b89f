/**
 * The graph IR: nodes in program order (placeholders first, one output node last), each
 * call naming its target. Built by the tracer, printed as JS (gm.code) or as a table for
 * logs, run by the Interpreter, keyed structurally for caches (lib/fx/key.ts).
 */
import { Node, NodeMeta, Target, forEachNode } from './node';
import { printTable, targetName } from './printer';
import { builtinInfo } from './builtins';
import { isOp } from '../ops/registry';

/** Registry ops and fx builtins compute values only (in-place ops are functionalised in graphs). */
function isPureTarget(t: Function): boolean {
  return isOp(t) ? !t.traits.has('inplace') && !t.traits.has('random') : builtinInfo(t) !== undefined;
}

const RESERVED = new Set(
  ('break case catch class const continue debugger default delete do else enum export extends false finally for ' +
    'function if import in instanceof new null return super switch this throw true try typeof var void while with ' +
    'yield let static implements interface package private protected public await arguments eval undefined NaN ' +
    'Infinity ops attrs fns fx forward').split(' '),
);

/** A valid, non-reserved JS identifier derived from `base`. */
export function identifierFrom(base: string): string {
  let s = base.replace(/[^A-Za-z0-9_$]/g, '_');
  if (s === '' || /^[0-9]/.test(s)) s = `_${s}`;
  if (RESERVED.has(s)) s = `${s}_`;
  return s;
}

export class Graph {
  readonly nodes: Node[] = [];
  private readonly taken = new Set<string>();
  /** Bumped on every change; the Interpreter caches its plan per version. */
  version = 0;

  /** A unique node name from a base (`add`, `add_1`, `add_2`, ...). */
  uniqueName(base: string): string {
    const id = identifierFrom(base);
    if (!this.taken.has(id)) {
      this.taken.add(id);
      return id;
    }
    const stem = id.replace(/_\d+$/, '');
    for (let i = 1; ; i++) {
      const candidate = `${stem}_${i}`;
      if (!this.taken.has(candidate)) {
        this.taken.add(candidate);
        return candidate;
      }
    }
  }

  private add(op: Node['op'], name: string, target: Target, args: unknown[], kwargs: Record<string, unknown>, meta: NodeMeta): Node {
    if (this.outputNode() && op !== 'output') throw new Error('tensorjit.fx: cannot add nodes after the output node');
    const node = new Node(this, op, this.uniqueName(name), target, args, kwargs, meta);
    const seen = new Set<Node>();
    const link = (n: Node) => {
      if (n.graph !== this) throw new Error(`tensorjit.fx: node ${n.name} belongs to another graph`);
      if (seen.has(n)) return;
      seen.add(n);
      n.users.push(node);
    };
    forEachNode(args, link);
    forEachNode(kwargs, link);
    this.nodes.push(node);
    this.version++;
    return node;
  }

  /** An input of the graph. */
  placeholder(name: string, meta: NodeMeta): Node {
    return this.add('placeholder', name, name, [], {}, meta);
  }

  /** A constant held by the GraphModule under `target` (its attrs key). */
  getAttr(target: string, meta: NodeMeta, name: string = target): Node {
    return this.add('get_attr', name, target, [], {}, meta);
  }

  callFunction(target: Target, args: unknown[], meta: NodeMeta, name?: string, kwargs: Record<string, unknown> = {}): Node {
    return this.add('call_function', name ?? targetName(target), target, args, kwargs, meta);
  }

  /** The graph's result: any pytree of Nodes and literals (graphs from compile return a Node[]). */
  output(value: unknown): Node {
    if (this.outputNode()) throw new Error('tensorjit.fx: the graph already has an output node');
    return this.add('output', 'output', 'output', [value], {}, { shape: [], dtype: 'float32' });
  }

  outputNode(): Node | undefined {
    const last = this.nodes[this.nodes.length - 1];
    return last && last.op === 'output' ? last : undefined;
  }

  /**
   * Removes call nodes whose values nobody uses (last to first), except calls of plain
   * functions (allowInGraph), which may have effects. Returns how many were removed.
   */
  eliminateDeadCode(isPure: (n: Node) => boolean = (n) => typeof n.target !== 'function' || isPureTarget(n.target)): number {
    let removed = 0;
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (n.op !== 'call_function' || n.users.length > 0 || !isPure(n)) continue;
      this.nodes.splice(i, 1);
      const drop = (m: Node) => {
        const k = m.users.indexOf(n);
        if (k >= 0) m.users.splice(k, 1);
      };
      forEachNode(n.args, drop);
      forEachNode(n.kwargs, drop);
      this.taken.delete(n.name);
      removed++;
    }
    if (removed) this.version++;
    return removed;
  }

  /** Moves placeholders to the front (inputs may be discovered mid-trace), keeping their order. */
  hoistPlaceholders(): void {
    const ph = this.nodes.filter((n) => n.op === 'placeholder');
    const rest = this.nodes.filter((n) => n.op !== 'placeholder');
    this.nodes.length = 0;
    this.nodes.push(...ph, ...rest);
    this.version++;
  }

  placeholders(): Node[] {
    return this.nodes.filter((n) => n.op === 'placeholder');
  }

  /** The table printout used by logs: `%y : f32[2,3] = call_function[add](%x, %w)` per node. */
  toString(): string {
    return printTable(this);
  }
}
