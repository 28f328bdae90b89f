/**
 * Builds ONNX models in memory (onnx-proto) with the same weights as the tensorjit
 * workloads, and runs them with onnxruntime-node: the peer Node users pick today.
 */
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import * as tj from '../../lib/index';

type AttrValue = number | number[] | string;
/** A dimension: its size, or a name for a size given at run time (a dynamic axis). */
export type Dim = number | string;

export class OnnxGraph {
  private nodes: onnx.INodeProto[] = [];
  private inits: onnx.ITensorProto[] = [];
  private inputs: onnx.IValueInfoProto[] = [];
  private outputs: onnx.IValueInfoProto[] = [];
  private counter = 0;

  private static valueInfo(name: string, dims: Dim[]): onnx.IValueInfoProto {
    return {
      name,
      type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
    };
  }

  input(name: string, dims: Dim[]): string {
    this.inputs.push(OnnxGraph.valueInfo(name, dims));
    return name;
  }

  output(name: string, dims: Dim[]): void {
    this.outputs.push(OnnxGraph.valueInfo(name, dims));
  }

  /** A float32 initializer holding a tensorjit tensor's values. */
  weight(t: tj.Tensor, name = `w${this.counter++}`): string {
    const data = t.contiguous().dataSync() as Float32Array;
    this.inits.push({ name, dims: t.shape, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  /** An int64 initializer (shapes, axes). */
  ints(values: number[], name = `i${this.counter++}`): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.inits.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  scalar(value: number, name = `s${this.counter++}`): string {
    const data = new Float32Array([value]);
    this.inits.push({ name, dims: [], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, numOutputs = 1): string[] {
    const outputs = Array.from({ length: numOutputs }, () => `v${this.counter++}`);
    const attribute: onnx.IAttributeProto[] = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'string') return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) };
      if (Array.isArray(v)) return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v };
      return Number.isInteger(v) && name !== 'epsilon' && name !== 'alpha' && name !== 'beta'
        ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v }
        : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v };
    });
    this.nodes.push({ opType, input: inputs, output: outputs, attribute, domain: '' });
    return outputs;
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(opType, inputs, attrs, 1)[0];
  }

  /** Renames a value to a graph output name via Identity. */
  finish(value: string, name: string, dims: Dim[]): void {
    this.nodes.push({ opType: 'Identity', input: [value], output: [name], domain: '' });
    this.output(name, dims);
  }

  serialize(): Uint8Array {
    const model: onnx.IModelProto = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'tensorjit-bench',
      graph: { name: 'g', node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    };
    return onnx.ModelProto.encode(model).finish();
  }
}

export async function ortSession(graph: OnnxGraph, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(graph.serialize(), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

export function ortTensor(t: tj.Tensor): ort.Tensor {
  return new ort.Tensor('float32', t.contiguous().dataSync() as Float32Array, t.shape);
}

export { ort };
