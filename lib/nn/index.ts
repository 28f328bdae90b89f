/**
 * `tj.nn`: modules with PyTorch's parameter naming, and `tj.nn.functional`.
 * @example
 *   const model = new tj.nn.Sequential(new tj.nn.Linear(4, 8), new tj.nn.GELU(), new tj.nn.Linear(8, 2));
 *   const y = model.eval().forward(tj.randn([3, 4]));
 */
export { Module, moduleHooks } from './module';
export type { LoadStateDictResult, CompiledModuleLike } from './module';
export { Linear, LayerNorm, Embedding, Conv2d, ReLU, GELU, Dropout } from './layers';
export type { LayerNormOptions, Conv2dOptions } from './layers';
export { Sequential, ModuleList } from './containers';
export { MultiheadAttention } from './attention';
export type { MultiheadAttentionOptions, MultiheadAttentionForwardOptions } from './attention';
import * as functional from './functional_public';
export { functional };
