/**
 * The reference executor: runs a GraphModule node by node through the normal op calls
 * (so dispatch modes such as the native backend's lowering see every op) and disposes
 * each intermediate tensor after its last use. Subclass and override the per-op methods
 * to observe or change execution, as with torch.fx.Interpreter.
 */
import { Tensor } from '../tensor';
import type { GraphModule } from './graph_module';
import type { Graph } from './graph';
import { Node, forEachNode, isPlainObject } from './node';

interface Plan {
  version: number;
  nodes: Node[];
  /** Per node: its args with Node references resolved against the value table. */
  args: ((env: unknown[]) => unknown[])[];
  /** Per node: the nodes whose last use it is (freed after it runs). */
  freeAfter: number[][];
  placeholderCount: number;
}

const plans = new WeakMap<Graph, Plan>();

function resolverFor(x: unknown, index: Map<Node, number>): (env: unknown[]) => unknown {
  if (x instanceof Node) {
    const i = index.get(x);
    if (i === undefined) throw new Error(`tensorjit.fx: node ${x.name} is used before it is defined`);
    return (env) => env[i];
  }
  let hasNode = false;
  forEachNode(x, () => (hasNode = true));
  if (!hasNode) return () => x;
  if (Array.isArray(x)) {
    const parts = x.map((v) => resolverFor(v, index));
    return (env) => parts.map((p) => p(env));
  }
  const obj = x as Record<string, unknown>;
  const keys = Object.keys(obj);
  const parts = keys.map((k) => resolverFor(obj[k], index));
  return (env) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) out[keys[i]] = parts[i](env);
    return out;
  };
}

function planFor(graph: Graph): Plan {
  const cached = plans.get(graph);
  if (cached && cached.version === graph.version) return cached;
  const nodes = graph.nodes.slice();
  const index = new Map(nodes.map((n, i) => [n, i]));
  const lastUse = nodes.map((_, i) => i);
  nodes.forEach((n, i) => {
    const mark = (m: Node) => {
      lastUse[index.get(m)!] = i;
    };
    forEachNode(n.args, mark);
    forEachNode(n.kwargs, mark);
  });
  const freeAfter: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    // values the output node reads are the results: never freed
    if (nodes[lastUse[i]].op !== 'output') freeAfter[lastUse[i]].push(i);
  });
  const args = nodes.map((n) => {
    const parts = n.args.map((a) => resolverFor(a, index));
    return (env: unknown[]) => parts.map((p) => p(env));
  });
  const plan: Plan = { version: graph.version, nodes, args, freeAfter, placeholderCount: nodes.filter((n) => n.op === 'placeholder').length };
  plans.set(graph, plan);
  return plan;
}

function forEachTensor(x: unknown, f: (t: Tensor) => void): void {
  if (x instanceof Tensor) f(x);
  else if (Array.isArray(x)) for (const v of x) forEachTensor(v, f);
  else if (isPlainObject(x)) for (const k of Object.keys(x)) forEachTensor(x[k], f);
}

export class Interpreter {
  constructor(readonly module: GraphModule) {}

  /** Runs the graph on `inputs` (one per placeholder) and returns the output node's value. */
  run(...inputs: unknown[]): unknown {
    const steps = this.steps(inputs);
    let step = steps.next();
    while (!step.done) step = steps.next(step.value);
    return step.value;
  }

  /**
   * The same, for a subclass whose callFunction returns a Promise for some nodes (a segment
   * run off the event loop): the node's value is what the promise resolves to.
   */
  async runAsync(...inputs: unknown[]): Promise<unknown> {
    const steps = this.steps(inputs);
    let step = steps.next();
    while (!step.done) step = steps.next(step.value instanceof Promise ? await step.value : step.value);
    return step.value;
  }

  /** The node loop: yields each call_function's result and takes back its value. */
  private *steps(inputs: unknown[]): Generator<unknown, unknown, unknown> {
    const plan = planFor(this.module.graph);
    if (inputs.length < plan.placeholderCount) {
      const names = plan.nodes.filter((n) => n.op === 'placeholder').map((n) => n.name);
      throw new RangeError(`GraphModule.forward: expected ${plan.placeholderCount} inputs (${names.join(', ')}), got ${inputs.length}`);
    }
    const { nodes } = plan;
    const env: unknown[] = new Array(nodes.length);
    // Tensors may be shared between node values (a list and its items, an op returning its
    // argument): count holders per tensor and never dispose inputs or constants.
    const holders = new Map<Tensor, number>();
    const keep = new Set<Tensor>();
    const hold = (t: Tensor) => holders.set(t, (holders.get(t) ?? 0) + 1);
    const release = (t: Tensor) => {
      const c = (holders.get(t) ?? 1) - 1;
      holders.set(t, c);
      if (c === 0 && !keep.has(t)) t.dispose();
    };
    let nextInput = 0;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i];
      switch (node.op) {
        case 'placeholder': {
          const v = this.placeholder(node, inputs[nextInput++]);
          forEachTensor(v, (t) => keep.add(t));
          env[i] = v;
          break;
        }
        case 'get_attr': {
          const v = this.getAttr(node);
          forEachTensor(v, (t) => keep.add(t));
          env[i] = v;
          break;
        }
        case 'call_function': {
          const v = yield this.callFunction(node, plan.args[i](env));
          forEachTensor(v, hold);
          env[i] = v;
          break;
        }
        case 'output':
          return this.output(node, plan.args[i](env)[0]);
      }
      for (const j of plan.freeAfter[i]) {
        if (nodes[j].op === 'call_function') forEachTensor(env[j], release);
        env[j] = undefined;
      }
    }
    return undefined;
  }

  /** One node, given its resolved args (FX's run_node). */
  runNode(node: Node, args: unknown[], input?: unknown): unknown {
    switch (node.op) {
      case 'placeholder':
        return this.placeholder(node, input);
      case 'get_attr':
        return this.getAttr(node);
      case 'call_function':
        return this.callFunction(node, args);
      default:
        return this.output(node, args[0]);
    }
  }

  placeholder(_node: Node, value: unknown): unknown {
    return value;
  }

  getAttr(node: Node): unknown {
    const target = String(node.target);
    const attrs = this.module.attrs;
    if (!Object.hasOwn(attrs, target)) throw new Error(`GraphModule: no attribute '${target}' for node ${node.name}`);
    return attrs[target];
  }

  callFunction(node: Node, args: unknown[]): unknown {
    return (node.target as (...a: unknown[]) => unknown)(...args);
  }

  output(_node: Node, value: unknown): unknown {
    return value;
  }
}
