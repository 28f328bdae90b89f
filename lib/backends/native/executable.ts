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
  private readonly exe: NativeExecutable;

  constructor(readonly lowered: LoweredProgram) {
    const b = lowered.builder;
    const Ctor = (native as unknown as { Executable: ExecutableCtor }).Executable;
    this.exe = new Ctor(b.encode(), b.consts.map((c) => c.buffer), Float64Array.from(b.consts.map((c) => c.byteOffset)));
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
    return this.wrap(this.exe.run(buffers, meta));
  }

  async runAsync(inputs: Tensor[]): Promise<unknown> {
    const { buffers, meta } = packTensors(inputs);
    return this.wrap(await this.exe.runAsync(buffers, meta));
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
