/** The graph IR (torch.fx-shaped): Graph, Node, GraphModule, the Interpreter and printers. */
export { Node, forEachNode, mapNodes, isPlainObject } from './node';
export type { NodeOp, NodeMeta, Target } from './node';
export { Graph, identifierFrom } from './graph';
export { GraphModule, functionFromCode } from './graph_module';
export { Interpreter } from './interpreter';
export { printCode, printTable, printLiteral, targetName } from './printer';
export { builtinInfo, affineText, fxNamespace, getitem, symSize, symAffine, symProduct, outOfPlace, asStrided, viewScatter, checkLayout } from './builtins';
export type { BuiltinInfo } from './builtins';
export { graphKey, integerLiterals, objectId, isContiguousLayout, denseDimOrder, stridesForDimOrder, isNonOverlapping } from './key';
export type { LiteralSite, KeyOptions } from './key';
export { flatten, unflatten, mapLeaves, specKey, isTreeMap } from './pytree';
export type { TreeSpec, Flat } from './pytree';
