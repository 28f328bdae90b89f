/**
 * The tracer: a dispatch mode that, while a function runs under tj.compile (or export),
 * records every op on traced tensors into the current graph instead of running it.
 *
 * Values. Traced tensors are fake tensors (no storage) whose `_trace` slot holds a
 * TracedValue: the node computing them in the current graph and their *root*, the value
 * that owns their memory (a graph input, a constant, a result of eager code, or a graph
 * intermediate). Views share their base's root; in-place ops are functionalised: the new
 * value of the root is recorded out of place and every fake of that root sees it (views
 * that became stale are rebuilt from the root). Updates of real memory (inputs,
 * constants) are copied back when the graph has run, so eager and compiled agree.
 *
 * Graph breaks. At a break the current graph (a "segment") is compiled by the host
 * (reused by position and structure) and run on the real values; its outputs are the
 * roots that the breaking code needs, the roots of every value not consumed inside the
 * graph, and the new values of updated inputs/constants. Other values of an earlier
 * segment are recomputed from its materialised values when they are used later (logged
 * under `perf`). Recomputing must read the memory as the segment read it, so a value
 * that read memory the segment itself writes in place is an output too, and values that
 * read memory a later graph writes are recomputed before that graph is built (eager
 * code that writes it makes a later recomputation refuse, with an error). The breaking
 * code runs eagerly on real tensors; its tensor results re-enter as graph inputs.
 */
import { AnyOp, DispatchMode, getOp, makeView, popMode, pushMode, withMode } from '../ops/registry';
import { Tensor, copyInto, describeTensor, shapeNumel, tensorHooks } from '../tensor';
import { Graph, GraphModule, Node, NodeMeta, asStrided, builtinInfo, flatten, getitem, identifierFrom, mapLeaves, mapNodes, outOfPlace, viewScatter } from '../fx';
import type { TreeSpec } from '../fx';
import { log } from './logging';
import { userLocation } from './location';
import { NoMetaError, detachedFake, traceMeta } from './meta';
import { keep } from '../scope';
import { ActiveTrace, disallowedOps, popSession, pushSession, runtime } from './state';
import type { StateStepKind } from './module_state';
import type { Holder } from './module';

/** Thrown instead of breaking the graph when breaks are errors (fullgraph, export). */
export class GraphBreakError extends Error {
  constructor(message: string, readonly reason: string, readonly location: string) {
    super(message);
    this.name = 'GraphBreakError';
  }
}

/** A probe trace (shape generalisation) met something it cannot trace without data. */
export class ProbeAbort extends Error {}

export interface BreakInfo {
  reason: string;
  location: string;
}

/** A compiled graph; backends that can run it off the event loop also give `runAsync`. */
export type RunGraph = ((...inputs: Tensor[]) => unknown) & { runAsync?: (...inputs: Tensor[]) => Promise<unknown> };

/** What the compiler around a session provides. */
export interface SessionHost {
  /** The compiled function's name (messages). */
  readonly name: string;
  /** Compiles the graph of segment `index` (or reuses one by position and structure). */
  compileSegment(session: Session, index: number, gm: GraphModule, inputs: Tensor[]): RunGraph;
  /** A module's own name for a tensor it holds (get_attr naming), if the host knows it. */
  constantName?(t: Tensor): string | undefined;
  onBreak?(info: BreakInfo): void;
}

export interface SessionOptions {
  kind: 'compile' | 'probe' | 'export';
  /** isDynamoCompiling() inside (compile, strict export). */
  dynamo: boolean;
  /** A break is a GraphBreakError. */
  fullgraph: boolean;
  host: SessionHost;
}

type RootKind = 'input' | 'const' | 'value' | 'temp';

/** The value that owns a traced tensor's memory. */
export class Root {
  real: Tensor | null = null;
  /** Node of the root's current value, in segment `seg`. */
  node: Node | null = null;
  seg: Segment | null = null;
  /** Bumped by every in-place update. */
  version = 0;
  /** The segment whose graph holds updates of this real-backed root not yet copied back. */
  mutatedIn: Segment | null = null;
  /** Inputs: position among the session's inputs (placeholder order of the first graph). */
  inputIndex = -1;
  constructor(public kind: RootKind, readonly tensor: Tensor, public name: string) {}
}

export class TracedValue {
  /** The real tensor for this exact view, once made. */
  real: Tensor | null = null;
  constructor(readonly session: Session, readonly root: Root, public node: Node | null, public seg: Segment | null, public version: number) {}
}

/** One graph between breaks. */
export class Segment {
  readonly graph = new Graph();
  readonly attrs: Record<string, Tensor> = {};
  /** Real values of the placeholders, in placeholder order. */
  readonly inputs: Tensor[] = [];
  /** Node -> the root its value lives in. */
  readonly rootOf = new Map<Node, Root>();
  /** Roots with a node in this segment. */
  readonly touched = new Set<Root>();
  flushed = false;
  /** After running: reals of placeholders, constants and outputs (for recomputation). */
  env: Map<Node, unknown> | null = null;
  /** The storage version of each tensor in `env` when it was put there. */
  readonly versions = new Map<Tensor, number>();
  constants = 0;
  constructor(readonly index: number) {}
}

