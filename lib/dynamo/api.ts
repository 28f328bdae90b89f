/**
 * The fine-grained API (tj.compiler.*). JS cannot intercept calls of an existing function,
 * so disable/allowInGraph/assumeConstantResult return wrappers that code must call; what
 * they wrap lives in WeakMaps, not in properties of the functions.
 */
import { AnyOp, isOp } from '../ops/registry';
import { Tensor } from '../tensor';
import { isModuleClass, isModuleLike, ModuleLike } from './module';
import type { Session } from './session';
import {
  activeSession as anySession,
  allowedWrappers,
  constantWrappers,
  disabledWrappers,
  disallowedOps,
  dynamicMarks,
  registryState,
  runtime,
  staticMarks,
} from './state';

/** The session recording user code (not while an allowInGraph function runs on fakes for its shapes). */
function activeSession(): Session | null {
  const s = anySession() as Session | null;
  return s && s.recording ? s : null;
}

export interface DisableOptions {
  /** Compiled functions and modules called from fn also run eagerly (default true). */
  recursive?: boolean;
  /** Shown in the graph break reason. */
  reason?: string;
}

function disabledFunction<F extends Function>(fn: F, recursive: boolean, reason?: string): F {
  const wrapper = function (this: unknown, ...args: unknown[]) {
    const session = activeSession();
    if (session) return session.callDisabled(fn, this, args, recursive, reason);
    if (!recursive) return fn.apply(this, args);
    runtime.disableDepth++;
    try {
      return fn.apply(this, args);
    } finally {
      runtime.disableDepth--;
    }
  };
  Object.defineProperty(wrapper, 'name', { value: fn.name });
  disabledWrappers.set(wrapper, { fn, recursive, reason });
  return wrapper as unknown as F;
}

/**
 * Runs fn eagerly, never traced: inside a compiled function a call of it is a graph break.
 * With `recursive` (default), compiled functions and modules it calls run eagerly too.
 * Works on functions, methods (`Cls.prototype.m = disable(Cls.prototype.m)`), Module
 * instances (a module-like object whose forward is disabled) and Module classes (a subclass).
 * @example const logStats = tj.compiler.disable((t: tj.Tensor) => console.log(t.toArray()), { reason: 'logging' });
 */
export function disable<T>(fn: T, opts: DisableOptions = {}): T {
  const recursive = opts.recursive ?? true;
  if (typeof recursive !== 'boolean') throw new TypeError(`disable: option 'recursive' must be a boolean`);
  if (isModuleClass(fn)) {
    const Base = fn as unknown as new (...args: any[]) => ModuleLike;
    const Disabled = class extends Base {};
    const forward = disabledFunction(function (this: ModuleLike, ...args: unknown[]) {
      return Base.prototype.forward.apply(this, args);
    }, recursive, opts.reason);
    Object.defineProperty(forward, 'name', { value: `${Base.name}.forward` });
    Object.defineProperty(Disabled.prototype, 'forward', { value: forward, writable: true, configurable: true });
    Object.defineProperty(Disabled, 'name', { value: Base.name });
    return Disabled as unknown as T;
  }
  if (typeof fn === 'function') return disabledFunction(fn, recursive, opts.reason);
  if (isModuleLike(fn)) {
    const module = fn as ModuleLike;
    const original = module.forward;
    const forward = disabledFunction(function (...args: unknown[]) {
      return original.apply(module, args);
    }, recursive, opts.reason);
    Object.defineProperty(forward, 'name', { value: `${module.constructor?.name ?? 'Module'}.forward` });
    return new Proxy(module, {
      get(t, prop) {
        return prop === 'forward' ? forward : Reflect.get(t, prop, t);
      },
    }) as T;
  }
  throw new TypeError(`disable: expected a function, a method, a Module or a Module class, got ${fn === null ? 'null' : typeof fn}`);
}

/**
 * Makes an op break the graph and run eagerly, however it is called (tj.op, x.op, op objects).
 * @example tj.compiler.disallowInGraph(tj.sub);
 */
