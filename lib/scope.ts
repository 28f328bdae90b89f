/**
 * Memory scopes for eager code: `tj.tidy(fn)` disposes every tensor made while fn runs,
 * except what fn returns and what `tj.keep` marks. Eager code that drops its tensors is
 * correct (the garbage collector frees them), but each collection of tens-of-MB tensors
 * costs a V8 collection; a scope frees them at a known point instead.
 *
 * This file knows tensors only as objects with dispose(): lib/tensor.ts reports each
 * new tensor that has memory, so there is no import cycle.
 */

interface ScopedTensor {
  readonly disposed: boolean;
  dispose(): void;
}

/** One open tidy; `null` on the stack pauses tracking (see untracked). */
type Scope = ScopedTensor[];
const scopes: (Scope | null)[] = [];
const kept = new WeakSet<object>();

/**
 * Set by the compiler: true while a function is being traced. A tidy opened in traced
 * code runs fn as is: the trace's tensors are fake, and the real ones made at graph
 * breaks belong to the compiled call (an enclosing tidy outside the compiled call
 * still collects them).
 */
export const scopeHooks: { tracing: () => boolean } = { tracing: () => false };

/** Called by the Tensor constructor for every tensor with memory. */
export function trackTensor(t: ScopedTensor): void {
  const top = scopes[scopes.length - 1];
  if (!top) return;
  top.push(t);
  // a long loop that disposes as it goes inside one tidy must not grow the list forever
  if (top.length >= 4096 && (top.length & (top.length - 1)) === 0) compact(top);
}

function compact(scope: Scope): void {
  let live = 0;
  for (const t of scope) if (!t.disposed) scope[live++] = t;
  scope.length = live;
}

/**
 * Runs fn and disposes every tensor created meanwhile, except those reachable from its
 * result (through arrays, Maps, Sets and object properties, e.g. a Module's parameters)
 * and those passed to `tj.keep`. Returned tensors belong to the enclosing tidy, if any.
 * fn must be synchronous. If fn throws, its tensors are disposed and the error passes on.
 * @example
 *   const y = tj.tidy(() => tj.relu(tj.add(tj.mul(x, 2), 1)));  // the mul and add results are freed
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(`tidy: expected a function, got ${fn === null ? 'null' : typeof fn}`);
  if (scopeHooks.tracing()) return fn();
  const scope: Scope = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    close(scope, new Set());
    throw e;
  }
  if (isThenable(result)) {
    close(scope, new Set());
    throw new TypeError('tidy: fn returned a Promise; tidy is synchronous (in async code, dispose tensors or use `using`)');
  }
  close(scope, reachableFrom(result, new Set<object>(scope)));
  return result;
}

/** Exempts a tensor from every tidy, open or enclosing: it lives until disposed or dropped. */
export function keep<T extends ScopedTensor>(t: T): T {
  if (t === null || typeof t !== 'object' || typeof t.dispose !== 'function')
    throw new TypeError(`keep: expected a Tensor, got ${t === null ? 'null' : typeof t}`);
  kept.add(t);
  return t;
}

/** Runs fn without tracking its tensors in the open tidy (they belong to something longer-lived). */
export function untracked<T>(fn: () => T): T {
  scopes.push(null);
  try {
    return fn();
  } finally {
    scopes.pop();
  }
}

function close(scope: Scope, escaping: Set<object>): void {
  if (scopes.pop() !== scope) throw new Error('tidy: scopes closed out of order');
  const parent = scopes[scopes.length - 1] ?? null; // null also inside untracked(): nobody's
  for (const t of scope) {
    if (kept.has(t)) continue;
    if (escaping.has(t)) parent?.push(t);
    else t.dispose();
  }
}

function isThenable(x: unknown): boolean {
  return x !== null && (typeof x === 'object' || typeof x === 'function') && typeof (x as { then?: unknown }).then === 'function';
}

/** The tracked tensors reachable from `root`. */
function reachableFrom(root: unknown, tracked: Set<object>): Set<object> {
  const found = new Set<object>();
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const x = stack.pop();
    if (x === null || typeof x !== 'object' || seen.has(x)) continue;
    seen.add(x);
    if (tracked.has(x)) {
      found.add(x);
      continue; // a tensor's own fields hold no other tensors
    }
    if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer) continue;
    if (Array.isArray(x)) for (const v of x) stack.push(v);
    else if (x instanceof Map) for (const [k, v] of x) stack.push(k, v);
    else if (x instanceof Set) for (const v of x) stack.push(v);
    else for (const k of Object.keys(x)) stack.push((x as Record<string, unknown>)[k]);
  }
  return found;
}
