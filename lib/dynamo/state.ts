/**
 * Process-wide compiler state: config, the fine-grained API's registries (WeakMaps and
 * WeakSets keyed by op or function, never properties on them), the stack of tracing
 * sessions and the cache generation that reset() bumps.
 */
import type { AnyOp } from '../ops/registry';
import type { Tensor } from '../tensor';
import { scopeHooks } from '../scope';

/** `tj.compiler.config`: read at each call, so tests may change it at any time. */
export const config = {
  /** Cache entries per compiled function (and compiled graphs per break position) before calls run eagerly. */
  cacheSizeLimit: 8,
  /** Make a dim dynamic on the recompile after it changed (when `dynamic` is unset). */
  automaticDynamicShapes: true,
};

/** Bumped whenever a registry below changes: every cache entry guards on it. */
export const registryState = { version: 0 };

export const disallowedOps = new WeakSet<AnyOp>();

export interface DisableInfo {
  fn: Function;
  recursive: boolean;
  reason?: string;
}
/** disable() wrappers -> what they disable. */
export const disabledWrappers = new WeakMap<Function, DisableInfo>();
/** allowInGraph() wrappers -> the function put in the graph. */
export const allowedWrappers = new WeakMap<Function, Function>();
/** assumeConstantResult() wrappers -> the function whose result is constant. */
export const constantWrappers = new WeakMap<Function, Function>();

/** markDynamic / markStatic, per tensor object. */
export const dynamicMarks = new WeakMap<Tensor, Set<number>>();
export const staticMarks = new WeakMap<Tensor, Set<number>>();

export const runtime = {
  /** Recursive disable() regions currently running: compiled functions run their JS eagerly. */
  disableDepth: 0,
  /** reset() bumps it; compiled functions drop their caches when they see a new value. */
  generation: 0,
};

/** What the tracer exposes to the rest of the compiler (implemented by Session). */
export interface ActiveTrace {
  readonly suspended: number;
  /** compile (and strict export) trace with the Dynamo-style tracer; non-strict export does not. */
  readonly dynamo: boolean;
}

const sessions: ActiveTrace[] = [];

export function pushSession(s: ActiveTrace): void {
  sessions.push(s);
}
export function popSession(s: ActiveTrace): void {
  const top = sessions.pop();
  if (top !== s) throw new Error('tensorjit: tracing sessions ended out of order');
}
/** The innermost session, if it is recording (not running eager code in a break). */
export function activeSession(): ActiveTrace | null {
  const s = sessions[sessions.length - 1];
  return s && s.suspended === 0 ? s : null;
}
// a tidy() opened in traced code leaves the trace's tensors alone (see lib/scope.ts)
scopeHooks.tracing = () => activeSession() !== null;
export function innermostSession(): ActiveTrace | null {
  return sessions[sessions.length - 1] ?? null;
}
