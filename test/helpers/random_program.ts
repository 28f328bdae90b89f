/**
 * Random tensor programs for differential testing: a seeded generator of straight-line
 * programs over the registry's ops (pointwise with broadcasting and scalars, comparisons
 * and where, reductions, softmax, layerNorm, matmul/linear, views, cat, in-place updates
 * of fresh values) and the fine-grained API (disable, allowInGraph, isCompiling, nested
 * compile, assumeConstantResult), with strided, broadcast, 0-d and empty inputs. The same program runs
 * eagerly and compiled; the eager result is the reference (eager ops are checked against
 * float64 references in test/ops).
 */
import * as tj from '../../lib/index';
import { makeTensor, randomValues, rng, type Layout } from './reference';

export interface RandomProgram {
  /** Readable form, one line per step (for failure messages). */
  text: string;
  /**
   * Builds the inputs (shapes and layouts fixed by the program, values by `valueSeed`); in a
   * dynamic program, `batch` sets the batch size (the dim every batched value carries).
   */
  inputs: (valueSeed: number, batch?: number) => tj.Tensor[];
  /**
   * A fresh instance of the program: `fn` returns the values it outputs; `constants` are the
   * tensors it holds in its closure (weights, and buffers it may update in place), made anew
   * for each instance with the same values.
   */
  make: () => { fn: (...xs: tj.Tensor[]) => tj.Tensor[]; constants: tj.Tensor[] };
  /** Whether it updates a constant in place (then concurrent runs race it, as documented). */
  mutatesConstants: boolean;
  /** Whether it breaks the graph (then it cannot be exported). */
  breaks: boolean;
  /**
   * Whether its values depend on input layouts in a way export does not keep: an input
   * written in place after a reshape (a view of a contiguous input, a copy of a strided
   * one; export traces inputs as contiguous, and torch leaves view-or-copy unspecified).
   */
  layoutDependent: boolean;
  /** Whether it calls an allowInGraph function (an opaque node a saved program cannot hold). */
  opaque: boolean;
}

