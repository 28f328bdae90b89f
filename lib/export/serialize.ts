/**
 * The program JSON of an exported program ("tensorjit.program/1"): the graph's nodes with
 * registry op names as targets, args/kwargs with literals and node references, meta,
 * the state-dict names of its constants, the input/output pytree specs and dynamic dims.
 * Loading rebuilds the graph through the registry by op name; it never evaluates code
 * from the file (the printed `code` is stored for people, not for loading).
 */
import { DType, isDType } from '../dtype';
import { getOp, isOp } from '../ops/registry';
import { Tensor, describeTensor } from '../tensor';
import { Graph, GraphModule, Node, NodeMeta, TreeSpec, fxNamespace, identifierFrom } from '../fx/index';
import type { MapKey } from '../fx/pytree';
import { Json, ProgramFormatError, decodeValue, encodeValue } from './values';
import type { SymExpr } from '../dynamo/dynamic';

export const PROGRAM_FORMAT = 'tensorjit.program/1';
/** The safetensors `__metadata__` key that holds the program JSON. */
export const PROGRAM_METADATA_KEY = 'tensorjit.program';

/** One leaf of the flattened arguments: a graph input, or a value the program was specialised to. */
export type InputLeaf = { kind: 'tensor'; placeholder: string } | { kind: 'value'; value: unknown };

/** A dim of a tensor input that may vary between calls. */
export interface DynamicDim {
  /** index among the input leaves */
  leaf: number;
  dim: number;
  /** dims with the same symbol must be equal */
  symbol: string;
  min: number;
  /** Infinity when unbounded (null in the JSON) */
  max: number;
}

/** How the user's arguments and results map onto the graph's inputs and outputs. */
export interface ProgramSignature {
  /** pytree spec of the argument array */
  inputSpec: TreeSpec;
  inputLeaves: InputLeaf[];
  /** pytree spec of the result; the graph returns a flat array of values */
  outputSpec: TreeSpec;
  outputLeaves: OutputLeaf[];
  /** in-place updates of inputs and weights: graph output -> the tensor it is copied into after each run */
  copyBacks: CopyBackSpec[];
  dynamicDims: DynamicDim[];
}

/** A leaf of the result: a graph output, an input returned as is, a weight, or a literal. */
export type OutputLeaf =
  | { kind: 'graph'; index: number }
  | { kind: 'input'; leaf: number }
  | { kind: 'const'; name: string }
  | { kind: 'value'; value: unknown }
  /** a number computed from the dynamic sizes (symbol k is `s${k}` of dynamicDims) */
  | { kind: 'size'; expr: SymExpr };

export type CopyBackSpec = { output: number; leaf: number } | { output: number; constant: string };

const BUILTIN_NAMES = new Map<Function, string>(Object.entries(fxNamespace).map(([k, f]) => [f as Function, k]));

function targetJson(node: Node): Json {
  const t = node.target;
  if (node.op !== 'call_function') return String(t);
  if (isOp(t)) return { op: t.opName };
  const builtin = BUILTIN_NAMES.get(t as Function);
  if (builtin) return { builtin };
  const name = typeof t === 'function' ? t.name || '(anonymous)' : String(t);
  throw new TypeError(
    `exportProgram: node '${node.name}' calls the function '${name}' (allowInGraph), which a saved program cannot hold; ` +
    'register it as an op with defineOp, or let the tracer trace through it');
}

function argLeaf(x: object): Json | undefined {
  if (x instanceof Node) return { $node: x.name };
  if (isOp(x)) return { $op: x.opName };
  if (x instanceof Tensor) throw new TypeError(`exportProgram: a tensor literal (${describeTensor(x)}) inside node arguments cannot be saved`);
  return undefined;
}

function metaJson(m: NodeMeta): Json {
  const out: { [k: string]: Json } = { shape: m.shape.slice(), dtype: m.dtype };
  if (m.symShape) out.symShape = m.symShape.slice();
  if (m.strides) out.strides = m.strides.slice();
  if (m.items) out.items = m.items.map(metaJson);
  if (m.sym !== undefined) out.sym = m.sym;
  return out;
}

