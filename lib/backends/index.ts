/** The backend registry with the built-in backends registered. */
import { eagerBackend } from './eager';
import { registerBackend } from './registry';

export { registerBackend, listBackends, resolveBackend } from './registry';
export type { Backend, BackendFn, BackendOptions, CompiledGraph } from './registry';
export { eagerBackend } from './eager';
export { CompileCounter, CompileCounterWithBackend, countOps } from './testing';

registerBackend('eager', eagerBackend);

// ---- NATIVE BACKEND PLACEHOLDER (the one place lib/backends/native replaces) ----
// Until the native backend registers itself here, 'native' (the default backend) runs the
// captured graph with the eager interpreter, so compiled code already works end to end.
registerBackend('native', eagerBackend);
// ---- end of placeholder ----
