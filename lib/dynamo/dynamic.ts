/**
 * Shape-polymorphic graphs from several traces ("sizes solved from traces").
 *
 * JS numbers cannot carry symbols: code that reads `x.shape[1]` and computes
 * `reshape(y, [b, t, h, d])` hands the tracer plain numbers. So a dynamic graph is built
 * from two or more traces of the same code at different sizes (two real calls, or a real
 * call and "probe" traces of the same function over fake tensors with the dynamic dims
 * changed). The traces must be structurally identical; the dims that differ become
 * symbols s0, s1, ... (dims with equal values in every trace share a symbol and are
 * guarded equal), and every integer literal in op arguments (and every size) that
 * differs between the traces is solved as a function of the symbols: s, a*s + b, or
 * c*s*t (whichever single form fits all traces; ambiguity or no fit keeps the graph
 * static). The dynamic graph reads the symbols from its inputs (`const s0 = x.shape[1]`),
 * computes the literals from them, and the registry's shape rules re-run on every call.
 * Limitation: an integer function of the sizes that agrees with these forms on the traced
 * sizes but not elsewhere (Math.min(t, 8), t >> 1 at t = 4 and 5) is generalised wrongly;
 * break-containing functions re-trace every call and verify, break-free entries cannot.
 */
import { Graph, GraphModule, Node, NodeMeta, affineText, graphKey, integerLiterals, mapNodes, symAffine, symProduct, symSize } from '../fx';
import type { KeyOptions, LiteralSite } from '../fx';

export type SymExpr =
  | { kind: 'sym'; s: number }
  | { kind: 'affine'; s: number; a: number; b: number }
  | { kind: 'product'; s: number; t: number; c: number };

export interface Point {
  gm: GraphModule;
  /** Integer values outside the graph that must be generalised too (numbers in the result). */
  extra?: number[];
}

export interface DynamicPlan {
  /** Per symbol: its [placeholder, dim] members; the first is where it is read. */
  symbols: [number, number][][];
  /** integerLiterals(base) index -> expression */
  sites: Map<number, SymExpr>;
  extra: Map<number, SymExpr>;
  /** The base trace's literal values and placeholder shapes (verification). */
  baseSites: number[];
  baseShapes: number[][];
}

export function evalExpr(e: SymExpr, s: readonly number[]): number {
  switch (e.kind) {
    case 'sym':
      return s[e.s];
    case 'affine':
      return e.a * s[e.s] + e.b;
    default:
      return e.c * s[e.s] * s[e.t];
  }
}

export function exprText(e: SymExpr): string {
  switch (e.kind) {
    case 'sym':
      return `s${e.s}`;
    case 'affine':
      return affineText(`s${e.s}`, e.a, e.b);
    default:
      return e.c === 1 ? `s${e.s} * s${e.t}` : `s${e.s} * s${e.t} * ${e.c}`;
  }
}

/** The one expression of the tiers (s, a*s+b, c*s*t) that reproduces `values` in every trace. */
export function fitExpr(values: readonly number[], sym: readonly number[][]): SymExpr | null {
  const n = values.length;
  const fits = (e: SymExpr) => {
    for (let k = 0; k < n; k++) if (evalExpr(e, sym.map((v) => v[k])) !== values[k]) return false;
    return true;
  };
  for (let s = 0; s < sym.length; s++) if (fits({ kind: 'sym', s })) return { kind: 'sym', s };
  const affine: SymExpr[] = [];
  for (let s = 0; s < sym.length; s++) {
    const xs = sym[s];
    const j = xs.findIndex((x) => x !== xs[0]);
    if (j < 0) continue;
    const a = (values[j] - values[0]) / (xs[j] - xs[0]);
    if (!Number.isInteger(a) || a === 0) continue;
    const e: SymExpr = { kind: 'affine', s, a, b: values[0] - a * xs[0] };
    if (fits(e)) affine.push(e);
  }
  if (affine.length === 1) return affine[0];
  if (affine.length > 1) return null;
  const products: SymExpr[] = [];
  for (let s = 0; s < sym.length; s++)
    for (let t = s; t < sym.length; t++) {
      const c = values[0] / (sym[s][0] * sym[t][0]);
      if (!Number.isInteger(c) || c === 0) continue;
      const e: SymExpr = { kind: 'product', s, t, c };
      if (fits(e)) products.push(e);
    }
  return products.length === 1 ? products[0] : null;
}

