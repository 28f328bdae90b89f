/**
 * tj.compile: per compiled function, a cache of guarded entries (break-free traces, run
 * without the JS body) and, for functions whose trace breaks, compiled graphs reused by
 * their position in the call and their structure (the JS body re-runs every call).
 */
import { performance } from 'node:perf_hooks';
import { GraphModule, builtinInfo, denseDimOrder, flatten, graphKey, identifierFrom, isNonOverlapping, objectId, stridesForDimOrder, unflatten } from '../fx';
import type { Flat, TreeSpec } from '../fx';
import { Tensor } from '../tensor';
import { makeView } from '../ops/registry';
import { itemSize } from '../dtype';
import { CompiledGraph, resolveBackend } from '../backends';
import type { Backend } from '../backends';
import { DynamicPlan, Point, SymExpr, evalExpr, fitDynamic, matchesPlan, rewriteDynamic } from './dynamic';
import { Guard, buildGuard } from './guards';
import { log } from './logging';
import { Holder, ModuleLike, TensorOwner, getIn, heldAt, holdAt, holderEntries, isClassInstance, isModuleClass, isModuleLike, placeOf, setIn, stateObjects, tensorOwners } from './module';
import { ModuleStateSnapshot, StateStepKind, attributeHolders, changedModuleState, ownAttributes, restoreAttributes, snapshotModuleState, tracedStores } from './module_state';
import { ModuleSideEffects, UnsettledTrace } from './side_effects';
import { argumentNames, hasOwnThis } from './params';
import { argContainers, argStoresOf, replayArgStores } from './arg_stores';
import { AttrStore, BreakInfo, CopyBack, OutputSlot, RunGraph, Session, SessionHost, TraceRecord, copyBack, tracedValue } from './session';
import { activeSession, config, dynamicMarks, runtime, staticMarks } from './state';
import { untracked } from '../scope';

export interface CompileOptions {
  /** 'native' (default), 'eager', a registered name, a backend function, or an object with `compile`. */
  backend?: string | Backend;
  /** Any graph break is an error naming the reason and the user's source location. */
  fullgraph?: boolean;
  /** true: shape-polymorphic from the first call; false: always specialise (except markDynamic dims); unset: automatic. */
  dynamic?: boolean;
  /**
   * Passed to the backend. The built-in backends take torch.compile's names ('default',
   * 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs') and compile the same
   * way for all of them: per-call overhead is already a few µs, and kernels are chosen
   * by shape without autotuning. Another value is an error for them.
   */
  mode?: string;
}

/** What explain() collects while a function runs. */
export interface Collector {
  graphs: GraphModule[];
  compileTimes: number[];
  breaks: BreakInfo[];
}

type Slot =
  | Exclude<OutputSlot, { kind: 'view' }>
  | { kind: 'sym'; expr: SymExpr }
  | { kind: 'view'; base: Slot; numbers: Slot[] };

/**
 * The mapping of a trace's slots to the entry's: integer literals the dynamic plan solved
 * (plan.extra, indexed in resultAndStoreSlots' order) become size expressions. Call it on
 * the slots in that order.
 */
function literalSymbols(plan: DynamicPlan | null): (s: OutputSlot) => Slot {
  let literal = 0;
  return (s) => {
    if (s.kind !== 'literal' || !Number.isInteger(s.value)) return s as Slot;
    const expr = plan?.extra.get(literal++);
    return expr ? { kind: 'sym', expr } : s;
  };
}

/** A slot with its integer literals made symbolic by `symbolic`, in resultAndStoreSlots' order. */
function withSymbols(s: OutputSlot, symbolic: (s: OutputSlot) => Slot): Slot {
  // (a view's base is an input, a constant or a graph output: nothing to make symbolic)
  return s.kind === 'view' ? { kind: 'view', base: symbolic(s.base), numbers: s.numbers.map(symbolic) } : symbolic(s);
}

/** The graph output a slot reads (a view's base's), if any. */
const graphOutputOf = (s: Slot | null): number => (s?.kind === 'graph' ? s.index : s?.kind === 'view' ? graphOutputOf(s.base) : -1);

interface Entry {
  guard: Guard;
  /** The object the function was traced as a method of (`this`), if any: only it matches. */
  self: object | undefined;
  run: CompiledGraph;
  record: TraceRecord;
  erasedKey: string;
  plan: DynamicPlan | null;
  slots: Slot[];
  spec: TreeSpec;
  copyBacks: CopyBack[];
  /** Tensors forward stores on module attributes, stored again after each run. */
  attrStores: TraceRecord['attrStores'];
  /** Holders forward puts on attributes anew, put anew by each run (attrStores store into those). */
  freshHolders: TraceRecord['freshHolders'];
  /** What the function stores in the objects and arrays it is passed, stored again in each call's. */
  argStores: { path: (string | number)[]; key: unknown; slot: Slot | null }[];
  /** Changes to module attributes the graph does not read (a call counter), made again by each cached run. */
  stateSteps: { target: Record<string, unknown>; key: string; kind: StateStepKind; slot: Slot }[];
  /** The copied-back outputs are not part of the result nor stored (free them after copying). */
  disposeAfterCopy: boolean;
  /** Per symbol, where its value is read: [placeholder, dim]. */
  symbolSources: [number, number][];
  /** Argument structure and tensor shapes (for spotting which dims changed). */
  specKey: string;
  leafShapes: (number[] | null)[];
  extra: number[];
}

interface PositionGroup {
  statics: GraphModule[];
  dynamic: { plan: DynamicPlan; run: RunGraph } | null;
}
interface PositionSlot {
  exact: Map<string, RunGraph>;
  groups: Map<string, PositionGroup>;
  compiled: number;
}

const CONTENT_KEY_LIMIT = 1 << 12;
const noop = () => {};

/** Constants made during a trace (tensor() of literal data) are keyed by value, others by identity. */
function contentKey(t: Tensor): string {
  if (t.numel() > CONTENT_KEY_LIMIT || t.isFake || t.disposed) return `t:${objectId(t)}`;
  const data = t.dataSync();
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return `v:${t.dtype}[${t.shape.join(',')}]:${(h >>> 0).toString(16)}:${bytes.length / itemSize[t.dtype]}`;
}

function keyOptionsFor(sets: readonly WeakSet<Tensor>[]) {
  return { constantKey: (t: Tensor) => (sets.some((s) => s.has(t)) ? contentKey(t) : `t:${objectId(t)}`) };
}

/** A trace's graph, exactly (sizes and literals kept): two traces agree when their keys are equal. */
const exactKey = (rec: TraceRecord): string => graphKey(rec.gm, { ...keyOptionsFor([rec.createdConstants]), erase: false });

/**
 * New holders like the ones forward put on attributes (their entries as the trace left
 * them, the new ones they hold replaced by their own copies), put in their place.
 */
function freshCopies(fresh: TraceRecord['freshHolders']): Map<object, Holder> {
  const copies = new Map<object, Holder>();
  for (const f of fresh) copies.set(f.holder, f.holder instanceof Map ? new Map() : Array.isArray(f.holder) ? ([] as unknown as Holder) : {});
  for (const f of fresh) {
    const copy = copies.get(f.holder)!;
    for (const [k, v] of f.entries) setIn(copy, k, copies.get(v as object) ?? v);
    if (!copies.has(f.owner)) setIn(f.owner, f.key, copy);
  }
  return copies;
}