/** What a break-free trace produced: one graph and how to build the function's result. */
export interface TraceRecord {
  gm: GraphModule;
  /** Real inputs in placeholder order (null in probe traces). */
  inputs: (Tensor | null)[];
  /** For each placeholder: the argument leaf it came from. */
  inputLeaves: number[];
  spec: TreeSpec;
  slots: OutputSlot[];
  /** Graph outputs to copy into inputs/constants after each run (in-place updates). */
  copyBacks: CopyBack[];
  /** The graph's constants (by identity) and whether the session made them (content-keyed). */
  createdConstants: WeakSet<Tensor>;
  /** Modules whose compiled forwards were inlined (their training flags are guarded). */
  modules: Set<object>;
  /** Tensors forward stored on module attributes: each cached run stores its values again. */
  attrStores: { target: Holder; key: unknown; slot: OutputSlot }[];
  /**
   * Arrays, objects and Maps forward put on module attributes anew (`this.caches = [k, v]`)
   * that attrStores store into: each cached run puts a new one, with these entries, in their
   * place (filled by the compiler).
   */
  freshHolders: { holder: Holder; owner: Holder; key: unknown; entries: [unknown, unknown][] }[];
  /** What the traced code stored in objects and arrays it was passed: replayed on each call's (null: deleted). */
  argStores: { path: (string | number)[]; key: unknown; slot: OutputSlot | null }[];
  /** Changes forward made to module attributes its graph does not read, as a cached run repeats them (filled by the compiler). */
  stateSteps: { target: Record<string, unknown>; key: string; kind: StateStepKind; slot: OutputSlot }[];
}

/** A value the traced code stored in (or deleted from) an object or array among its arguments. */
export interface ArgStore {
  /** Where the object is among the arguments: [argument index, key, ...]. */
  path: (string | number)[];
  key: unknown;
  value: unknown;
  deleted: boolean;
}

/** A tensor the traced code stored on an object's attribute (`this.last = h`) or in a holder there: a side effect. */
export interface AttrStore {
  target: Holder;
  key: unknown;
  value: Tensor;
}

export type OutputSlot =
  | { kind: 'graph'; index: number }
  | { kind: 'input'; index: number }
  | { kind: 'const'; value: Tensor }
  | { kind: 'literal'; value: unknown }
  /** A view of `base` (an input, a constant, or another result's graph output): [...shape, ...strides, offset from base's]. */
  | { kind: 'view'; base: OutputSlot; numbers: { kind: 'literal'; value: number }[] };

export type CopyBack = { output: number; input: number } | { output: number; constant: Tensor };

export function tracedValue(t: Tensor): TracedValue | undefined {
  const tv = t._trace;
  return tv instanceof TracedValue ? tv : undefined;
}

function forEachTensorDeep(x: unknown, f: (t: Tensor) => void): void {
  for (const leaf of flatten(x).leaves) if (leaf instanceof Tensor) f(leaf);
}

function mapTensorsDeep(x: unknown, f: (t: Tensor) => unknown): unknown {
  return mapLeaves(x, (leaf) => (leaf instanceof Tensor ? f(leaf) : leaf));
}

function hasBinaryData(x: unknown): boolean {
  return flatten(x).leaves.some((leaf) => ArrayBuffer.isView(leaf) || leaf instanceof ArrayBuffer);
}

const tensorMeta = (t: Tensor): NodeMeta => ({ shape: t.shape.slice(), dtype: t.dtype });
const inputMeta = (t: Tensor): NodeMeta => ({ shape: t.shape.slice(), dtype: t.dtype, strides: t.strides.slice() });

/** A real tensor with `fake`'s layout (copying when the backend returned another layout). */
function conform(real: Tensor, fake: Tensor): Tensor {
  if (real.strides.every((s, i) => s === fake.strides[i] || fake.shape[i] <= 1) && real.offset === fake.offset) return real;
  let extent = fake.offset + 1;
  fake.shape.forEach((d, i) => (extent += d > 0 ? (d - 1) * fake.strides[i] : 0));
  if (shapeNumel(fake.shape) === 0) extent = 0;
  const holder = Tensor.empty([extent], real.dtype);
  const out = new Tensor({ storage: holder.storage, shape: fake.shape.slice(), strides: fake.strides.slice(), offset: fake.offset, dtype: real.dtype });
  holder.dispose();
  if (extent > 0) copyInto(out, real);
  return out;
}

/** A segment's placeholders and constants with the real tensors they stand for. */
function leafValues(seg: Segment): Map<Node, Tensor> {
  const leaves = new Map<Node, Tensor>();
  seg.graph.placeholders().forEach((n, i) => leaves.set(n, seg.inputs[i]));
  for (const n of seg.graph.nodes) if (n.op === 'get_attr') leaves.set(n, seg.attrs[String(n.target)]);
  return leaves;
}

/**
 * What recomputing `node` of a segment that ran takes: the nodes to run, in graph order,
 * and the real tensors of the environment they read.
 */
function recomputation(seg: Segment, node: Node): { order: Node[]; leaves: Tensor[] } {
  const env = seg.env!;
  const needed = new Set<Node>();
  const leaves = new Set<Tensor>();
  const visit = (n: Node) => {
    if (needed.has(n)) return;
    if (env.has(n)) {
      const v = env.get(n);
      if (v instanceof Tensor) leaves.add(v);
      return;
    }
    if (n.op === 'placeholder' || n.op === 'get_attr')
      throw new Error(`tensorjit: internal error: '${node.name}' of graph ${seg.index} reads '${n.name}', which that graph wrote in place`);
    needed.add(n);
    mapNodes(n.args, (m) => {
      visit(m as Node);
      return m;
    });
  };
  visit(node);
  return { order: seg.graph.nodes.filter((n) => needed.has(n)), leaves: [...leaves] };
}

