/** The Dynamo-style compiler: tracing, guards and caches, graph breaks, the fine-grained API. */
import { moduleHooks } from '../nn/module';
import { compileModuleForward } from './compile';

export { compile, CompiledFunction, compileModuleForward, compiledFunctions } from './compile';
export type { CompileOptions, CompiledFn, CapturedProgram, Collector } from './compile';
export {
  disable,
  disallowInGraph,
  allowInGraph,
  assumeConstantResult,
  isCompiling,
  isDynamoCompiling,
  graphBreak,
  reset,
  markDynamic,
  markStatic,
} from './api';
export type { DisableOptions } from './api';
export { explain } from './explain';
export type { ExplainOutput } from './explain';
export { config } from './state';
export { GraphBreakError, Session } from './session';
export type { SessionHost, TraceRecord } from './session';
export { logEnabled } from './logging';

// Module.compile() (lib/nn) reaches the compiler through this hook, so nn does not import dynamo.
moduleHooks.compile = (module, opts) => compileModuleForward(module as never, opts);