/** A value other than `v` of its kind, for a retrace that asks whether the graph reads `v` (side_effects.ts). */
function anotherValue(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v + 7 : 0;
  if (typeof v === 'bigint') return v + 7n;
  if (typeof v === 'boolean') return !v;
  if (typeof v === 'string') return `${v}\u0000other`;
  return v;  // null, undefined, objects: kept (what they become is compared all the same)
}

/** The instances of the user's classes among a call's arguments (not tensors, arrays, plain objects, typed arrays, maps...), named. */
function classInstancesIn(args: readonly unknown[], names: readonly string[]): [string, object][] {
  const out: [string, object][] = [];
  args.forEach((a, i) => {
    if (isClassInstance(a)) out.push([names[i] ?? `arg${i}`, a]);
  });
  return out;
}

/** The slots whose integer literals a dynamic plan may make symbolic, in its order: results, argument stores, state steps. */
const resultAndStoreSlots = (rec: TraceRecord): OutputSlot[] => [
  ...rec.slots.flatMap((s) => (s.kind === 'view' ? s.numbers : [s])),
  ...rec.argStores.flatMap((s) => (s.slot ? [s.slot] : [])),
  ...rec.stateSteps.map((s) => s.slot),
];

const integerLiteralsOf = (slots: readonly Slot[]): number[] =>
  slots.filter((s): s is { kind: 'literal'; value: number } => s.kind === 'literal' && Number.isInteger(s.value)).map((s) => s.value);

function specKeyOf(flat: Flat): string {
  return `${JSON.stringify(flat.spec)}|${flat.leaves.map((l) => (l instanceof Tensor ? `T${l.dtype}${l.ndim}` : typeof l)).join(',')}`;
}

export class CompiledFunction implements SessionHost {
  private entries: Entry[] = [];
  private positions = new Map<number, PositionSlot>();
  private autoDynamic = new Set<string>();
  private failedFits = new Set<string>();
  private warned = false;
  // What the function does to the non-tensor state of its module and of the class instances
  // it is passed (a call counter): see side_effects.ts.
  private readonly sideEffects: ModuleSideEffects;
  /** fn reads the `this` it is called on (not an arrow function): that object is guarded. */
  private readonly ownThis: boolean;
  // Tensor attributes forward replaces and its graph reads (a cache grown by concatenation,
  // `this.k = cat([this.k, k])`): traced and guarded as inputs (shapes, not identity), as
  // one more argument, so the graph serves every call; forward's stores are replayed.
  private stateAttrs: TensorOwner[] = [];
  /** Set once forward has been seen storing tensors on the module: the tail of its async runs. */
  private storingRuns: Promise<void> | null = null;
  private eagerOnly = false;
  private lastGuard: Guard | undefined;
  private generation = runtime.generation;
  private owners: Map<Tensor, TensorOwner> | null = null;
  /**
   * Class instances passed as arguments (a cache object of the caller's own class), named:
   * the tensors they hold are read as constants like a module's (guarded by identity), and
   * stores into them are replayed. Their identity is guarded, so cached runs see the same.
   */
  private argObjects: [string, object][] = [];
  collector: Collector | null = null;

  constructor(
    readonly fn: Function,
    readonly opts: CompileOptions,
    readonly name: string,
    /** The compiled module (guards on its training flags and parameters), if any. */
    readonly module: ModuleLike | null = null,
    /** Where parameter names are read from (the module's forward). */
    readonly namesFrom: Function = fn,
  ) {
    this.sideEffects = new ModuleSideEffects(() => this.namedStateRoots(), name, () => config.cacheSizeLimit);
    this.ownThis = !module && hasOwnThis(fn);
  }

  /** The guard of the first cache entry, or of the last trace when none was cached (explain). */
  firstGuard(): Guard | undefined {
    return this.entries[0]?.guard ?? this.lastGuard;
  }

  clear(): void {
    this.entries = [];
    this.positions.clear();
    this.autoDynamic.clear();
    this.failedFits.clear();
    this.warned = false;
    this.sideEffects.clear();
    this.stateAttrs = [];
    this.storingRuns = null;
    this.eagerOnly = false;
    this.owners = null;
    this.generation = runtime.generation;
  }

  // ---- calling

  /** With `async`, a call that compiles runs its new graph with runAsync and returns its Promise. */
  call(thisArg: unknown, args: unknown[], async = false): unknown {
    if (this.generation !== runtime.generation) this.clear();
    if (runtime.disableDepth > 0 || this.eagerOnly) return this.fn.apply(thisArg, args);
    const outer = activeSession() as Session | null;
    if (outer) {
      // graphs span function boundaries: a compiled function called while tracing is inlined
      if (this.module) outer.modules.add(this.module);
      return this.fn.apply(thisArg, args);
    }
    const entries = this.entries;
    const guarded = this.guardedArgs(args);
    for (let i = entries.length - 1; i >= 0; i--) {
      if (entries[i].self !== undefined && entries[i].self !== thisArg) continue;
      const inputs = entries[i].guard.check(guarded);
      if (!inputs) continue;
      this.repeatStateSteps(entries[i], inputs);
      return this.runEntry(entries[i], inputs, entries[i].run(...inputs) as unknown[], args);
    }
    return this.miss(thisArg, args, guarded, async);
  }

  /** The arguments as guarded and traced: the call's, and the module's state tensors as one more. */
  private guardedArgs(args: unknown[]): unknown[] {
    if (this.stateAttrs.length === 0) return args;
    const state: Record<string, unknown> = {};
    for (const a of this.stateAttrs) state[a.name] = heldAt(a);
    return [...args, state];
  }

  /**
   * Runs forward over traced arguments (guardedArgs' form): the state tensors sit on their
   * attributes while it runs; those it did not replace get `realState`'s back after.
   */
  private applyTraced(thisArg: unknown, traced: unknown[], realState: unknown): unknown {
    if (this.stateAttrs.length === 0) return this.fn.apply(thisArg, traced);
    const state = traced[traced.length - 1] as Record<string, unknown>;
    // where each traced state tensor was put: the module, or the holder it keeps there (read
    // now: forward may replace the holder itself)
    const places = this.stateAttrs.map((a) => {
      holdAt(a, state[a.name]);
      return { ...placeOf(a), traced: state[a.name], real: (realState as Record<string, unknown>)[a.name] };
    });
    try {
      return this.fn.apply(thisArg, traced.slice(0, -1));
    } finally {
      for (const p of places) if (p.holder && getIn(p.holder, p.key) === p.traced) setIn(p.holder, p.key, p.real);
    }
  }

  /** The call's own arguments among guarded ones (without the state tensors). */
  private callArgs(guarded: unknown[]): unknown[] {
    return this.stateAttrs.length === 0 ? guarded : guarded.slice(0, -1);
  }