export class Session implements DispatchMode, ActiveTrace {
  suspended = 0;
  seg = new Segment(0);
  readonly breaks: BreakInfo[] = [];
  readonly createdConstants = new WeakSet<Tensor>();
  readonly modules = new Set<object>();
  private readonly inputRoots: Root[] = [];
  private readonly inputLeafOf = new Map<Root, number>();
  private readonly constRoots = new Map<Tensor, Root>();
  private readonly realToFake = new Map<Tensor, Tensor>();
  /** Segments that have run (their values not among their outputs are recomputable). */
  private readonly ranSegments: Segment[] = [];
  private inMeta = 0;
  /** Eager user code (disabled functions, disallowed ops) is running inside the trace. */
  private userEager = 0;
  private open = false;

  constructor(readonly opts: SessionOptions) {}

  get dynamo(): boolean {
    return this.opts.dynamo;
  }
  get isOpen(): boolean {
    return this.open;
  }
  /** Recording user code (not running shape-only code for an allowInGraph function). */
  get recording(): boolean {
    return this.open && this.suspended === 0 && this.inMeta === 0;
  }

  begin(): void {
    pushSession(this);
    pushMode(this);
    this.open = true;
  }

  /** Leaves tracing (also after errors). */
  end(): void {
    if (!this.open) return;
    this.open = false;
    popMode(this);
    popSession(this);
  }

  runSuspended<T>(fn: () => T): T {
    this.suspended++;
    try {
      return fn();
    } finally {
      this.suspended--;
    }
  }

  // ---- inputs

  /** The fake standing for argument leaf `leaf` (one fake per distinct tensor object). */
  input(real: Tensor | null, leaf: number, name: string, geometry: Tensor = real!): Tensor {
    if (real) {
      const known = this.realToFake.get(real);
      if (known) return known;
    }
    const fake = new Tensor({ storage: null, shape: geometry.shape.slice(), strides: geometry.strides.slice(), offset: geometry.offset, dtype: geometry.dtype });
    const root = new Root('input', fake, name);
    root.real = real;
    root.inputIndex = this.inputRoots.length;
    this.inputRoots.push(root);
    this.inputLeafOf.set(root, leaf);
    fake._trace = new TracedValue(this, root, null, null, 0);
    if (real) this.realToFake.set(real, fake);
    this.rootNode(root);
    return fake;
  }

  /** A fake for a real tensor made by eager code during the trace: it enters graphs as an input. */
  private wrapValue(real: Tensor, name: string): Tensor {
    const known = this.realToFake.get(real);
    if (known) return known;
    if (real.isFake) return real;
    const fake = new Tensor({ storage: null, shape: real.shape.slice(), strides: real.strides.slice(), offset: real.offset, dtype: real.dtype });
    const root = new Root('value', fake, name);
    root.real = real;
    fake._trace = new TracedValue(this, root, null, null, 0);
    this.realToFake.set(real, fake);
    return fake;
  }

  private constRoot(t: Tensor): Root {
    let root = this.constRoots.get(t);
    if (!root) {
      root = new Root('const', t, 'const');
      root.real = t;
      this.constRoots.set(t, root);
    }
    return root;
  }

  private rootOfTensor(t: Tensor): Root {
    const tv = tracedValue(t);
    if (tv && tv.session === this) return tv.root;
    // Traced code only sees fakes for its arguments and for eager results, so a real
    // tensor here comes from a closure or module state: a constant, even if the same
    // tensor was also passed as an argument (the argument is another source).
    if (t.storage) return this.constRoot(t);
    throw new Error(`tensorjit: a fake tensor ${describeTensor(t)} from outside this trace was used`);
  }

  // ---- nodes for values

  private placeholderFor(real: Tensor | null, geometry: Tensor, name: string): Node {
    const node = this.seg.graph.placeholder(name, inputMeta(geometry));
    this.seg.inputs.push(real as Tensor);
    return node;
  }

  /** The node of a root's current value in the current segment. */
  private rootNode(root: Root): Node {
    const seg = this.seg;
    if (root.seg === seg && root.node) return root.node;
    let node: Node;
    if (root.kind === 'const') {
      let name = this.opts.host.constantName?.(root.tensor) ?? `_tensor_constant${seg.constants++}`;
      while (Object.hasOwn(seg.attrs, name) && seg.attrs[name] !== root.tensor) name = `_tensor_constant${seg.constants++}`;
      seg.attrs[name] = root.tensor;
      node = seg.graph.getAttr(name, inputMeta(root.tensor), identifierFrom(name));
    } else {
      node = this.placeholderFor(this.rootReal(root), root.tensor, root.name);
    }
    root.node = node;
    root.seg = seg;
    seg.rootOf.set(node, root);
    seg.touched.add(root);
    return node;
  }

  /** The node for a tensor met in op arguments. */
  nodeOf(t: Tensor): Node {
    const tv = tracedValue(t);
    if (!tv || tv.session !== this) {
      if (t.storage) return this.rootNode(this.constRoot(t));
      throw new Error(`tensorjit: a fake tensor ${describeTensor(t)} from outside this trace was used in an op`);
    }
    const seg = this.seg;
    const root = tv.root;
    if (tv.seg === seg && tv.node && tv.version === root.version) return tv.node;
    let node: Node;
    if (t === root.tensor) {
      node = this.rootNode(root);
    } else if (root.seg === seg && (root.mutatedIn === seg || root.kind === 'temp')) {
      // the root's current value only exists in this graph: rebuild the view from it
      node = seg.graph.callFunction(asStrided, [this.rootNode(root), t.shape.slice(), t.strides.slice(), t.offset - root.tensor.offset], tensorMeta(t));
    } else {
      node = this.placeholderFor(this.realOf(t), t, tv.node?.name ?? root.name);
    }
    seg.rootOf.set(node, root);
    tv.node = node;
    tv.seg = seg;
    tv.version = root.version;
    return node;
  }

