/**
 * ExportedProgram: one traced graph with its weights and the mapping between the user's
 * arguments/results and the graph's inputs/outputs. It runs through the native backend
 * (the eager interpreter when the loaded addon has no executor), checks every call
 * against what was exported, and saves as ONE safetensors file with the program JSON in
 * `__metadata__`.
 */
import { native } from '../native';
import { Tensor, copyInto, describeTensor } from '../tensor';
import { GraphModule, NodeMeta, flatten, specKey, unflatten } from '../fx/index';
import { saveSafetensorsAsync } from '../io/safetensors';
import { compileTiered } from '../backends/native/index';
import { evalExpr } from '../dynamo/dynamic';
import { DynamicDim, PROGRAM_METADATA_KEY, ProgramSignature, encodeProgram } from './serialize';
import { untracked } from '../scope';

export type ProgramBackend = 'native' | 'eager';

function hasNativeExecutor(): boolean {
  return typeof (native as unknown as { Executable?: unknown }).Executable === 'function';
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

const show = (x: unknown) => (x instanceof Tensor ? `Tensor(${describeTensor(x)})` : typeof x === 'bigint' ? `${x}n` : JSON.stringify(x) ?? String(x));

export class ExportedProgram {
  /** The graph (call it to run it eagerly; `graphModule.code` prints it). */
  readonly graphModule: GraphModule;
  /** The weights by name: module parameters and buffers by dotted name, closure constants as `_tensor_constantN`. */
  readonly stateDict: Record<string, Tensor>;
  readonly signature: ProgramSignature;
  readonly backend: ProgramBackend;
  private runner: { run: (...inputs: unknown[]) => unknown; runAsync: (...inputs: unknown[]) => Promise<unknown> } | null = null;
  private readonly placeholderMeta: Map<string, NodeMeta>;
  private readonly placeholderNames: string[];

  constructor(graphModule: GraphModule, stateDict: Record<string, Tensor>, signature: ProgramSignature, backend: ProgramBackend = 'native') {
    this.graphModule = graphModule;
    this.stateDict = stateDict;
    this.signature = signature;
    this.backend = backend;
    const placeholders = graphModule.graph.placeholders();
    this.placeholderMeta = new Map(placeholders.map((n) => [n.name, n.meta]));
    this.placeholderNames = placeholders.map((n) => n.name);
  }

  /**
   * Runs the program on arguments shaped like the exported ones (same structure, dtypes,
   * static dims and specialised non-tensor values) and returns the result pytree.
   * @example const y = ep.run(tj.randn([2, 16]));
   */
  run(...args: unknown[]): any {
    const { inputs, leaves, symbols } = this.checkInputs(args);
    return this.finish(this.compiled().run(...inputs), leaves, symbols);
  }

  /**
   * run() off the event loop (the native executor runs on a worker thread).
   * @example const y = await ep.runAsync(x);
   */
  runAsync(...args: unknown[]): Promise<any> {
    // what the run makes belongs to its Promise, not to a tidy() open when it started
    return untracked(async () => {
      const { inputs, leaves, symbols } = this.checkInputs(args);
      return this.finish(await this.compiled().runAsync(...inputs), leaves, symbols);
    });
  }

  private finish(out: unknown, leaves: unknown[], symbols: Map<string, number>): unknown {
    const values = Array.isArray(out) ? out : [out];
    for (const c of this.signature.copyBacks) {
      const dst = 'constant' in c ? this.stateDict[c.constant] : (leaves[c.leaf] as Tensor);
      copyBack(dst, values[c.output] as Tensor);
    }
    return this.buildOutput(values, leaves, symbols);
  }

  /** An object whose `forward` runs the program, for code that expects a module. */
  module(): { forward: (...args: unknown[]) => any; runAsync: (...args: unknown[]) => Promise<any>; graphModule: GraphModule; stateDict: Record<string, Tensor> } {
    return {
      forward: (...args: unknown[]) => this.run(...args),
      runAsync: (...args: unknown[]) => this.runAsync(...args),
      graphModule: this.graphModule,
      stateDict: this.stateDict,
    };
  }

  /**
   * Writes ONE safetensors file at exactly `path`: the state dict as its tensors and the
   * program JSON ("tensorjit.program/1") under `__metadata__['tensorjit.program']`.
   * @example await ep.save('model.tjp.safetensors'); const again = await tj.loadProgram('model.tjp.safetensors');
   */
  async save(path: string): Promise<void> {
    const program = JSON.stringify(encodeProgram(this.graphModule, this.signature));
    await saveSafetensorsAsync(path, this.stateDict, { [PROGRAM_METADATA_KEY]: program });
  }

  toString(): string {
    return `ExportedProgram(${this.graphModule.code})`;
  }

  private compiled(): NonNullable<ExportedProgram['runner']> {
    if (!this.runner) {
      if (this.backend === 'native' && hasNativeExecutor()) {
        // a new input shape of a dynamic program may run its static-shape segments instead of a build, as compiled functions do
        const c = compileTiered(this.graphModule);
        this.runner = { run: c, runAsync: c.runAsync };
      } else {
        const run = (...inputs: unknown[]) => this.graphModule(...inputs);
        this.runner = { run, runAsync: async (...inputs: unknown[]) => run(...inputs) };
      }
    }
    return this.runner;
  }

  /** The graph inputs for `args` (one per placeholder), after checking them against the exported signature. */
  private checkInputs(args: unknown[]): { inputs: Tensor[]; leaves: unknown[]; symbols: Map<string, number> } {
    const sig = this.signature;
    const { leaves, spec, paths } = flatten(args);
    if (specKey(spec) !== specKey(sig.inputSpec))
      throw new TypeError(`ExportedProgram.run: the arguments are structured as ${specKey(spec)}, but the program was exported for ${specKey(sig.inputSpec)}`);
    const where = (i: number) => `args${paths[i].map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}`;
    const dynamic = new Map<string, DynamicDim>();
    for (const d of sig.dynamicDims) dynamic.set(`${d.leaf}:${d.dim}`, d);
    const symbols = new Map<string, number>();
    const byPlaceholder = new Map<string, Tensor>();
    leaves.forEach((leaf, i) => {
      const want = sig.inputLeaves[i];
      if (want.kind === 'value') {
        if (!sameValue(leaf, want.value))
          throw new RangeError(`ExportedProgram.run: ${where(i)} is ${show(leaf)}, but the program was exported specialised to ${show(want.value)}`);
        return;
      }
      const meta = this.placeholderMeta.get(want.placeholder)!;
      if (!(leaf instanceof Tensor))
        throw new TypeError(`ExportedProgram.run: ${where(i)} must be a Tensor ([${meta.shape.join(', ')}] ${meta.dtype}), got ${show(leaf)}`);
      if (leaf.dtype !== meta.dtype || leaf.ndim !== meta.shape.length)
        throw new TypeError(`ExportedProgram.run: ${where(i)} is ${describeTensor(leaf)}, but the program expects [${(meta.symShape ?? meta.shape).join(', ')}] ${meta.dtype}`);
      leaf.shape.forEach((size, dim) => {
        const dyn = dynamic.get(`${i}:${dim}`);
        if (!dyn) {
          if (size !== meta.shape[dim])
            throw new RangeError(`ExportedProgram.run: ${where(i)} is ${describeTensor(leaf)}, but dim ${dim} was exported as static size ${meta.shape[dim]}`);
          return;
        }
        if (size < dyn.min || size > dyn.max)
          throw new RangeError(`ExportedProgram.run: ${where(i)} dim ${dim} (${dyn.symbol}) is ${size}, outside its range [${dyn.min}, ${dyn.max}]`);
        const seen = symbols.get(dyn.symbol);
        if (seen !== undefined && seen !== size)
          throw new RangeError(`ExportedProgram.run: ${where(i)} dim ${dim} is ${size}, but ${dyn.symbol} is ${seen} elsewhere in the arguments`);
        symbols.set(dyn.symbol, size);
      });
      const other = byPlaceholder.get(want.placeholder);
      if (other && other !== leaf)
        throw new RangeError(`ExportedProgram.run: ${where(i)} must be the same tensor as another argument (they were one tensor when exported)`);
      byPlaceholder.set(want.placeholder, leaf);
    });
    // programs are traced over contiguous inputs
    const inputs = this.placeholderNames.map((n) => byPlaceholder.get(n)!).map((t) => (t.isContiguous() ? t : t.contiguous()));
    return { inputs, leaves, symbols };
  }

  private buildOutput(values: unknown[], inputLeaves: unknown[], symbols: Map<string, number>): unknown {
    const leaves = this.signature.outputLeaves.map((l) => {
      switch (l.kind) {
        case 'graph':
          return values[l.index];
        case 'input':
          return inputLeaves[l.leaf];
        case 'const':
          return this.stateDict[l.name];
        case 'size': {
          const count = Math.max(...[l.expr.s, 't' in l.expr ? l.expr.t : 0]) + 1;
          return evalExpr(l.expr, Array.from({ length: count }, (_, k) => symbols.get(`s${k}`) ?? NaN));
        }
        default:
          return l.value;
      }
    });
    return unflatten(this.signature.outputSpec, leaves);
  }
}

/** dst <- src after the graph computed dst's new value out of place. */
function copyBack(dst: Tensor, src: Tensor): void {
  if (dst === src) return;
  copyInto(dst, src);
  if (dst.storage) dst.storage.version++;
}
