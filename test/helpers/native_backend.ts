/**
 * The default 'native' backend wrapped for tests: it compiles exactly as `tj.compile(fn)`
 * does and keeps each graph's NativeCompiled, whose lastProgram() says whether the last
 * call ran a native program (null: the graph fell back to its eager interpreter).
 */
import { nativeBackend } from '../../lib/backends/index';
import type { BackendFn } from '../../lib/backends/index';
import type { NativeCompiled } from '../../lib/backends/native/index';
import { LoweringError, graphRunner, lowerGraph } from '../../lib/backends/native/lower';
import type { GraphModule } from '../../lib/fx';

export interface RecordedGraph {
  gm: GraphModule;
  compiled: NativeCompiled;
}

export function recordingNativeBackend(): { backend: BackendFn; graphs: RecordedGraph[] } {
  const graphs: RecordedGraph[] = [];
  const backend: BackendFn = (gm, exampleInputs, options) => {
    const compiled = nativeBackend(gm, exampleInputs, options) as NativeCompiled;
    graphs.push({ gm, compiled });
    return compiled;
  };
  return { backend, graphs };
}

/** Why lowering refuses `gm` for these inputs (what the backend logs under `perf`), or null if it lowers. */
export function loweringFailure(gm: GraphModule, inputs: readonly unknown[]): string | null {
  try {
    lowerGraph(graphRunner(gm), inputs);
    return null;
  } catch (e) {
    return e instanceof LoweringError ? e.message : `lowering threw ${String(e)}`;
  }
}

/** Graphs whose most recent call ran eagerly instead of natively. */
export function eagerFallbacks(graphs: readonly RecordedGraph[]): RecordedGraph[] {
  return graphs.filter((g) => g.compiled.lastProgram() === null);
}
