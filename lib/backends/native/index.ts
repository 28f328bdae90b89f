/**
 * The 'native' backend: lowers a captured graph to the native executor, one
 * executable per input signature (dtype and shape of every input), so graphs traced
 * with dynamic dims get a plan per concrete shape; a new shape may run eagerly instead
 * while that is cheaper (tiering.ts), its static-shape parts still native
 * (static_segments.ts). Graphs that cannot be lowered (a TS-only op) run
 * through the graph's own eager interpreter, logged under `perf`.
 */
import { log } from '../../dynamo/logging';
import { GraphModule } from '../../fx';
import { Tensor } from '../../tensor';
import type { BackendFn } from '../registry';
import { CompiledProgram } from './executable';
import { LoweringError, graphRunner, lowerGraph } from './lower';
import { StaticSegments, staticSegments } from './static_segments';
import { ShapeTiering } from './tiering';

/**
 * Programs (native executables) kept per compiled graph, one per input signature: at most
 * this many, and no more than PROGRAM_BYTES_PER_GRAPH together. A server meeting requests
 * of every length up to 256 keeps them all (a 6-layer encoder's program holds ~150 KiB).
 */
export const MAX_PROGRAMS_PER_GRAPH = 256;
export const PROGRAM_BYTES_PER_GRAPH = 64 << 20;

export interface NativeCompiled {
  (...inputs: unknown[]): unknown;
  runAsync(...inputs: unknown[]): Promise<unknown>;
  /** The program for the most recent signature (for logs and tests). */
  lastProgram(): CompiledProgram | null;
}