  // ---- real values

  private rootReal(root: Root): Tensor | null {
    if (root.real) return root.real;
    if (root.kind === 'temp') {
      const seg = root.seg;
      if (seg && seg.flushed && seg.env) return this.recompute(root);
      if (this.opts.kind === 'probe') return null;
      throw new Error(`tensorjit: a tensor created inside compiled function '${this.opts.host.name}' was used after the call ` +
        'returned without being part of its result (store results, not intermediates, outside compiled code)');
    }
    return null;
  }

  /** The real tensor for a traced one (its root's real, or a view of it). */
  realOf(t: Tensor): Tensor {
    const tv = tracedValue(t);
    if (!tv) {
      if (t.storage) return t;
      throw new Error(`tensorjit: fake tensor ${describeTensor(t)} has no data`);
    }
    if (tv.real) return tv.real;
    const root = tv.root;
    const real = this.rootReal(root);
    if (!real) throw new Error(`tensorjit: no real value for ${describeTensor(t)} (a probe trace)`);
    if (t === root.tensor) return real;
    const v = makeView({ base: real, shape: t.shape.slice(), strides: t.strides.slice(), offset: real.offset + (t.offset - root.tensor.offset) });
    tv.real = v;
    this.realToFake.set(v, t);
    return v;
  }

  /** Reruns the part of a finished segment that computes `root` (it was not an output). */
  private recompute(root: Root): Tensor {
    const seg = root.seg!;
    const env = seg.env!;
    const { order, leaves } = recomputation(seg, root.node!);
    for (const t of leaves)
      if (t.storage && t.storage.version !== seg.versions.get(t))
        throw new Error(`tensorjit: cannot recompute '${root.name}' (a value of an earlier graph of '${this.opts.host.name}' ` +
          `that was not among its outputs): memory it reads was written in place since, by code that ran eagerly`);
    log('perf', `recomputing '${root.name}' of graph ${seg.index} of '${this.opts.host.name}' from its materialized values`);
    for (const n of order) {
      const args = mapNodes(n.args, (m) => env.get(m as Node)) as unknown[];
      const value = this.runSuspended(() => (n.target as (...a: unknown[]) => unknown)(...args));
      env.set(n, value);
      if (value instanceof Tensor && value.storage) seg.versions.set(value, value.storage.version);
    }
    root.real = conform(env.get(root.node!) as Tensor, root.tensor);
    root.kind = 'value';
    this.realToFake.set(root.real, root.tensor);
    return root.real;
  }

  /**
   * `storage` is about to be written by the graph being traced: values of earlier graphs
   * that were not materialised and would be recomputed from it are computed now, while it
   * still holds what they read.
   */
  private recomputeReadersOf(storage: unknown): void {
    for (const seg of this.ranSegments) {
      for (const root of seg.touched) {
        if (root.kind !== 'temp' || root.seg !== seg || root.real || !root.node) continue;
        const { leaves } = recomputation(seg, root.node);
        if (!leaves.some((t) => t.storage === storage)) continue;
        // memory written by eager code since cannot be read as the graph did: leave it to
        // a later use, which refuses
        if (leaves.every((t) => !t.storage || t.storage.version === seg.versions.get(t))) this.recompute(root);
      }
    }
  }

  /** Runs an op that writes `targets` eagerly, once the values of earlier graphs that read them are computed. */
  private eagerWrite(targets: readonly Tensor[], run: () => unknown): unknown {
    for (const t of targets) {
      const storage = tracedValue(t) ? this.realOf(t).storage : t.storage;
      if (storage) this.recomputeReadersOf(storage);
    }
    return run();
  }

  /**
   * The temporaries of segment `seg` (about to run) that read memory it writes in place
   * (an input or constant it updates): recomputing them later would read the new contents,
   * so they must be outputs. `outRoots` are the outputs so far.
   */
  private readersOfOwnWrites(seg: Segment, outRoots: readonly Root[]): Root[] {
    const written = new Set<unknown>();
    for (const root of seg.touched) if (root.mutatedIn === seg && root.kind !== 'temp' && root.real?.storage) written.add(root.real.storage);
    if (written.size === 0) return [];
    const leafReal = leafValues(seg);
    const outputs = new Set(outRoots.map((r) => r.node!));
    const memo = new Map<Node, boolean>();
    const readsWritten = (n: Node): boolean => {
      let r = memo.get(n);
      if (r !== undefined) return r;
      if (outputs.has(n)) r = false;
      else if (leafReal.has(n)) r = written.has(leafReal.get(n)!.storage);
      else {
        r = false;
        mapNodes(n.args, (m) => {
          r ||= readsWritten(m as Node);
          return m;
        });
      }
      memo.set(n, r);
      return r;
    };
    return [...seg.touched].filter((root) => root.kind === 'temp' && root.seg === seg && root.node && !outputs.has(root.node) && readsWritten(root.node));
  }

  // ---- breaks

