/**
 * The 'native' backend: lowers a captured graph to the native executor, one
 * executable per input signature (dtype and shape of every input), so graphs traced
 * with dynamic dims get a plan per concrete shape. Graphs that cannot be lowered (a
 * TS-only op) run through the graph's own eager interpreter, logged under `perf`.
 */
import { log } from '../../dynamo/logging';
import { GraphModule } from '../../fx';
import { Tensor } from '../../tensor';
import type { BackendFn } from '../registry';
import { CompiledProgram } from './executable';
import { LoweringError, graphRunner, lowerGraph } from './lower';

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

/**
 * Compiles `graph` (a callable GraphModule, or any function of tensors built from
 * registered ops) for the native executor. A signature's executable is built by its
 * first call: on the calling thread, or off the event loop when that call is runAsync.
 */
export function compileNative(
  graph: (...inputs: unknown[]) => unknown,
  log?: (topic: string, msg: string | (() => string)) => void,
): NativeCompiled {
  // a GraphModule's fx builtins (views of functionalised updates) lower through graphRunner
  if (graph instanceof GraphModule) graph = graphRunner(graph);
  // Least recently used last: a dynamic graph called at ever new sizes (a growing sequence)
  // keeps the programs of its recent sizes, not of every size it has seen.
  const programs = new Map<string, CompiledProgram | null>();
  let lastKey: string | null = null;
  let last: CompiledProgram | null = null;

  const programFor = (inputs: unknown[]): CompiledProgram | null => {
    const key = signature(inputs);
    if (key === lastKey) return last;
    let p = programs.get(key);
    if (p === undefined) {
      try {
        const logBuild = (built: CompiledProgram) => log?.('graph_code', () => `native program for ${key}:\n${built.describe()}`);
        p = new CompiledProgram(lowerGraph(graph, inputs), logBuild);
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
    return p;
  };
  const tensorsOf = (inputs: unknown[]) => inputs.filter((x): x is Tensor => x instanceof Tensor);

  const compiled = ((...inputs: unknown[]) => {
    const p = programFor(inputs);
    return p ? p.run(tensorsOf(inputs)) : graph(...inputs);
  }) as NativeCompiled;
  compiled.runAsync = async (...inputs: unknown[]) => {
    const p = programFor(inputs);
    return p ? p.runAsync(tensorsOf(inputs)) : graph(...inputs);
  };
  compiled.lastProgram = () => last;
  return compiled;
}

/** The 'native' backend: `tj.compile(fn)` uses it unless told otherwise. */
export const nativeBackend: BackendFn = (gm: GraphModule) =>
  compileNative(gm, (topic, msg) => log(topic as 'graph_code' | 'perf', msg));