/** The program JSON for a graph module, its constants' names and its signature. */
export function encodeProgram(gm: GraphModule, signature: ProgramSignature): Json {
  const nodes = gm.graph.nodes.map((n) => ({
    name: n.name,
    op: n.op,
    target: targetJson(n),
    args: encodeValue(n.args, argLeaf, `${n.name}.args`),
    kwargs: encodeValue(n.kwargs, argLeaf, `${n.name}.kwargs`),
    meta: metaJson(n.meta),
  }));
  const constants = gm.graph.nodes.filter((n) => n.op === 'get_attr').map((n) => String(n.target));
  const noNodes = (x: object) => argLeaf(x);
  return {
    format: PROGRAM_FORMAT,
    graph: { nodes } as unknown as Json,
    constants: [...new Set(constants)],
    inputs: {
      spec: signature.inputSpec as unknown as Json,
      leaves: signature.inputLeaves.map((l): Json =>
        l.kind === 'tensor' ? { kind: 'tensor', placeholder: l.placeholder } : { kind: 'value', value: encodeValue(l.value, noNodes, 'input') }),
    },
    outputs: {
      spec: signature.outputSpec as unknown as Json,
      leaves: signature.outputLeaves.map((l): Json =>
        l.kind === 'value' ? { kind: 'value', value: encodeValue(l.value, noNodes, 'output') } : { ...l }),
    },
    copyBacks: signature.copyBacks.map((c): Json => ({ ...c })),
    dynamicDims: signature.dynamicDims.map((d) => ({ ...d, max: Number.isFinite(d.max) ? d.max : null })) as unknown as Json,
    code: gm.code,
  };
}

// ---- decoding (everything checked: the JSON comes from a file)

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNat = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function need(cond: unknown, what: string): asserts cond {
  if (!cond) throw new ProgramFormatError(what);
}

function decodeMeta(j: unknown, where: string): NodeMeta {
  need(isObj(j), `${where}: meta must be an object`);
  need(Array.isArray(j.shape) && j.shape.every(isNat), `${where}: meta.shape must be an array of sizes`);
  need(isDType(j.dtype), `${where}: meta.dtype ${JSON.stringify(j.dtype)} is not a dtype`);
  const meta: NodeMeta = { shape: (j.shape as number[]).slice(), dtype: j.dtype as DType };
  if (j.symShape !== undefined) {
    need(Array.isArray(j.symShape) && j.symShape.every((d) => isNat(d) || typeof d === 'string'), `${where}: bad meta.symShape`);
    meta.symShape = (j.symShape as (number | string)[]).slice();
  }
  if (j.strides !== undefined) {
    need(Array.isArray(j.strides) && j.strides.every((s) => typeof s === 'number' && Number.isSafeInteger(s)), `${where}: bad meta.strides`);
    meta.strides = (j.strides as number[]).slice();
  }
  if (j.items !== undefined) {
    need(Array.isArray(j.items), `${where}: bad meta.items`);
    meta.items = j.items.map((m, i) => decodeMeta(m, `${where}.items[${i}]`));
  }
  if (j.sym !== undefined) {
    need(typeof j.sym === 'string', `${where}: bad meta.sym`);
    meta.sym = j.sym;
  }
  return meta;
}

