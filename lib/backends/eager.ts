/** The 'eager' backend: the captured graph runs op by op through its Interpreter. */
import type { GraphModule } from '../fx';
import type { CompiledGraph } from './registry';

export function eagerBackend(gm: GraphModule): CompiledGraph {
  const run = ((...inputs: unknown[]) => gm.forward(...inputs)) as CompiledGraph;
  return run;
}
