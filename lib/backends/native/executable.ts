/**
 * A lowered program bound to a native Executable: runs on the calling thread or,
 * with runAsync, off the event loop. Outputs come back as fresh tensors.
 */
import { native } from '../../native';
import { Storage } from '../../storage';
import { Tensor, packTensors } from '../../tensor';
import { LoweredProgram, mapTensorsDeep } from './lower';

interface NativeExecutable {
  run(buffers: ArrayBuffer[], meta: Float64Array): ArrayBuffer[];
  runAsync(buffers: ArrayBuffer[], meta: Float64Array): Promise<ArrayBuffer[]>;
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

  run(inputs: Tensor[]): unknown {
    const { buffers, meta } = packTensors(inputs);
    return this.wrap(this.current().run(buffers, meta));
  }

  async runAsync(inputs: Tensor[]): Promise<unknown> {
    const { buffers, meta } = packTensors(inputs);
    return this.wrap(await this.current().runAsync(buffers, meta));
  }

  private wrap(buffers: ArrayBuffer[]): unknown {
    const { outputMeta, outputSpec } = this.lowered;
    const tensors = buffers.map((buf, i) => new Tensor({ storage: new Storage(buf, true), shape: outputMeta[i].shape.slice(), dtype: outputMeta[i].dtype }));
    return mapOutputs(outputSpec, tensors);
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