function decodeSpec(j: unknown, where: string): TreeSpec {
  need(isObj(j), `${where}: a pytree spec must be an object`);
  if (j.kind === 'leaf') return { kind: 'leaf' };
  if (j.kind === 'array') {
    need(Array.isArray(j.children), `${where}: array spec without children`);
    return { kind: 'array', children: j.children.map((c, i) => decodeSpec(c, `${where}[${i}]`)) };
  }
  if (j.kind === 'map') {
    need(Array.isArray(j.keys) && Array.isArray(j.children) && j.keys.length === j.children.length
      && j.keys.every((k) => typeof k === 'string' || (typeof k === 'number' && Number.isFinite(k))), `${where}: bad pytree spec`);
    return { kind: 'map', keys: (j.keys as MapKey[]).slice(), children: j.children.map((c, i) => decodeSpec(c, `${where}.${String((j.keys as MapKey[])[i])}`)) };
  }
  need(j.kind === 'object' && Array.isArray(j.keys) && Array.isArray(j.children) && j.keys.length === j.children.length
    && j.keys.every((k) => typeof k === 'string'), `${where}: bad pytree spec`);
  return { kind: 'object', keys: (j.keys as string[]).slice(), children: j.children.map((c, i) => decodeSpec(c, `${where}.${String((j.keys as string[])[i])}`)) };
}

function decodeExpr(j: unknown, where: string): SymExpr {
  const int = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x);
  need(isObj(j), `${where}: bad size expression`);
  if (j.kind === 'sym' && isNat(j.s)) return { kind: 'sym', s: j.s as number };
  if (j.kind === 'affine' && isNat(j.s) && int(j.a) && int(j.b)) return { kind: 'affine', s: j.s as number, a: j.a as number, b: j.b as number };
  if (j.kind === 'product' && isNat(j.s) && isNat(j.t) && int(j.c)) return { kind: 'product', s: j.s as number, t: j.t as number, c: j.c as number };
  throw new ProgramFormatError(`${where}: bad size expression ${JSON.stringify(j)}`);
}

export function countLeaves(spec: TreeSpec): number {
  return spec.kind === 'leaf' ? 1 : spec.children.reduce((s, c) => s + countLeaves(c), 0);
}

export interface DecodedProgram {
  graphModule: GraphModule;
  signature: ProgramSignature;
  stateDict: Record<string, Tensor>;
}

/**
 * Rebuilds the graph module of a program JSON over the file's tensors. Unknown format
 * versions, ops that are not registered, dangling node references and constants missing
 * from the file are clear errors.
 */
