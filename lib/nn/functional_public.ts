/** The public `tj.nn.functional` namespace (functional.ts also holds internal helpers). */
export {
  relu, gelu, silu, softmax, logSoftmax, linear, layerNorm, embedding, conv2d, maxPool2d, avgPool2d,
  dropout, scaledDotProductAttention,
} from './functional';
