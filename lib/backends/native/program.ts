/**
 * Builds the compact, versioned program the native executor runs
 * (format documented in native/graph/program.h; the C++ side validates all of it).
 */
import { DType, dtypeCode, itemSize } from '../../dtype';
import { kernelId } from '../../native';
import { Storage } from '../../storage';
import { shapeNumel } from '../../tensor';

export const PROGRAM_MAGIC = 0x544a4731;
export const PROGRAM_VERSION = 1;

export type ValueKind = 'input' | 'const' | 'temp' | 'output' | 'view';
const kindCode: Record<ValueKind, number> = { input: 0, const: 1, temp: 2, output: 3, view: 4 };

export interface ProgramValue {
  kind: ValueKind;
  dtype: DType;
  shape: number[];
  /** input index, const index, or (view) source value */
  index: number;
  mutable?: boolean;
  offset?: number;
  strides?: number[];
}

export interface ProgramInstr {
  kernel: string;
  inputs: number[];
  outputs: number[];
  attrs: number[];
}

export class ProgramBuilder {
  readonly values: ProgramValue[] = [];
  readonly instrs: ProgramInstr[] = [];
  readonly outputs: number[] = [];
  readonly consts: { buffer: ArrayBuffer; byteOffset: number; storage: Storage }[] = [];
  numInputs = 0;

  addInput(dtype: DType, shape: number[]): number {
    return this.push({ kind: 'input', dtype, shape, index: this.numInputs++ });
  }
  addConst(dtype: DType, shape: number[], storage: Storage, byteOffset: number): number {
    this.consts.push({ buffer: storage.buffer, byteOffset, storage });
    return this.push({ kind: 'const', dtype, shape, index: this.consts.length - 1 });
  }
  addTemp(dtype: DType, shape: number[]): number {
    return this.push({ kind: 'temp', dtype, shape, index: -1 });
  }
  /** A view of `source` (offset and strides in elements of the source's root buffer). */
  addView(source: number, shape: number[], strides: number[], offset: number): number {
    const root = this.rootOf(source);
    return this.push({ kind: 'view', dtype: this.values[root].dtype, shape, strides, offset, index: root });
  }
  addInstr(kernel: string, inputs: number[], outputs: number[], attrs: number[]): void {
    this.instrs.push({ kernel, inputs, outputs, attrs });
  }
  rootOf(v: number): number {
    while (this.values[v].kind === 'view') v = this.values[v].index;
    return v;
  }

  private push(v: ProgramValue): number {
    this.values.push(v);
    return this.values.length - 1;
  }

  bytesOf(v: number): number {
    const val = this.values[v];
    return shapeNumel(val.shape) * itemSize[val.dtype];
  }

  encode(): Float64Array {
    const w: number[] = [PROGRAM_MAGIC, PROGRAM_VERSION, this.numInputs, this.consts.length, this.values.length];
    for (const v of this.values) {
      w.push(kindCode[v.kind], dtypeCode[v.dtype], v.shape.length, ...v.shape);
      if (v.kind === 'input') w.push(v.index, v.mutable ? 1 : 0);
      else if (v.kind === 'const') w.push(v.index);
      else if (v.kind === 'view') w.push(v.index, v.offset!, ...v.strides!);
    }
    w.push(this.instrs.length);
    for (const ins of this.instrs) {
      w.push(kernelId(ins.kernel), ins.inputs.length, ...ins.inputs, ins.outputs.length, ...ins.outputs, ins.attrs.length, ...ins.attrs);
    }
    w.push(this.outputs.length, ...this.outputs);
    return Float64Array.from(w);
  }
}