export function decodeProgram(program: unknown, tensors: Record<string, Tensor>): DecodedProgram {
  need(isObj(program), 'the program must be a JSON object');
  const format = program.format;
  if (format !== PROGRAM_FORMAT)
    throw new ProgramFormatError(
      `unknown program format ${JSON.stringify(format)} (this version of tensorjit reads "${PROGRAM_FORMAT}")`);
  need(isObj(program.graph) && Array.isArray(program.graph.nodes), 'program.graph.nodes must be an array');
  need(Array.isArray(program.constants) && program.constants.every((c) => typeof c === 'string'), 'program.constants must be an array of names');

  // the state dict keeps the file's order (the exported state dict's order); weights no node reads are kept too
  for (const name of program.constants as string[])
    need(Object.hasOwn(tensors, name), `the constant '${name}' is not among the file's tensors`);
  const stateDict: Record<string, Tensor> = {};
  for (const name of Object.keys(tensors))
    Object.defineProperty(stateDict, name, { value: tensors[name], enumerable: true, writable: true, configurable: true });

  const graph = new Graph();
  const byName = new Map<string, Node>();
  const nodesJson = program.graph.nodes as unknown[];
  nodesJson.forEach((nj, i) => {
    const where = `node ${i}`;
    need(isObj(nj), `${where} must be an object`);
    const name = nj.name;
    need(typeof name === 'string' && identifierFrom(name) === name, `${where}: name ${JSON.stringify(name)} is not a valid identifier`);
    need(!byName.has(name), `${where}: the name '${name}' is used twice`);
    const meta = decodeMeta(nj.meta, `node '${name}'`);
    const resolve = (tagged: Record<string, unknown>): unknown => {
      if (typeof tagged.$node === 'string' && Object.keys(tagged).length === 1) {
        const ref = byName.get(tagged.$node);
        need(ref, `node '${name}' refers to '${tagged.$node}', which is not defined before it`);
        return ref;
      }
      if (typeof tagged.$op === 'string' && Object.keys(tagged).length === 1) {
        const op = getOp(tagged.$op);
        need(op, `node '${name}' refers to the op '${tagged.$op}', which is not registered in this version of tensorjit`);
        return op;
      }
      return undefined;
    };
    let node: Node;
    switch (nj.op) {
      case 'placeholder':
        node = graph.placeholder(name, meta);
        break;
      case 'get_attr': {
        const target = nj.target;
        need(typeof target === 'string' && Object.hasOwn(stateDict, target), `node '${name}': constant ${JSON.stringify(target)} is not in the state dict`);
        const t = stateDict[target];
        need(t.dtype === meta.dtype && t.shape.length === meta.shape.length && t.shape.every((d, k) => d === meta.shape[k]),
          `node '${name}': constant '${target}' is ${describeTensor(t)} in the file but [${meta.shape.join(', ')}] ${meta.dtype} in the graph`);
        node = graph.getAttr(target, meta, name);
        break;
      }
      case 'call_function': {
        const args = decodeValue(nj.args, resolve, `node '${name}'.args`);
        const kwargs = decodeValue(nj.kwargs ?? { $obj: {} }, resolve, `node '${name}'.kwargs`);
        need(Array.isArray(args), `node '${name}': args must be an array`);
        need(isObj(kwargs), `node '${name}': kwargs must be an object`);
        node = graph.callFunction(resolveTarget(nj.target, name), args, meta, name, kwargs as Record<string, unknown>);
        break;
      }
      case 'output': {
        need(i === nodesJson.length - 1, `the output node must be the last node (found at ${i})`);
        const args = decodeValue(nj.args, resolve, 'output.args');
        need(Array.isArray(args) && args.length === 1, 'the output node takes exactly one argument');
        node = graph.output(args[0]);
        break;
      }
      default:
        throw new ProgramFormatError(`node '${name}': unknown node kind ${JSON.stringify(nj.op)}`);
    }
    need(node.name === name, `node '${name}' could not keep its name`);
    byName.set(name, node);
  });
  need(graph.outputNode(), 'the graph has no output node');
  const graphOutputs = graph.outputNode()!.args[0];
  need(Array.isArray(graphOutputs) && graphOutputs.every((o) => o instanceof Node), 'the output node must return a list of graph values');

  const signature = decodeSignature(program, byName, stateDict, (graphOutputs as Node[]).length);
  return { graphModule: new GraphModule(graph, stateDict), signature, stateDict };
}

function resolveTarget(j: unknown, name: string): (...args: any[]) => unknown {
  need(isObj(j), `node '${name}': target must be {op} or {builtin}`);
  if (typeof j.op === 'string') {
    const op = getOp(j.op);
    if (!op) throw new ProgramFormatError(`node '${name}' calls the op '${j.op}', which is not registered in this version of tensorjit`);
    return op;
  }
  if (typeof j.builtin === 'string' && Object.hasOwn(fxNamespace, j.builtin))
    return (fxNamespace as Record<string, (...args: any[]) => unknown>)[j.builtin];
  throw new ProgramFormatError(`node '${name}': unknown target ${JSON.stringify(j)}`);
}

