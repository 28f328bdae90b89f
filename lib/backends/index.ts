/** The backend registry with the built-in backends registered. */
import { eagerBackend } from './eager';
import { nativeBackend } from './native';
import { registerBackend } from './registry';

export { registerBackend, listBackends, resolveBackend } from './registry';
export type { Backend, BackendFn, BackendOptions, CompiledGraph } from './registry';
export { eagerBackend } from './eager';
export { nativeBackend, compileNative } from './native';
export { CompileCounter, CompileCounterWithBackend, countOps } from './testing';

registerBackend('eager', eagerBackend);

// The default backend: lowers to the native executor (lib/backends/native).
registerBackend('native', nativeBackend);
