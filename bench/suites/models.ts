/**
 * The workloads of the backend bench, each defined twice from the same seeded
 * weights: as tensorjit code (run eagerly and through tj.compile) and as an ONNX
 * graph (run by onnxruntime-node).
 */
import * as tj from '../../lib/index';
import { Dim, OnnxGraph } from '../lib/onnx';

export interface Workload {
  name: string;
  /** flops per run when compute-bound, bytes moved per run when memory-bound */
  work?: { flops?: number; bytes?: number };
  inputs: () => tj.Tensor[];
  fn: (...xs: tj.Tensor[]) => tj.Tensor;
  /** Builds the same computation; graph inputs are named x0, x1, ... and the output 'out'. */
  onnx: (g: OnnxGraph, inputs: tj.Tensor[]) => void;
}

const seeded = <T>(seed: number, make: () => T): T => {
  tj.manualSeed(seed);
  return make();
};
const scaled = (shape: number[], scale: number) => tj.mul(tj.randn(shape), scale);

function addInputs(g: OnnxGraph, xs: tj.Tensor[]): string[] {
  return xs.map((x, i) => g.input(`x${i}`, x.shape));
}

export function matmulWorkload(n: number): Workload {
  return {
    name: `matmul ${n}`,
    work: { flops: 2 * n * n * n },
    inputs: () => seeded(n, () => [tj.randn([n, n]), tj.randn([n, n])]),
    fn: (a, b) => tj.matmul(a, b),
    onnx: (g, xs) => {
      const [a, b] = addInputs(g, xs);
      g.finish(g.op('MatMul', [a, b]), 'out', [n, n]);
    },
  };
}

export function linearWorkload(m: number, k: number, n: number): Workload {
  const [w, b] = seeded(1, () => [scaled([n, k], 1 / Math.sqrt(k)), tj.randn([n])]);
  return {
    name: `linear ${m}x${k}x${n}`,
    work: { flops: 2 * m * k * n },
    inputs: () => seeded(2, () => [tj.randn([m, k])]),
    fn: (x) => tj.linear(x, w, b),
    onnx: (g, xs) => {
      const [x] = addInputs(g, xs);
      g.finish(g.op('Gemm', [x, g.weight(w), g.weight(b)], { transB: 1 }), 'out', [m, n]);
    },
  };
}

export function mlpWorkload(batch: number): Workload {
  const sizes = [784, 1024, 1024, 10];
  const layers = seeded(3, () => sizes.slice(1).map((out, i) => [scaled([out, sizes[i]], 1 / Math.sqrt(sizes[i])), tj.mul(tj.randn([out]), 0.1)]));
  return {
    name: `MLP 784-1024-1024-10 batch ${batch}`,
    work: { flops: 2 * batch * (784 * 1024 + 1024 * 1024 + 1024 * 10) },
    inputs: () => seeded(4, () => [tj.randn([batch, 784])]),
    fn: (x) => {
      let h = x;
      layers.forEach(([w, b], i) => {
        h = tj.linear(h, w, b);
        if (i < layers.length - 1) h = tj.relu(h);
      });
      return h;
    },
    onnx: (g, xs) => {
      let [h] = addInputs(g, xs);
      layers.forEach(([w, b], i) => {
        h = g.op('Gemm', [h, g.weight(w), g.weight(b)], { transB: 1 });
        if (i < layers.length - 1) h = g.op('Relu', [h]);
      });
      g.finish(h, 'out', [batch, 10]);
    },
  };
}

/** The chain's ten ops, each applied to the previous one's result (x is the input). */
export function pointwiseChainSteps(x: tj.Tensor): ((y: tj.Tensor) => tj.Tensor)[] {
  return [
    (y) => tj.mul(y, 1.5), (y) => tj.add(y, 0.5), (y) => tj.relu(y), (y) => tj.mul(y, y), (y) => tj.sub(y, x),
    (y) => tj.sigmoid(y), (y) => tj.mul(y, 2), (y) => tj.tanh(y), (y) => tj.add(y, x), (y) => tj.abs(y),
  ];
}

export function pointwiseChainWorkload(numel: number): Workload {
  return {
    name: `pointwise chain of 10 ops, ${numel / (1 << 20)}M floats`,
    work: { bytes: 2 * numel * 4 },
    inputs: () => seeded(5, () => [tj.randn([numel])]),
    fn: (x) => pointwiseChainSteps(x).reduce((y, step) => step(y), x),
    onnx: (g, xs) => {
      const [x] = addInputs(g, xs);
      let y = g.op('Mul', [x, g.scalar(1.5)]);
      y = g.op('Add', [y, g.scalar(0.5)]);
      y = g.op('Relu', [y]);
      y = g.op('Mul', [y, y]);
      y = g.op('Sub', [y, x]);
      y = g.op('Sigmoid', [y]);
      y = g.op('Mul', [y, g.scalar(2)]);
      y = g.op('Tanh', [y]);
      y = g.op('Add', [y, x]);
      g.finish(g.op('Abs', [y]), 'out', [numel]);
    },
  };
}

