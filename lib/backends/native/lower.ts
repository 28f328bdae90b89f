/**
 * Lowering: runs a captured graph over fake tensors with a dispatch mode that turns
 * every op into native kernel calls (the registry's KernelCalls), views into View
 * values, composites into their decompositions, and allowInGraph functions into what
 * they call. Real tensors met on the way (graph constants, module weights) become
 * constants referenced by their storage, so in-place updates to them stay visible.
 */
import { Tensor } from '../../tensor';
import { itemSize } from '../../dtype';
import { AnyOp, DispatchMode, getOp, withMode } from '../../ops/registry';
import { GraphModule, Interpreter, Node, asStrided, checkLayout, viewScatter } from '../../fx';
import { ProgramBuilder } from './program';

export class LoweringError extends Error {}

/** Maps every Tensor inside arrays and plain objects. */
export function mapTensorsDeep(x: unknown, f: (t: Tensor) => unknown): unknown {
  if (x instanceof Tensor) return f(x);
  if (Array.isArray(x)) return x.map((v) => mapTensorsDeep(v, f));
  if (x && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) out[k] = mapTensorsDeep(v, f);
    return out;
  }
  return x;
}

export function forEachTensorDeep(x: unknown, f: (t: Tensor) => void): void {
  mapTensorsDeep(x, (t) => {
    f(t);
    return t;
  });
}

export interface LoweredProgram {
  builder: ProgramBuilder;
  /** The graph's output pytree with program output indices in place of tensors. */
  outputSpec: unknown;
  /** Meta of each program output. */
  outputMeta: { shape: number[]; dtype: Tensor['dtype'] }[];
}

class LoweringMode implements DispatchMode {
  readonly valueOf = new WeakMap<Tensor, number>();
  private readonly constOf = new Map<ArrayBuffer, number>();

  constructor(readonly b: ProgramBuilder) {}

  fakeFor(value: number): Tensor {
    const v = this.b.values[value];
    const t = new Tensor({ storage: null, shape: v.shape.slice(), dtype: v.dtype, strides: v.strides?.slice(), offset: v.offset ?? 0 });
    this.valueOf.set(t, value);
    return t;
  }

  /** A real tensor becomes a constant over its whole storage, seen through a view. */
  constant(t: Tensor): number {
    const storage = t.storage!;
    if (t.disposed) throw new LoweringError(`a graph constant ${t} was disposed`);
    let root = this.constOf.get(storage.buffer);
    if (root === undefined) {
      const elements = Math.floor(storage.buffer.byteLength / itemSize[t.dtype]);
      root = this.b.addConst(t.dtype, [elements], storage, 0);
      this.constOf.set(storage.buffer, root);
    }
    if (this.b.values[root].dtype !== t.dtype) throw new LoweringError('a constant buffer is viewed with two dtypes');
    return this.b.addView(root, t.shape.slice(), t.strides.slice(), t.offset);
  }

  lift(x: unknown): unknown {
    return mapTensorsDeep(x, (t) => {
      if (this.valueOf.has(t)) return t;
      if (t.storage) return this.fakeFor(this.constant(t));
      throw new LoweringError(`a fake tensor from outside this graph reached op arguments`);
    });
  }

  idOf(t: Tensor): number {
    const id = this.valueOf.get(t);
    if (id === undefined) throw new LoweringError('a tensor operand has no program value');
    return id;
  }

  call(op: AnyOp, rawArgs: unknown[]): unknown {
    const args = this.lift(rawArgs) as unknown[];
    const spec = op.spec;
    if (spec.kernel) {
      const call = spec.kernel(...args);
      const inputs = call.inputs.map((t) => this.idOf(t));
      if (call.inplace !== undefined) {
        const target = inputs[call.inplace];
        const root = this.b.rootOf(target);
        if (this.b.values[root].kind === 'const')
          throw new LoweringError(`${op.opName}: in-place update of a graph constant is not lowered`);
        if (this.b.values[root].kind === 'input') this.b.values[root].mutable = true;
        const extra = call.outputs.slice(1).map((m) => this.b.addTemp(m.dtype, m.shape));
        this.b.addInstr(call.kernel, inputs, [target, ...extra], call.attrs);
        return call.inputs[call.inplace];
      }
      const outs = call.outputs.map((m) => this.b.addTemp(m.dtype, m.shape));
      this.b.addInstr(call.kernel, inputs, outs, call.attrs);
      const fakes = outs.map((v) => this.fakeFor(v));
      return spec.returnsList ? fakes : fakes[0];
    }
    if (spec.view) {
      const v = spec.view(...args);
      return this.fakeFor(this.b.addView(this.idOf(v.base), v.shape, v.strides, v.offset));
    }
    if (spec.decompose) return spec.decompose(...args);
    throw new LoweringError(`${op.opName} has no native lowering (TS-only op)`);
  }

