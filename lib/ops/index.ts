/**
 * Every op family. Importing this module registers all ops and installs the Tensor
 * methods (typed by the generated lib/tensor_methods.ts); nothing else lists op names.
 */
import { installTensorMethods } from './registry';
import '../tensor_methods';

export * from './views';
export * from './creation';
export * from './pointwise';
export * from './reduce';
export * from './linalg';
export * from './conv';
export * from './norm';
export * from './attention';
export * from './indexing';

installTensorMethods();