export function softmaxWorkload(shape: number[]): Workload {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    name: `softmax [${shape.join(',')}]`,
    work: { bytes: 2 * n * 4 },
    inputs: () => seeded(6, () => [tj.randn(shape)]),
    fn: (x) => tj.softmax(x, -1),
    onnx: (g, xs) => {
      const [x] = addInputs(g, xs);
      g.finish(g.op('Softmax', [x], { axis: -1 }), 'out', shape);
    },
  };
}

export function layerNormWorkload(rows: number, cols: number): Workload {
  const [w, b] = seeded(7, () => [tj.randn([cols]), tj.randn([cols])]);
  return {
    name: `layerNorm [${rows},${cols}]`,
    work: { bytes: 2 * rows * cols * 4 },
    inputs: () => seeded(8, () => [tj.randn([rows, cols])]),
    fn: (x) => tj.layerNorm(x, [cols], w, b, 1e-5),
    onnx: (g, xs) => {
      const [x] = addInputs(g, xs);
      g.finish(g.op('LayerNormalization', [x, g.weight(w), g.weight(b)], { axis: -1, epsilon: 1e-5 }), 'out', [rows, cols]);
    },
  };
}

interface EncoderWeights {
  wq: tj.Tensor; bq: tj.Tensor; wk: tj.Tensor; bk: tj.Tensor; wv: tj.Tensor; bv: tj.Tensor;
  wo: tj.Tensor; bo: tj.Tensor; ln1w: tj.Tensor; ln1b: tj.Tensor;
  w1: tj.Tensor; b1: tj.Tensor; w2: tj.Tensor; b2: tj.Tensor; ln2w: tj.Tensor; ln2b: tj.Tensor;
}

const HIDDEN = 384, HEADS = 12, FFN = 1536;

function encoderWeights(seed: number): EncoderWeights {
  return seeded(seed, () => {
    const lin = (o: number, i: number) => scaled([o, i], 1 / Math.sqrt(i));
    const vec = (n: number, s = 0.02) => scaled([n], s);
    return {
      wq: lin(HIDDEN, HIDDEN), bq: vec(HIDDEN), wk: lin(HIDDEN, HIDDEN), bk: vec(HIDDEN), wv: lin(HIDDEN, HIDDEN), bv: vec(HIDDEN),
      wo: lin(HIDDEN, HIDDEN), bo: vec(HIDDEN), ln1w: tj.add(vec(HIDDEN, 0.1), 1), ln1b: vec(HIDDEN),
      w1: lin(FFN, HIDDEN), b1: vec(FFN), w2: lin(HIDDEN, FFN), b2: vec(HIDDEN), ln2w: tj.add(vec(HIDDEN, 0.1), 1), ln2b: vec(HIDDEN),
    };
  });
}

/** A BERT/MiniLM encoder layer: self-attention, residual, post-norm, GELU FFN, residual, post-norm. */
function encoderLayer(x: tj.Tensor, p: EncoderWeights): tj.Tensor {
  const [b, s] = x.shape;
  const heads = (t: tj.Tensor) => t.reshape([b, s, HEADS, HIDDEN / HEADS]).transpose(1, 2);
  const q = heads(tj.linear(x, p.wq, p.bq));
  const k = heads(tj.linear(x, p.wk, p.bk));
  const v = heads(tj.linear(x, p.wv, p.bv));
  const attn = tj.scaledDotProductAttention(q, k, v).transpose(1, 2).reshape([b, s, HIDDEN]);
  const h = tj.layerNorm(tj.add(x, tj.linear(attn, p.wo, p.bo)), [HIDDEN], p.ln1w, p.ln1b, 1e-12);
  const f = tj.linear(tj.gelu(tj.linear(h, p.w1, p.b1)), p.w2, p.b2);
  return tj.layerNorm(tj.add(h, f), [HIDDEN], p.ln2w, p.ln2b, 1e-12);
}