export type FitResult = { plan: DynamicPlan } | { reason: string };

/**
 * Generalises `points[0]` over the dims that differ between the points. `dynamicAllowed`
 * says which [placeholder, dim] may become symbols.
 */
export function fitDynamic(points: Point[], dynamicAllowed: (p: number, d: number) => boolean, keyOpts: Omit<KeyOptions, 'erase'>): FitResult {
  const keys = points.map((p) => graphKey(p.gm, { ...keyOpts, erase: true }));
  if (keys.some((k) => k !== keys[0])) return { reason: 'the traces at different sizes are not the same graph' };
  const shapes = points.map((p) => p.gm.graph.placeholders().map((n) => n.meta.shape));
  const groups = new Map<string, [number, number][]>();
  for (let p = 0; p < shapes[0].length; p++)
    for (let d = 0; d < shapes[0][p].length; d++) {
      const vals = shapes.map((s) => s[p][d]);
      if (vals.every((v) => v === vals[0])) continue;
      if (!dynamicAllowed(p, d)) return { reason: `input ${p} dim ${d} changed but may not be dynamic` };
      if (vals.some((v) => v < 2)) return { reason: 'a changing dim takes the size 0 or 1 (always specialised)' };
      const key = vals.join(',');
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push([p, d]);
    }
  if (groups.size === 0) return { reason: 'no dim differs between the traces' };
  const symbols = [...groups.values()];
  const symVals = symbols.map(([[p, d]]) => shapes.map((s) => s[p][d]));
  const siteLists: LiteralSite[][] = points.map((p) => integerLiterals(p.gm));
  const sites = new Map<number, SymExpr>();
  for (let i = 0; i < siteLists[0].length; i++) {
    const vals = siteLists.map((l) => l[i].value);
    if (vals.every((v) => v === vals[0])) continue;
    const e = fitExpr(vals, symVals);
    if (!e) return { reason: `the literal ${vals.join(' / ')} in '${points[0].gm.graph.nodes[siteLists[0][i].node].name}' is not s, a*s+b or c*s*t of the dynamic sizes` };
    sites.set(i, e);
  }
  const extra = new Map<number, SymExpr>();
  const extras = points.map((p) => p.extra ?? []);
  for (let i = 0; i < extras[0].length; i++) {
    const vals = extras.map((l) => l[i]);
    if (vals.every((v) => v === vals[0])) continue;
    const e = fitExpr(vals, symVals);
    if (!e) return { reason: `the result value ${vals.join(' / ')} is not s, a*s+b or c*s*t of the dynamic sizes` };
    extra.set(i, e);
  }
  return { plan: { symbols, sites, extra, baseSites: siteLists[0].map((s) => s.value), baseShapes: shapes[0] } };
}

/** Size expressions of every node's dims, fitted across the points (for meta.symShape). */
function symShapes(points: Point[], symVals: number[][]): Map<number, (number | string)[]> {
  const out = new Map<number, (number | string)[]>();
  const lists = points.map((p) => p.gm.graph.nodes);
  lists[0].forEach((n, i) => {
    if (n.op === 'output' || n.meta.sym !== undefined) return;
    const dims = n.meta.shape.map((d, k) => {
      const vals = lists.map((l) => l[i].meta.shape[k]);
      if (vals.every((v) => v === vals[0])) return d;
      const e = fitExpr(vals, symVals);
      return e ? exprText(e) : '?';
    });
    out.set(i, dims);
  });
  return out;
}

function setAt(args: unknown[], path: (string | number)[], value: unknown): void {
  let x = args as unknown as Record<string | number, unknown>;
  for (let i = 0; i < path.length - 1; i++) x = x[path[i]] as Record<string | number, unknown>;
  x[path[path.length - 1]] = value;
}

