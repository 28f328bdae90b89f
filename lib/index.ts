/**
 * tensorjit: tensors with native SIMD kernels, and torch.compile for Node.js.
 * @example
 *   import * as tj from 'tensorjit';
 *   const y = tj.relu(tj.matmul(tj.randn([2, 3]), tj.randn([3, 4])));
 */
export { Tensor } from './tensor';
export type { DType } from './dtype';
export * from './ops/index';
export { tidy, keep } from './scope';
export { setNumThreads, getNumThreads, isa, memory, emptyCache, resetPeakMemory } from './runtime';
export type { MemoryInfo } from './runtime';
export { isOp, allOps, getOp } from './ops/registry';
export type { Op, OpTrait } from './ops/registry';
export * as io from './io/index';
export * as nn from './nn/index';
export { exportProgram, loadProgram, ExportedProgram } from './export/index';
export { compile } from './dynamo/index';
export type { CompileOptions, CompiledFn } from './dynamo/index';
export { compiler } from './compiler';
export { GraphModule, Graph, Node, Interpreter } from './fx/index';
