/**
 * What a compiled module's forward (or a compiled function, to the class instances it is
 * passed) does to their own non-tensor state as it runs (a call counter, a position
 * advanced by a length, a mode flag). A trace that changes state not yet known is traced
 * once more, from the same state but those attributes set to other values (a probe, over
 * fake inputs of the same shapes): the same graph and a rule both agree on (an amount
 * added to a number, or a value set) settle it. Otherwise a later trace at the same inputs
 * and the same other state decides (until then the trace is not cached): whether the graph
 * depends on the change (then the module runs eagerly) and by which rule. From then on the attribute is
 * left out of the guards and each cached run repeats the change by its rule. The probe
 * settles a counter beside state that changes every call too (a KV cache grown by
 * concatenation), which never meets the same other state twice.
 */
import { log } from './logging';
import { ModuleStateSnapshot, StateRoots, StateStepKind, changedModuleState, primitiveIn, sameSnapshots, snapshotModuleState, stepKindOf, stepValueOf } from './module_state';
import type { TraceRecord } from './session';

/** A trace whose state changes are not yet explained: the state it started from and left, its exact graph key. */
export interface UnsettledTrace {
  before: ModuleStateSnapshot;
  after: ModuleStateSnapshot;
  graph: string;
}

/** Whether a trace may be cached, or why the module must run eagerly from now on. */
export type Settlement = { cache: boolean } | { eager: string };

export class ModuleSideEffects {
  /** Per state object: the attributes forward changes, with the rule cached runs repeat. */
  private rules = new Map<object, Map<string, StateStepKind>>();
  private unsettled: (UnsettledTrace & { args: string })[] = [];

  constructor(
    /** The compiled module and the class instances the current call was passed. */
    private readonly roots: () => StateRoots,
    private readonly name: string,
    /** Unsettled traces allowed before giving up (the compiled function's cache size limit). */
    private readonly limit: () => number,
  ) {}

  clear(): void {
    this.rules.clear();
    this.unsettled = [];
  }

  get known(): boolean {
    return this.rules.size > 0;
  }

  /** The attributes of state object `o` forward is known to change (not guarded). */
  changing(o: object): Set<string> | undefined {
    const keys = this.rules.get(o);
    return keys && new Set(keys.keys());
  }

  /**
   * After a trace that started from state `before`, at arguments `args` (a key of their
   * shapes and values), whose exact graph key is `graph`. `retrace` traces the call again
   * from `before` with the given attributes set to other values (null if it could not).
   */
  settle(before: ModuleStateSnapshot, args: string, graph: string, retrace?: (changed: { module: object; keys: string[] }[]) => UnsettledTrace | null): Settlement {
    const changes = changedModuleState(before, this.roots()).filter((c) => c.keys.some((k) => !this.rules.get(c.module)?.has(k)));
    if (changes.length === 0) return { cache: true };
    const what = changes.flatMap((c) => c.names).join(', ');
    // the two traces must differ in nothing but the changing attributes: the same arguments
    // and the same other module state
    const changing = new Map(changes.map((c) => [c.module, new Set([...c.keys, ...(this.rules.get(c.module)?.keys() ?? [])])]));
    const after = snapshotModuleState(this.roots());
    // per changed attribute, the rule this trace and `other` agree on (null: none)
    const kindsWith = (other: UnsettledTrace) => changes.map((c) => c.keys.map((k) => stepKindOf([[other.before, other.after], [before, after]], c.module, k)));
    let prev: UnsettledTrace | undefined = this.unsettled.find((u) => u.args === args && sameSnapshots(u.before, before, changing));
    let kinds = prev && kindsWith(prev);
    if (!prev) {
      // a retrace that gives the same graph and a rule settles it now; one that does not says
      // nothing for sure (a flag set on the first call and tested by forward: the next trace,
      // from the new state, may not change it at all), so later traces decide as before
      const retraced = retrace?.(changes);
      const retracedKinds = retraced && retraced.graph === graph ? kindsWith(retraced) : null;
      if (retracedKinds?.every((ks) => ks.every(Boolean))) [prev, kinds] = [retraced!, retracedKinds];
    }
    if (prev && kinds) {
      this.unsettled = [];
      if (prev.graph !== graph) return { eager: `its graph depends on ${what}, which it changes as it runs` };
      const found: string[] = [];
      for (const [j, c] of changes.entries())
        for (const [i, k] of c.keys.entries()) {
          const kind = kinds[j][i];
          if (!kind) return { eager: `it changes ${c.names[i]} as it runs, not by adding the same amount to a number or setting the same value` };
          if (!this.rules.has(c.module)) this.rules.set(c.module, new Map());
          this.rules.get(c.module)!.set(k, kind);
          found.push(`${c.names[i]} (${kind === 'add' ? 'an amount added' : 'a value set'})`);
        }
      log('recompiles', () => `'${this.name}': forward changes ${found.join(', ')} as it runs, and the graph does not depend on it: not guarded, the change made again by cached runs`);
      return { cache: true };
    }
    this.unsettled.push({ args, before, after, graph });
    log('recompiles', () => `'${this.name}': ${what} changed while forward ran; not cached`);
    if (this.unsettled.length > this.limit()) return { eager: `it keeps changing ${what} as it runs` };
    return { cache: false };
  }

  /**
   * What a trace that started from state `before` did to the known attributes, under each
   * one's rule (the amount added or the value set); null when one changed otherwise.
   */
  stepsOf(before: ModuleStateSnapshot): TraceRecord['stateSteps'] | null {
    const out: TraceRecord['stateSteps'] = [];
    for (const [o, keys] of this.rules)
      for (const [key, kind] of keys) {
        const target = o as Record<string, unknown>;
        const step = stepValueOf(kind, primitiveIn(before, o, key), target[key]);
        if (!step) return null;
        out.push({ target, key, kind, slot: { kind: 'literal', value: step.value } });
      }
    return out;
  }

  describe(): string {
    return [...this.rules.values()].flatMap((keys) => [...keys.keys()]).join(', ');
  }
}
