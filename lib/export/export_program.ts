/**
 * exportProgram: traces a whole function or module into ONE graph with the compiler's
 * tracer (CompiledFunction.capture in lib/dynamo). Any graph break is an error naming the
 * reason and the user's file:line:col. `isCompiling()` is true while tracing;
 * `isDynamoCompiling()` only with `strict: true`.
 *
 * Dynamic dims are generalised by the compiler from traces at other sizes (probe traces
 * over fake inputs, lib/dynamo/dynamic.ts): sizes and integer literals that change with a
 * dim become expressions of it. Sizes 0 and 1 cannot be dynamic.
 */
import { Tensor, describeTensor } from '../tensor';
import { flatten, unflatten } from '../fx/index';
import { CompiledFunction, compiledFunctions } from '../dynamo/compile';
import type { CapturedProgram } from '../dynamo/compile';
import { argumentNames } from '../dynamo/params';
import { Module } from '../nn/module';
import { ExportedProgram, ProgramBackend } from './exported_program';
import { CopyBackSpec, DynamicDim, InputLeaf, OutputLeaf, ProgramSignature } from './serialize';

/** A dynamic dim: a name (dims with the same name are equal) and an optional range. */
export interface DimSpec {
  name?: string;
  min?: number;
  max?: number;
}

/**
 * Per tensor argument, which dims are dynamic: `{1: 'seq'}`, `{0: {name: 'batch', max: 64}}`,
 * or an array with one entry per dim (`[null, 'seq']`); `null`/absent = static. The whole
 * spec mirrors the arguments (an array parallel to `args`, nested like them) or is an
 * object keyed by the function's parameter names.
 */
export type DynamicShapes = unknown[] | Record<string, unknown>;

export interface ExportOptions {
  dynamicShapes?: DynamicShapes | null;
  /** trace as tj.compile does (isDynamoCompiling() is true inside); default false */
  strict?: boolean;
  /** how the ExportedProgram runs in this process (saved programs choose when loaded) */
  backend?: ProgramBackend;
}

// any[]: a typed user function ((x: Tensor) => ...) must be assignable (parameters are contravariant)
type ForwardFn = (...args: any[]) => unknown;

const isPlain = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) && (Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null);

/**
 * Captures fnOrModule(...args) as one graph and returns an ExportedProgram.
 * @example
 *   const ep = tj.exportProgram(model.eval(), [tj.randn([1, 16])], { dynamicShapes: [{ 0: 'batch' }] });
 *   await ep.save('model.tjp.safetensors');
 */
export function exportProgram(fnOrModule: ForwardFn | Module, args: unknown[], opts: ExportOptions = {}): ExportedProgram {
  if (!Array.isArray(args)) throw new TypeError(`exportProgram: argument 'args' must be an array of the call's arguments, got ${typeof args}`);
  if (opts === null || typeof opts !== 'object') throw new TypeError('exportProgram: options must be an object');
  for (const k of Object.keys(opts))
    if (!['dynamicShapes', 'strict', 'backend'].includes(k)) throw new TypeError(`exportProgram: unknown option '${k}' (dynamicShapes, strict, backend)`);
  const strict = opts.strict ?? false;
  const module = fnOrModule instanceof Module ? fnOrModule : null;
  if (!module && typeof fnOrModule !== 'function')
    throw new TypeError(`exportProgram: expected a function or a tj.nn.Module, got ${fnOrModule === null ? 'null' : typeof fnOrModule}`);

  let cf: CompiledFunction;
  let thisArg: unknown;
  if (module) {
    // a module compiled in place is exported from its class's forward, not the compiled wrapper
    let forward = module.forward as ForwardFn;
    if (compiledFunctions.has(forward)) forward = Object.getPrototypeOf(module).forward;
    cf = new CompiledFunction((...a: unknown[]) => forward.apply(module, a), {}, `${module.constructor.name}.forward`, module, forward);
    thisArg = module;
  } else {
    const fn = fnOrModule as ForwardFn;
    cf = new CompiledFunction(fn, {}, fn.name || 'anonymous');
    thisArg = undefined;
  }

  // programs are traced over contiguous inputs (run() makes strided arguments contiguous)
  const dense = new Map<Tensor, Tensor>();
  const denseArgs = unflatten(flatten(args).spec, flatten(args).leaves.map((l) => {
    if (!(l instanceof Tensor)) return l;
    if (!dense.has(l)) dense.set(l, l.isContiguous() ? l : l.contiguous());
    return dense.get(l);
  })) as unknown[];
  const flat = flatten(denseArgs);
  const topNames = argumentNames(module ? module.forward : (fnOrModule as Function), args.length);
  const dims = dynamicDimsOf(opts.dynamicShapes ?? null, args, flat.leaves, flat.paths, topNames);
  const captured = cf.capture(thisArg, denseArgs, { strict, dynamic: new Set(dims.map((d) => `${d.leaf}:${d.dim}`)) });
  const dynamicDims = symbolsOf(captured, dims);
  return build(module, captured, flat.leaves, dynamicDims, opts.backend ?? 'native');
}