  /** Ends the current graph (compiled and run), then tracing continues in a new one. */
  graphBreak(reason: string, needed: readonly Tensor[] = []): void {
    const location = userLocation();
    if (this.opts.kind === 'probe') throw new ProbeAbort(reason);
    if (this.opts.fullgraph) {
      const what = this.opts.kind === 'export' ? 'exportProgram' : `compiled function '${this.opts.host.name}' (fullgraph: true)`;
      throw new GraphBreakError(`tensorjit: graph break in ${what}: ${reason}\n    at ${location}`, reason, location);
    }
    const info = { reason, location };
    this.breaks.push(info);
    this.opts.host.onBreak?.(info);
    log('graph_breaks', () => `graph break in '${this.opts.host.name}': ${reason}\n    at ${location}`);
    this.flush(needed, false);
  }

  /** Ends the current segment, running its graph; with `async`, through runAsync (the returned Promise). */
  private flush(needed: readonly Tensor[], final: boolean, async = false): Promise<void> | null {
    const seg = this.seg;
    let pending: Promise<void> | null = null;
    const calls = seg.graph.nodes.filter((n) => n.op === 'call_function');
    if (calls.length > 0) {
      const outRoots: Root[] = [];
      const add = (root: Root | undefined) => {
        if (!root || root.seg !== seg || !root.node || outRoots.includes(root)) return;
        if (root.kind === 'temp' || root.mutatedIn === seg) outRoots.push(root);
      };
      for (const t of needed) {
        const tv = tracedValue(t);
        if (tv && tv.session === this) add(tv.root);
        else if (t.storage && this.constRoots.has(t)) add(this.constRoots.get(t));
      }
      // values nobody consumed yet may still be used by the code after the break
      if (!final) for (const n of calls) if (n.users.length === 0 && !builtinInfo(n.target)?.internal) add(seg.rootOf.get(n));
      for (const root of seg.touched) if (root.mutatedIn === seg) add(root);
      if (!final) for (const root of this.readersOfOwnWrites(seg, outRoots)) add(root);
      const order = new Map(seg.graph.nodes.map((n, i) => [n, i]));
      outRoots.sort((a, b) => order.get(a.node!)! - order.get(b.node!)!);
      seg.graph.output(outRoots.map((r) => r.node!));
      if (final) seg.graph.eliminateDeadCode();
      if (seg.graph.nodes.some((n) => n.op === 'call_function')) pending = this.runSegment(seg, outRoots, async);
    }
    seg.flushed = true;
    this.seg = new Segment(seg.index + 1);
    return pending;
  }

  /** Compiles (or reuses) and runs a segment's graph; with `async` and a backend that has runAsync, off the loop. */
  private runSegment(seg: Segment, outRoots: Root[], async: boolean): Promise<void> | null {
    seg.graph.hoistPlaceholders();
    const gm = new GraphModule(seg.graph, seg.attrs);
    const run = this.runSuspended(() => this.opts.host.compileSegment(this, seg.index, gm, seg.inputs));
    if (async && run.runAsync) {
      const runAsync = run.runAsync;
      return this.runSuspended(() => runAsync(...seg.inputs)).then((results) => this.adoptResults(seg, outRoots, results as Tensor[]));
    }
    this.adoptResults(seg, outRoots, this.runSuspended(() => run(...seg.inputs)) as Tensor[]);
    return null;
  }

  /** A segment's results become the real values of its output roots (and of the values it wrote in place). */
  private adoptResults(seg: Segment, outRoots: Root[], results: Tensor[]): void {
    // memory the graph wrote no longer holds what its placeholders read: they leave the
    // environment (readersOfOwnWrites made every value that read them an output)
    const written = new Set(outRoots.filter((r) => r.kind !== 'temp').map((r) => r.real!.storage));
    const env = new Map<Node, unknown>();
    for (const [n, t] of leafValues(seg)) if (!written.has(t.storage)) env.set(n, t);
    outRoots.forEach((root, i) => {
      const real = results[i];
      if (root.kind === 'temp') {
        root.real = conform(real, root.tensor);
        root.kind = 'value';
        this.realToFake.set(root.real, root.tensor);
      } else {
        copyBack(root.real!, real);
        real.dispose();
      }
      root.mutatedIn = null;
      env.set(root.node!, root.real);
    });
    seg.env = env;
    for (const v of env.values()) if (v instanceof Tensor && v.storage) seg.versions.set(v, v.storage.version);
    this.ranSegments.push(seg);
  }

  /** Breaks, runs `run` eagerly on the real arguments, and traces on with its results. */
  private eagerBreak(reason: string, name: string, args: unknown, run: (realArgs: unknown) => unknown): unknown {
    const needed: Tensor[] = [];
    forEachTensorDeep(args, (t) => needed.push(t));
    this.graphBreak(reason, needed);
    const realArgs = mapTensorsDeep(args, (t) => this.realOf(t));
    this.userEager++;
    try {
      const out = this.runSuspended(() => run(realArgs));
      return mapTensorsDeep(out, (t) => this.wrapValue(t, name));
    } finally {
      this.userEager--;
    }
  }

  /** Tensor data read on a traced tensor (the materialize hook). */
  materialize(t: Tensor, reason: string): Tensor {
    if (this.inMeta) throw new NoMetaError(`it reads tensor data (${reason})`);
    if (this.open && this.suspended === 0) this.graphBreak(`Tensor.${reason}() reads the data of a traced tensor`, [t]);
    return this.realOf(t);
  }

  // ---- recording ops (the dispatch mode)

