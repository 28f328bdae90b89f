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
  /** The same holding the event loop at most ~LOOP_SLICE_MS at a stretch: longer segments run off it. */
  runAsync(...inputs: unknown[]): Promise<unknown>;
  /** The outer graph and each segment's code (for logs). */
  describe(): string;
}

/** How a segment runs: on the calling thread, or off the event loop. */
export interface SegmentRunner {
  (...inputs: unknown[]): unknown;
  runAsync(...inputs: unknown[]): Promise<unknown>;
}

/**
 * How long a runAsync may hold the event loop at a stretch. Handing a segment to another
 * thread and back costs ~50-100 µs on a small VM (thread wake-ups): a decoding step of
 * small segments ran 1.4-1.8x slower than eagerly when each went off the loop. So segments
 * run on the loop while the time since the loop was last let go, plus the segment's last
 * run time, stays within this; the others run off it (and let the loop go).
 */
export const LOOP_SLICE_MS = 1;

/** Runs the outer graph for runAsync: segments on the loop within a slice, or off it. */
class AsyncSegmentsInterpreter extends Interpreter {
  private sliceStart = performance.now();
  constructor(
    outer: GraphModule,
    private readonly runners: Map<Function, SegmentRunner>,
    private readonly lastMs: Map<Function, number>,
  ) {
    super(outer);
  }
  override callFunction(node: Node, args: unknown[]): unknown {
    const target = node.target as Function;
    const runner = this.runners.get(target);
    if (!runner) return super.callFunction(node, args);
    const t0 = performance.now();
    if (t0 - this.sliceStart + (this.lastMs.get(target) ?? Infinity) <= LOOP_SLICE_MS) {
      const out = runner(...args);
      this.lastMs.set(target, performance.now() - t0);
      return out;
    }
    return runner.runAsync(...args).then((out) => {
      this.sliceStart = performance.now();
      // off the loop the time includes the hand-off: an upper bound of the run's
      this.lastMs.set(target, this.sliceStart - t0);
      return out;
    });
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
  const runners = new Map<Function, SegmentRunner>();
  const lastMs = new Map<Function, number>();
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
      runners.set(run, compiled);
      return run;
    },
  });
  if (!split) return null;
  const { outer, segments } = split;
  return {
    run: (...inputs) => new Interpreter(outer).run(...inputs),
    runAsync: (...inputs) => new AsyncSegmentsInterpreter(outer, runners, lastMs).runAsync(...inputs),
    describe: () => [`outer graph:\n${outer.code}`, ...segments.map((s, i) => `segment_${i}:\n${s.code}`)].join('\n'),
  };
}