interface RequestedDim {
  leaf: number;
  dim: number;
  name: string;
  min: number;
  max: number;
}

/** Normalises the user's dynamicShapes into per-leaf dims. */
function dynamicDimsOf(spec: DynamicShapes | null, args: unknown[], leaves: unknown[], paths: (string | number)[][], topNames: string[]): RequestedDim[] {
  if (spec === null) return [];
  let perArg: unknown[];
  if (Array.isArray(spec)) perArg = spec;
  else if (isPlain(spec)) {
    for (const k of Object.keys(spec))
      if (!topNames.includes(k)) throw new RangeError(`exportProgram: dynamicShapes names '${k}', which is not a parameter (${topNames.join(', ')})`);
    perArg = topNames.map((n) => spec[n]);
  } else throw new TypeError('exportProgram: dynamicShapes must be an array parallel to args or an object keyed by parameter names');
  if (perArg.length > args.length) throw new RangeError(`exportProgram: dynamicShapes has ${perArg.length} entries for ${args.length} arguments`);
  const out: RequestedDim[] = [];
  let anonymous = 0;
  leaves.forEach((leaf, i) => {
    let entry: unknown = perArg;
    for (const p of paths[i]) entry = entry instanceof Map ? entry.get(p) : entry === null || entry === undefined ? undefined : (entry as Record<string | number, unknown>)[p];
    if (entry === null || entry === undefined) return;
    const where = `dynamicShapes for ${topNames[paths[i][0] as number] ?? 'argument'}${paths[i].slice(1).map((p) => `[${JSON.stringify(p)}]`).join('')}`;
    if (!(leaf instanceof Tensor)) throw new TypeError(`exportProgram: ${where} is given, but that argument is not a Tensor`);
    const perDim: [number, unknown][] = Array.isArray(entry)
      ? entry.map((v, d) => [d, v] as [number, unknown])
      : isPlain(entry) ? Object.entries(entry).map(([k, v]) => [Number(k), v] as [number, unknown])
      : (() => { throw new TypeError(`exportProgram: ${where} must map dims to names ({1: 'seq'}) or list one entry per dim`); })();
    for (const [rawDim, v] of perDim) {
      if (v === null || v === undefined || v === false) continue;
      if (!Number.isInteger(rawDim) || rawDim < -leaf.ndim || rawDim >= leaf.ndim)
        throw new RangeError(`exportProgram: ${where} names dim ${rawDim}, out of range for ${describeTensor(leaf)}`);
      const dim = rawDim < 0 ? rawDim + leaf.ndim : rawDim;
      const d: DimSpec = typeof v === 'string' ? { name: v } : v === true ? {} : isPlain(v) ? (v as DimSpec) : (() => {
        throw new TypeError(`exportProgram: ${where} dim ${dim} must be a name, true or {name, min, max}`);
      })();
      const min = d.min ?? 2, max = d.max ?? Infinity;
      if (!Number.isInteger(min) || min < 0 || !(max >= min)) throw new RangeError(`exportProgram: ${where} dim ${dim} has a bad range [${d.min}, ${d.max}]`);
      const size = leaf.shape[dim];
      if (size < 2)
        throw new RangeError(`exportProgram: ${where} marks dim ${dim} of ${describeTensor(leaf)} dynamic, but sizes 0 and 1 are always specialised; export with an example of size >= 2`);
      if (size < min || size > max) throw new RangeError(`exportProgram: ${where} dim ${dim} is ${size} in the example, outside [${min}, ${max}]`);
      out.push({ leaf: i, dim, name: d.name ?? `d${anonymous++}`, min: Math.max(min, 2), max });
    }
  });
  const sizeOf = new Map<string, number>();
  for (const d of out) {
    const size = (leaves[d.leaf] as Tensor).shape[d.dim];
    const seen = sizeOf.get(d.name);
    if (seen !== undefined && seen !== size) throw new RangeError(`exportProgram: dynamic dims named '${d.name}' have different example sizes (${seen} and ${size})`);
    sizeOf.set(d.name, size);
  }
  return out;
}