  call(op: AnyOp, args: unknown[], next: (op: AnyOp, args: unknown[]) => unknown): unknown {
    if (this.userEager > 0 && this.suspended > 0) {
      // eager user code (a disabled function) may hold traced tensors from before the break
      let traced = false;
      forEachTensorDeep(args, (t) => (traced ||= tracedValue(t)?.session === this));
      if (traced) return next(op, mapTensorsDeep(args, (t) => this.realOf(t)) as unknown[]);
    }
    if (this.suspended > 0 || !this.open) return next(op, args);
    if (disallowedOps.has(op))
      return this.eagerBreak(`'${op.opName}' is disallowed in the graph (tj.compiler.disallowInGraph)`, op.opName, args, (a) => next(op, a as unknown[]));
    if (op.spec.impl) {
      let hasTensor = false;
      forEachTensorDeep(args, () => (hasTensor = true));
      // tensor() of literal JS data is a graph constant; random and buffer-backed creation run eagerly
      if (op.traits.has('creation') && !op.traits.has('random') && !hasTensor && !hasBinaryData(args)) {
        const t = this.runSuspended(() => next(op, args)) as Tensor;
        this.createdConstants.add(keep(t)); // the cached graph holds it: no tidy may dispose it
        return t;
      }
      return this.eagerBreak(`'${op.opName}' has no meta function (a TS-only op runs eagerly)`, op.opName, args, (a) => next(op, a as unknown[]));
    }
    return this.record(op, args, next);
  }

  private meta(op: AnyOp, args: unknown[], argTensors: ReadonlySet<Tensor>) {
    this.inMeta++;
    try {
      return traceMeta(op, args, argTensors);
    } finally {
      this.inMeta--;
    }
  }

  private record(op: AnyOp, args: unknown[], next: (op: AnyOp, args: unknown[]) => unknown): unknown {
    const argTensors = new Set<Tensor>();
    forEachTensorDeep(args, (t) => argTensors.add(t));
    let meta;
    try {
      meta = this.meta(op, args, argTensors);
    } catch (e) {
      if (!(e instanceof NoMetaError)) throw e;
      return this.eagerBreak(`'${op.opName}' cannot be traced: ${e.message}`, op.opName, args, (a) => next(op, a as unknown[]));
    }
    const results = (op.spec.returnsList ? meta.value : [meta.value]) as Tensor[];
    for (const m of meta.mutated)
      if (argTensors.has(m) && !results.includes(m))
        return this.eagerBreak(`'${op.opName}' writes an argument it does not return (not functionalisable)`, op.opName, args, (a) => this.eagerWrite([...meta.mutated], () => next(op, a as unknown[])));
    if (!op.spec.returnsList && argTensors.has(meta.value as Tensor)) {
      const target = meta.value as Tensor;
      if (meta.mutated.has(target) || op.traits.has('inplace')) return this.recordInPlace(op, args, target, next);
      return target; // returns its argument unchanged (contiguous() of a contiguous tensor): nothing to record
    }
    const seg = this.seg;
    const argNodes = mapTensorsDeep(args, (t) => this.nodeOf(t)) as unknown[];
    if (!op.spec.returnsList) {
      const r = meta.value as Tensor;
      const node = seg.graph.callFunction(op, argNodes, tensorMeta(r));
      this.bindResult(r, node, meta.aliasOf(r));
      return r;
    }
    const node = seg.graph.callFunction(op, argNodes, { ...tensorMeta(results[0] ?? Tensor.fake([0], 'float32')), items: results.map(tensorMeta) });
    results.forEach((r, i) => {
      const item = seg.graph.callFunction(getitem, [node, i], tensorMeta(r), `${node.name}_${i}`);
      this.bindResult(r, item, meta.aliasOf(r));
    });
    return results;
  }

  private bindResult(r: Tensor, node: Node, base: Tensor | undefined): void {
    const seg = this.seg;
    if (base) {
      const root = this.rootOfTensor(base);
      r._trace = new TracedValue(this, root, node, seg, root.version);
      seg.rootOf.set(node, root);
      return;
    }
    const root = new Root('temp', r, node.name);
    root.node = node;
    root.seg = seg;
    r._trace = new TracedValue(this, root, node, seg, 0);
    seg.rootOf.set(node, root);
    seg.touched.add(root);
  }

  /** The out-of-place twin of an in-place op (add_ -> add) when it computes the same value. */
  private twinOf(op: AnyOp, args: unknown[], target: Tensor): AnyOp | null {
    if (!op.opName.endsWith('_')) return null;
    const twin = getOp(op.opName.slice(0, -1));
    if (!twin || twin.traits.has('inplace') || twin.spec.impl) return null;
    const argTensors = new Set<Tensor>();
    forEachTensorDeep(args, (t) => argTensors.add(t));
    try {
      const m = this.meta(twin, args, argTensors);
      const v = m.value;
      if (!(v instanceof Tensor) || argTensors.has(v) || m.mutated.size > 0 || m.aliasOf(v)) return null;
      if (v.dtype !== target.dtype || v.shape.length !== target.shape.length || v.shape.some((d, i) => d !== target.shape[i])) return null;
      return twin;
    } catch {
      return null;
    }
  }

  private sharesMemoryWithAnotherRoot(root: Root): boolean {
    const storage = root.real?.storage;
    if (!storage) return false;
    for (const r of [...this.inputRoots, ...this.constRoots.values()]) if (r !== root && r.real?.storage === storage) return true;
    return false;
  }

