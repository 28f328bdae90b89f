/**
 * The op registry: each op is declared once, here or in a sibling file, with
 *  - its argument checks and shape/dtype rules (they only read `.shape`/`.dtype`,
 *    so the same code serves real tensors, fake tensors and tracer proxies),
 *  - how it runs: one native kernel call (`kernel`), a zero-copy view (`view`),
 *    a composition of other registered ops (`decompose`), or TS-only code (`impl`),
 *  - its traits, which passes query instead of keeping their own lists of op names.
 * The object defineOp returns IS the public op function: `tj.add`, `x.add(y)` and
 * the tracer all reach the same record.
 */
import { DType } from '../dtype';
import { native, kernelId } from '../native';
import { MAX_ELEMENTS, Tensor, describeTensor, packAttrs, packTensors, shapeNumel } from '../tensor';

export interface TensorMeta {
  shape: number[];
  dtype: DType;
}

/** An op call after its arguments are checked: one native kernel invocation. */
export interface KernelCall {
  /** native kernel id (native/kernels registers the same name) */
  kernel: string;
  /** tensor operands in kernel order */
  inputs: Tensor[];
  /** numeric attributes; the layout is documented beside the kernel */
  attrs: number[];
  /** result shapes and dtypes */
  outputs: TensorMeta[];
  /** in-place ops: output 0 is written into inputs[inplace] and that tensor is returned */
  inplace?: number;
}

/** A zero-copy view of `base` (strides and offset in elements of base's storage). */
export interface ViewSpec {
  base: Tensor;
  shape: number[];
  strides: number[];
  offset: number;
}

export type OpTrait =
  | 'pointwise'      // elementwise over broadcast operands: fusable
  | 'unary'
  | 'binary'
  | 'comparison'
  | 'reduction'
  | 'view'           // result shares storage with input 0
  | 'inplace'        // mutates input 0
  | 'creation'       // makes a tensor from non-tensor arguments
  | 'random'         // result depends on the RNG state
  | 'gemm'           // matmul-like: epilogue fusion target
  | 'composite';     // has a decomposition

type ResultOf<L extends boolean> = L extends true ? Tensor[] : Tensor;

export interface OpSpec<P extends unknown[], M extends boolean, L extends boolean> {
  name: string;
  /** Also installed as Tensor.prototype[name] with the tensor as first argument. */
  method?: M;
  /** The op returns Tensor[] (split). */
  returnsList?: L;
  traits?: OpTrait[];
  /** Every native kernel id this op may call (checked against the addon by a test). */
  kernels?: string[];
  kernel?: (...args: P) => KernelCall;
  view?: (...args: P) => ViewSpec;
  decompose?: (...args: P) => ResultOf<L>;
  /** TS-only eager implementation (creation from JS data, RNG). */
  impl?: (...args: P) => ResultOf<L>;
}

export interface OpInfo {
  readonly opName: string;
  readonly spec: OpSpec<any[], boolean, boolean>;
  readonly traits: ReadonlySet<OpTrait>;
}

export type Op<P extends unknown[], R, M extends boolean = boolean> = ((...args: P) => R) &
  OpInfo & { readonly method: M };

export type AnyOp = Op<any[], any>;

/**
 * A dispatch mode intercepts every op call while it is installed (the tracer, the
 * meta mode). Modes stack; the innermost one decides and may call `next` to
 * defer to the modes below it (ultimately eager execution).
 */
export interface DispatchMode {
  call(op: AnyOp, args: unknown[], next: (op: AnyOp, args: unknown[]) => unknown): unknown;
}

const modes: DispatchMode[] = [];
const registry = new Map<string, AnyOp>();

export function pushMode(mode: DispatchMode): void {
  modes.push(mode);
}
export function popMode(mode: DispatchMode): void {
  const top = modes.pop();
  if (top !== mode) throw new Error('tensorjit: dispatch modes popped out of order');
}
/** Runs fn with `mode` installed. */
export function withMode<T>(mode: DispatchMode, fn: () => T): T {
  pushMode(mode);
  try {
    return fn();
  } finally {
    popMode(mode);
  }
}
export function currentModes(): readonly DispatchMode[] {
  return modes;
}

function dispatchFrom(level: number, op: AnyOp, args: unknown[]): unknown {
  if (level < 0) return runEager(op, args);
  return modes[level].call(op, args, (o, a) => dispatchFrom(level - 1, o, a));
}

/** Calls an op through the installed modes (what every public op function does). */
export function dispatch(op: AnyOp, args: unknown[]): unknown {
  return dispatchFrom(modes.length - 1, op, args);
}

export function defineOp<P extends unknown[], M extends boolean = false, L extends boolean = false>(
  spec: OpSpec<P, M, L>,
): Op<P, ResultOf<L>, M> {
  if (registry.has(spec.name)) throw new Error(`tensorjit: op '${spec.name}' is defined twice`);
  const ways = [spec.kernel, spec.view, spec.decompose, spec.impl].filter(Boolean).length;
  if (ways !== 1) throw new Error(`tensorjit: op '${spec.name}' needs exactly one of kernel/view/decompose/impl`);
  spec = withSizeChecks(spec);
  const traits = new Set<OpTrait>(spec.traits ?? []);
  if (spec.view) traits.add('view');
  if (spec.decompose) traits.add('composite');
  const fn = function (this: unknown, ...args: P) {
    return dispatch(op, args);
  } as unknown as Op<P, ResultOf<L>, M>;
  Object.defineProperty(fn, 'name', { value: spec.name });
  Object.defineProperty(fn, 'opName', { value: spec.name, enumerable: true });
  Object.defineProperty(fn, 'spec', { value: spec });
  Object.defineProperty(fn, 'traits', { value: traits });
  Object.defineProperty(fn, 'method', { value: Boolean(spec.method) });
  const op = fn as unknown as AnyOp;
  registry.set(spec.name, op);
  return fn;
}