/** The symbols the compiler found, checked against the dims and names the user asked for. */
function symbolsOf(captured: CapturedProgram, dims: RequestedDim[]): DynamicDim[] {
  const out: DynamicDim[] = [];
  captured.symbols.forEach((members, s) => {
    const names = new Set<string>();
    for (const [leaf, dim] of members) {
      const req = dims.find((r) => r.leaf === leaf && r.dim === dim);
      if (!req) throw new Error(`exportProgram: dim ${dim} of argument leaf ${leaf} became dynamic without being asked for`);
      names.add(req.name);
      out.push({ leaf, dim, symbol: `s${s}`, min: req.min, max: req.max });
    }
    if (names.size > 1)
      throw new RangeError(`exportProgram: the dynamic dims ${[...names].map((n) => `'${n}'`).join(' and ')} have the same example size, so they cannot be told apart; ` +
        'give them different example sizes or the same name');
  });
  const missing = dims.filter((r) => !out.some((d) => d.leaf === r.leaf && d.dim === r.dim));
  if (missing.length)
    throw new RangeError(`exportProgram: the dynamic dim '${missing[0].name}' (dim ${missing[0].dim} of argument leaf ${missing[0].leaf}) was specialised: ` +
      'the program does not generalise over it (see TENSORJIT_LOGS=recompiles)');
  for (const r of dims) {
    const sym = out.find((d) => d.leaf === r.leaf && d.dim === r.dim)!.symbol;
    for (const o of dims)
      if (o.name === r.name && out.find((d) => d.leaf === o.leaf && d.dim === o.dim)!.symbol !== sym)
        throw new RangeError(`exportProgram: the dims named '${r.name}' do not stay equal in the program`);
  }
  return out;
}

function build(module: Module | null, captured: CapturedProgram, leaves: unknown[], dynamicDims: DynamicDim[], backend: ProgramBackend): ExportedProgram {
  const gm = captured.gm;
  const placeholders = gm.graph.placeholders();
  if (placeholders.length !== captured.inputLeaves.length) throw new Error('exportProgram: internal error: placeholders and traced inputs disagree');
  const placeholderOfTensor = new Map<Tensor, string>();
  captured.inputLeaves.forEach((leaf, p) => placeholderOfTensor.set(leaves[leaf] as Tensor, placeholders[p].name));
  // the same tensor passed twice is one input: every leaf holding it feeds that placeholder
  const inputLeaves: InputLeaf[] = leaves.map((leaf, i) => {
    if (!(leaf instanceof Tensor)) return { kind: 'value', value: leaf };
    const p = placeholderOfTensor.get(leaf);
    if (p === undefined) throw new Error(`exportProgram: internal error: argument leaf ${i} has no graph input`);
    return { kind: 'tensor', placeholder: p };
  });

  // the state dict: the module's own state dict, then the graph's other constants
  const stateDict: Record<string, Tensor> = {};
  const put = (k: string, t: Tensor) => Object.defineProperty(stateDict, k, { value: t, enumerable: true, writable: true, configurable: true });
  if (module) for (const [k, t] of Object.entries(module.stateDict())) put(k, t);
  for (const [k, t] of Object.entries(gm.attrs)) if (!Object.hasOwn(stateDict, k)) put(k, t);
  const nameOf = new Map<Tensor, string>();
  for (const [k, t] of Object.entries(stateDict)) if (!nameOf.has(t)) nameOf.set(t, k);
  const constName = (t: Tensor): string => {
    let n = nameOf.get(t);
    if (n === undefined) {
      let i = 0;
      while (Object.hasOwn(stateDict, `_tensor_constant_out${i}`)) i++;
      n = `_tensor_constant_out${i}`;
      put(n, t);
      nameOf.set(t, n);
    }
    return n;
  };

  const leafOfInput = (index: number) => captured.inputLeaves[index];
  const outputLeaves: OutputLeaf[] = captured.slots.map((s): OutputLeaf => {
    switch (s.kind) {
      case 'graph': return { kind: 'graph', index: s.index };
      case 'input': return { kind: 'input', leaf: leafOfInput(s.index) };
      case 'const': return { kind: 'const', name: constName(s.value) };
      case 'literal': return { kind: 'value', value: s.value };
      default: return { kind: 'size', expr: { ...s.expr } };
    }
  });
  const copyBacks: CopyBackSpec[] = captured.copyBacks.map((c) =>
    'input' in c ? { output: c.output, leaf: leafOfInput(c.input) } : { output: c.output, constant: constName(c.constant) });
  const signature: ProgramSignature = { inputSpec: captured.argSpec, inputLeaves, outputSpec: captured.outputSpec, outputLeaves, copyBacks, dynamicDims };
  return new ExportedProgram(gm, stateDict, signature, backend);
}
