/**
 * What a dynamic graph runs at a shape it has no executable for (the tiering's 'eager'
 * tier): the graph's interpreter, except that runs of nodes whose shapes are the same at
 * every size (no symbol in their own or their inputs' shapes) run as native executables
 * built once. A decoding step whose KV caches grow by a position each call meets a new
 * shape every step, yet only the attention over the caches changes shape: the
 * projections, norms and MLP around it keep theirs, and run fused and prepacked.
 */
import { GraphModule, Interpreter, Node, NodeMeta, asStrided, forEachNode, viewScatter } from '../../fx';
import { splitModule } from '../../fx/split';
import { isOp } from '../../ops/registry';

/** Whether a node's value changes shape (or, for a size node, value) with the graph's symbols. */
function hasSymbol(meta: NodeMeta): boolean {
  if (meta.sym !== undefined) return true;
  if (meta.symShape?.some((d) => typeof d === 'string')) return true;
  return meta.items?.some(hasSymbol) ?? false;
}

export interface StaticSegments {
  run(...inputs: unknown[]): unknown;
  /** The same with the segments run off the event loop (the nodes between them run on it). */
  runAsync(...inputs: unknown[]): Promise<unknown>;
  /** The outer graph and each segment's code (for logs). */
  describe(): string;
}

/** How a segment runs: on the calling thread, or off the event loop. */
export interface SegmentRunner {
  (...inputs: unknown[]): unknown;
  runAsync(...inputs: unknown[]): Promise<unknown>;
}

/** Runs the outer graph with each segment's runAsync. */
class AsyncSegmentsInterpreter extends Interpreter {
  constructor(
    outer: GraphModule,
    private readonly asyncRuns: Map<Function, SegmentRunner['runAsync']>,
  ) {
    super(outer);
  }
  override callFunction(node: Node, args: unknown[]): unknown {
    const runAsync = this.asyncRuns.get(node.target as Function);
    return runAsync ? runAsync(...args) : super.callFunction(node, args);
  }
}

/**
 * Splits `gm`'s static-shape runs into segments run by `compileSegment` (a native
 * executable per segment); null when the graph is static or has no such run with work in
 * it (an encoder over a dynamic sequence length changes shape almost everywhere).
 */
export function staticSegments(gm: GraphModule, compileSegment: (segment: GraphModule) => SegmentRunner): StaticSegments | null {
  const nodes = gm.graph.nodes;
  if (!nodes.some((n) => hasSymbol(n.meta))) return null;
  // Functionalised updates rebuild views by the layout of their root: a root handed between
  // segments is a contiguous copy, so such graphs are not split.
  if (nodes.some((n) => n.target === asStrided || n.target === viewScatter)) return null;
  const asyncRuns = new Map<Function, SegmentRunner['runAsync']>();
  const split = splitModule(gm, {
    accepts(n, inSegment) {
      if (hasSymbol(n.meta)) return false;
      // a segment's inputs are tensors of fixed shape (an executable's inputs are tensors)
      let fixed = true;
      const check = (m: Node) => {
        if (m.op === 'get_attr' || inSegment(m)) return;
        if (m.meta.items !== undefined || hasSymbol(m.meta)) fixed = false;
      };
      forEachNode(n.args, check);
      forEachNode(n.kwargs, check);
      return fixed;
    },
    // views alone are free eagerly: a segment is worth its call when it computes
    worthSplitting: (run) => run.some((n) => isOp(n.target) && !n.target.traits.has('view')),
    compile(segment) {
      const compiled = compileSegment(segment);
      const run = (...inputs: unknown[]) => compiled(...inputs) as unknown[];
      asyncRuns.set(run, compiled.runAsync);
      return run;
    },
  });
  if (!split) return null;
  const { outer, segments } = split;
  return {
    run: (...inputs) => new Interpreter(outer).run(...inputs),
    runAsync: (...inputs) => new AsyncSegmentsInterpreter(outer, asyncRuns).runAsync(...inputs),
    describe: () => [`outer graph:\n${outer.code}`, ...segments.map((s, i) => `segment_${i}:\n${s.code}`)].join('\n'),
  };
}