function signature(inputs: readonly unknown[]): string {
  return inputs
    .map((x) => (x instanceof Tensor ? `${x.dtype}[${x.shape.join(',')}]` : typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean' || x === null ? JSON.stringify(x) : '?'))
    .join('|');
}

export interface NativeOptions {
  /** Run new shapes of a dynamic graph eagerly while that is cheaper than building them (tiering.ts). */
  tiering?: boolean;
}

/**
 * Compiles `graph` (a callable GraphModule, or any function of tensors built from
 * registered ops) for the native executor. A signature's executable is built by its
 * first call: on the calling thread, or off the event loop when that call is runAsync.
 */
export function compileNative(
  graph: (...inputs: unknown[]) => unknown,
  log?: (topic: string, msg: string | (() => string)) => void,
  options: NativeOptions = {},
): NativeCompiled {
  const gm = graph instanceof GraphModule ? graph : null;
  // a GraphModule's fx builtins (views of functionalised updates) lower through graphRunner
  const run = gm ? graphRunner(gm) : graph;
  // new shapes the tiering runs eagerly: a dynamic graph's static-shape runs still native
  let segments: StaticSegments | null | undefined;
  const segmentsOf = (): StaticSegments | null => {
    if (segments === undefined) {
      segments = gm ? staticSegments(gm, (segment) => compileNative(segment, log)) : null;
      if (segments) log?.('graph_code', () => `native backend: new shapes of this dynamic graph run its static-shape segments natively, the rest eagerly:\n${segments!.describe()}`);
    }
    return segments;
  };
  const runEagerly = (inputs: unknown[]): unknown => {
    const s = segmentsOf();
    return s ? s.run(...inputs) : run(...inputs);
  };
  // Least recently used last: a dynamic graph called at ever new sizes (a growing sequence)
  // keeps the programs of its recent sizes, not of every size it has seen.
  const programs = new Map<string, CompiledProgram | null>();
  let programBytes = 0;
  const footprint = (p: CompiledProgram | null | undefined) => p?.footprintBytes ?? 0;
  const tiering = options.tiering ? new ShapeTiering() : null;
  let lastKey: string | null = null;
  let last: CompiledProgram | null = null;
  let lastWasNew = false;  // the last call built lastKey's program

  /** The program for these inputs (null: the graph runs eagerly), lowered if new. */
  const programFor = (inputs: unknown[], key: string): CompiledProgram | null => {
    if (key === lastKey) return last;
    let p = programs.get(key);
    if (p === undefined) {
      try {
        const logBuild = (built: CompiledProgram) => log?.('graph_code', () => `native program for ${key}:\n${built.describe()}`);
        p = new CompiledProgram(lowerGraph(run, inputs), logBuild);
      } catch (e) {
        if (!(e instanceof LoweringError)) throw e;
        log?.('perf', `native backend: running the graph eagerly (${e.message})`);
        p = null;
      }
      programBytes += footprint(p);
      for (const [oldest, program] of programs) {
        if (programs.size < MAX_PROGRAMS_PER_GRAPH && programBytes <= PROGRAM_BYTES_PER_GRAPH) break;
        programs.delete(oldest);
        programBytes -= footprint(program);
      }
    } else {
      programs.delete(key);
    }
    programs.set(key, p);
    lastKey = key;
    last = p;
    return p;
  };
  const tensorsOf = (inputs: unknown[]) => inputs.filter((x): x is Tensor => x instanceof Tensor);

  const compiled = ((...inputs: unknown[]) => {
    const key = signature(inputs);
    // A shape with no executable yet: the tiering picks its tier and times it. A cached
    // shape's call (the per-call path) reads no clock.
    if (tiering === null || key === lastKey || programs.has(key)) {
      // tell the tiering a shape came back (once: the steady path is a boolean test)
      if (tiering !== null && (key !== lastKey || lastWasNew)) {
        tiering.cameBackTo(key);
        lastWasNew = false;
      }
      const program = programFor(inputs, key);
      return program ? program.run(tensorsOf(inputs)) : run(...inputs);
    }
    const work = elementsOf(inputs);
    const t0 = performance.now();
    if (tiering.choose(key, programs.size === 0, work) === 'eager') {
      const out = runEagerly(inputs);
      tiering.ranEagerlyIn(performance.now() - t0, work);
      log?.('perf', () => `native backend: new shape ${key} run eagerly${segments ? ', its static-shape segments native' : ''} (${describeEstimates(tiering, work)})`);
      return out;
    }
    const program = programFor(inputs, key);
    if (!program) return run(...inputs);
    const loweredAt = performance.now();
    const out = program.run(tensorsOf(inputs));  // builds first
    const ranAt = performance.now();
    tiering.builtIn(loweredAt - t0 + program.lastBuildMs, ranAt - loweredAt - program.lastBuildMs, work);
    lastWasNew = true;
    return out;
  }) as NativeCompiled;
  compiled.runAsync = async (...inputs: unknown[]) => {
    const key = signature(inputs);
    // A new shape of a dynamic graph with static-shape segments runs through them, the first
    // time the shape is met, holding the event loop ~1 ms at a stretch at most (longer
    // segments run off it; lowering for a build would hold it longer); a shape that comes
    // back is built. Without segments, running eagerly would hold the loop for the whole
    // graph: off the loop the build costs it nothing.
    if (tiering !== null && key !== lastKey && !programs.has(key) && programs.size > 0 && segmentsOf() && tiering.chooseUntimed(key) === 'eager') {
      log?.('perf', () => `native backend: new shape ${key} (runAsync) run eagerly, its static-shape segments native, in slices of the event loop`);
      return segments!.runAsync(...inputs);
    }
    const program = programFor(inputs, key);
    return program ? program.runAsync(tensorsOf(inputs)) : run(...inputs);
  };
  compiled.lastProgram = () => last;
  return compiled;
}

/** The tiering's measure of a shape's size: its tensor inputs' elements. */
function elementsOf(inputs: unknown[]): number {
  let n = 0;
  for (const x of inputs) if (x instanceof Tensor) n += x.numel();
  return n;
}

function describeEstimates(t: ShapeTiering, work: number): string {
  const { eagerMs, buildMs } = t.estimates(work);
  return `new shapes: eager ${eagerMs.toFixed(2)} ms, build and run ${buildMs.toFixed(2)} ms`;
}

/** `gm` compiled as compiled functions and loaded programs run it: new shapes tiered, logged under graph_code and perf. */
export function compileTiered(gm: GraphModule): NativeCompiled {
  return compileNative(gm, (topic, msg) => log(topic as 'graph_code' | 'perf', msg), { tiering: true });
}

/** The 'native' backend: `tj.compile(fn)` uses it unless told otherwise. */
export const nativeBackend: BackendFn = (gm: GraphModule) => compileTiered(gm);