  private recordInPlace(op: AnyOp, args: unknown[], target: Tensor, next: (op: AnyOp, args: unknown[]) => unknown): Tensor {
    const root = this.rootOfTensor(target);
    const isView = target !== root.tensor;
    const unsupported =
      root.kind !== 'temp' && this.sharesMemoryWithAnotherRoot(root)
        ? 'its memory is shared with another input or constant'
        : !root.tensor.isContiguous()
          ? 'it writes a non-contiguous tensor (or through a view of one)'
          : null;
    if (unsupported)
      return this.eagerBreak(`in-place '${op.opName}' runs eagerly: ${unsupported}`, op.opName, args, (a) => this.eagerWrite([target], () => next(op, a as unknown[]))) as Tensor;
    const seg = this.seg;
    const argNodes = mapTensorsDeep(args, (t) => this.nodeOf(t)) as unknown[];
    if (root.kind !== 'temp' && root.real?.storage && this.ranSegments.length > 0) this.recomputeReadersOf(root.real.storage);
    const twin = this.twinOf(op, args, target);
    const value = twin
      ? seg.graph.callFunction(twin, argNodes, tensorMeta(target))
      : seg.graph.callFunction(outOfPlace, [op, ...argNodes], tensorMeta(target), op.opName.replace(/_$/, ''));
    seg.rootOf.set(value, root);
    if (isView) {
      const scattered = seg.graph.callFunction(
        viewScatter,
        [this.rootNode(root), value, target.shape.slice(), target.strides.slice(), target.offset - root.tensor.offset],
        tensorMeta(root.tensor),
        `${root.name}_updated`,
      );
      seg.rootOf.set(scattered, root);
      root.node = scattered;
    } else {
      root.node = value;
    }
    root.seg = seg;
    root.version++;
    seg.touched.add(root);
    if (root.kind !== 'temp') root.mutatedIn = seg;
    const tv = tracedValue(target);
    if (tv && tv.session === this) {
      tv.node = value;
      tv.seg = seg;
      tv.version = root.version;
    }
    return target;
  }

  // ---- the fine-grained API inside a trace

  /** A disable()d function: break, run it eagerly (recursively disabled if asked), trace on. */
  callDisabled(fn: Function, thisArg: unknown, args: unknown[], recursive: boolean, reason?: string): unknown {
    const why = `call to disabled function '${fn.name || 'anonymous'}'${reason ? ` (${reason})` : ''}`;
    return this.eagerBreak(why, fn.name || 'disabled', args, (real) => {
      if (recursive) runtime.disableDepth++;
      try {
        return fn.apply(thisArg, real as unknown[]);
      } finally {
        if (recursive) runtime.disableDepth--;
      }
    });
  }

  /** An allowInGraph function: one opaque node (its meta comes from running it on fresh fakes). */
  callAllowed(fn: Function, thisArg: unknown, args: unknown[]): unknown {
    const eager = (why: string) =>
      this.eagerBreak(`allowInGraph function '${fn.name || 'anonymous'}' ${why}`, fn.name || 'allowed', args, (real) => fn.apply(thisArg, real as unknown[]));
    const detached = mapTensorsDeep(args, (t) => (t.storage ? t : detachedFake(t))) as unknown[];
    let out: unknown;
    this.inMeta++;
    try {
      out = withMode(metaOnly, () => fn.apply(thisArg, detached));
    } catch (e) {
      return eager(`cannot run on fake tensors (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); it runs eagerly`);
    } finally {
      this.inMeta--;
    }
    const list = Array.isArray(out) && out.every((x) => x instanceof Tensor);
    if (!(out instanceof Tensor) && !list) return eager('must return a Tensor or an array of Tensors to be put in the graph; it runs eagerly');
    const seg = this.seg;
    const argNodes = mapTensorsDeep(args, (t) => this.nodeOf(t)) as unknown[];
    if (out instanceof Tensor) {
      const r = detachedFake(out);
      const node = seg.graph.callFunction(fn as (...a: unknown[]) => unknown, argNodes, tensorMeta(r));
      this.bindResult(r, node, undefined);
      return r;
    }
    const items = (out as Tensor[]).map(detachedFake);
    const node = seg.graph.callFunction(fn as (...a: unknown[]) => unknown, argNodes, { ...tensorMeta(items[0] ?? Tensor.fake([0], 'float32')), items: items.map(tensorMeta) });
    items.forEach((r, i) => this.bindResult(r, seg.graph.callFunction(getitem, [node, i], tensorMeta(r), `${node.name}_${i}`), undefined));
    return items;
  }

  /** assumeConstantResult: run once while tracing; tensors it returns are graph constants. */
  callConstant(fn: Function, thisArg: unknown, args: unknown[]): unknown {
    let traced = false;
    forEachTensorDeep(args, (t) => (traced ||= tracedValue(t)?.session === this));
    if (traced) {
      const needed: Tensor[] = [];
      forEachTensorDeep(args, (t) => needed.push(t));
      this.graphBreak(`assumeConstantResult function '${fn.name || 'anonymous'}' was called with traced tensors`, needed);
    }
    const realArgs = mapTensorsDeep(args, (t) => this.realOf(t)) as unknown[];
    const out = this.runSuspended(() => fn.apply(thisArg, realArgs));
    forEachTensorDeep(out, (t) => this.createdConstants.add(keep(t))); // held by the cached graph
    return out;
  }

  // ---- the end of a trace

