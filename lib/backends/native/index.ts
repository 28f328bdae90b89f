/**
 * The 'native' backend: lowers a captured graph to the native executor, one
 * executable per input signature (dtype and shape of every input), so graphs traced
 * with dynamic dims get a plan per concrete shape; a new shape may run eagerly instead
 * while that is cheaper (tiering.ts). Graphs that cannot be lowered (a TS-only op) run
 * through the graph's own eager interpreter, logged under `perf`.
 */
import { log } from '../../dynamo/logging';
import { GraphModule } from '../../fx';
import { Tensor } from '../../tensor';
import type { BackendFn } from '../registry';
import { CompiledProgram } from './executable';
import { LoweringError, graphRunner, lowerGraph } from './lower';
import { ShapeTiering } from './tiering';

/** Programs (native executables) kept per compiled graph, one per input signature. */
export const MAX_PROGRAMS_PER_GRAPH = 64;

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
  // a GraphModule's fx builtins (views of functionalised updates) lower through graphRunner
  if (graph instanceof GraphModule) graph = graphRunner(graph);
  const run = graph;
  // Least recently used last: a dynamic graph called at ever new sizes (a growing sequence)
  // keeps the programs of its recent sizes, not of every size it has seen.
  const programs = new Map<string, CompiledProgram | null>();
  const tiering = options.tiering ? new ShapeTiering() : null;
  let lastKey: string | null = null;
  let last: CompiledProgram | null = null;

  /** The program for these inputs (null: the graph runs eagerly), and whether it was just made. */
  const programFor = (inputs: unknown[], key: string): { program: CompiledProgram | null; made: boolean } => {
    if (key === lastKey) return { program: last, made: false };
    let p = programs.get(key);
    const made = p === undefined;
    if (p === undefined) {
      try {
        const logBuild = (built: CompiledProgram) => log?.('graph_code', () => `native program for ${key}:\n${built.describe()}`);
        p = new CompiledProgram(lowerGraph(run, inputs), logBuild);
      } catch (e) {
        if (!(e instanceof LoweringError)) throw e;
        log?.('perf', `native backend: running the graph eagerly (${e.message})`);
        p = null;
      }
      if (programs.size >= MAX_PROGRAMS_PER_GRAPH) programs.delete(programs.keys().next().value!);
    } else {
      programs.delete(key);
    }
    programs.set(key, p);
    lastKey = key;
    last = p;
    return { program: p, made };
  };
  const tensorsOf = (inputs: unknown[]) => inputs.filter((x): x is Tensor => x instanceof Tensor);

  const compiled = ((...inputs: unknown[]) => {
    const key = signature(inputs);
    // A shape with no executable yet: the tiering picks its tier and times it. A cached
    // shape's call (the per-call path) reads no clock.
    const newShape = tiering !== null && key !== lastKey && !programs.has(key);
    const t0 = newShape ? performance.now() : 0;
    if (newShape && tiering.choose(key, programs.size === 0) === 'eager') {
      const out = run(...inputs);
      tiering.ranEagerlyIn(performance.now() - t0);
      log?.('perf', () => `native backend: new shape ${key} run eagerly (${describeEstimates(tiering)})`);
      return out;
    }
    const { program, made } = programFor(inputs, key);
    const out = program ? program.run(tensorsOf(inputs)) : run(...inputs);
    if (newShape && made && program) tiering.builtIn(performance.now() - t0);
    return out;
  }) as NativeCompiled;
  compiled.runAsync = async (...inputs: unknown[]) => {
    // off the event loop the build costs the loop nothing: runAsync always builds
    const { program } = programFor(inputs, signature(inputs));
    return program ? program.runAsync(tensorsOf(inputs)) : run(...inputs);
  };
  compiled.lastProgram = () => last;
  return compiled;
}

function describeEstimates(t: ShapeTiering): string {
  const { eagerMs, buildMs } = t.estimates();
  return `new shapes: eager ${eagerMs.toFixed(2)} ms, build and run ${buildMs.toFixed(2)} ms`;
}

/** The 'native' backend: `tj.compile(fn)` uses it unless told otherwise. */
export const nativeBackend: BackendFn = (gm: GraphModule) =>
  compileNative(gm, (topic, msg) => log(topic as 'graph_code' | 'perf', msg), { tiering: true });
