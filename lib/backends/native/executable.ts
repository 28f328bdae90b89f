/**
 * A lowered program bound to a native Executable: runs on the calling thread or,
 * with runAsync, off the event loop. Outputs come back as new tensors.
 */
import { native } from '../../native';
import { Tensor, packTensors } from '../../tensor';
import { LoweredProgram, mapTensorsDeep } from './lower';

interface NativeExecutable {
  /** The last numOutputs packed tensors receive the program's outputs. */
  run(buffers: ArrayBuffer[], meta: Float64Array, numOutputs: number): ArrayBuffer[];
  runAsync(buffers: ArrayBuffer[], meta: Float64Array, numOutputs: number): Promise<ArrayBuffer[]>;
  describe(): string;
  memoryPlan(): { arenaBytes: number; unplannedBytes: number };
}

type ExecutableCtor = new (program: Float64Array, consts: ArrayBuffer[], offsets: Float64Array) => NativeExecutable;

export class CompiledProgram {
  private exe: NativeExecutable;
  private readonly encoded: Float64Array;
  private constVersions: number[];

  constructor(readonly lowered: LoweredProgram) {
    this.encoded = lowered.builder.encode();
    this.constVersions = lowered.builder.consts.map((c) => c.storage.version);
    this.exe = this.build();
  }

  private build(): NativeExecutable {
    const consts = this.lowered.builder.consts;
    const Ctor = (native as unknown as { Executable: ExecutableCtor }).Executable;
    return new Ctor(this.encoded, consts.map((c) => c.storage.buffer), Float64Array.from(consts.map((c) => c.byteOffset)));
  }

  /**
   * The executable folds and prepacks constants once; an in-place update of a constant
   * (its storage version moved) rebuilds it so the update stays visible.
   */
  private current(): NativeExecutable {
    const consts = this.lowered.builder.consts;
    for (let i = 0; i < consts.length; i++) {
      if (consts[i].storage.version !== this.constVersions[i]) {
        if (consts[i].storage.released) throw new Error('compiled graph: a constant it uses was disposed');
        this.constVersions = consts.map((c) => c.storage.version);
        this.exe = this.build();
        break;
      }
    }
    return this.exe;
  }

  /** The program and its memory plan, as the native side sees them. */
  describe(): string {
    return this.exe.describe();
  }
  memoryPlan(): { arenaBytes: number; unplannedBytes: number } {
    return this.exe.memoryPlan();
  }

  /** Outputs are allocated here (so large buffers are reused, lib/storage.ts) and filled by the run. */
  run(inputs: Tensor[]): unknown {
    const outputs = this.newOutputs();
    const { buffers, meta } = packTensors([...inputs, ...outputs]);
    try {
      this.current().run(buffers, meta, outputs.length);
    } catch (e) {
      for (const t of outputs) t.dispose();
      throw e;
    }
    return mapOutputs(this.lowered.outputSpec, outputs);
  }

  async runAsync(inputs: Tensor[]): Promise<unknown> {
    const outputs = this.newOutputs();
    const { buffers, meta } = packTensors([...inputs, ...outputs]);
    try {
      await this.current().runAsync(buffers, meta, outputs.length);
    } catch (e) {
      for (const t of outputs) t.dispose();
      throw e;
    }
    return mapOutputs(this.lowered.outputSpec, outputs);
  }

  private newOutputs(): Tensor[] {
    return this.lowered.outputMeta.map((m) => Tensor.empty(m.shape.slice(), m.dtype));
  }
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