  /**
   * For a trace with breaks: runs the last graph and returns the function's real result;
   * with `async` (runAsync), the last graph runs off the event loop and a Promise of the
   * result comes back (the graphs before it ran at their breaks: their values were needed).
   */
  finishWithBreaks(result: unknown, async = false, stored: readonly Tensor[] = [], storeReals?: (realOf: (t: Tensor) => Tensor) => void): unknown {
    const needed: Tensor[] = [...stored];
    forEachTensorDeep(result, (t) => needed.push(t));
    const realResult = () => {
      storeReals?.((t) => this.realOf(t));
      return mapTensorsDeep(result, (t) => this.realOf(t));
    };
    const pending = this.flush(needed, true, async);
    return pending ? pending.then(realResult) : realResult();
  }

  /**
   * The result leaves' slots. A result that is a view of an input, of a constant, or of the
   * value another result also views is rebuilt as that view after each run (eager code
   * returns views there: writing into one writes into the other, as torch.compile keeps
   * outputs that alias inputs and each other); exports return copies.
   */
  private resultSlots(leaves: readonly unknown[], slotOf: (leaf: unknown) => OutputSlot, outIndex: (n: Node) => number): OutputSlot[] {
    const rootOf = (leaf: unknown) => {
      const tv = leaf instanceof Tensor ? tracedValue(leaf) : undefined;
      return tv && tv.session === this ? tv.root : null;
    };
    const resultsOf = new Map<Root, number>();
    for (const leaf of leaves) {
      const root = rootOf(leaf);
      if (root) resultsOf.set(root, (resultsOf.get(root) ?? 0) + 1);
    }
    return leaves.map((leaf) => {
      const root = rootOf(leaf);
      if (!root || this.opts.kind === 'export' || leaf === root.tensor) return slotOf(leaf);
      let base: OutputSlot;
      if (root.kind === 'input') base = { kind: 'input', index: root.inputIndex };
      else if (root.kind === 'const') base = { kind: 'const', value: root.tensor };
      // an intermediate viewed by two results: its own (contiguous) output is their base
      else if (root.kind === 'temp' && resultsOf.get(root)! > 1 && root.tensor.isContiguous()) base = { kind: 'graph', index: outIndex(this.nodeOf(root.tensor)) };
      else return slotOf(leaf);
      const t = leaf as Tensor;
      const numbers = [...t.shape, ...t.strides, t.offset - root.tensor.offset].map((value) => ({ kind: 'literal' as const, value }));
      return { kind: 'view', base, numbers };
    });
  }

  /** For a break-free trace: the graph and how to assemble results (the caller compiles and runs it). */
  finishGraph(result: unknown, stores: readonly AttrStore[] = [], argStores: readonly ArgStore[] = []): TraceRecord {
    const seg = this.seg;
    const flat = flatten(result);
    const outNodes: Node[] = [];
    const outIndex = (n: Node) => {
      let i = outNodes.indexOf(n);
      if (i < 0) i = outNodes.push(n) - 1;
      return i;
    };
    const slotOf = (leaf: unknown): OutputSlot => {
      if (!(leaf instanceof Tensor)) return { kind: 'literal', value: leaf };
      const tv = tracedValue(leaf);
      if (tv && tv.session === this) {
        const root = tv.root;
        if (leaf === root.tensor && root.kind === 'input') return { kind: 'input', index: root.inputIndex };
        return { kind: 'graph', index: outIndex(this.nodeOf(leaf)) };
      }
      if (leaf.storage) return { kind: 'const', value: leaf };
      throw new Error(`tensorjit: compiled function '${this.opts.host.name}' returned a fake tensor from outside its trace`);
    };
    const slots = this.resultSlots(flat.leaves, slotOf, outIndex);
    const attrStores = stores.map((s) => ({ target: s.target, key: s.key, slot: slotOf(s.value) }));
    const argSlots = argStores.map((s) => ({ path: s.path, key: s.key, slot: s.deleted ? null : slotOf(s.value) }));
    const copyBacks: CopyBack[] = [];
    for (const root of seg.touched) {
      if (root.mutatedIn !== seg) continue;
      const output = outIndex(root.node!);
      copyBacks.push(root.kind === 'input' ? { output, input: root.inputIndex } : { output, constant: root.real! });
    }
    seg.graph.output(outNodes);
    seg.graph.eliminateDeadCode();
    seg.graph.hoistPlaceholders();
    return {
      gm: new GraphModule(seg.graph, seg.attrs),
      inputs: this.inputRoots.map((r) => r.real),
      inputLeaves: this.inputRoots.map((r) => this.inputLeafOf.get(r)!),
      spec: flat.spec,
      slots,
      copyBacks,
      createdConstants: this.createdConstants,
      modules: this.modules,
      attrStores,
      freshHolders: [],
      argStores: argSlots,
      stateSteps: [],
    };
  }
}

/** Meta for allowInGraph functions: ops see only shapes and dtypes. */
const metaOnly: DispatchMode = {
  call(op, args) {
    return traceMeta(op, args, new Set()).value;
  },
};

/** dst <- src after a graph updated dst's value out of place. */
export function copyBack(dst: Tensor, src: Tensor): void {
  if (dst === src) return;
  copyInto(dst, src);
  if (dst.storage) dst.storage.version++;
}

tensorHooks.materialize = (t: Tensor, reason: string): Tensor => {
  const tv = tracedValue(t);
  if (!tv) throw new Error(`${reason}: fake tensor ${describeTensor(t)} has no data (it only carries a shape and a dtype)`);
  return tv.session.materialize(t, reason);
};
