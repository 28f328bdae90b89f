/**
 * The two printouts of a graph: valid JS (gm.code: one statement per node, named
 * values, `ops.<name>` calls) and a table for logs (`%y : f32[2,3] = call_function[add](%x, %w)`).
 */
import type { DType } from '../dtype';
import { isOp } from '../ops/registry';
import { Tensor } from '../tensor';
import { builtinInfo } from './builtins';
import type { Graph } from './graph';
import { Node, NodeMeta, Target, isPlainObject } from './node';

const SHORT_DTYPE: Record<DType, string> = {
  float32: 'f32', float16: 'f16', bfloat16: 'bf16', int32: 'i32', int64: 'i64', bool: 'b8',
};

/** Default node name for a call of `target` (the op's name, the function's name). */
export function targetName(target: Target): string {
  if (typeof target === 'string') return target;
  const b = builtinInfo(target);
  if (b) return b.name;
  if (isOp(target)) return target.opName;
  return target.name || 'fn';
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A JS literal for a value inside node args (Nodes printed by `node`). */
export function printLiteral(x: unknown, node: (n: Node) => string, fn: (f: Function) => string): string {
  if (x instanceof Node) return node(x);
  if (x === undefined) return 'undefined';
  if (x === null) return 'null';
  switch (typeof x) {
    case 'number':
      return Object.is(x, -0) ? '-0' : String(x);
    case 'bigint':
      return `${x}n`;
    case 'string':
      return JSON.stringify(x);
    case 'boolean':
      return String(x);
    case 'function':
      return isOp(x) ? `ops.${x.opName}` : fn(x);
  }
  if (Array.isArray(x)) return `[${x.map((v) => printLiteral(v, node, fn)).join(', ')}]`;
  if (isPlainObject(x)) {
    const keys = Object.keys(x);
    if (keys.length === 0) return '{}';
    const body = keys.map((k) => `${IDENT.test(k) ? k : JSON.stringify(k)}: ${printLiteral(x[k], node, fn)}`);
    return `{ ${body.join(', ')} }`;
  }
  if (x instanceof Tensor) return `undefined /* a tensor literal: ${x} */`;
  return `undefined /* unsupported literal: ${Object.prototype.toString.call(x)} */`;
}

function metaText(meta: NodeMeta): string {
  if (meta.sym !== undefined) return 'sym';
  if (meta.items) return `[${meta.items.map(metaText).join(', ')}]`;
  const dims = meta.symShape ?? meta.shape;
  return `${SHORT_DTYPE[meta.dtype] ?? meta.dtype}[${dims.join(',')}]`;
}

function attrAccess(target: string): string {
  return IDENT.test(target) ? `attrs.${target}` : `attrs[${JSON.stringify(target)}]`;
}

/** Names for the plain-function targets of a graph (allowInGraph functions), unique per graph. */
export function functionNames(graph: Graph): Map<Function, string> {
  const names = new Map<Function, string>();
  const used = new Set<string>();
  for (const n of graph.nodes) {
    const t = n.target;
    if (n.op !== 'call_function' || typeof t !== 'function' || isOp(t) || builtinInfo(t) || names.has(t)) continue;
    const base = (t.name || 'fn').replace(/[^A-Za-z0-9_$]/g, '_') || 'fn';
    let name = /^[0-9]/.test(base) ? `_${base}` : base;
    for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    names.set(t, name);
  }
  return names;
}

function callText(target: Target, args: string[], fnName: (f: Function) => string): string {
  const b = builtinInfo(target);
  if (b) return b.print(args);
  if (isOp(target)) return `ops.${target.opName}(${args.join(', ')})`;
  if (typeof target === 'function') return `${fnName(target)}(${args.join(', ')})`;
  return `${target}(${args.join(', ')})`;
}

/** gm.code: `function forward(x, w) {\n  const add = ops.add(x, w);\n  return [add];\n}`. */
export function printCode(graph: Graph): string {
  const fnNames = functionNames(graph);
  const fnName = (f: Function) => `fns.${fnNames.get(f) ?? (f.name || 'fn')}`;
  const name = (n: Node) => n.name;
  const lit = (x: unknown) => printLiteral(x, name, fnName);
  const params = graph.nodes.filter((n) => n.op === 'placeholder').map((n) => n.name);
  const lines = [`function forward(${params.join(', ')}) {`];
  for (const n of graph.nodes) {
    if (n.op === 'get_attr') lines.push(`  const ${n.name} = ${attrAccess(String(n.target))};`);
    else if (n.op === 'call_function') lines.push(`  const ${n.name} = ${callText(n.target, n.args.map(lit), fnName)};`);
    else if (n.op === 'output') lines.push(`  return ${lit(n.args[0])};`);
  }
  lines.push('}');
  return lines.join('\n');
}

/** The log printout: one `%name : meta = op[target](args)` line per node. */
export function printTable(graph: Graph): string {
  const name = (n: Node) => `%${n.name}`;
  const fnName = (f: Function) => f.name || 'fn';
  const lit = (x: unknown) => printLiteral(x, name, fnName);
  return graph.nodes
    .map((n) => {
      switch (n.op) {
        case 'placeholder':
          return `%${n.name} : ${metaText(n.meta)} = placeholder[${n.target}]`;
        case 'get_attr':
          return `%${n.name} : ${metaText(n.meta)} = get_attr[${String(n.target)}]`;
        case 'call_function':
          return `%${n.name} : ${metaText(n.meta)} = call_function[${targetName(n.target)}](${n.args.map(lit).join(', ')})`;
        default:
          return `return ${lit(n.args[0])}`;
      }
    })
    .join('\n');
}
