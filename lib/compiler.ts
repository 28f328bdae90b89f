/**
 * `tj.compiler`: the fine-grained API of the compiler (torch.compiler's names in camelCase).
 * @example tj.compiler.disallowInGraph(tj.sub); const counter = new tj.compiler.testing.CompileCounter();
 */
import {
  allowInGraph,
  assumeConstantResult,
  config,
  disable,
  disallowInGraph,
  explain,
  graphBreak,
  isCompiling,
  isDynamoCompiling,
  markDynamic,
  markStatic,
  reset,
} from './dynamo';
import { CompileCounter, CompileCounterWithBackend, listBackends, registerBackend } from './backends';

export const compiler = {
  disable,
  allowInGraph,
  disallowInGraph,
  isCompiling,
  isDynamoCompiling,
  graphBreak,
  reset,
  assumeConstantResult,
  markDynamic,
  markStatic,
  listBackends,
  registerBackend,
  config,
  explain,
  testing: { CompileCounter, CompileCounterWithBackend },
};
