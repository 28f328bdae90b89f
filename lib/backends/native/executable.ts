/**
 * A lowered program bound to a native Executable: runs on the calling thread or,
 * with runAsync, off the event loop (its first runAsync also builds the executable
 * there). Outputs come back as new tensors.
 */
import { native } from '../../native';
import { opsOfKernel } from '../../ops/registry';
import { Tensor, describeTensor, packTensors } from '../../tensor';
import { LoweredProgram, mapTensorsDeep } from './lower';

interface NativeExecutable {
  /** The last numOutputs packed tensors receive the program's outputs. */
  run(buffers: ArrayBuffer[], meta: Float64Array, numOutputs: number): ArrayBuffer[];
  runAsync(buffers: ArrayBuffer[], meta: Float64Array, numOutputs: number): Promise<ArrayBuffer[]>;
  describe(): string;
  memoryPlan(): { arenaBytes: number; unplannedBytes: number };
}

type BuildArgs = [program: Float64Array, consts: ArrayBuffer[], offsets: Float64Array, versions: Float64Array];
interface ExecutableClass {
  new (...args: BuildArgs): NativeExecutable;
  /** Builds off the event loop (folding and prepacking a large model's weights takes 100+ ms). */
  build(...args: BuildArgs): Promise<NativeExecutable>;
}
const Executable = (native as unknown as { Executable: ExecutableClass }).Executable;

/** An executable and the versions of the constants it was built from. */
interface Built {
  exe: NativeExecutable;
  constVersions: number[];
}

export class CompiledProgram {
  private built: Built | null = null;
  /** How long the last build on the calling thread took (ms; for the tiering). */
  lastBuildMs = 0;
  private building: Promise<NativeExecutable> | null = null;
  private readonly encoded: Float64Array;
  private readonly consts: LoweredProgram['builder']['consts'];
  private readonly outputSpec: unknown;
  /** Meta of each program output. */
  readonly outputMeta: LoweredProgram['outputMeta'];
  /** Per output, the kernel that writes it (for an allocation error to name). */
  private readonly outputWriters: (string | undefined)[];

  /**
   * The native executable is built on first use: by `run` on the calling thread, by
   * `runAsync` off the event loop. `onBuilt` hears of every build (for logs). Only the
   * encoded program is kept from the lowering: a dynamic graph keeps one program per shape.
   */
  constructor(
    lowered: LoweredProgram,
    private readonly onBuilt?: (program: CompiledProgram) => void,
  ) {
    const b = lowered.builder;
    this.encoded = b.encode();
    this.consts = b.consts;
    this.outputSpec = lowered.outputSpec;
    this.outputMeta = lowered.outputMeta;
    this.outputWriters = b.outputs.map((v) => b.instrs.find((ins) => ins.outputs.includes(v))?.kernel);
  }

  /**
   * What the program holds in memory, roughly: measured, a 6-layer encoder's program
   * (24 KiB encoded) adds ~150 KiB of resident memory once built.
   */
  get footprintBytes(): number {
    return 6 * this.encoded.byteLength;
  }

  /**
   * The executable folds and prepacks constants once; an in-place update of a constant
   * (its storage version moved) rebuilds it so the update stays visible.
   */
  private fresh(): NativeExecutable | null {
    const built = this.built;
    if (!built) return null;
    const consts = this.consts;
    for (let i = 0; i < consts.length; i++) if (consts[i].storage.version !== built.constVersions[i]) return null;
    return built.exe;
  }

  private buildArgs(): { args: BuildArgs; constVersions: number[] } {
    const consts = this.consts;
    if (consts.some((c) => c.storage.released)) throw new Error('compiled graph: a constant it uses was disposed');
    const constVersions = consts.map((c) => c.storage.version);
    // with the versions, executables of other input shapes share the prepacked weights
    return {
      args: [this.encoded, consts.map((c) => c.storage.buffer), Float64Array.from(consts.map((c) => c.byteOffset)), Float64Array.from(constVersions)],
      constVersions,
    };
  }

  private adopt(built: Built): NativeExecutable {
    this.built = built;
    this.onBuilt?.(this);
    return built.exe;
  }

  /** The executable, built (or rebuilt) on the calling thread when needed. */
  private current(): NativeExecutable {
    const exe = this.fresh();
    if (exe) return exe;
    const { args, constVersions } = this.buildArgs();
    const t0 = performance.now();
    const built = { exe: new Executable(...args), constVersions };
    this.lastBuildMs = performance.now() - t0;
    return this.adopt(built);
  }

