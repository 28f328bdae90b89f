/** explain(fn)(...args): runs fn once under a recording compile and reports its graphs and breaks. */
import type { GraphModule, Target } from '../fx';
import { builtinInfo } from '../fx';
import { flatten } from '../fx';
import { CompiledFunction, Collector, compiledFunctions } from './compile';
import { buildGuard } from './guards';
import { isModuleLike, ModuleLike } from './module';
import { argumentNames } from './params';
import { Tensor } from '../tensor';

export interface ExplainOutput {
  graphCount: number;
  graphBreakCount: number;
  breakReasons: { reason: string; location: string }[];
  /** Per graph, the targets of its calls (ops and allowInGraph functions). */
  opsPerGraph: Target[][];
  graphs: GraphModule[];
  /** The guards a cache entry for these arguments checks. */
  guards: string[];
  /** Backend compile time per graph, in ms. */
  compileTimes: number[];
}

/**
 * @example const report = tj.compiler.explain(model.forward.bind(model))(x); console.log(report.breakReasons);
 */
export function explain(target: Function | ModuleLike): (...args: unknown[]) => ExplainOutput {
  return (...args: unknown[]) => {
    let fn: Function;
    let thisArg: unknown;
    let namesFrom: Function;
    let module: ModuleLike | null = null;
    if (typeof target === 'function') {
      const compiled = compiledFunctions.get(target);
      fn = compiled ? compiled.fn : target;
      namesFrom = compiled ? compiled.namesFrom : target;
      module = compiled ? compiled.module : null;
    } else if (isModuleLike(target)) {
      const forward = target.forward;
      const compiled = compiledFunctions.get(forward);
      fn = compiled ? compiled.fn : forward;
      namesFrom = compiled ? compiled.namesFrom : forward;
      thisArg = target;
      module = target;
    } else {
      throw new TypeError(`explain: expected a function or a module, got ${target === null ? 'null' : typeof target}`);
    }
    const collector: Collector = { graphs: [], compileTimes: [], breaks: [] };
    const cf = new CompiledFunction(fn, { backend: 'eager' }, fn.name || 'anonymous', module, namesFrom);
    cf.collector = collector;
    cf.call(thisArg, args);
    const flat = flatten(args);
    const inputLeaves: number[] = [];
    const seen = new Set<Tensor>();
    flat.leaves.forEach((l, i) => {
      if (l instanceof Tensor && !seen.has(l)) {
        seen.add(l);
        inputLeaves.push(i);
      }
    });
    const guards = cf.firstGuard()?.descriptions ?? buildGuard({ args, paramNames: argumentNames(namesFrom, args.length), inputLeaves }).descriptions;
    return {
      graphCount: collector.graphs.length,
      graphBreakCount: collector.breaks.length,
      breakReasons: collector.breaks.map((b) => ({ reason: b.reason, location: b.location })),
      opsPerGraph: collector.graphs.map((gm) =>
        gm.graph.nodes.filter((n) => n.op === 'call_function' && !builtinInfo(n.target)?.internal).map((n) => n.target),
      ),
      graphs: collector.graphs,
      guards,
      compileTimes: collector.compileTimes,
    };
  };
}
