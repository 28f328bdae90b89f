/**
 * Splitting a graph into segments, as torch.fx's split_module: runs of consecutive nodes
 * a predicate accepts become GraphModules of their own, each called from an outer graph
 * that keeps every other node. The native backend runs a dynamic graph's static-shape
 * runs as executables built once and the nodes whose shapes change per call eagerly.
 */
import { getitem } from './builtins';
import { Graph } from './graph';
import { GraphModule } from './graph_module';
import { Node, NodeMeta, forEachNode, mapNodes } from './node';

export interface SplitOptions {
  /**
   * Whether `node` may join the segment being built; `inSegment(m)` tells whether an
   * argument node is already in it (its value is then not a segment input).
   */
  accepts(node: Node, inSegment: (m: Node) => boolean): boolean;
  /** Whether a finished run of accepted nodes is worth a segment (else its nodes stay outer). */
  worthSplitting(nodes: readonly Node[]): boolean;
  /** The callable that runs a segment: takes its inputs, returns its outputs as an array. */
  compile(segment: GraphModule, index: number): (...inputs: unknown[]) => unknown[];
}

export interface SplitModule {
  /** The outer graph: every node that is in no segment, and one call per segment. */
  outer: GraphModule;
  segments: GraphModule[];
}

/**
 * Splits `gm` (get_attr nodes are copied into every segment that reads them, so a segment
 * sees its constants as constants); null when no run was worth splitting.
 */
export function splitModule(gm: GraphModule, options: SplitOptions): SplitModule | null {
  const outer = new Graph();
  const segments: GraphModule[] = [];
  /** Original node -> its value in the outer graph. */
  const outerOf = new Map<Node, Node>();
  const attrNodes = new Set<Node>();
  const outerValue = (n: Node): Node => {
    let v = outerOf.get(n);
    if (v === undefined && attrNodes.has(n)) {
      v = outer.getAttr(String(n.target), n.meta, n.name);
      outerOf.set(n, v);
    }
    if (v === undefined) throw new Error(`tensorjit.fx.splitModule: node ${n.name} is used before it is defined`);
    return v;
  };
  const copyToOuter = (n: Node) => {
    outerOf.set(n, outer.callFunction(n.target, mapNodes(n.args, (m) => outerValue(m as Node)) as unknown[], n.meta, n.name, mapNodes(n.kwargs, (m) => outerValue(m as Node)) as Record<string, unknown>));
  };

  const nodes = gm.graph.nodes;
  const position = new Map(nodes.map((n, i) => [n, i]));
  let run: Node[] = [];
  const inRun = new Set<Node>();
  const finishRun = () => {
    if (run.length === 0) return;
    if (options.worthSplitting(run)) emitSegment(run);
    else for (const n of run) copyToOuter(n);
    run = [];
    inRun.clear();
  };
  const emitSegment = (members: Node[]) => {
    const last = position.get(members[members.length - 1])!;
    const inputs: Node[] = [];
    const attrsRead: Node[] = [];
    for (const n of members) {
      const note = (m: Node) => {
        if (inRun.has(m)) return;
        const into = attrNodes.has(m) ? attrsRead : inputs;
        if (!into.includes(m)) into.push(m);
      };
      forEachNode(n.args, note);
      forEachNode(n.kwargs, note);
    }
    // values read after the run (by later nodes or the graph's output) are its outputs
    const outputs = members.filter((n) => n.users.some((u) => position.get(u)! > last));
    const sub = new Graph();
    const subOf = new Map<Node, Node>();
    for (const m of inputs) subOf.set(m, sub.placeholder(m.name, m.meta));
    for (const m of attrsRead) subOf.set(m, sub.getAttr(String(m.target), m.meta, m.name));
    const inSub = (m: unknown) => subOf.get(m as Node)!;
    for (const n of members) subOf.set(n, sub.callFunction(n.target, mapNodes(n.args, inSub) as unknown[], n.meta, n.name, mapNodes(n.kwargs, inSub) as Record<string, unknown>));
    sub.output(outputs.map((n) => subOf.get(n)!));
    const index = segments.length;
    const segment = new GraphModule(sub, gm.attrs);
    segments.push(segment);
    const runSegment = options.compile(segment, index);
    Object.defineProperty(runSegment, 'name', { value: `segment_${index}` });
    const listMeta: NodeMeta = { ...(outputs[0]?.meta ?? { shape: [], dtype: 'float32' }), items: outputs.map((n) => n.meta) };
    const call = outer.callFunction(runSegment, inputs.map(outerValue), listMeta, `segment_${index}`);
    outputs.forEach((n, i) => outerOf.set(n, outer.callFunction(getitem, [call, i], n.meta, n.name)));
  };

  for (const n of nodes) {
    switch (n.op) {
      case 'placeholder':
        finishRun();
        outerOf.set(n, outer.placeholder(n.name, n.meta));
        break;
      case 'get_attr':
        // made in the outer graph only where an outer node reads it
        attrNodes.add(n);
        break;
      case 'call_function':
        if (options.accepts(n, (m) => inRun.has(m))) {
          run.push(n);
          inRun.add(n);
        } else {
          finishRun();
          copyToOuter(n);
        }
        break;
      default:
        finishRun();
        outer.output(mapNodes(n.args[0], (m) => outerValue(m as Node)));
    }
  }
  if (segments.length === 0) return null;
  return { outer: new GraphModule(outer, gm.attrs), segments };
}