/** Reshapes keep the batch and sequence dims (0: copied from the input), so any length runs. */
function encoderLayerOnnx(g: OnnxGraph, x: string, p: EncoderWeights): string {
  const lin = (v: string, w: tj.Tensor, bias: tj.Tensor) => g.op('Add', [g.op('MatMul', [v, g.weight(w.transpose(0, 1))]), g.weight(bias)]);
  const dh = HIDDEN / HEADS;
  const heads = (v: string) => g.op('Transpose', [g.op('Reshape', [v, g.ints([0, 0, HEADS, dh])])], { perm: [0, 2, 1, 3] });
  const q = heads(lin(x, p.wq, p.bq)), k = heads(lin(x, p.wk, p.bk)), v = heads(lin(x, p.wv, p.bv));
  const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.scalar(1 / Math.sqrt(dh))]);
  const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
  const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.ints([0, 0, HIDDEN])]);
  const ln = (v1: string, w: tj.Tensor, bias: tj.Tensor) => g.op('LayerNormalization', [v1, g.weight(w), g.weight(bias)], { axis: -1, epsilon: 1e-12 });
  const h = ln(g.op('Add', [x, lin(merged, p.wo, p.bo)]), p.ln1w, p.ln1b);
  const up = lin(h, p.w1, p.b1);
  // exact GELU: 0.5 x (1 + erf(x / sqrt 2)); onnxruntime fuses this pattern
  const gelu = g.op('Mul', [g.op('Mul', [up, g.scalar(0.5)]), g.op('Add', [g.op('Erf', [g.op('Div', [up, g.scalar(Math.SQRT2)])]), g.scalar(1)])]);
  return ln(g.op('Add', [h, lin(gelu, p.w2, p.b2)]), p.ln2w, p.ln2b);
}

/** A stack of encoder layers with seeded weights, for tensorjit and (at any batch and length) onnxruntime. */
export function encoderModel(layers: number) {
  const weights = Array.from({ length: layers }, (_, i) => encoderWeights(100 + i));
  return {
    fn: (x: tj.Tensor) => weights.reduce((h, p) => encoderLayer(h, p), x),
    /** The ONNX graph; dims may be names (dynamic axes). */
    onnx: (g: OnnxGraph, batch: Dim, seq: Dim) => {
      const x = g.input('x0', [batch, seq, HIDDEN]);
      g.finish(weights.reduce((h, p) => encoderLayerOnnx(g, h, p), x), 'out', [batch, seq, HIDDEN]);
    },
    flops: (batch: number, seq: number) => layers * (2 * batch * seq * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN) + 4 * batch * seq * seq * HIDDEN),
    hidden: HIDDEN,
  };
}

export function encoderWorkload(batch: number, layers: number, seq = 128): Workload {
  const model = encoderModel(layers);
  return {
    name: `BERT encoder ${layers === 1 ? 'layer' : `${layers} layers`} batch ${batch} seq ${seq}`,
    work: { flops: model.flops(batch, seq) },
    inputs: () => seeded(9, () => [tj.randn([batch, seq, HIDDEN])]),
    fn: model.fn,
    onnx: (g) => model.onnx(g, batch, seq),
  };
}

export function convBlockWorkload(): Workload {
  const c = 64, hw = 56;
  const [w1, b1, w2, b2] = seeded(10, () => [scaled([c, c, 3, 3], 1 / Math.sqrt(9 * c)), scaled([c], 0.1), scaled([c, c, 3, 3], 1 / Math.sqrt(9 * c)), scaled([c], 0.1)]);
  return {
    name: `conv block 3x3 ${c}ch ${hw}x${hw} batch 1`,
    work: { flops: 2 * 2 * c * c * 9 * hw * hw },
    inputs: () => seeded(11, () => [tj.randn([1, c, hw, hw])]),
    fn: (x) => tj.relu(tj.add(tj.conv2d(tj.relu(tj.conv2d(x, w1, b1, { padding: 1 })), w2, b2, { padding: 1 }), x)),
    onnx: (g, xs) => {
      const [x] = addInputs(g, xs);
      const conv = (v: string, w: tj.Tensor, b: tj.Tensor) => g.op('Conv', [v, g.weight(w), g.weight(b)], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] });
      g.finish(g.op('Relu', [g.op('Add', [conv(g.op('Relu', [conv(x, w1, b1)]), w2, b2), x])]), 'out', [1, c, hw, hw]);
    },
  };
}

export function trivialWorkload(): Workload {
  return {
    name: 'trivial graph (x + 1, 4 floats): per-call overhead',
    inputs: () => [tj.ones([4])],
    fn: (x) => tj.add(x, 1),
    onnx: (g, xs) => {
      const [x] = addInputs(g, xs);
      g.finish(g.op('Add', [x, g.scalar(1)]), 'out', [4]);
    },
  };
}