function decodeSignature(program: Record<string, unknown>, byName: Map<string, Node>, stateDict: Record<string, Tensor>, numGraphOutputs: number): ProgramSignature {
  const inputs = program.inputs, outputs = program.outputs;
  need(isObj(inputs) && Array.isArray(inputs.leaves), 'program.inputs must hold a spec and leaves');
  need(isObj(outputs) && Array.isArray(outputs.leaves), 'program.outputs must hold a spec and leaves');
  const noTags = () => undefined;
  const inputSpec = decodeSpec(inputs.spec, 'inputs.spec');
  const inputLeaves: InputLeaf[] = inputs.leaves.map((l, i) => {
    need(isObj(l), `inputs.leaves[${i}] must be an object`);
    if (l.kind === 'tensor') {
      const node = typeof l.placeholder === 'string' ? byName.get(l.placeholder) : undefined;
      need(node && node.op === 'placeholder', `inputs.leaves[${i}] names no placeholder`);
      return { kind: 'tensor', placeholder: l.placeholder as string };
    }
    need(l.kind === 'value', `inputs.leaves[${i}]: unknown kind`);
    return { kind: 'value', value: decodeValue(l.value, noTags, `inputs.leaves[${i}]`) };
  });
  need(countLeaves(inputSpec) === inputLeaves.length, 'inputs.spec and inputs.leaves disagree');
  const placeholders = [...byName.values()].filter((n) => n.op === 'placeholder').map((n) => n.name);
  const fed = [...new Set(inputLeaves.flatMap((l) => (l.kind === 'tensor' ? [l.placeholder] : [])))];
  need(fed.length === placeholders.length && fed.every((p, i) => p === placeholders[i]),
    'the tensor inputs must feed every placeholder, in order');
  const outputSpec = decodeSpec(outputs.spec, 'outputs.spec');
  const outputLeaves = outputs.leaves.map((l, i): OutputLeaf => {
    need(isObj(l), `outputs.leaves[${i}] must be an object`);
    switch (l.kind) {
      case 'graph':
        need(isNat(l.index) && (l.index as number) < numGraphOutputs, `outputs.leaves[${i}]: bad index (the graph has ${numGraphOutputs} outputs)`);
        return { kind: 'graph', index: l.index as number };
      case 'input':
        need(isNat(l.leaf) && (l.leaf as number) < inputLeaves.length && inputLeaves[l.leaf as number].kind === 'tensor', `outputs.leaves[${i}]: bad input leaf`);
        return { kind: 'input', leaf: l.leaf as number };
      case 'const':
        need(typeof l.name === 'string' && Object.hasOwn(stateDict, l.name), `outputs.leaves[${i}]: constant ${JSON.stringify(l.name)} is not in the state dict`);
        return { kind: 'const', name: l.name as string };
      case 'value':
        return { kind: 'value', value: decodeValue(l.value, noTags, `outputs.leaves[${i}]`) };
      case 'size':
        return { kind: 'size', expr: decodeExpr(l.expr, `outputs.leaves[${i}]`) };
      default:
        throw new ProgramFormatError(`outputs.leaves[${i}]: unknown kind ${JSON.stringify(l.kind)}`);
    }
  });
  const copyBacks = (Array.isArray(program.copyBacks) ? program.copyBacks : []).map((c, i): CopyBackSpec => {
    need(isObj(c) && isNat(c.output) && (c.output as number) < numGraphOutputs, `copyBacks[${i}] is malformed (the graph has ${numGraphOutputs} outputs)`);
    if (typeof c.constant === 'string') {
      need(Object.hasOwn(stateDict, c.constant), `copyBacks[${i}]: constant '${c.constant}' is not in the state dict`);
      return { output: c.output as number, constant: c.constant };
    }
    need(isNat(c.leaf) && (c.leaf as number) < inputLeaves.length && inputLeaves[c.leaf as number].kind === 'tensor', `copyBacks[${i}]: bad input leaf`);
    return { output: c.output as number, leaf: c.leaf as number };
  });
  need(countLeaves(outputSpec) === outputLeaves.length, 'outputs.spec and outputs.leaves disagree');
  need(Array.isArray(program.dynamicDims), 'program.dynamicDims must be an array');
  const dynamicDims = (program.dynamicDims as unknown[]).map((d, i) => {
    need(isObj(d) && isNat(d.leaf) && isNat(d.dim) && typeof d.symbol === 'string' && isNat(d.min)
      && (isNat(d.max) || d.max === null), `dynamicDims[${i}] is malformed`);
    need((d.leaf as number) < inputLeaves.length && inputLeaves[d.leaf as number].kind === 'tensor', `dynamicDims[${i}] names no tensor input`);
    return { leaf: d.leaf as number, dim: d.dim as number, symbol: d.symbol as string, min: d.min as number, max: (d.max ?? Infinity) as number };
  });
  return { inputSpec, inputLeaves, outputSpec, outputLeaves, copyBacks, dynamicDims };
}