  /** Parameter names for the guarded arguments (`module` for the state tensors). */
  private argNames(guarded: unknown[]): string[] {
    if (this.stateAttrs.length === 0) return argumentNames(this.namesFrom, guarded.length);
    return [...argumentNames(this.namesFrom, guarded.length - 1), 'module'];
  }

  runAsync(thisArg: unknown, args: unknown[]): Promise<unknown> {
    // what a run makes belongs to its Promise, not to a tidy() open when it started
    return untracked(() => this.startAsync(thisArg, args));
  }

  private startAsync(thisArg: unknown, args: unknown[]): Promise<unknown> {
    // A forward that stores tensors on the module: each run reads what the one before stored,
    // as eager calls would, so its async runs go one after another in call order.
    if (this.storingRuns) {
      const run = this.storingRuns.then(() => this.startAsyncNow(thisArg, args));
      this.storingRuns = run.then(noop, noop);
      return run;
    }
    const run = this.startAsyncNow(thisArg, args);
    if (this.storingRuns) this.storingRuns = run.then(noop, noop);  // its trace found stores
    return run;
  }

  private startAsyncNow(thisArg: unknown, args: unknown[]): Promise<unknown> {
    try {
      if (this.generation === runtime.generation && runtime.disableDepth === 0 && !this.eagerOnly && !activeSession()) {
        const guarded = this.guardedArgs(args);
        for (let i = this.entries.length - 1; i >= 0; i--) {
          const e = this.entries[i];
          if (e.self !== undefined && e.self !== thisArg) continue;
          const inputs = e.guard.check(guarded);
          if (!inputs) continue;
          this.repeatStateSteps(e, inputs);
          if (!e.run.runAsync) return Promise.resolve(this.runEntry(e, inputs, e.run(...inputs) as unknown[], args));
          return e.run.runAsync(...inputs).then((outs) => this.runEntry(e, inputs, outs as unknown[], args));
        }
      }
      // a miss traces here; the new graph's first run (and its native build) then leave the loop
      return Promise.resolve(this.call(thisArg, args, true));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** A cached run's share of what forward does to module attributes its graph does not read. */
  private repeatStateSteps(e: Entry, inputs: Tensor[]): void {
    for (const s of e.stateSteps) {
      const value = this.slotValue(e, s.slot, inputs, []);
      s.target[s.key] = s.kind === 'add' ? (s.target[s.key] as number) + (value as number) : value;
    }
  }

  private runEntry(e: Entry, inputs: Tensor[], outs: unknown[], args: readonly unknown[]): unknown {
    for (const cb of e.copyBacks) {
      const value = outs[cb.output] as Tensor;
      copyBack('input' in cb ? inputs[cb.input] : cb.constant, value);
      if (e.disposeAfterCopy) value.dispose();
    }
    const fresh = e.freshHolders.length > 0 ? freshCopies(e.freshHolders) : null;
    for (const store of e.attrStores) setIn(fresh?.get(store.target) ?? store.target, store.key, this.slotValue(e, store.slot, inputs, outs));
    if (e.argStores.length > 0) replayArgStores(e.argStores, args, (slot) => this.slotValue(e, slot, inputs, outs));
    const slots = e.slots;
    if (e.spec.kind === 'leaf') return this.slotValue(e, slots[0], inputs, outs);
    const leaves = new Array(slots.length);
    for (let i = 0; i < slots.length; i++) leaves[i] = this.slotValue(e, slots[i], inputs, outs);
    return unflatten(e.spec, leaves);
  }

  private slotValue(e: Entry, s: Slot, inputs: Tensor[], outs: unknown[]): unknown {
    switch (s.kind) {
      case 'graph':
        return outs[s.index];
      case 'input':
        return inputs[s.index];
      case 'const':
      case 'literal':
        return s.value;
      case 'view': {
        const base = this.slotValue(e, s.base, inputs, outs) as Tensor;
        const n = s.numbers.map((x) => this.slotValue(e, x, inputs, outs) as number);
        const rank = (n.length - 1) / 2;
        return makeView({ base, shape: n.slice(0, rank), strides: n.slice(rank, 2 * rank), offset: base.offset + n[2 * rank] });
      }
      default:
        return evalExpr(s.expr, e.symbolSources.map(([p, d]) => inputs[p].shape[d]));
    }
  }

  /** Why entry `e` did not serve a call (for logs and warnings). */
  private failureOf(e: Entry, thisArg: unknown, guarded: unknown[]): string {
    if (e.self !== undefined && e.self !== thisArg) return 'called on another object (this) than the one traced';
    return e.guard.failure(guarded) ?? '';
  }

  private miss(thisArg: unknown, args: unknown[], guarded: unknown[], async: boolean): unknown {
    if (this.entries.length >= config.cacheSizeLimit) {
      if (!this.warned) {
        this.warned = true;
        const last = this.entries[this.entries.length - 1];
        const failure = this.failureOf(last, thisArg, guarded);
        // numbers are guarded by value: one that changes every call is a new graph every call
        const hint = / === -?\d/.test(failure)
          ? ' (a number that changes every call, such as a position or a step, specialises each graph: pass it as a tensor, as examples/decoder.ts passes positions)'
          : '';
        process.emitWarning(
          `tensorjit: compiled function '${this.name}' hit config.cacheSizeLimit (${config.cacheSizeLimit}); ` +
            `calls that match none of its ${this.entries.length} cached graphs now run eagerly. Last failed guard: ${failure}${hint}`,
          { type: 'TensorjitWarning', code: 'TENSORJIT_CACHE_SIZE_LIMIT' },
        );
      }
      log('recompiles', () => `'${this.name}': cacheSizeLimit (${config.cacheSizeLimit}) reached, running eagerly`);
      return this.fn.apply(thisArg, args);
    }
    const flat = flatten(guarded);
    if (this.entries.length) {
      const last = this.entries[this.entries.length - 1];
      log('recompiles', () => `recompiling '${this.name}': guard failed: ${this.failureOf(last, thisArg, guarded)}`);
      this.noteChangedDims(flat);
    }
    return this.trace(thisArg, guarded, flat, async);
  }

  /** Automatic dynamic: dims that differ from an existing entry's become dynamic candidates. */
  private noteChangedDims(flat: Flat): void {
    if (this.opts.dynamic === false || !config.automaticDynamicShapes) return;
    const key = specKeyOf(flat);
    for (const e of this.entries) {
      if (e.specKey !== key) continue;
      flat.leaves.forEach((leaf, i) => {
        const before = e.leafShapes[i];
        if (!(leaf instanceof Tensor) || !before) return;
        leaf.shape.forEach((d, k) => {
          if (before[k] !== d) this.autoDynamic.add(`${i}:${k}`);
        });
      });
    }
  }

  private leafNames(args: unknown[], flat: Flat): string[] {
    const names = this.argNames(args);
    return flat.paths.map((path) => identifierFrom([names[path[0] as number], ...path.slice(1)].join('_')));
  }

  private newSession(kind: 'compile' | 'probe' | 'export', fullgraph: boolean, dynamo = true): Session {
    return new Session({ kind, dynamo, fullgraph, host: this });
  }

  private trace(thisArg: unknown, args: unknown[], flat: Flat, async: boolean): unknown {
    const names = this.leafNames(args, flat);
    this.owners = null;  // submodules and parameters may have been replaced since the last trace
    this.argObjects = this.argObjectsOf(thisArg, args);
    const roots = this.namedStateRoots();
    const before = roots.length ? snapshotModuleState(roots) : null;
    const session = this.newSession('compile', Boolean(this.opts.fullgraph));
    const attributes = this.stateRoots().length ? this.attributesOf() : null;
    const holdersBefore = attributes ? new Set(this.stateRoots().flatMap((r) => attributeHolders(r).map((h) => h.holder))) : null;
    let record: TraceRecord;
    session.begin();
    try {
      const leaves = flat.leaves.map((leaf, i) => (leaf instanceof Tensor && !leaf.isFake ? session.input(leaf, i, names[i]) : leaf));
      const traced = unflatten(flat.spec, leaves) as unknown[];
      const containers = argContainers(traced, this.callArgs(traced).length);
      const result = this.applyTraced(thisArg, traced, args[args.length - 1]);
      if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function')
        throw new TypeError(`tensorjit.compile: '${this.name}' returned a Promise; compiled functions must be synchronous (await outside them)`);
      const stores = this.storesOf(session);
      const argStores = argStoresOf(containers, this.name);
      if (stores.length > 0 || argStores.length > 0) this.storingRuns ??= Promise.resolve();
      if (session.breaks.length > 0) {
        const stored = [...stores.map((s) => s.value), ...argStores.flatMap((s) => (s.value instanceof Tensor ? [s.value] : []))];
        const callArgs = this.callArgs(args);
        return session.finishWithBreaks(result, async, stored, (realOf) => {
          for (const s of stores) setIn(s.target, s.key, realOf(s.value));
          const values = argStores.map((s) => ({ path: s.path, key: s.key, slot: s.deleted ? null : s.value }));
          replayArgStores(values, callArgs, (v) => (v instanceof Tensor ? realOf(v) : v));
        });
      }
      record = session.finishGraph(result, stores, argStores);
      if (holdersBefore) record.freshHolders = this.freshHolders(holdersBefore, record);
    } catch (e) {
      if (attributes) restoreAttributes(attributes);  // no fake tensor is left on the module
      throw e;
    } finally {
      session.end();
    }
    const inputs = record.inputs as Tensor[];
    const retrace = (changed: { module: object; keys: string[] }[]) => this.retraceWithOtherValues(thisArg, flat, names, attributes!, changed);
    let settled = before ? this.settleStateChanges(this.sideEffects, before, record, flat, retrace) : true;
    if (settled && before) {
      const steps = this.sideEffects.stepsOf(before);
      if (steps) record.stateSteps = steps;
      else settled = this.runEagerly(`forward changed ${this.sideEffects.describe()} in a way no rule explains`);
    }
    const foundState = this.foundStateAttrs(record);
    const entry = this.install(record, thisArg, args, flat, names, settled && !foundState);
    record.inputs = []; // the cache keeps the graph, not this call's tensors
    const callArgs = this.callArgs(args);
    if (async && entry.run.runAsync) return entry.run.runAsync(...inputs).then((outs) => this.runEntry(entry, inputs, outs as unknown[], callArgs));
    return this.runEntry(entry, inputs, entry.run(...inputs) as unknown[], callArgs);
  }

  // ---- entries

  /** Whether a trace that ran forward over the module state `before` may be cached (see side_effects.ts). */
  private settleStateChanges(effects: ModuleSideEffects, before: ModuleStateSnapshot, record: TraceRecord, flat: Flat, retrace: Parameters<ModuleSideEffects['settle']>[3]): boolean {
    const args = flat.leaves.map((l) => (l instanceof Tensor ? `${l.dtype}[${l.shape}]` : `${typeof l}:${String(l)}`)).join('|');
    const settled = effects.settle(before, args, exactKey(record), retrace);
    return 'eager' in settled ? this.runEagerly(settled.eager) : settled.cache;
  }

  /**
   * Traces the call again over fake inputs of the same shapes, from the state the traced
   * call started from (`attributesBefore`) but with the attributes it changed set to other
   * values: whether the graph depends on them, and what the call does to them from
   * elsewhere (side_effects.ts). Like a probe, it leaves the module as it found it.
   */
  private retraceWithOtherValues(thisArg: unknown, flat: Flat, names: string[], attributesBefore: Map<object, Map<unknown, unknown>>, changed: { module: object; keys: string[] }[]): UnsettledTrace | null {
    const attributesAfter = this.attributesOf();
    const session = this.newSession('probe', false);
    restoreAttributes(attributesBefore);
    for (const { module, keys } of changed) {
      const own = module as Record<string, unknown>;
      for (const k of keys) if (Object.hasOwn(own, k)) own[k] = anotherValue(own[k]);
    }
    const roots = this.namedStateRoots();
    const before = snapshotModuleState(roots);
    session.begin();
    try {
      const traced = unflatten(flat.spec, this.fakeLeaves(session, flat, names)) as unknown[];
      const containers = argContainers(traced, this.callArgs(traced).length);
      const result = this.applyTraced(thisArg, traced, (unflatten(flat.spec, flat.leaves) as unknown[]).at(-1));
      const rec = session.finishGraph(result, this.storesOf(session), argStoresOf(containers, this.name));
      return { before, after: snapshotModuleState(roots), graph: exactKey(rec) };
    } catch (e) {
      log('perf', () => `'${this.name}': a trace with its changed attributes set otherwise failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      return null;
    } finally {
      restoreAttributes(attributesAfter);
      session.end();
    }
  }

  /** The flat arguments with each real tensor a fake input of the session (`grow`: leaf -> dims set to `size`). */
  private fakeLeaves(session: Session, flat: Flat, names: string[], grow = new Map<number, number[]>(), size = 0): unknown[] {
    const same = new Map<Tensor, Tensor>();
    return flat.leaves.map((leaf, i) => {
      if (!(leaf instanceof Tensor) || leaf.isFake) return leaf;
      const known = same.get(leaf);
      if (known) return known;
      const dims = grow.get(i);
      const shape = leaf.shape.map((s, k) => (dims?.includes(k) ? size : s));
      // the probe's input keeps the layout: contiguous, the same dim order, or (a slice
      // with gaps) the same strides
      let grown = Tensor.fake(shape, leaf.dtype);
      if (!leaf.isContiguous()) {
        const order = denseDimOrder(leaf.shape, leaf.strides);
        grown = new Tensor({ storage: null, shape, dtype: leaf.dtype, strides: order ? stridesForDimOrder(shape, order) : leaf.strides.slice() });
      }
      const fake = session.input(null, i, names[i], dims ? grown : leaf);
      same.set(leaf, fake);
      return fake;
    });
  }

  /**
   * Whether the trace found tensor attributes forward replaces and its graph read as
   * constants: from now on they are traced as inputs (stateAttrs), and the graphs cached
   * so far, whose guards do not see them, are dropped.
   */
  private foundStateAttrs(record: TraceRecord): boolean {
    // (an argument's tensors are not: the next call may pass another object)
    const read = this.ownersOf(record.gm).filter((o) => !o.ofArgument);
    // where a store went: the module attribute, or an entry of the array or object there now
    const storedAt = (o: TensorOwner, a: { target: object; key: unknown }) => {
      const place = placeOf(o);
      return place.holder === a.target && Object.is(place.key, a.key);
    };
    const samePath = (p: unknown[] = [], q: unknown[] = []) => p.length === q.length && p.every((k, i) => Object.is(k, q[i]));
    const same = (o: TensorOwner, s: TensorOwner) => o.owner === s.owner && o.key === s.key && samePath(o.path, s.path);
    const found = read.filter((o) => record.attrStores.some((a) => storedAt(o, a)) && !this.stateAttrs.some((s) => same(o, s)));
    if (found.length === 0) return false;
    for (const o of found) this.stateAttrs.push({ owner: o.owner, key: o.key, path: o.path, name: o.name.replace(/^module\./, '') });
    this.entries = [];
    log('recompiles', () => `'${this.name}': forward replaces ${found.map((o) => o.name).join(', ')}, which its graph reads: traced as inputs from now on`);
    return true;
  }

  /** Where the traced code stored tensors it traced: on the module tree, or on class instances it was passed. */
  private storesOf(session: Session): AttrStore[] {
    return this.stateRoots().flatMap((root) => tracedStores(root, (t) => tracedValue(t)?.session === session));
  }

  /**
   * The arrays, objects and Maps the traced forward put on attributes anew (not held there
   * before it ran) and stored traced tensors in: eager makes a new one each call, and a
   * caller may keep the last (a beam's caches), so cached runs must not write into it.
   */
  private freshHolders(before: Set<object>, record: TraceRecord): TraceRecord['freshHolders'] {
    const held = this.stateRoots().flatMap((root) => attributeHolders(root));
    // new ones stored into, and the new ones that hold those (`this.past = [[k, v], ...]`)
    const needed = new Set<object>(record.attrStores.map((a) => a.target).filter((t) => !before.has(t)));
    for (const h of [...held].reverse())
      if (!before.has(h.holder) && holderEntries(h.holder).some(([, v]) => needed.has(v as object))) needed.add(h.holder);
    const seen = new Set<object>();
    return held
      .filter((h) => needed.has(h.holder) && !seen.has(h.holder) && seen.add(h.holder))
      .map((h) => ({ holder: h.holder, owner: h.owner, key: h.key, entries: holderEntries(h.holder) }));
  }

  /**
   * The class instances a call hands the function, named: among its arguments, and the
   * object it is a method of (`this.scale`) when fn has its own `this` (the compiled module
   * is a root already).
   */
  private argObjectsOf(thisArg: unknown, guarded: unknown[]): [string, object][] {
    const out = classInstancesIn(this.callArgs(guarded), this.argNames(guarded));
    if (this.ownThis && isClassInstance(thisArg) && thisArg !== this.module) out.unshift(['this', thisArg]);
    return out;
  }

  /** What traced code may change: the module tree and the class instances of the call, named ('module', an argument's name). */
  private namedStateRoots(): [string, object][] {
    return [...(this.module ? [['module', this.module] as [string, object]] : []), ...this.argObjects];
  }

  private stateRoots(): object[] {
    return this.namedStateRoots().map(([, o]) => o);
  }

  private attributesOf(): Map<object, Map<unknown, unknown>> {
    const all = new Map<object, Map<unknown, unknown>>();
    for (const root of this.stateRoots()) for (const [o, entries] of ownAttributes(root)) if (!all.has(o)) all.set(o, entries);
    return all;
  }

  private runEagerly(why: string): false {
    this.eagerOnly = true;
    process.emitWarning(
      `tensorjit: compiled '${this.name}' runs eagerly from now on: ${why}, and a cached graph cannot replay that ` +
        '(keep such state in a tensor updated in place, or change it outside the compiled code)',
      { type: 'TensorjitWarning', code: 'TENSORJIT_MODULE_STATE_CHANGED' },
    );
    return false;
  }

  private install(record: TraceRecord, thisArg: unknown, args: unknown[], flat: Flat, names: string[], cache = true): Entry {
    const keyOpts = keyOptionsFor([record.createdConstants]);
    const erasedKey = graphKey(record.gm, { ...keyOpts, erase: true });
    let gm = record.gm;
    let plan: DynamicPlan | null = null;
    const candidates = this.dynamicCandidates(flat);
    if (candidates.size > 0) {
      const res = this.generalise(record, erasedKey, candidates, thisArg, flat, names);
      if (res) ({ gm, plan } = res);
    }
    // an empty run compiles nothing (results are inputs, constants and values)
    const run: CompiledGraph = gm.graph.nodes.some((n) => n.op === 'call_function')
      ? this.compileGraph(gm, record.inputs as Tensor[])
      : (...xs: Tensor[]) => gm.forward(...xs);
    const modules = this.guardedModules(record);
    const owners = this.ownersOf(gm);
    const guard = buildGuard({
      args,
      paramNames: this.argNames(args),
      inputLeaves: record.inputLeaves,
      symbols: plan?.symbols.map((members) => members.map(([p, d]) => [record.inputLeaves[p], d] as [number, number])),
      modules,
      owners,
    });
    const symbolic = literalSymbols(plan);
    const slots = record.slots.map((s) => withSymbols(s, symbolic));
    const argStores = record.argStores.map((a) => ({ ...a, slot: a.slot && withSymbols(a.slot, symbolic) }));
    const stateSteps = record.stateSteps.map((s) => ({ ...s, slot: withSymbols(s.slot, symbolic) }));
    const entry: Entry = {
      guard,
      self: this.ownThis && thisArg !== null && typeof thisArg === 'object' && thisArg !== globalThis ? thisArg : undefined,
      run,
      record,
      erasedKey,
      plan,
      slots,
      spec: record.spec,
      copyBacks: record.copyBacks,
      attrStores: record.attrStores,
      freshHolders: record.freshHolders,
      argStores,
      stateSteps,
      disposeAfterCopy: record.copyBacks.every(
        (cb) => ![...slots, ...record.attrStores.map((a) => a.slot), ...argStores.map((a) => a.slot)].some((s) => graphOutputOf(s as Slot | null) === cb.output),
      ),
      symbolSources: plan ? plan.symbols.map((m) => m[0]) : [],
      specKey: specKeyOf(flat),
      leafShapes: flat.leaves.map((l) => (l instanceof Tensor ? l.shape.slice() : null)),
      extra: integerLiteralsOf(resultAndStoreSlots(record)),
    };
    this.lastGuard = guard;
    if (!cache) return entry;
    this.entries.push(entry);
    log('guards', () => `guards of '${this.name}' entry ${this.entries.length - 1}:\n  ${guard.descriptions.join('\n  ')}`);
    return entry;
  }

  /** [leaf:dim] that may become dynamic for this call's arguments. */
  private dynamicCandidates(flat: Flat): Set<string> {
    const out = new Set<string>();
    const dyn = this.opts.dynamic;
    flat.leaves.forEach((leaf, i) => {
      // any layout without shared elements: contiguous, permuted (its strides follow its
      // sizes), or with gaps (a slice of a larger buffer, e.g. a KV cache: its strides stay as
      // its sizes change, and its guard checks them exactly); an expanded view stays static
      if (!(leaf instanceof Tensor) || !isNonOverlapping(leaf.shape, leaf.strides)) return;
      const marked = dynamicMarks.get(leaf), pinned = staticMarks.get(leaf);
      leaf.shape.forEach((d, k) => {
        if (d < 2 || pinned?.has(k)) return;
        const auto = dyn === undefined && config.automaticDynamicShapes && this.autoDynamic.has(`${i}:${k}`);
        if (marked?.has(k) || dyn === true || auto) out.add(`${i}:${k}`);
      });
    });
    return out;
  }

  /**
   * A shape-polymorphic version of the trace: paired with an earlier trace of the same
   * code at other sizes, or with probe traces over fake inputs whose dynamic dims grow by one.
   */
  private generalise(record: TraceRecord, erasedKey: string, candidates: Set<string>, thisArg: unknown, flat: Flat, names: string[]): { gm: GraphModule; plan: DynamicPlan } | null {
    if (this.failedFits.has(erasedKey)) return null;
    const leafOf = record.inputLeaves;
    const allowed = (p: number, d: number) => candidates.has(`${leafOf[p]}:${d}`);
    const shapes = (gm: GraphModule) => gm.graph.placeholders().map((n) => n.meta.shape);
    const cur = shapes(record.gm);
    const points: Point[] = [{ gm: record.gm, extra: integerLiteralsOf(resultAndStoreSlots(record)) }];
    const sets = [record.createdConstants];
    const partner = [...this.entries].reverse().find((e) => {
      if (e.plan || e.erasedKey !== erasedKey) return false;
      const old = shapes(e.record.gm);
      let differs = false;
      for (let p = 0; p < cur.length; p++)
        for (let d = 0; d < cur[p].length; d++) {
          if (old[p][d] === cur[p][d]) continue;
          if (!allowed(p, d) || old[p][d] < 2) return false;
          differs = true;
        }
      return differs;
    });
    // Which dims vary, grouped by their values (dims always equal are one symbol, guarded equal).
    let groups: [number, number][][];
    if (partner) {
      points.push({ gm: partner.record.gm, extra: partner.extra });
      sets.push(partner.record.createdConstants);
      const old = shapes(partner.record.gm);
      const byValues = new Map<string, [number, number][]>();
      cur.forEach((dims, p) => dims.forEach((v, d) => {
        if (old[p][d] === v) return;
        const k = `${v},${old[p][d]}`;
        if (!byValues.has(k)) byValues.set(k, []);
        byValues.get(k)!.push([p, d]);
      }));
      groups = [...byValues.values()];
    } else {
      const byValue = new Map<number, [number, number][]>();
      cur.forEach((dims, p) => dims.forEach((v, d) => {
        if (!allowed(p, d)) return;
        if (!byValue.has(v)) byValue.set(v, []);
        byValue.get(v)!.push([p, d]);
      }));
      groups = [...byValue.values()];
    }
    const fail = (reason: string) => {
      this.failedFits.add(erasedKey);
      log('recompiles', () => `'${this.name}': keeping the graph static: ${reason}`);
      return null;
    };
    // Probe traces move one group at a time, so every symbol is seen at three sizes: two
    // points always fit a*s+b; the third checks the form (and tells s*t from a*s+b).
    for (const group of groups) {
      const [p0, d0] = group[0];
      const taken = new Set(points.map((pt) => shapes(pt.gm)[p0][d0]));
      const sizes: number[] = [];
      for (let v = cur[p0][d0] + 1; sizes.length < (partner ? 1 : 2); v++) if (!taken.has(v)) sizes.push(v);
      for (const size of sizes) {
        const probe = this.probe(thisArg, flat, names, record, group, size);
        if (probe && 'refuse' in probe) return fail(probe.refuse);
        if (probe) {
          points.push(probe.point);
          sets.push(probe.constants);
        }
      }
    }
    if (points.length < 2) return fail('no trace at other sizes could be made');
    const res = fitDynamic(points, allowed, keyOptionsFor(sets));
    if ('reason' in res) return fail(res.reason);
    log('recompiles', () => `'${this.name}': dynamic sizes ${res.plan.symbols.map((m, s) => `s${s} = ${m.map(([p, d]) => `${names[leafOf[p]]}.shape[${d}]`).join(' = ')}`).join(', ')}`);
    return { gm: rewriteDynamic(points, res.plan), plan: res.plan };
  }

  /** Re-traces the function over fake inputs with `group`'s dims set to `size` (no data, no kernels). */
  private probe(thisArg: unknown, flat: Flat, names: string[], record: TraceRecord, group: [number, number][], size: number): { point: Point; constants: WeakSet<Tensor> } | { refuse: string } | null {
    const grow = new Map<number, number[]>();
    for (const [p, d] of group) {
      const leaf = record.inputLeaves[p];
      if (!grow.has(leaf)) grow.set(leaf, []);
      grow.get(leaf)!.push(d);
    }
    const session = this.newSession('probe', false);
    const attributes = this.stateRoots().length ? this.attributesOf() : null;
    session.begin();
    try {
      const traced = unflatten(flat.spec, this.fakeLeaves(session, flat, names, grow, size)) as unknown[];
      const containers = argContainers(traced, this.callArgs(traced).length);
      const effects = this.sideEffects;
      const roots = this.namedStateRoots();
      const before = roots.length ? snapshotModuleState(roots) : null;
      const result = this.applyTraced(thisArg, traced, (unflatten(flat.spec, flat.leaves) as unknown[]).at(-1));
      const rec = session.finishGraph(result, this.storesOf(session), argStoresOf(containers, this.name));
      if (before) {
        // forward changing other state at this size (a length added to a Set of lengths seen)
        // would not be repeated by the generalised graph's runs: it stays static
        const other = changedModuleState(before, roots).filter((c) => c.keys.some((k) => !effects.changing(c.module)?.has(k)));
        if (other.length) return { refuse: `forward changes ${other.flatMap((c) => c.names).join(', ')} at other sizes` };
        // the amounts a counter moves by at this size (a position advanced by a length is symbolic)
        const steps = effects.stepsOf(before);
        if (!steps) throw new Error(`forward changed ${effects.describe()} in a way no rule explains`);
        rec.stateSteps = steps;
      }
      return { point: { gm: rec.gm, extra: integerLiteralsOf(resultAndStoreSlots(rec)) }, constants: rec.createdConstants };
    } catch (e) {
      log('perf', () => `'${this.name}': probe trace at other sizes failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      return null;
    } finally {
      if (attributes) restoreAttributes(attributes);  // a probe is not a call: what it changed is undone
      session.end();
    }
  }

  private guardedModules(record: TraceRecord): { module: object; name: string; skip?: Set<string> }[] {
    const out: { module: object; name: string; skip?: Set<string> }[] = [];
    const seen = new Set<object>();
    const roots = [...(this.module ? [this.module] : []), ...record.modules];
    for (const root of roots)
      for (const [name, m] of stateObjects(root)) {
        // (modules, with their training flags, and the other objects of the user's classes they hold)
        if (seen.has(m) || (isModuleLike(m) && typeof (m as { training?: unknown }).training !== 'boolean')) continue;
        seen.add(m);
        out.push({ module: m, name: name ? `module.${name}` : 'module', skip: this.sideEffects.changing(m) });
      }
    // class instances passed as arguments: what the function read from them (a scale, a mode,
    // a module's training flag) is baked into the graph as a module's attributes are
    for (const [argName, o] of this.argObjects)
      for (const [name, m] of stateObjects(o)) {
        if (seen.has(m)) continue;
        seen.add(m);
        out.push({ module: m, name: name ? `${argName}.${name}` : argName, skip: this.sideEffects.changing(m) });
      }
    return out;
  }

  private ownerMap(): Map<Tensor, TensorOwner> {
    if (!this.owners) {
      const owners = this.module ? tensorOwners(stateObjects(this.module)) : new Map<Tensor, TensorOwner>();
      // an argument's submodules too, when it is a module (tj.compile((m, x) => m.forward(x)))
      const held = this.argObjects.flatMap(([name, o]) => stateObjects(o).map(([sub, m]): [string, object] => [sub ? `${name}.${sub}` : name, m]));
      for (const [t, o] of tensorOwners(held)) if (!owners.has(t)) owners.set(t, { ...o, ofArgument: true });
      this.owners = owners;
    }
    return this.owners;
  }

  private ownersOf(gm: GraphModule) {
    const owners: (TensorOwner & { value: Tensor })[] = [];
    const map = this.ownerMap();
    for (const n of gm.graph.nodes) {
      if (n.op !== 'get_attr') continue;
      const t = gm.attrs[String(n.target)];
      const o = map.get(t);
      if (o) owners.push({ ...o, value: t, name: o.ofArgument ? o.name : `module.${o.name}` });
    }
    return owners;
  }

  // ---- SessionHost

  constantName(t: Tensor): string | undefined {
    return this.ownerMap().get(t)?.name;
  }

  onBreak(info: BreakInfo): void {
    this.collector?.breaks.push(info);
  }

  compileGraph(gm: GraphModule, inputs: Tensor[]): CompiledGraph {
    const backend = resolveBackend(this.opts.backend ?? 'native');
    const index = this.collector ? this.collector.graphs.length : undefined;
    log('graph_code', () => `graph of '${this.name}'${index !== undefined ? ` #${index}` : ''}:\n${gm.code}\n${gm.graph.toString()}`);
    const t0 = performance.now();
    const run = backend(gm, inputs, { mode: this.opts.mode });
    const ms = performance.now() - t0;
    if (typeof run !== 'function') throw new TypeError(`tensorjit.compile: the backend returned ${typeof run}, expected a function (...inputs) => outputs`);
    log('perf', () => `'${this.name}': backend compiled a graph of ${gm.graph.nodes.length} nodes in ${ms.toFixed(2)} ms`);
    if (this.collector) {
      this.collector.graphs.push(gm);
      this.collector.compileTimes.push(ms);
    }
    return run;
  }

  compileSegment(session: Session, index: number, gm: GraphModule, inputs: Tensor[]): RunGraph {
    const keyOpts = keyOptionsFor([session.createdConstants]);
    const exact = graphKey(gm, { ...keyOpts, erase: false });
    let slot = this.positions.get(index);
    if (!slot) this.positions.set(index, (slot = { exact: new Map(), groups: new Map(), compiled: 0 }));
    const hit = slot.exact.get(exact);
    if (hit) return hit;
    if (slot.exact.size > 1024) slot.exact.clear();
    const erased = graphKey(gm, { ...keyOpts, erase: true });
    let group = slot.groups.get(erased);
    if (!group) slot.groups.set(erased, (group = { statics: [], dynamic: null }));
    if (group.dynamic && matchesPlan(group.dynamic.plan, gm)) {
      slot.exact.set(exact, group.dynamic.run);
      return group.dynamic.run;
    }
    if (slot.compiled >= config.cacheSizeLimit) {
      if (!this.warned) {
        this.warned = true;
        process.emitWarning(
          `tensorjit: compiled function '${this.name}' hit config.cacheSizeLimit (${config.cacheSizeLimit}) for the graph at break position ${index}; ` +
            'new variants of it run eagerly',
          { type: 'TensorjitWarning', code: 'TENSORJIT_CACHE_SIZE_LIMIT' },
        );
      }
      return (...xs: Tensor[]) => gm.forward(...xs);
    }
    if (slot.compiled > 0)
      log('recompiles', () => `'${this.name}': the graph at break position ${index} changed (${group!.statics.length || group!.dynamic ? 'other sizes or values' : 'other code path'}); compiling it`);
    let run: RunGraph | null = null;
    if (!group.dynamic && this.opts.dynamic !== false && group.statics.length > 0) {
      const allowed = (p: number, d: number) => {
        const t = inputs[p];
        if (staticMarks.get(t)?.has(d)) return false;
        return this.opts.dynamic === true || config.automaticDynamicShapes || Boolean(dynamicMarks.get(t)?.has(d));
      };
      const res = fitDynamic([{ gm }, { gm: group.statics[group.statics.length - 1] }], allowed, keyOpts);
      if ('plan' in res) {
        const dyn = rewriteDynamic([{ gm }, { gm: group.statics[group.statics.length - 1] }], res.plan);
        run = this.compileGraph(dyn, inputs);
        group.dynamic = { plan: res.plan, run };
      }
    }
    if (!run) {
      run = this.compileGraph(gm, inputs);
      group.statics.push(gm);
    }
    slot.compiled++;
    slot.exact.set(exact, run);
    return run;
  }

  // ---- export

  /** One break-free trace for export: graph, input/output mapping, optional dynamic dims. */
  capture(thisArg: unknown, args: unknown[], opts: { strict: boolean; dynamic?: Set<string> }): CapturedProgram {
    const flat = flatten(args);
    const names = this.leafNames(args, flat);
    const session = this.newSession('export', true, opts.strict);
    this.argObjects = this.argObjectsOf(thisArg, args);
    const attributes = this.stateRoots().length ? this.attributesOf() : null;
    let record: TraceRecord;
    session.begin();
    try {
      const leaves = flat.leaves.map((leaf, i) => (leaf instanceof Tensor && !leaf.isFake ? session.input(leaf, i, names[i]) : leaf));
      const traced = unflatten(flat.spec, leaves) as unknown[];
      argContainers(traced);  // the traced call stores into copies of Map arguments, not the caller's
      record = session.finishGraph(this.fn.apply(thisArg, traced));
    } finally {
      // an exported program returns its results; what forward stored on the module stays as it was
      if (attributes) restoreAttributes(attributes);
      session.end();
    }
    let gm = record.gm;
    let plan: DynamicPlan | null = null;
    if (opts.dynamic && opts.dynamic.size) {
      const erased = graphKey(gm, { ...keyOptionsFor([record.createdConstants]), erase: true });
      const res = this.generalise(record, erased, opts.dynamic, thisArg, flat, names);
      if (!res) throw new Error(`exportProgram: the requested dynamic dims could not be generalised (see TENSORJIT_LOGS=recompiles)`);
      ({ gm, plan } = res);
    }
    const symbolic = literalSymbols(plan);
    // (an export's results are never views: see Session.resultSlots)
    const slots = record.slots.map((s): CapturedSlot => {
      if (s.kind === 'view') throw new Error('tensorjit: an exported result was traced as a view');
      return symbolic(s) as CapturedSlot;
    });
    return {
      gm,
      inputLeaves: record.inputLeaves,
      inputNames: record.inputLeaves.map((l) => names[l]),
      argSpec: flat.spec,
      outputSpec: record.spec,
      slots,
      copyBacks: record.copyBacks,
      symbols: plan ? plan.symbols.map((m) => m.map(([p, d]) => [record.inputLeaves[p], d] as [number, number])) : [],
    };
  }
}

/** What export gets from a trace. */
export type CapturedSlot = Exclude<OutputSlot, { kind: 'view' }> | { kind: 'sym'; expr: SymExpr };

export interface CapturedProgram {
  /** The graph (shape-polymorphic when dynamic dims were asked for): inputs are tensor leaves of the arguments. */
  gm: GraphModule;
  /** Placeholder i is argument leaf inputLeaves[i] (flatten order of the arguments). */
  inputLeaves: number[];
  inputNames: string[];
  argSpec: TreeSpec;
  /** The result: the pytree `outputSpec` whose leaves are `slots` (graph outputs, inputs, constants, literals, size expressions). */
  outputSpec: TreeSpec;
  slots: CapturedSlot[];
  /** In-place updates of inputs/constants: copy graph output `output` into them after a run. */
  copyBacks: CopyBack[];
  /** Dynamic dims: per symbol, its [argument leaf, dim] members. */
  symbols: [number, number][][];
}

// ---- the public compile

/** compiled function -> its CompiledFunction (explain, introspection). */
export const compiledFunctions = new WeakMap<Function, CompiledFunction>();

export interface CompiledFn<F extends (...args: any[]) => any> {
  (...args: Parameters<F>): ReturnType<F>;
  /** Runs like a call; the native backend runs off the event loop. */
  runAsync(...args: Parameters<F>): Promise<ReturnType<F>>;
}

const COMPILE_MODES = ['default', 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs'];

function checkOptions(opts: unknown): CompileOptions {
  if (opts === undefined || opts === null) return {};
  if (typeof opts !== 'object') throw new TypeError(`tensorjit.compile: options must be an object, got ${typeof opts}`);
  const o = opts as CompileOptions;
  for (const k of Object.keys(o))
    if (!['backend', 'fullgraph', 'dynamic', 'mode'].includes(k)) throw new TypeError(`tensorjit.compile: unknown option '${k}' (backend, fullgraph, dynamic, mode)`);
  if (o.dynamic !== undefined && o.dynamic !== null && typeof o.dynamic !== 'boolean') throw new TypeError(`tensorjit.compile: option 'dynamic' must be a boolean`);
  resolveBackend(o.backend ?? 'native');
  if (o.mode !== undefined && o.mode !== null) {
    if (typeof o.mode !== 'string') throw new TypeError(`tensorjit.compile: option 'mode' must be a string`);
    const builtIn = o.backend === undefined || o.backend === 'native' || o.backend === 'eager';
    if (builtIn && !COMPILE_MODES.includes(o.mode))
      throw new TypeError(`tensorjit.compile: unknown mode '${o.mode}' (one of ${COMPILE_MODES.map((m) => `'${m}'`).join(', ')})`);
  }
  return { ...o, dynamic: o.dynamic ?? undefined };
}

function compileFunction<F extends (...args: any[]) => any>(fn: F, opts: CompileOptions): CompiledFn<F> {
  const cf = new CompiledFunction(fn, opts, fn.name || 'anonymous');
  const compiled = function (this: unknown, ...args: unknown[]) {
    return cf.call(this, args);
  } as unknown as CompiledFn<F>;
  Object.defineProperty(compiled, 'name', { value: fn.name });
  Object.defineProperty(compiled, 'runAsync', {
    value: (...args: unknown[]) => cf.runAsync(undefined, args),
    enumerable: false,
  });
  compiledFunctions.set(compiled, cf);
  return compiled;
}

/** The compiled forward of a module (its forward at compile time; parameters stay shared). */
export function compileModuleForward(module: ModuleLike, opts?: unknown): { forward: (...args: any[]) => any; runAsync: (...args: any[]) => Promise<any> } {
  const options = checkOptions(opts);
  const forward = module.forward;
  const cf = new CompiledFunction(
    (...args: unknown[]) => forward.apply(module, args),
    options,
    `${module.constructor?.name ?? 'Module'}.forward`,
    module,
    forward,
  );
  const compiled = (...args: unknown[]) => cf.call(module, args);
  compiledFunctions.set(compiled, cf);
  return { forward: compiled, runAsync: (...args: unknown[]) => cf.runAsync(module, args) };
}

/**
 * `tj.compile(fn, opts)` returns a function with fn's signature (and `runAsync`);
 * `tj.compile(module, opts)` a module-like object whose forward is compiled (parameters
 * shared with the original); `tj.compile(ModuleClass, opts)` a subclass whose instances
 * compile their forward.
 * @example const f = tj.compile((x: tj.Tensor) => tj.relu(tj.add(x, 1)), { backend: 'eager' });
 */
export function compile<F extends (...args: any[]) => any>(fn: F, opts?: CompileOptions): CompiledFn<F>;
export function compile<M extends ModuleLike>(module: M, opts?: CompileOptions): M & { runAsync: (...args: Parameters<M['forward']>) => Promise<ReturnType<M['forward']>> };
export function compile<C extends new (...args: any[]) => ModuleLike>(moduleClass: C, opts?: CompileOptions): C;
export function compile(target: unknown, opts?: CompileOptions): unknown {
  const options = checkOptions(opts);
  if (isModuleClass(target)) {
    const Base = target as new (...args: any[]) => ModuleLike;
    const Compiled = class extends Base {
      constructor(...args: any[]) {
        super(...args);
        const c = compileModuleForward(this, options);
        Object.defineProperty(this, 'forward', { value: c.forward, writable: true, configurable: true, enumerable: false });
        Object.defineProperty(this, 'runAsync', { value: c.runAsync, writable: true, configurable: true, enumerable: false });
      }
    };
    Object.defineProperty(Compiled, 'name', { value: Base.name });
    return Compiled;
  }
  if (typeof target === 'function') return compileFunction(target as (...args: any[]) => any, options);
  if (isModuleLike(target)) {
    const c = compileModuleForward(target, options);
    return new Proxy(target, {
      get(t, prop) {
        if (prop === 'forward') return c.forward;
        if (prop === 'runAsync') return c.runAsync;
        return Reflect.get(t, prop, t);
      },
    });
  }
  throw new TypeError(`tensorjit.compile: expected a function or a module (an object with forward), got ${target === null ? 'null' : typeof target}`);
}

/** Whether an internal builtin node (used by explain's op lists). */
export const isInternalTarget = (t: unknown) => Boolean(builtinInfo(t)?.internal);
