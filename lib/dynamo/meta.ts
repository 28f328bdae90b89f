/**
 * Output metadata of an op call for the tracer: like the registry's meta mode (no kernel
 * runs; kernels report output shapes, views their geometry, composites run their
 * decomposition over fake tensors), and it also records which results alias which
 * arguments and which arguments were written in place, which the tracer needs to
 * functionalise mutations.
 */
import { AnyOp, DispatchMode, withMode } from '../ops/registry';
import { Tensor } from '../tensor';

/** The op cannot run on fake tensors (TS-only impl, or it reads tensor data). */
export class NoMetaError extends Error {}

class AliasMetaMode implements DispatchMode {
  /** view result -> the tensor it views */
  readonly base = new WeakMap<Tensor, Tensor>();
  /** tensors written by an in-place kernel (resolved to their root) */
  readonly mutated = new Set<Tensor>();

  root(t: Tensor): Tensor {
    let r = t;
    for (let b = this.base.get(r); b; b = this.base.get(r)) r = b;
    return r;
  }

  call(op: AnyOp, args: unknown[]): unknown {
    const spec = op.spec;
    if (spec.kernel) {
      const call = spec.kernel(...args);
      if (call.inplace !== undefined) {
        const target = call.inputs[call.inplace];
        this.mutated.add(this.root(target));
        return target;
      }
      const outs = call.outputs.map((m) => Tensor.fake(m.shape.slice(), m.dtype));
      return spec.returnsList ? outs : outs[0];
    }
    if (spec.view) {
      const v = spec.view(...args);
      const out = new Tensor({ storage: null, shape: v.shape, strides: v.strides, offset: v.offset, dtype: v.base.dtype });
      this.base.set(out, v.base);
      return out;
    }
    if (spec.decompose) return spec.decompose(...args);
    throw new NoMetaError(`${op.opName} has no meta function (TS-only op)`);
  }
}

export interface MetaResult {
  /** What the op returns (fake tensors; an argument itself for in-place and pass-through ops). */
  value: unknown;
  /** The argument tensor a result is a view of (through any chain of views), if any. */
  aliasOf(t: Tensor): Tensor | undefined;
  /** Argument tensors (roots of view chains) that the op writes. */
  mutated: Set<Tensor>;
}

export function traceMeta(op: AnyOp, args: unknown[], argTensors: ReadonlySet<Tensor>): MetaResult {
  const mode = new AliasMetaMode();
  const value = withMode(mode, () => op(...args));
  return {
    value,
    aliasOf: (t) => {
      const r = mode.root(t);
      return r !== t && argTensors.has(r) ? r : undefined;
    },
    mutated: mode.mutated,
  };
}

/** Fresh fakes with the same geometry (no tracer state): for running user code on metadata only. */
export function detachedFake(t: Tensor): Tensor {
  return new Tensor({ storage: null, shape: t.shape.slice(), strides: t.strides.slice(), offset: t.offset, dtype: t.dtype });
}