  /** The same, built off the event loop; concurrent callers share one build. */
  private currentAsync(): Promise<NativeExecutable> {
    const exe = this.fresh();
    if (exe) return Promise.resolve(exe);
    if (!this.building) {
      const { args, constVersions } = this.buildArgs();
      const building: Promise<NativeExecutable> = Executable.build(...args).then(
        (exe) => {
          if (this.building === building) this.building = null;
          return this.adopt({ exe, constVersions });
        },
        (e: unknown) => {
          if (this.building === building) this.building = null;
          throw e;
        },
      );
      this.building = building;
    }
    return this.building;
  }

  /** Whether an executable has been built (a later constant update may still rebuild it). */
  get isBuilt(): boolean {
    return this.built !== null;
  }

  /** The program and its memory plan, as the native side sees them (builds it if not yet built). */
  describe(): string {
    return this.current().describe();
  }
  memoryPlan(): { arenaBytes: number; unplannedBytes: number } {
    return this.current().memoryPlan();
  }

  /** Outputs are allocated here (so large buffers are reused, lib/storage.ts) and filled by the run. */
  run(inputs: Tensor[]): unknown {
    const outputs = this.newOutputs();
    const { buffers, meta } = packTensors([...inputs, ...outputs]);
    try {
      this.current().run(buffers, meta, outputs.length);
    } catch (e) {
      for (const t of outputs) t.dispose();
      throw disposedInputError(inputs) ?? namingOps(e);
    }
    return mapOutputs(this.outputSpec, outputs);
  }

  async runAsync(inputs: Tensor[]): Promise<unknown> {
    const outputs = this.newOutputs();
    try {
      const exe = this.fresh();
      if (exe) {
        const { buffers, meta } = packTensors([...inputs, ...outputs]);
        await exe.runAsync(buffers, meta, outputs.length);
      } else {
        await this.buildThenRun(inputs, outputs);
      }
    } catch (e) {
      for (const t of outputs) t.dispose();
      throw disposedInputError(inputs) ?? namingOps(e);
    }
    return mapOutputs(this.outputSpec, outputs);
  }

  /**
   * A runAsync that finds no fresh executable: builds one off the event loop, then runs.
   * The inputs' storages are held meanwhile, as a run's own pins hold them: a tensor
   * disposed before the promise settles is freed after the run, not before.
   */
  private async buildThenRun(inputs: Tensor[], outputs: Tensor[]): Promise<void> {
    const { buffers, meta } = packTensors([...inputs, ...outputs]);
    const ownMeta = meta.slice();  // packTensors reuses its meta array on the next call
    const held = inputs.map((t) => t.storage!);
    for (const s of held) s.retain();
    try {
      const exe = await this.currentAsync();
      await exe.runAsync(buffers, ownMeta, outputs.length);
    } finally {
      for (const s of held) s.release();
    }
  }

  private newOutputs(): Tensor[] {
    const outputs: Tensor[] = [];
    this.outputMeta.forEach((m, i) => {
      try {
        outputs.push(Tensor.empty(m.shape.slice(), m.dtype));
      } catch (e) {
        for (const t of outputs) t.dispose();
        // an output too large to allocate: say which kernel (and so which ops) would write it
        const writer = this.outputWriters[i];
        if (writer && e instanceof Error) e.message = `${writer}: output ${i} [${m.shape.join(', ')}] ${m.dtype}: ${e.message}`;
        throw namingOps(e);
      }
    });
    return outputs;
  }
}

/**
 * A kernel's error from a compiled graph ("index_select: index 5 is out of bounds ...") names
 * the ops that run that kernel, since those are what the user's code called.
 */
function namingOps(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const m = /^([a-z0-9_]+): /.exec(e.message);
  const ops = m ? opsOfKernel(m[1]) : [];
  if (ops.length) e.message = `${ops.join('/')} (compiled graph, kernel ${m![1]}): ${e.message.slice(m![0].length)}`;
  return e;
}

/** The error to give when a run failed because an input was disposed (the native one only says its view is empty). */
function disposedInputError(inputs: readonly Tensor[]): Error | null {
  const i = inputs.findIndex((t) => t.disposed);
  return i < 0 ? null : new Error(`compiled graph: input ${i} (${describeTensor(inputs[i])}) was disposed`);
}

function mapOutputs(spec: unknown, tensors: Tensor[]): unknown {
  if (spec && typeof spec === 'object' && '$output' in (spec as object)) return tensors[(spec as { $output: number }).$output];
  if (Array.isArray(spec)) return spec.map((s) => mapOutputs(s, tensors));
  if (spec && typeof spec === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(spec)) out[k] = mapOutputs(v, tensors);
    return out;
  }
  return spec;
}

export { mapTensorsDeep };