const symMeta = (text: string): NodeMeta => ({ shape: [], dtype: 'int64', sym: text });

/** The base trace's graph with sizes read from its inputs and fitted literals computed from them. */
export function rewriteDynamic(points: Point[], plan: DynamicPlan): GraphModule {
  const base = points[0].gm;
  const symVals = plan.symbols.map(([[p, d]]) => points.map((pt) => pt.gm.graph.placeholders()[p].meta.shape[d]));
  const shapes = symShapes(points, symVals);
  const sites = integerLiterals(base);
  const byNode = new Map<number, { path: (string | number)[]; expr: SymExpr }[]>();
  for (const [i, expr] of plan.sites) {
    const s = sites[i];
    if (!byNode.has(s.node)) byNode.set(s.node, []);
    byNode.get(s.node)!.push({ path: s.path, expr });
  }
  const g = new Graph();
  const map = new Map<Node, Node>();
  const symNodes: Node[] = [];
  const exprNodes = new Map<string, Node>();
  const exprNode = (e: SymExpr): Node => {
    if (e.kind === 'sym') return symNodes[e.s];
    const key = JSON.stringify(e);
    let n = exprNodes.get(key);
    if (!n) {
      n = e.kind === 'affine'
        ? g.callFunction(symAffine, [symNodes[e.s], e.a, e.b], symMeta(exprText(e)), 's')
        : g.callFunction(symProduct, [symNodes[e.s], symNodes[e.t], e.c], symMeta(exprText(e)), 's');
      exprNodes.set(key, n);
    }
    return n;
  };
  let placeholderIndex = 0;
  base.graph.nodes.forEach((n, i) => {
    const meta: NodeMeta = { ...n.meta, symShape: shapes.get(i) };
    const args = mapNodes(n.args, (m) => map.get(m as Node)) as unknown[];
    let copy: Node;
    if (n.op === 'placeholder') {
      const p = placeholderIndex++;
      copy = g.placeholder(n.name, meta);
      map.set(n, copy);
      plan.symbols.forEach(([[sp, sd]], s) => {
        if (sp === p) symNodes[s] = g.callFunction(symSize, [copy, sd], symMeta(`s${s}`), `s${s}`);
      });
      return;
    }
    if (n.op === 'get_attr') copy = g.getAttr(String(n.target), meta, n.name);
    else if (n.op === 'output') copy = g.output(args[0]);
    else {
      for (const { path, expr } of byNode.get(i) ?? []) setAt(args, path, exprNode(expr));
      copy = g.callFunction(n.target, args, meta, n.name, n.kwargs);
    }
    map.set(n, copy);
  });
  g.eliminateDeadCode(); // size reads nothing uses
  return new GraphModule(g, base.attrs);
}

/** Whether a new trace is the dynamic graph's code at other sizes (every literal as predicted). */
export function matchesPlan(plan: DynamicPlan, gm: GraphModule): boolean {
  const shapes = gm.graph.placeholders().map((n) => n.meta.shape);
  if (shapes.length !== plan.baseShapes.length) return false;
  const isSym = new Set<string>();
  const values = plan.symbols.map((members) => {
    const [p, d] = members[0];
    for (const [q, e] of members) isSym.add(`${q}:${e}`);
    return shapes[p][d];
  });
  for (const members of plan.symbols) {
    const v = shapes[members[0][0]][members[0][1]];
    if (v < 2 || members.some(([p, d]) => shapes[p][d] !== v)) return false;
  }
  for (let p = 0; p < shapes.length; p++) {
    if (shapes[p].length !== plan.baseShapes[p].length) return false;
    for (let d = 0; d < shapes[p].length; d++) if (!isSym.has(`${p}:${d}`) && shapes[p][d] !== plan.baseShapes[p][d]) return false;
  }
  const sites = integerLiterals(gm);
  if (sites.length !== plan.baseSites.length) return false;
  for (let i = 0; i < sites.length; i++) {
    const e = plan.sites.get(i);
    if (sites[i].value !== (e ? evalExpr(e, values) : plan.baseSites[i])) return false;
  }
  return true;
}