  /** fx.asStrided: a view of a (contiguous) root value, offset relative to the root's own. */
  asStrided(root: Tensor, shape: number[], strides: number[], offset: number): Tensor {
    checkLayout('asStrided', root, shape, strides, offset);
    const r = this.lift(root) as Tensor;
    if (!r.isContiguous()) throw new LoweringError('fx.asStrided over a non-contiguous value');
    return this.fakeFor(this.b.addView(this.idOf(r), shape.slice(), strides.slice(), r.offset + offset));
  }

  /** fx.viewScatter: a copy of the root with `value` written through a view of the copy. */
  viewScatter(root: Tensor, value: Tensor, shape: number[], strides: number[], offset: number): Tensor {
    checkLayout('viewScatter', root, shape, strides, offset);
    const copy = getOp('clone')!(root) as Tensor;
    const view = this.fakeFor(this.b.addView(this.idOf(copy), shape.slice(), strides.slice(), copy.offset + offset));
    getOp('copy_')!(view, value);
    return copy;
  }
}

let activeMode: LoweringMode | null = null;

/**
 * Runs a GraphModule for lowering: the fx builtins that build tensors directly (asStrided,
 * viewScatter: functionalised in-place updates through views) become program views and
 * copies; everything else runs as the normal Interpreter does. Outside a lowering it is
 * the plain Interpreter (the eager fallback).
 */
class LoweringInterpreter extends Interpreter {
  override callFunction(node: Node, args: unknown[]): unknown {
    const mode = activeMode;
    if (mode && node.target === asStrided) return mode.asStrided(...(args as Parameters<LoweringMode['asStrided']>));
    if (mode && node.target === viewScatter) return mode.viewScatter(...(args as Parameters<LoweringMode['viewScatter']>));
    return super.callFunction(node, args);
  }
}

/** `gm` as a function that lowerGraph can lower (and that runs it eagerly otherwise). */
export function graphRunner(gm: GraphModule): (...inputs: unknown[]) => unknown {
  return (...inputs: unknown[]) => new LoweringInterpreter(gm).run(...inputs);
}

/**
 * Lowers `run` (the graph, called with fake inputs) for inputs of these shapes/dtypes.
 * Inputs are declared contiguous; the executor stages strided inputs when views need it.
 */
export function lowerGraph(run: (...inputs: unknown[]) => unknown, inputs: readonly unknown[]): LoweredProgram {
  const b = new ProgramBuilder();
  const mode = new LoweringMode(b);
  const fakeInputs = inputs.map((x) => (x instanceof Tensor ? mode.fakeFor(b.addInput(x.dtype, x.shape.slice())) : x));
  const outer = activeMode;
  activeMode = mode;
  let result: unknown;
  try {
    result = withMode(mode, () => run(...fakeInputs));
  } finally {
    activeMode = outer;
  }

  const outputMeta: LoweredProgram['outputMeta'] = [];
  const taken = new Set<number>();
  const outputSpec = mapTensorsDeep(result, (t) => {
    let v = mode.valueOf.has(t) ? mode.idOf(t) : mode.constant(t);
    const val = b.values[v];
    if (val.kind !== 'temp' || taken.has(v)) {
      // Inputs, constants, views and repeated outputs are returned as fresh contiguous copies.
      const out = b.addTemp(val.dtype, val.shape.slice());
      b.addInstr('copy', [v], [out], []);
      v = out;
    }
    b.values[v].kind = 'output';
    taken.add(v);
    b.outputs.push(v);
    outputMeta.push({ shape: b.values[v].shape.slice(), dtype: b.values[v].dtype });
    return { $output: b.outputs.length - 1 };
  });
  return { builder: b, outputSpec, outputMeta };
}