const UNARY = ['neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'silu', 'erf', 'gelu'] as const;
const BINARY = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'] as const;
const COMPARE = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
const SIZES = [1, 1, 2, 3, 5, 8, 17, 33, 64, 129];
// elements per generated input at most (TJ_RANDOM_MAX_NUMEL raises it: multi-threaded kernels, streamed stores)
const MAX_NUMEL = Number(process.env.TJ_RANDOM_MAX_NUMEL ?? 1 << 18);

/** The batch size a dynamic program is generated with (other sizes are given to inputs()). */
export const GENERATED_BATCH = 3;

/**
 * A program of `numSteps` steps. With `dynamic`, the first input has a batch dim and every op
 * keeps it symbolic: no step names its size (reshape and expand say -1 there), so the program
 * runs at any batch size.
 */
export function randomProgram(seed: number, numSteps = 8, dynamic = false): RandomProgram {
  const rand = rng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  // bdim: the batch dim of an input or value (-1: none)
  const inputSpecs: { shape: number[]; layout: Layout; lo: number; hi: number; bdim: number; dtype: 'float32' | 'int32' }[] = [];
  let breaks = false, reshaped = false, layoutDependent = false, opaque = false;

  const addInput = (shape: number[], lo: number, hi: number, bdim: number, dtype: 'float32' | 'int32' = 'float32'): number => {
    const layout: Layout = shape.length >= 2 && shape.every((d) => d > 0) ? pick(['contiguous', 'transposed', 'sliced'] as const) : 'contiguous';
    inputSpecs.push({ shape, layout, lo, hi, bdim, dtype });
    return inputSpecs.length - 1;
  };
  const randomShape = (): number[] => {
    const rank = pick([0, 1, 2, 2, 3, 3, 4]);
    const shape = Array.from({ length: rank }, () => pick(SIZES));
    while (shape.reduce((a, b) => a * b, 1) > MAX_NUMEL) shape[int(rank)] = pick([1, 2, 3]);
    if (rank > 0 && rand() < 0.04) shape[int(rank)] = 0;  // empty tensors occur
    return shape;
  };
  // A value is an input or a step's result; steps may add inputs as they go.
  const stepIndex = (i: number) => ({ kind: 'step' as const, i });
  const inputIndex = (i: number) => ({ kind: 'input' as const, i });
  const constIndex = (i: number) => ({ kind: 'const' as const, i });
  type Ref = ReturnType<typeof stepIndex> | ReturnType<typeof inputIndex> | ReturnType<typeof constIndex>;
  const constSpecs: { shape: number[]; lo: number; hi: number }[] = [];
  let mutatesConstants = false;
  const values: { ref: Ref; shape: number[]; bdim: number }[] = [];
  const recorded: { text: string; run: (get: (r: Ref) => tj.Tensor) => tj.Tensor }[] = [];
  let keptBdim = -1;  // the current step's operand's batch dim, which most ops keep
  const push = (text: string, shape: number[], run: (get: (r: Ref) => tj.Tensor) => tj.Tensor, bdim = keptBdim) => {
    recorded.push({ text, run });
    values.push({ ref: stepIndex(recorded.length - 1), shape, bdim });
  };
  const newInput = (shape: number[], lo = -2, hi = 2, bdim = -1): Ref => {
    const r = inputIndex(addInput(shape, lo, hi, bdim));
    values.push({ ref: r, shape, bdim });
    return r;
  };
  const sameValueShape = (v: { shape: number[]; bdim: number }, shape: number[], bdim: number) => v.bdim === bdim && sameShape(v.shape, shape);
  const name = (r: Ref) => (r.kind === 'input' ? `in${r.i}` : r.kind === 'const' ? `c${r.i}` : `v${r.i}`);
  // A weight: half the time a constant held by the program (prepacked, folded), else an input.
  const newWeight = (shape: number[], lo = -2, hi = 2): Ref => {
    if (rand() < 0.5) return newInput(shape, lo, hi);
    constSpecs.push({ shape, lo, hi });
    const r = constIndex(constSpecs.length - 1);
    values.push({ ref: r, shape, bdim: -1 });
    return r;
  };

  if (dynamic) {
    const shape = randomShape();
    newInput(shape.length === 0 ? [GENERATED_BATCH] : [GENERATED_BATCH, ...shape.slice(1)], -2, 2, 0);
  } else {
    newInput(randomShape());
  }
  if (rand() < 0.5) newInput(randomShape());

  for (let s = 0; s < numSteps; ++s) {
    const src = pick(values);
    const a = src.ref, shape = src.shape, bdim = src.bdim;
    keptBdim = bdim;
    const rank = shape.length;
    // dims an op may name (not the batch dim); null when there is none
    const freeDims = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== bdim);
    const freeDim = (): number | null => (freeDims.length ? pick(freeDims) : null);
    const shifted = (removed: number) => (bdim > removed ? bdim - 1 : bdim);  // bdim after dim `removed` goes
    const kind = pick(['unary', 'unary', 'binary', 'binary', 'scalar', 'compare', 'clamp', 'reduce', 'softmax', 'layerNorm', 'matmul', 'view', 'view', 'cat', 'inplace',
      'viewInplace', 'mutateInput', 'cast', 'break', 'index', 'argmax', 'attention', 'conv', 'pool', 'split', 'stack', 'intInput', 'control']);
    const label = `v${recorded.length} =`;
    if (kind === 'unary') {
      const op = pick(UNARY);
      const approximate = op === 'gelu' && rand() < 0.5;
      push(`${label} ${op}(${name(a)}${approximate ? ", {approximate: 'tanh'}" : ''})`, shape, (get) =>
        approximate ? tj.gelu(get(a), { approximate: 'tanh' }) : (tj as any)[op](get(a)));
    } else if (kind === 'binary') {
      const op = pick(BINARY);
      // the partner broadcasts against a: some leading dims dropped, some set to 1
      const drop = int(rank + 1);
      const partnerShape = shape.slice(drop).map((d) => (rand() < 0.3 ? 1 : d));
      const partnerBdim = bdim >= drop && partnerShape[bdim - drop] !== 1 ? bdim - drop : -1;
      const existing = values.find((v) => sameValueShape(v, partnerShape, partnerBdim));
      const b = existing && rand() < 0.5 ? existing.ref
        : partnerBdim < 0 ? newWeight(partnerShape, op === 'pow' ? 0.5 : -2, 2)
        : newInput(partnerShape, op === 'pow' ? 0.5 : -2, 2, partnerBdim);
      const swap = rand() < 0.3;
      const out = broadcastShapes(shape, partnerShape);
      push(`${label} ${op}(${swap ? `${name(b)}, ${name(a)}` : `${name(a)}, ${name(b)}`})`, out, (get) =>
        swap ? (tj as any)[op](get(b), get(a)) : (tj as any)[op](get(a), get(b)));
    } else if (kind === 'scalar') {
      const op = pick(['add', 'sub', 'mul', 'div', 'pow'] as const);
      const c = op === 'pow' ? pick([2, 3, 0.5, -1, 0]) : pick([1.5, -0.5, 2, 0, 1e-3]);
      push(`${label} ${op}(${name(a)}, ${c})`, shape, (get) => (tj as any)[op](get(a), c));
    } else if (kind === 'compare') {
      const op = pick(COMPARE);
      const other = values.find((v) => v !== src && sameValueShape(v, shape, bdim));
      if (other && rand() < 0.5) {
        const b = other.ref;
        push(`${label} where(${op}(${name(a)}, ${name(b)}), ${name(a)}, ${name(b)})`, shape, (get) =>
          tj.where((tj as any)[op](get(a), get(b)), get(a), get(b)));
      } else {
        const c = pick([0, 0.5, -1]);
        push(`${label} where(${op}(${name(a)}, ${c}), ${name(a)}, ${-c - 1})`, shape, (get) =>
          tj.where((tj as any)[op](get(a), c), get(a), -c - 1));
      }
    } else if (kind === 'clamp') {
      const lo = pick([-1, 0, null]), hi = pick([1, 0.5, null]);
      if (lo === null && hi === null) continue;
      push(`${label} clamp(${name(a)}, ${lo}, ${hi})`, shape, (get) => tj.clamp(get(a), lo as any, hi as any));
    } else if (kind === 'reduce') {
      const op = pick(['sum', 'mean', 'amax', 'amin'] as const);
      const keepdim = rand() < 0.5;
      const dd = freeDim();
      if (dd === null || rand() < 0.2) {
        if ((op === 'amax' || op === 'amin') && shape.includes(0)) continue;
        push(`${label} ${op}(${name(a)})`, [], (get) => (tj as any)[op](get(a)), -1);
      } else {
        const d = rand() < 0.5 ? dd - rank : dd;  // negative dims occur
        if ((op === 'amax' || op === 'amin') && shape[dd] === 0) continue;
        const out = keepdim ? shape.map((x, i) => (i === dd ? 1 : x)) : shape.filter((_, i) => i !== dd);
        push(`${label} ${op}(${name(a)}, ${d}, ${keepdim})`, out, (get) => (tj as any)[op](get(a), d, keepdim), keepdim ? bdim : shifted(dd));
      }
    } else if (kind === 'softmax') {
      if (rank === 0) continue;
      const op = pick(['softmax', 'logSoftmax'] as const);
      const d = int(rank) - (rand() < 0.5 ? rank : 0);  // any dim, the batch dim too; negative dims occur
      push(`${label} ${op}(${name(a)}, ${d})`, shape, (get) => (tj as any)[op](get(a), d));
    } else if (kind === 'layerNorm') {
      if (rank === 0 || bdim === rank - 1) continue;
      const n = shape[rank - 1];
      const w = newWeight([n]), b = rand() < 0.5 ? newWeight([n]) : null;
      push(`${label} layerNorm(${name(a)}, [${n}], ${name(w)}, ${b ? name(b) : 'null'})`, shape, (get) =>
        tj.layerNorm(get(a), [n], get(w), b ? get(b) : null, 1e-5));
    } else if (kind === 'matmul') {
      if (rank === 0 || bdim === rank - 1) continue;
      const k = shape[rank - 1], n = pick(SIZES);
      if (rand() < 0.5) {
        const w = newWeight([n, k], -0.5, 0.5);
        const b = rand() < 0.5 ? newWeight([n]) : null;
        push(`${label} linear(${name(a)}, ${name(w)}${b ? `, ${name(b)}` : ''})`, [...shape.slice(0, -1), n], (get) =>
          b ? tj.linear(get(a), get(w), get(b)) : tj.linear(get(a), get(w)));
      } else {
        const w = newWeight([k, n], -0.5, 0.5);
        push(`${label} matmul(${name(a)}, ${name(w)})`, [...shape.slice(0, -1), n], (get) => tj.matmul(get(a), get(w)));
      }
    } else if (kind === 'view') {
      const v = pick(['reshape', 'transpose', 'permute', 'unsqueeze', 'squeeze', 'narrow', 'slice', 'expand', 'select'] as const);
      if (v === 'reshape') {
        reshaped = true;
        const n = shape.reduce((x, y) => x * y, 1);
        if (bdim > 0) continue;
        if (bdim === 0) {
          // the batch dim stays first, as -1 (the rest is flattened or split in two)
          const rest = n / shape[0];
          const tail = rand() < 0.5 || rest === 0 ? [rest] : factor(rest, rand);
          push(`${label} reshape(${name(a)}, [-1,${tail}])`, [shape[0], ...tail], (get) => tj.reshape(get(a), [-1, ...tail]), 0);
        } else {
          const out = rand() < 0.5 || n === 0 ? [n] : factor(n, rand);
          push(`${label} reshape(${name(a)}, [${out}])`, out, (get) => tj.reshape(get(a), out));
        }
      } else if (v === 'unsqueeze') {
        const d = int(rank + 1);
        push(`${label} unsqueeze(${name(a)}, ${d})`, [...shape.slice(0, d), 1, ...shape.slice(d)], (get) => tj.unsqueeze(get(a), d), bdim >= d ? bdim + 1 : bdim);
      } else if (rank === 0) {
        continue;
      } else if (v === 'transpose') {
        const d0 = int(rank), d1 = int(rank);
        const out = shape.slice();
        [out[d0], out[d1]] = [out[d1], out[d0]];
        push(`${label} transpose(${name(a)}, ${d0}, ${d1})`, out, (get) => tj.transpose(get(a), d0, d1), bdim === d0 ? d1 : bdim === d1 ? d0 : bdim);
      } else if (v === 'permute') {
        const dims = shuffle(Array.from({ length: rank }, (_, i) => i), rand);
        push(`${label} permute(${name(a)}, [${dims}])`, dims.map((d) => shape[d]), (get) => tj.permute(get(a), dims), dims.indexOf(bdim));
      } else if (v === 'squeeze') {
        const d = freeDim();
        if (d === null) continue;
        const out = shape[d] === 1 ? shape.filter((_, i) => i !== d) : shape;
        push(`${label} squeeze(${name(a)}, ${d})`, out, (get) => tj.squeeze(get(a), d), shape[d] === 1 ? shifted(d) : bdim);
      } else if (v === 'narrow' || v === 'slice') {
        const d = freeDim();
        if (d === null) continue;
        const size = shape[d];
        if (size === 0) continue;
        const start = int(size), len = 1 + int(size - start);
        if (v === 'narrow') {
          const out = shape.map((x, i) => (i === d ? len : x));
          push(`${label} narrow(${name(a)}, ${d}, ${start}, ${len})`, out, (get) => tj.narrow(get(a), d, start, len));
        } else {
          const step = pick([1, 2, 3]);
          const out = shape.map((x, i) => (i === d ? Math.ceil(len / step) : x));
          push(`${label} slice(${name(a)}, ${d}, ${start}, ${start + len}, ${step})`, out, (get) => tj.slice(get(a), d, start, start + len, step));
        }
      } else if (v === 'expand') {
        if (!shape.some((x, i) => x === 1 && i !== bdim)) continue;
        const out = shape.map((x, i) => (x === 1 && i !== bdim ? pick([1, 3, 4]) : x));
        const arg = out.map((x, i) => (i === bdim ? -1 : x));  // -1 keeps a dim's size
        push(`${label} expand(${name(a)}, [${arg}])`, out, (get) => tj.expand(get(a), arg));
      } else {
        const d = freeDim();
        if (d === null || shape[d] === 0) continue;
        const index = int(shape[d]);
        push(`${label} select(${name(a)}, ${d}, ${index})`, shape.filter((_, i) => i !== d), (get) => tj.select(get(a), d, index), shifted(d));
      }
    } else if (kind === 'cat') {
      const d = freeDim();
      if (d === null) continue;
      const other = values.find((v) => v !== src && v.bdim === bdim && v.shape.length === rank && v.shape.every((x, i) => i === d || x === shape[i]));
      const bShape = other ? other.shape : shape.map((x, i) => (i === d ? pick([1, 2]) : x));
      const b = other ? other.ref : newInput(bShape, -2, 2, bdim);
      push(`${label} cat([${name(a)}, ${name(b)}], ${d})`, shape.map((x, i) => (i === d ? x + bShape[d] : x)), (get) => tj.cat([get(a), get(b)], d));
    } else if (kind === 'viewInplace') {
      // an in-place update through a view of a fresh value reaches the value
      const d = freeDim();
      if (d === null || shape[d] === 0) continue;
      const start = int(shape[d]), len = 1 + int(shape[d] - start);
      const viaTranspose = rank >= 2 && rand() < 0.5;
      push(`${label} clone(${name(a)}) with ${viaTranspose ? 'transpose(., 0, 1).add_(1)' : `narrow(., ${d}, ${start}, ${len}).mul_(-3)`}`, shape, (get) => {
        const t = tj.clone(get(a));
        if (viaTranspose) tj.transpose(t, 0, 1).add_(1);
        else tj.narrow(t, d, start, len).mul_(-3);
        return t;
      });
    } else if (kind === 'mutateInput') {
      // an input updated in place: later steps and the caller see the new values
      // (or a constant: a buffer such as a KV cache, whose update the next call sees)
      layoutDependent ||= reshaped;
      const target = pick(values.filter((v) => v.ref.kind === 'input' || v.ref.kind === 'const'));
      if (target.ref.kind === 'const') mutatesConstants = true;
      const op = pick(['mul_', 'add_'] as const);
      push(`${label} ${name(target.ref)}.${op}(${op === 'mul_' ? 0.5 : 1})`, target.shape, (get) =>
        op === 'mul_' ? get(target.ref).mul_(0.5) : get(target.ref).add_(1), target.bdim);
    } else if (kind === 'cast') {
      const how = pick(['int32 round trip', 'int32 add', 'bool', 'float16 round trip', 'bfloat16 round trip'] as const);
      push(`${label} ${how}(${name(a)})`, shape, (get) =>
        how === 'int32 round trip' ? tj.to(tj.to(tj.mul(get(a), 3), 'int32'), 'float32')
          : how === 'int32 add' ? tj.to(tj.add(tj.to(tj.mul(get(a), 4), 'int32'), tj.to(tj.mul(get(a), -2), 'int32')), 'float32')
          : how === 'bool' ? tj.to(tj.gt(get(a), 0.25), 'float32')
          : tj.to(tj.to(get(a), how === 'float16 round trip' ? 'float16' : 'bfloat16'), 'float32'));
    } else if (kind === 'break') {
      breaks = true;
      // a graph break: an explicit one, or a branch on a value read with item()
      const explicit = rand() < 0.5;
      push(`${label} ${explicit ? 'graphBreak(); add(., 1)' : 'sum(.).item() > 0 ? mul(., 2) : neg(.)'} of ${name(a)}`, shape, (get) => {
        if (explicit) {
          tj.compiler.graphBreak();
          return tj.add(get(a), 1);
        }
        return (tj.sum(get(a)).item() as number) > 0 ? tj.mul(get(a), 2) : tj.neg(get(a));
      });
    } else if (kind === 'index') {
      // indexSelect / gather / embedding with literal int indices (graph constants)
      const d = freeDim();
      if (d === null || shape.includes(0)) continue;
      // gather's index shape and embedding's table rows would name the batch size
      const how = bdim >= 0 ? 'indexSelect' : pick(['indexSelect', 'gather', 'embedding'] as const);
      if (how === 'indexSelect') {
        const idx = Array.from({ length: 1 + int(4) }, () => int(shape[d]));
        push(`${label} indexSelect(${name(a)}, ${d}, [${idx}])`, shape.map((x, i) => (i === d ? idx.length : x)), (get) =>
          tj.indexSelect(get(a), d, tj.tensor(idx, { dtype: 'int32' })));
      } else if (how === 'gather') {
        const idxShape = shape.map((x) => 1 + int(x));
        const idx = Array.from({ length: idxShape.reduce((x, y) => x * y, 1) }, () => int(shape[d]));
        push(`${label} gather(${name(a)}, ${d}, [${idxShape}] indices)`, idxShape, (get) =>
          tj.gather(get(a), d, tj.tensor(idx, { dtype: 'int64', shape: idxShape })));
      } else {
        if (rank !== 2) continue;
        const idx = Array.from({ length: 1 + int(5) }, () => int(shape[0]));
        push(`${label} embedding([${idx}], ${name(a)})`, [idx.length, shape[1]], (get) => tj.embedding(tj.tensor(idx, { dtype: 'int64' }), get(a)));
      }
    } else if (kind === 'intInput') {
      // an int32 input in integer arithmetic with a (truncated), compared, then back to float
      const r = inputIndex(addInput(shape, -5, 5, bdim, 'int32'));
      const how = pick(['add', 'mul', 'maximum', 'where'] as const);
      push(`${label} int32 ${how}(int(${name(a)} * 4), in${r.i}: int32)`, shape, (get) => {
        const ai = tj.to(tj.mul(get(a), 4), 'int32'), b = get(r);
        const out = how === 'add' ? tj.add(ai, b) : how === 'mul' ? tj.mul(ai, tj.sub(b, 1)) : how === 'maximum' ? tj.maximum(ai, b) : tj.where(tj.gt(ai, b), ai, tj.neg(b));
        return tj.to(out, 'float32');
      });
    } else if (kind === 'control') {
      // the fine-grained API: a disabled helper (a break, run eagerly), an allowInGraph
      // function (one opaque node), a branch on isCompiling whose arms agree, a compiled
      // function called inside (inlined while tracing), a value assumed constant
      const how = pick(['disable', 'allowInGraph', 'isCompiling', 'nested compile', 'assumeConstantResult'] as const);
      if (how === 'disable') {
        breaks = true;
        const helper = tj.compiler.disable((t: tj.Tensor) => tj.mul(tj.add(t, 1), 0.5));
        push(`${label} disabled((. + 1) * 0.5)(${name(a)})`, shape, (get) => helper(get(a)));
      } else if (how === 'allowInGraph') {
        opaque = true;
        const opaqueFn = tj.compiler.allowInGraph((t: tj.Tensor, c: number) => tj.relu(tj.sub(t, c)));
        push(`${label} allowInGraph(relu(. - 0.25))(${name(a)}, 0.25)`, shape, (get) => opaqueFn(get(a), 0.25));
      } else if (how === 'isCompiling') {
        const dynamoToo = rand() < 0.5;
        push(`${label} ${dynamoToo ? 'isDynamoCompiling' : 'isCompiling'}() ? mul(${name(a)}, 2) : add(${name(a)}, ${name(a)})`, shape, (get) =>
          (dynamoToo ? tj.compiler.isDynamoCompiling() : tj.compiler.isCompiling()) ? tj.mul(get(a), 2) : tj.add(get(a), get(a)));
      } else if (how === 'nested compile') {
        const inner = tj.compile((t: tj.Tensor) => tj.sigmoid(tj.mul(t, 2)));
        push(`${label} compile(sigmoid(. * 2))(${name(a)})`, shape, (get) => inner(get(a)));
      } else {
        const scale = tj.compiler.assumeConstantResult(() => 1.5);
        push(`${label} mul(${name(a)}, assumeConstantResult(() => 1.5)())`, shape, (get) => tj.mul(get(a), scale()));
      }
    } else if (kind === 'argmax') {
      // the index of the max, back as float (argmax is int64)
      const d = freeDim();
      if (d === null || shape.includes(0)) continue;
      const keepdim = rand() < 0.5;
      const out = keepdim ? shape.map((x, i) => (i === d ? 1 : x)) : shape.filter((_, i) => i !== d);
      push(`${label} float(argmax(${name(a)}, ${d}, ${keepdim}))`, out, (get) => tj.to(tj.argmax(get(a), d, keepdim), 'float32'), keepdim ? bdim : shifted(d));
    } else if (kind === 'attention') {
      // a as queries [..., L, E]; keys and values are new inputs [..., S, E] and [..., S, Ev]
      if (rank < 2 || rank > 4 || shape.includes(0) || bdim >= rank - 2) continue;
      const S = pick([1, 3, 8]), Ev = pick([2, 5]);
      const lead = shape.slice(0, -2), E = shape[rank - 1];
      const k = newInput([...lead, S, E], -2, 2, bdim), v = newInput([...lead, S, Ev], -2, 2, bdim);
      const causal = rand() < 0.3;
      push(`${label} sdpa(${name(a)}, ${name(k)}, ${name(v)}${causal ? ', causal' : ''})`, [...shape.slice(0, -1), Ev], (get) =>
        tj.scaledDotProductAttention(get(a), get(k), get(v), null, { isCausal: causal }));
    } else if (kind === 'conv') {
      if (rank !== 4 || shape.includes(0) || bdim > 0) continue;
      const [n, c, h, w] = shape;
      const o = pick([1, 4, 8]), k = pick([1, 3]), padding = k === 3 ? 1 : 0, stride = pick([1, 2]);
      const weight = newWeight([o, c, k, k], -0.5, 0.5), bias = rand() < 0.5 ? newWeight([o]) : null;
      const oh = Math.floor((h + 2 * padding - k) / stride) + 1, ow = Math.floor((w + 2 * padding - k) / stride) + 1;
      push(`${label} conv2d(${name(a)}, ${name(weight)}, ${bias ? name(bias) : 'null'}, {stride: ${stride}, padding: ${padding}})`, [n, o, oh, ow], (get) =>
        tj.conv2d(get(a), get(weight), bias ? get(bias) : null, { stride, padding }));
    } else if (kind === 'pool') {
      if (rank !== 4 || shape.includes(0) || shape[2] < 2 || shape[3] < 2 || bdim > 0) continue;
      const max = rand() < 0.5;
      const [n, c, h, w] = shape;
      push(`${label} ${max ? 'maxPool2d' : 'avgPool2d'}(${name(a)}, 2)`, [n, c, Math.floor(h / 2), Math.floor(w / 2)], (get) =>
        max ? tj.maxPool2d(get(a), 2) : tj.avgPool2d(get(a), 2));
    } else if (kind === 'split') {
      const d = freeDim();
      if (d === null || shape.includes(0)) continue;
      const size = 1 + int(shape[d]);
      const pieces = Math.ceil(shape[d] / size), which = int(pieces);
      const len = Math.min(size, shape[d] - which * size);
      push(`${label} split(${name(a)}, ${size}, ${d})[${which}]`, shape.map((x, i) => (i === d ? len : x)), (get) => tj.split(get(a), size, d)[which]);
    } else if (kind === 'stack') {
      const other = values.find((v) => v !== src && sameValueShape(v, shape, bdim));
      if (!other) continue;
      const d = int(rank + 1);
      push(`${label} stack([${name(a)}, ${name(other.ref)}], ${d})`, [...shape.slice(0, d), 2, ...shape.slice(d)], (get) => tj.stack([get(a), get(other.ref)], d), bdim >= d ? bdim + 1 : bdim);
    } else {
      // an in-place update of a fresh value (never of an input: the eager and the
      // compiled call would then see different inputs)
      const op = pick(['add_', 'mul_', 'clamp_', 'relu_'] as const);
      push(`${label} ${op}(clone(${name(a)}))`, shape, (get) => {
        const t = tj.clone(get(a));
        if (op === 'add_') return t.add_(0.25);
        if (op === 'mul_') return t.mul_(-2);
        if (op === 'clamp_') return tj.clamp_(t, -0.5, 0.5);
        return tj.relu_(t);
      });
    }
  }

  // The last value and, sometimes, an earlier one are the outputs.
  const outputs = [values.length - 1];
  if (values.length > 2 && rand() < 0.5) outputs.push(int(values.length - 1));
  const outRefs = outputs.map((i) => values[i].ref);
  const specs = inputSpecs.slice();
  const lines = [
    ...specs.map((sp, i) => `in${i}: [${sp.shape.map((x, d) => (d === sp.bdim ? 'B' : x))}] ${sp.dtype} ${sp.layout}`),
    ...constSpecs.map((sp, i) => `c${i}: [${sp.shape}] constant`),
    ...recorded.map((r) => r.text),
    `return [${outRefs.map(name)}]`,
  ];
  return {
    text: lines.join('\n'),
    breaks,
    layoutDependent,
    opaque,
    inputs: (valueSeed: number, batch = GENERATED_BATCH) =>
      specs.map((sp, i) => {
        const shape = sp.shape.map((x, d) => (d === sp.bdim ? batch : x));
        return makeTensor(randomValues(shape.reduce((x, y) => x * y, 1), valueSeed * 131 + i, sp.dtype, sp.lo, sp.hi), shape, sp.dtype, sp.layout);
      }),
    mutatesConstants,
    make: () => {
      const constants = constSpecs.map((sp, i) =>
        makeTensor(randomValues(sp.shape.reduce((x, y) => x * y, 1), 7919 + i, 'float32', sp.lo, sp.hi), sp.shape));
      const fn = (...xs: tj.Tensor[]) => {
        const computed: tj.Tensor[] = [];
        const get = (r: Ref) => (r.kind === 'input' ? xs[r.i] : r.kind === 'const' ? constants[r.i] : computed[r.i]);
        for (const r of recorded) computed.push(r.run(get));
        return outRefs.map(get);
      };
      return { fn, constants };
    },
  };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    return x === 1 ? y : x;
  });
}

