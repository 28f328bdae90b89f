/**
 * Backends: what turns a captured GraphModule into something that runs it.
 * A backend is `(gm, exampleInputs, options) => (...inputs) => outputs` or an object with
 * that function as its `compile` method; the callable may also have `runAsync`.
 */
import type { GraphModule } from '../fx';
import type { Tensor } from '../tensor';

export interface CompiledGraph {
  (...inputs: Tensor[]): unknown;
  runAsync?: (...inputs: Tensor[]) => Promise<unknown>;
}

export interface BackendOptions {
  mode?: string;
}

export type BackendFn = (gm: GraphModule, exampleInputs: Tensor[], options?: BackendOptions) => CompiledGraph;
export type Backend = BackendFn | { compile: BackendFn };

const backends = new Map<string, Backend>();

/**
 * Registers a backend under a name usable as `tj.compile(fn, {backend: name})`.
 * @example tj.compiler.registerBackend('counting', (gm) => { n++; return gm; });
 */
export function registerBackend(name: string, backend: Backend, opts: { override?: boolean } = {}): void {
  if (typeof name !== 'string' || name === '') throw new TypeError(`registerBackend: argument 'name' must be a non-empty string, got ${String(name)}`);
  if (typeof backend !== 'function' && !(backend && typeof (backend as { compile?: unknown }).compile === 'function'))
    throw new TypeError(`registerBackend: backend '${name}' must be a function (gm, exampleInputs) => callable or an object with a compile method`);
  if (backends.has(name) && !opts.override) throw new Error(`registerBackend: a backend named '${name}' is already registered`);
  backends.set(name, backend);
}

/** Names of the registered backends (always 'eager' and 'native'), sorted. */
export function listBackends(): string[] {
  return [...backends.keys()].sort();
}

/** The compile function of a backend given by name, function or object. */
export function resolveBackend(backend: unknown): BackendFn {
  if (typeof backend === 'string') {
    const b = backends.get(backend);
    if (!b) throw new Error(`tensorjit.compile: unknown backend '${backend}' (registered: ${listBackends().join(', ')})`);
    return resolveBackend(b);
  }
  if (typeof backend === 'function') return backend as BackendFn;
  if (backend && typeof (backend as { compile?: unknown }).compile === 'function') {
    const obj = backend as { compile: BackendFn };
    return (gm, inputs, options) => obj.compile(gm, inputs, options);
  }
  throw new TypeError(`tensorjit.compile: option 'backend' must be a backend name, a function or an object with a compile method, got ${backend === null ? 'null' : typeof backend}`);
}
