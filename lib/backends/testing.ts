/**
 * Recording backends for tests (torch._dynamo.testing's CompileCounter): pass one as
 * `backend` and read how many graphs were compiled and how many ops they hold.
 */
import { GraphModule, builtinInfo } from '../fx';
import type { Tensor } from '../tensor';
import { BackendOptions, CompiledGraph, resolveBackend } from './registry';

/** Calls of ops and allowInGraph functions (list indexing and size arithmetic are not counted). */
export function countOps(gm: GraphModule): number {
  return gm.graph.nodes.filter((n) => n.op === 'call_function' && !builtinInfo(n.target)?.internal).length;
}

export class CompileCounter {
  /** Graphs compiled. */
  frameCount = 0;
  /** Op calls in those graphs. */
  opCount = 0;

  compile(gm: GraphModule, _exampleInputs: Tensor[], _options?: BackendOptions): CompiledGraph {
    this.frameCount++;
    this.opCount += countOps(gm);
    return (...inputs: Tensor[]) => gm.forward(...inputs);
  }

  clear(): void {
    this.frameCount = 0;
    this.opCount = 0;
  }
}

/** A CompileCounter that also keeps the graphs and compiles them with the named backend. */
export class CompileCounterWithBackend extends CompileCounter {
  readonly graphs: GraphModule[] = [];

  constructor(readonly backend: string) {
    super();
  }

  override compile(gm: GraphModule, exampleInputs: Tensor[], options?: BackendOptions): CompiledGraph {
    super.compile(gm, exampleInputs, options);
    this.graphs.push(gm);
    return resolveBackend(this.backend)(gm, exampleInputs, options);
  }

  override clear(): void {
    super.clear();
    this.graphs.length = 0;
  }
}