/** n split into two or three factors (n > 0). */
function factor(n: number, rand: () => number): number[] {
  const divisors = Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
  const d = divisors[Math.floor(rand() * divisors.length)];
  return [d, n / d];
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; --i) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** null when `got` matches `want` (NaN where NaN, infinities exactly), else where not. */
function mismatch(got: tj.Tensor, want: tj.Tensor): string | null {
  if (got.shape.join() !== want.shape.join() || got.dtype !== want.dtype)
    return `[${got.shape}] ${got.dtype} where eager gives [${want.shape}] ${want.dtype}`;
  const g = got.dataSync(), w = want.dataSync();
  for (let i = 0; i < w.length; i++) {
    const p = Number(g[i]), q = Number(w[i]);
    const ok = Number.isNaN(q) ? Number.isNaN(p) : p === q || Math.abs(p - q) <= 1e-4 + 1e-3 * Math.abs(q);
    if (!ok) return `element ${i}: ${p} where eager gives ${q}`;
  }
  return null;
}

/** Throws naming `what` and the first element of `got` that does not match `want` (a program's values, run eagerly). */
export function checkAgainstEager(what: string, got: tj.Tensor[], want: tj.Tensor[]): void {
  const bad = want.map((w, k) => mismatch(got[k], w)).find((m) => m !== null);
  if (bad) throw new Error(`${what}: ${bad}`);
}