export function disallowInGraph<T>(op: T): T {
  if (!isOp(op))
    throw new Error(
      `disallowInGraph is expected to be used on an op (a registered tensorjit op such as tj.sub), got ${
        typeof op === 'function' ? `the function '${op.name || 'anonymous'}'` : op === null ? 'null' : typeof op
      }; use tj.compiler.disable for functions`,
    );
  disallowedOps.add(op as AnyOp);
  registryState.version++;
  return op;
}

/**
 * On an op: undoes disallowInGraph. On a function: returns a wrapper whose calls are put
 * in the graph as one opaque node with `target` fn (the tracer does not look inside; its
 * output shapes come from running it on fake tensors).
 * @example const fused = tj.compiler.allowInGraph((x: tj.Tensor) => tj.relu(tj.add(x, 1)));
 */
export function allowInGraph<T>(fn: T): T {
  if (isOp(fn)) {
    if (disallowedOps.delete(fn)) registryState.version++;
    return fn;
  }
  if (typeof fn !== 'function') throw new TypeError(`allowInGraph: expected an op or a function, got ${fn === null ? 'null' : typeof fn}`);
  const f = fn as unknown as Function;
  const wrapper = function (this: unknown, ...args: unknown[]) {
    const session = activeSession();
    return session ? session.callAllowed(f, this, args) : f.apply(this, args);
  };
  Object.defineProperty(wrapper, 'name', { value: f.name });
  allowedWrappers.set(wrapper, f);
  return wrapper as unknown as T;
}

/**
 * While tracing, fn is called once and its result is a constant of the graph (not guarded:
 * it must not change between calls).
 * @example const vocab = tj.compiler.assumeConstantResult(() => config.vocabSize);
 */
export function assumeConstantResult<T>(fn: T): T {
  if (typeof fn !== 'function') throw new TypeError(`assumeConstantResult: expected a function, got ${fn === null ? 'null' : typeof fn}`);
  const f = fn as unknown as Function;
  const wrapper = function (this: unknown, ...args: unknown[]) {
    const session = activeSession();
    return session ? session.callConstant(f, this, args) : f.apply(this, args);
  };
  Object.defineProperty(wrapper, 'name', { value: f.name });
  constantWrappers.set(wrapper, f);
  return wrapper as unknown as T;
}

/** True while a function is being traced by tj.compile or exportProgram (false in eager code and disabled code). */
export function isCompiling(): boolean {
  return anySession() !== null;
}

/** True only while traced by tj.compile (and strict export). */
export function isDynamoCompiling(): boolean {
  return anySession()?.dynamo === true;
}

/** Ends the current graph here (no-op outside tracing). */
export function graphBreak(): void {
  activeSession()?.graphBreak('tj.compiler.graphBreak() was called');
}

/** Drops every compiled function's caches (they recompile on their next call). */
export function reset(): void {
  runtime.generation++;
}

function dimsOf(api: string, t: unknown, dim: unknown): number[] {
  if (!(t instanceof Tensor)) throw new TypeError(`${api}: argument 't' must be a Tensor`);
  const dims = Array.isArray(dim) ? dim : [dim];
  return dims.map((d) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < -t.ndim || d >= t.ndim)
      throw new RangeError(`${api}: dim ${String(d)} is out of range for a ${t.ndim}-d tensor`);
    return d < 0 ? d + t.ndim : d;
  });
}

/** Compiles graphs with this tensor's dim as a symbol from the start (even with dynamic: false). */
export function markDynamic(t: Tensor, dim: number | number[]): void {
  for (const d of dimsOf('markDynamic', t, dim)) {
    let s = dynamicMarks.get(t);
    if (!s) dynamicMarks.set(t, (s = new Set()));
    s.add(d);
    staticMarks.get(t)?.delete(d);
  }
}

/** Never makes this tensor's dim dynamic (even with dynamic: true). */
export function markStatic(t: Tensor, dim: number | number[]): void {
  for (const d of dimsOf('markStatic', t, dim)) {
    let s = staticMarks.get(t);
    if (!s) staticMarks.set(t, (s = new Set()));
    s.add(d);
    dynamicMarks.get(t)?.delete(d);
  }
}