/**
 * The spec with its kernel's outputs and its view's shape checked against the largest
 * tensor, so every path (eager, meta, tracing, lowering) refuses a too large result with
 * the op's name, not with the allocation's or the tensor constructor's.
 */
function withSizeChecks<S extends OpSpec<any, any, any>>(spec: S): S {
  const check = (shape: readonly number[]) => {
    if (shapeNumel(shape) > MAX_ELEMENTS)
      throw new RangeError(`${spec.name}: the result [${shape.join(', ')}] has ${shapeNumel(shape)} elements, more than a tensor can hold (2^50)`);
  };
  const { kernel, view } = spec;
  if (kernel)
    return { ...spec, kernel: (...args: unknown[]) => {
      const call = kernel(...args);
      for (const out of call.outputs) check(out.shape);
      return call;
    } };
  if (view)
    return { ...spec, view: (...args: unknown[]) => {
      const v = view(...args);
      check(v.shape);
      return v;
    } };
  return spec;
}

/** The ops that run native kernel `kernel` (what an error from it in a compiled graph names). */
export function opsOfKernel(kernel: string): string[] {
  return allOps().filter((op) => op.spec.kernels?.includes(kernel)).map((op) => op.opName);
}

/** Every registered op, in definition order. */
export function allOps(): AnyOp[] {
  return [...registry.values()];
}
export function getOp(name: string): AnyOp | undefined {
  return registry.get(name);
}
export function isOp(x: unknown): x is AnyOp {
  return typeof x === 'function' && registry.get((x as Partial<OpInfo>).opName ?? '') === x;
}

/** Installs `x.op(...)` for every op declared with `method: true`. */
export function installTensorMethods(): void {
  for (const op of registry.values()) {
    if (!op.method) continue;
    Object.defineProperty(Tensor.prototype, op.opName, {
      value: function (this: Tensor, ...args: unknown[]) {
        return dispatch(op, [this, ...args]);
      },
      writable: true,
      configurable: true,
    });
  }
}

// ---- eager execution

function checkLive(op: AnyOp, inputs: readonly Tensor[]): void {
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i];
    if (t.disposed) throw new Error(`${op.opName}: input ${i} (${describeTensor(t)}) was disposed`);
  }
}

/** Runs a checked kernel call on real tensors. */
export function runKernelCall(op: AnyOp, call: KernelCall): Tensor[] {
  checkLive(op, call.inputs);
  let outputs: Tensor[];
  try {
    outputs =
      call.inplace !== undefined
        ? [call.inputs[call.inplace], ...call.outputs.slice(1).map((m) => Tensor.empty(m.shape, m.dtype))]
        : call.outputs.map((m) => Tensor.empty(m.shape, m.dtype));
  } catch (e) {
    throw prefixError(op, e);
  }
  const { buffers, meta } = packTensors([...call.inputs, ...outputs]);
  try {
    native.exec(kernelId(call.kernel), buffers, meta, call.inputs.length, packAttrs(call.attrs));
  } catch (e) {
    throw prefixError(op, e);
  }
  if (call.inplace !== undefined) call.inputs[call.inplace].storage!.version++;
  return outputs;
}

function prefixError(op: AnyOp, e: unknown): unknown {
  if (e instanceof Error && !e.message.startsWith(op.opName)) e.message = `${op.opName}: ${e.message}`;
  return e;
}

export function makeView(v: ViewSpec): Tensor {
  return new Tensor({ storage: v.base.storage, shape: v.shape, strides: v.strides, offset: v.offset, dtype: v.base.dtype });
}

/** Eager semantics of any op (the bottom of the dispatch stack). */
export function runEager(op: AnyOp, args: unknown[]): unknown {
  const spec = op.spec;
  if (spec.kernel) {
    const call = spec.kernel(...args);
    const outs = runKernelCall(op, call);
    return spec.returnsList ? outs : outs[0];
  }
  if (spec.view) {
    const v = spec.view(...args);
    checkLive(op, [v.base]);
    try {
      return makeView(v);
    } catch (e) {
      throw prefixError(op, e);
    }
  }
  if (spec.decompose) return spec.decompose(...args);
  return spec.impl!(...args);
}

/**
 * Output metadata of an op call without running kernels: kernels report their
 * outputs, views their shape, decompositions run over fake tensors.
 */
export function metaOf(op: AnyOp, args: unknown[]): unknown {
  return withMode(metaMode, () => dispatch(op, args));
}

export const metaMode: DispatchMode = {
  call(op, args) {
    const spec = op.spec;
    if (spec.kernel) {
      const call = spec.kernel(...args);
      if (call.inplace !== undefined) return call.inputs[call.inplace];
      const outs = call.outputs.map((m) => Tensor.fake(m.shape, m.dtype));
      return spec.returnsList ? outs : outs[0];
    }
    if (spec.view) {
      const v = spec.view(...args);
      return new Tensor({ storage: null, shape: v.shape, strides: v.strides, offset: v.offset, dtype: v.base.dtype });
    }
    if (spec.decompose) return spec.decompose(...args);
    throw new Error(`${op.opName}: has no meta rule (TS-only op)`);
  },
};
