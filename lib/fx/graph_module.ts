/**
 * GraphModule: a Graph plus the constants its get_attr nodes name. It is callable:
 * `gm(...inputs)` is `gm.forward(...inputs)`, which runs the graph eagerly through the
 * Interpreter. `gm.code` is the graph as JS.
 */
import { getOp } from '../ops/registry';
import { Tensor } from '../tensor';
import { fxNamespace } from './builtins';
import { Graph } from './graph';
import { Interpreter } from './interpreter';
import { functionNames, printCode } from './printer';

export interface GraphModule {
  (...inputs: unknown[]): unknown;
}

export class GraphModule {
  declare graph: Graph;
  /** Constants by get_attr target (`_tensor_constant0`, `layers.0.weight`). */
  declare attrs: Record<string, Tensor>;
  private declare codeCache: { version: number; code: string } | null;

  constructor(graph: Graph, attrs: Record<string, Tensor> = {}) {
    const self = function (this: unknown, ...inputs: unknown[]) {
      return self.forward(...inputs);
    } as unknown as GraphModule;
    Object.setPrototypeOf(self, new.target.prototype);
    Object.defineProperty(self, 'name', { value: 'forward' });
    self.graph = graph;
    self.attrs = attrs;
    self.codeCache = null;
    return self;
  }

  /** Runs the graph eagerly (Interpreter), freeing intermediates after their last use. */
  forward(...inputs: unknown[]): unknown {
    return new Interpreter(this).run(...inputs);
  }

  /** The graph as valid JS: `function forward(x) { const relu = ops.relu(x); return [relu]; }`. */
  get code(): string {
    if (!this.codeCache || this.codeCache.version !== this.graph.version)
      this.codeCache = { version: this.graph.version, code: printCode(this.graph) };
    return this.codeCache.code;
  }

  /** The plain functions (allowInGraph targets) the code calls as `fns.<name>`. */
  get fns(): Record<string, Function> {
    const out: Record<string, Function> = {};
    for (const [f, name] of functionNames(this.graph)) out[name] = f;
    return out;
  }

  toString(): string {
    return this.code;
  }
}

/** `ops` for generated code: registry ops by name. */
const opsByName = new Proxy({} as Record<string, unknown>, {
  get(_t, name) {
    if (typeof name !== 'string') return undefined;
    const op = getOp(name);
    if (!op) throw new Error(`tensorjit.fx: generated code calls ops.${name}, which is not a registered op`);
    return op;
  },
});

/**
 * Turns printed graph code back into a function `(…inputs) => outputs` over registry ops,
 * the given constants and plain functions (what an exported program stores is this code).
 * @example const f = functionFromCode(gm.code, gm.attrs, gm.fns); f(x);
 */
export function functionFromCode(code: string, attrs: Record<string, Tensor> = {}, fns: Record<string, Function> = {}): (...inputs: unknown[]) => unknown {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const make = new Function('ops', 'attrs', 'fns', 'fx', `"use strict";\n${code}\nreturn forward;`);
  return make(opsByName, attrs, fns, fxNamespace) as (...inputs: unknown[]) => unknown;
}
