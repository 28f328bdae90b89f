/**
 * The native side never trusts the compact program (native/graph/program.h) nor the
 * fused_pointwise attrs it is handed: malformed ones built by hand are a JS RangeError
 * or TypeError, at construction or at run, and never crash the process. Base programs
 * come from the real encoder (lib/backends/native/program.ts via lowerGraph); variants
 * truncate them, set single words to special values and corrupt random words.
 */
import * as fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import * as tj from '../../../lib/index';
import { lowerGraph } from '../../../lib/backends/native/lower';
import { PROGRAM_MAGIC, PROGRAM_VERSION } from '../../../lib/backends/native/program';
import { kernelId, native } from '../../../lib/native';
import { Tensor, packTensors } from '../../../lib/tensor';
import { rng } from '../../helpers/reference';
import { randomProgram } from '../../helpers/random_program';

interface NativeExecutable {
  run(buffers: ArrayBuffer[], meta: Float64Array): ArrayBuffer[];
  runAsync(buffers: ArrayBuffer[], meta: Float64Array): Promise<ArrayBuffer[]>;
}
type ExecutableCtor = new (program: unknown, consts: unknown, offsets: unknown) => NativeExecutable;
const Executable = (native as unknown as { Executable: ExecutableCtor }).Executable;

// Set TENSORJIT_MALFORMED_TRACE=file to log each variant before it runs (finds the one that crashes).
const tracePath = process.env.TENSORJIT_MALFORMED_TRACE;
const trace = (what: string) => { if (tracePath) fs.appendFileSync(tracePath, `${what}\n`); };

interface Base {
  name: string;
  words: Float64Array;
  consts: ArrayBuffer[];
  offsets: Float64Array;
  inputs: Tensor[];
}

/** Encodes `fn` lowered for `inputs` (kept so runs of the variants get well-formed inputs). */
function base(name: string, fn: (...xs: Tensor[]) => unknown, inputs: Tensor[]): Base {
  const lowered = lowerGraph((...xs: unknown[]) => fn(...(xs as Tensor[])), inputs);
  const b = lowered.builder;
  return { name, words: b.encode(), consts: b.consts.map((c) => c.buffer), offsets: Float64Array.from(b.consts.map((c) => c.byteOffset)), inputs };
}

const seq = (n: number, scale = 0.1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1) * scale * 10);
const W = tj.tensor(seq(15), { shape: [5, 3] });
const B = tj.tensor(seq(5), { shape: [5] });
const CONV_W = tj.tensor(seq(2 * 3 * 3 * 3), { shape: [2, 3, 3, 3] });
const LN_W = tj.tensor(seq(4), { shape: [4] });
const EMB = tj.tensor(seq(24), { shape: [6, 4] });
const ROWS = tj.tensor([2, 0], { dtype: 'int64' });

const bases: Base[] = [
  // a fusable pointwise chain with a broadcast operand, then a reduction
  base('pointwise+sum', (x, y) => tj.sum(tj.relu(tj.add(tj.mul(x, y), 1)), -1), [tj.tensor(seq(12), { shape: [3, 4] }), tj.tensor(seq(4), { shape: [4] })]),
  // linear with a constant weight and bias (prepacked at construction), gelu, softmax
  base('linear+gelu+softmax', (x) => tj.softmax(tj.gelu(tj.linear(x, W, B)), -1), [tj.tensor(seq(6), { shape: [2, 3] })]),
  // views of an input (transpose, slice with step), cat, a list output (split)
  base('views+cat+split', (x) => tj.split(tj.cat([x.transpose(0, 1).slice(1, 0, 3, 2), x.transpose(0, 1)], 1), [3, 3], 1), [tj.tensor(seq(12), { shape: [4, 3] })]),
  // in-place write into a (mutable) input
  base('inplace input', (x, y) => { x.add_(y); x.copy_(tj.mul(x, 2)); return tj.neg(x); }, [tj.tensor(seq(5), { shape: [5] }), tj.tensor(seq(5), { shape: [5] })]),
  // int64 indices, embedding, layerNorm with constant weight, indexCopy_ into a temp
  base('embedding+layerNorm+indexCopy', (idx) => {
    const e = tj.layerNorm(tj.embedding(idx, EMB), [4], LN_W, null, 1e-5);
    return e.clone().indexCopy_(0, ROWS, e.narrow(0, 0, 2));
  }, [tj.tensor(new BigInt64Array([1n, 5n, 0n]), { shape: [3], dtype: 'int64' })]),
  // conv2d, maxPool2d, attention (kernels with many attrs)
  base('conv+pool+sdpa', (x, q) => {
    const c = tj.maxPool2d(tj.conv2d(x, CONV_W, null, { padding: 1 }), 2);
    return tj.scaledDotProductAttention(q, q, q, null, { isCausal: true }).add(tj.sum(c));
  }, [tj.tensor(seq(3 * 16), { shape: [1, 3, 4, 4] }), tj.tensor(seq(2 * 3 * 4), { shape: [2, 3, 4] })]),
];

function expectJsRangeOrTypeError(e: unknown, what: string): void {
  if (e instanceof RangeError || e instanceof TypeError) return;
  expect.fail(`${what}: expected a RangeError or TypeError, got ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
}

/** Builds the executable and, if it is accepted, runs it on well-formed inputs: only errors of the two classes may come out. */
function tryProgram(b: Base, words: Float64Array, what: string): 'rejected' | 'run failed' | 'ran' {
  trace(`${b.name}: ${what}`);
  let exe: NativeExecutable;
  try {
    exe = new Executable(words, b.consts, b.offsets);
  } catch (e) {
    expectJsRangeOrTypeError(e, `${b.name}: ${what}: construction`);
    return 'rejected';
  }
  const { buffers, meta } = packTensors(b.inputs);
  try {
    exe.run(buffers, meta.slice());
    return 'ran';
  } catch (e) {
    expectJsRangeOrTypeError(e, `${b.name}: ${what}: run`);
    return 'run failed';
  }
}

/** `words` with 1-4 random words changed, and which. */
function corrupt(words: Float64Array, rand: () => number, specials: readonly number[]): { w: Float64Array; changes: string } {
  const w = words.slice();
  const changes: string[] = [];
  for (let j = 1 + Math.floor(rand() * 4); j > 0; j--) {
    const i = Math.floor(rand() * w.length);
    // small integers hit plausible ranges (indices, counts, dims); others copy a word from elsewhere
    const r = rand();
    w[i] = r < 0.5 ? Math.floor(rand() * 12) - 2 : r < 0.8 ? words[Math.floor(rand() * words.length)] : specials[Math.floor(rand() * specials.length)];
    changes.push(`w[${i}]=${w[i]}`);
  }
  return { w, changes: changes.join(', ') };
}

const SPECIALS = [NaN, -1, 1e18, 0.5, 0, 1, 2, 3, -0.5, Infinity, -Infinity, 2 ** 31, 2 ** 32 + 1, 2 ** 40, -(2 ** 53)];

describe('malformed compact programs given to the Executable constructor', () => {
  test('the base programs are valid: they build and run', () => {
    for (const b of bases) expect(tryProgram(b, b.words, 'unchanged')).toBe('ran');
  });

  test.each(bases.map((b) => [b.name, b] as const))('%s: every truncation is a RangeError naming it', (_, b) => {
    for (let len = 0; len < b.words.length; len++) {
      trace(`${b.name}: truncated to ${len}`);
      expect(() => new Executable(b.words.slice(0, len), b.consts, b.offsets)).toThrow(RangeError);
    }
    expect(() => new Executable(b.words.slice(0, b.words.length - 1), b.consts, b.offsets)).toThrow(/program: truncated/);
  });

  test.each(bases.map((b) => [b.name, b] as const))('%s: every word set to each special value', (_, b) => {
    const outcomes = { rejected: 0, 'run failed': 0, ran: 0 };
    for (let i = 0; i < b.words.length; i++) {
      for (const v of SPECIALS) {
        if (Object.is(b.words[i], v)) continue;
        const w = b.words.slice();
        w[i] = v;
        outcomes[tryProgram(b, w, `word ${i} (${b.words[i]}) = ${v}`)]++;
      }
    }
    // most corruptions are caught by the decoder itself
    expect(outcomes.rejected).toBeGreaterThan(outcomes.ran);
  });

  test.each(bases.map((b, i) => [b.name, b, i] as const))('%s: 300 random corruptions of 1-4 words', (_, b, seed) => {
    const rand = rng(1000 + seed);
    const words = b.words;
    for (let k = 0; k < 300; k++) {
      const { w, changes } = corrupt(words, rand, SPECIALS);
      tryProgram(b, w, `random ${k}: ${changes}`);
    }
  });

  // Found by corrupting random programs: a size word set to 2^32 + 1 made a broadcast copy
  // write a 16 GB output, and the fuzzing process was killed by the OS (Linux overcommits
  // memory, then ends the process that touches it). Values and runs larger than physical
  // memory are refused when the executable is built.
  test('a program that needs more memory than the machine has is a RangeError when built', () => {
    const b = bases[0];
    const lowered = lowerGraph((x: unknown) => tj.clone(tj.expand(x as Tensor, [2 ** 20, 2 ** 20])), [tj.ones([1, 1])]);
    const huge = lowered.builder;
    expect(() => new Executable(huge.encode(), huge.consts.map((c) => c.buffer), Float64Array.from(huge.consts.map((c) => c.byteOffset))))
      .toThrow(/program: value %\d+ of 1099511627776 elements needs 4398046511104 bytes, more than this machine's physical memory/);
    expect(tryProgram(b, b.words, 'unchanged')).toBe('ran');
  });

  test('the lowered forms of 40 random programs, each with 100 random corruptions', () => {
    // sizes of 2^31 elements are valid and would be computed (gigabytes of broadcast copies)
    const specials = SPECIALS.filter((v) => !(v >= 2 ** 31 && v < 2 ** 40));
    const outcomes = { rejected: 0, 'run failed': 0, ran: 0 };
    let programs = 0;
    for (let seed = 0; programs < 40; seed++) {
      const program = randomProgram(seed, 10);
      if (program.breaks) continue;
      const instance = program.make();
      let b: Base;
      try {
        instance.fn(...program.inputs(1));
        b = base(`random program ${seed}`, instance.fn, program.inputs(1));
      } catch {
        continue;
      }
      programs++;
      const rand = rng(5000 + seed);
      for (let k = 0; k < 100; k++) {
        const { w, changes } = corrupt(b.words, rand, specials);
        outcomes[tryProgram(b, w, `random ${k}: ${changes}`)]++;
      }
    }
    expect(outcomes.rejected).toBeGreaterThan(outcomes.ran);
  });

  test('header fields: magic, version and counts', () => {
    const b = bases[0];
    const withWord = (i: number, v: number) => { const w = b.words.slice(); w[i] = v; return w; };
    expect(b.words[0]).toBe(PROGRAM_MAGIC);
    expect(b.words[1]).toBe(PROGRAM_VERSION);
    expect(() => new Executable(withWord(0, 0x544a4732), b.consts, b.offsets)).toThrow(/bad magic/);
    expect(() => new Executable(withWord(1, PROGRAM_VERSION + 1), b.consts, b.offsets)).toThrow(/unsupported format version/);
    expect(() => new Executable(withWord(3, 1), b.consts, b.offsets)).toThrow(/constant count mismatch/);
    const extra = new Float64Array(b.words.length + 1);
    extra.set(b.words);
    expect(() => new Executable(extra, b.consts, b.offsets)).toThrow(/trailing words/);
  });

  test('constructor arguments of the wrong kind are TypeErrors / RangeErrors', () => {
    const b = bases[1];
    expect(b.consts.length).toBeGreaterThan(0);
    expect(() => new Executable(Array.from(b.words), b.consts, b.offsets)).toThrow(TypeError);
    expect(() => new Executable(new Float32Array(b.words), b.consts, b.offsets)).toThrow(TypeError);
    expect(() => new Executable(b.words, 'consts', b.offsets)).toThrow(TypeError);
    expect(() => new Executable(b.words, b.consts, Array.from(b.offsets))).toThrow(TypeError);
    expect(() => new Executable(b.words, b.consts.map(() => 3), b.offsets)).toThrow(TypeError);
    expect(() => new Executable(b.words, b.consts.map(() => new Float32Array(4)), b.offsets)).toThrow(TypeError);
    expect(() => new Executable(b.words, b.consts, b.offsets.subarray(1))).toThrow(RangeError);
    for (const off of [NaN, -1, 0.5, 1e18, Infinity]) {
      const offsets = b.offsets.slice();
      offsets[0] = off;
      expect(() => new Executable(b.words, b.consts, offsets), `offset ${off}`).toThrow(RangeError);
    }
    // constant buffers too small for their values
    expect(() => new Executable(b.words, b.consts.map(() => new ArrayBuffer(4)), b.offsets)).toThrow(/constant \d+ holds 4 bytes/);
    const offsets = b.offsets.map((o, i) => o + b.consts[i].byteLength);
    expect(() => new Executable(b.words, b.consts, offsets)).toThrow(RangeError);
  });

  test('run with inputs that do not match the program: errors, also async', async () => {
    const b = bases[0];
    const exe = new Executable(b.words, b.consts, b.offsets);
    const pack = (ts: Tensor[]) => { const { buffers, meta } = packTensors(ts); return [buffers, meta.slice()] as const; };
    expect(() => exe.run(...pack([b.inputs[0]]))).toThrow(/expected 2 inputs/);
    expect(() => exe.run(...pack([b.inputs[0], tj.ones([5])]))).toThrow(RangeError);
    expect(() => exe.run(...pack([b.inputs[0], tj.ones([4], { dtype: 'int32' })]))).toThrow(TypeError);
    await expect(exe.runAsync(...pack([b.inputs[0], tj.ones([3, 4])]))).rejects.toThrow(RangeError);
    // meta that lies about the buffers
    const [buffers, meta] = pack(b.inputs);
    const lying = meta.slice();
    lying[4] = 1e6; // the first input's dim 0
    expect(() => exe.run(buffers, lying)).toThrow(RangeError);
    expect(() => exe.run([new ArrayBuffer(4), buffers[1]], meta)).toThrow(RangeError);
  });

  test('once its runs are known to be short, runAsync computes at once: values as run, errors as rejections', async () => {
    const b = bases[0];
    const exe = new Executable(b.words, b.consts, b.offsets);
    const pack = (ts: Tensor[]) => { const { buffers, meta } = packTensors(ts); return [buffers, meta.slice()] as const; };
    const want = exe.run(...pack(b.inputs)).map((buf) => Array.from(new Float32Array(buf)));
    // The first run goes to the background threads, and a cold first run can take longer:
    // a few runs until one has computed before runAsync returned (an already settled
    // promise wins a race against an already resolved one listed after it).
    const pending = Symbol('pending');
    let atOnce: unknown = pending;
    for (let i = 0; i < 10 && atOnce === pending; i++) {
      const run = exe.runAsync(...pack(b.inputs));
      atOnce = await Promise.race([run, Promise.resolve(pending)]);
      expect((await run).map((buf) => Array.from(new Float32Array(buf)))).toEqual(want);
    }
    expect(atOnce, 'a run computed before runAsync returned').not.toBe(pending);
    let bad: Promise<unknown> | undefined;
    expect(() => { bad = exe.runAsync(...pack([b.inputs[0], tj.ones([3, 4])])); }).not.toThrow();
    await expect(bad).rejects.toThrow(RangeError);
  });
});

// Values: 0 input f32[2,3], 1 input int64[2], 2 input bool[2,3], 3 temp f32[2,3], 4 output f32[2,3], 5 output int64[2]
const VALUE_WORDS = [
  0, 0, 2, 2, 3, 0, 0,
  0, 2, 1, 2, 1, 0,
  0, 3, 2, 2, 3, 2, 0,
  2, 0, 2, 2, 3,
  3, 0, 2, 2, 3,
  3, 2, 1, 2,
];

/** A program over VALUE_WORDS running kernel `name` once (outputs 4 and 5 are written by a copy/cast when the kernel does not). */
function oneKernelProgram(name: string, ins: number[], outs: number[], attrs: number[]): Float64Array {
  const pre = outs.includes(4) ? [] : [[kernelId('copy'), 1, 0, 1, 4, 0]];
  const post = outs.includes(5) ? [] : [[kernelId('cast'), 1, 1, 1, 5, 0]];
  const instrs = [...pre, [kernelId(name), ins.length, ...ins, outs.length, ...outs, attrs.length, ...attrs], ...post];
  return Float64Array.from([PROGRAM_MAGIC, PROGRAM_VERSION, 3, 0, 6, ...VALUE_WORDS, instrs.length, ...instrs.flat(), 2, 4, 5]);
}

describe('every kernel called by a program with the wrong operands or attrs', () => {
  const inputs = [tj.tensor(seq(6), { shape: [2, 3] }), tj.tensor(new BigInt64Array([1n, 0n]), { shape: [2], dtype: 'int64' }),
    tj.tensor(Uint8Array.from([1, 0, 1, 1, 0, 0]), { shape: [2, 3], dtype: 'bool' })];
  const { buffers, meta } = packTensors(inputs);
  const operandSets = [[], [0], [1], [2], [0, 0], [0, 1], [1, 0], [0, 2], [2, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0, 0]];
  const outputSets = [[4], [5], [4, 3], [4, 5]];
  const attrSets = [[], [0], [1], [2], Array(12).fill(0), Array(12).fill(1), Array(12).fill(-1), Array(12).fill(NaN), Array(12).fill(1e18), Array(12).fill(0.5)];
  const names = native.kernelNames().filter((n) => n !== 'fma_probe'); // the probe spins for as long as it is told (a bench tool)

  test.each(names)('%s', (name) => {
    for (const ins of operandSets)
      for (const outs of outputSets)
        for (const attrs of attrSets) {
          const what = `${name}(inputs [${ins}], outputs [${outs}], attrs [${attrs.slice(0, 3)}${attrs.length > 3 ? ',...' : ''}])`;
          trace(what);
          let exe: NativeExecutable;
          try {
            exe = new Executable(oneKernelProgram(name, ins, outs, attrs), [], new Float64Array(0));
          } catch (e) {
            expectJsRangeOrTypeError(e, `${what}: construction`);
            continue;
          }
          try {
            exe.run(buffers, meta.slice());
          } catch (e) {
            expectJsRangeOrTypeError(e, `${what}: run`);
          }
        }
  });
});

describe('malformed fused_pointwise attrs given to native.exec', () => {
  const OP = { Load: 0, Const: 1, Store: 2, Exp: 12, Add: 40, Mul: 42, Where: 81 };
  const id = kernelId('fused_pointwise');
  // y = where(mask, exp(x) + b, x * 2) over x [3, 5], b [5], mask [3, 5] bool
  const x = tj.tensor(seq(15), { shape: [3, 5] });
  const bias = tj.tensor(seq(5), { shape: [5] });
  const mask = tj.tensor(Uint8Array.from({ length: 15 }, (_, i) => i % 2), { shape: [3, 5], dtype: 'bool' });
  const program = [
    [OP.Load, 0, 0], [OP.Exp, 1, 0], [OP.Load, 2, 1], [OP.Add, 1, 1, 2], [OP.Const, 2, 2], [OP.Mul, 3, 0, 2],
    [OP.Load, 2, 2], [OP.Where, 0, 2, 1, 3], [OP.Store, 0, 0],
  ];
  const attrs = Float64Array.from([4, program.length, ...program.flatMap((c) => [...c, 0, 0, 0, 0].slice(0, 5))]);
  const run = (a: Float64Array, ins: Tensor[] = [x, bias, mask], out: Tensor = Tensor.empty([3, 5], 'float32')) => {
    const { buffers, meta } = packTensors([...ins, out]);
    native.exec(id, buffers, meta, ins.length, a);
    return out;
  };
  const tryAttrs = (a: Float64Array, what: string) => {
    trace(`fused_pointwise: ${what}`);
    try {
      run(a);
    } catch (e) {
      expectJsRangeOrTypeError(e, `fused_pointwise: ${what}`);
    }
  };

  test('the base program computes where(mask, exp(x) + b, 2x)', () => {
    const y = run(attrs).dataSync() as Float32Array;
    const xs = x.dataSync() as Float32Array, bs = bias.dataSync() as Float32Array;
    for (let i = 0; i < 15; i++) {
      const want = i % 2 ? Math.exp(xs[i]) + bs[i % 5] : 2 * xs[i];
      expect(Math.abs(y[i] - want)).toBeLessThanOrEqual(1e-5 * Math.abs(want) + 1e-6);
    }
  });

  test('every truncation and every word set to each special value', () => {
    for (let len = 0; len < attrs.length; len++) expect(() => run(attrs.slice(0, len)), `length ${len}`).toThrow(RangeError);
    for (let i = 0; i < attrs.length; i++)
      for (const v of SPECIALS) {
        const a = attrs.slice();
        a[i] = v;
        tryAttrs(a, `word ${i} = ${v}`);
      }
  });

  test('300 random corruptions', () => {
    const rand = rng(77);
    for (let k = 0; k < 300; k++) {
      const a = attrs.slice();
      const n = 1 + Math.floor(rand() * 4);
      for (let j = 0; j < n; j++) a[Math.floor(rand() * a.length)] = rand() < 0.7 ? Math.floor(rand() * 90) - 2 : SPECIALS[Math.floor(rand() * SPECIALS.length)];
      tryAttrs(a, `random ${k}: ${Array.from(a).join(',')}`);
    }
  });

  test('operands the program does not fit: bad dtypes, shapes, missing outputs', () => {
    expect(() => run(attrs, [x, bias, tj.ones([3, 5], { dtype: 'int64' })])).toThrow(TypeError);
    expect(() => run(attrs, [x, tj.ones([4]), mask])).toThrow(/does not broadcast/);
    expect(() => run(attrs, [x, bias, mask], Tensor.empty([3, 5], 'int32'))).toThrow(TypeError);
    expect(() => run(attrs, [x, bias, mask], Tensor.empty([5, 3], 'float32').transpose(0, 1))).toThrow(TypeError);
    const { buffers, meta } = packTensors([x, bias, mask]);
    expect(() => native.exec(id, buffers, meta, 3, attrs)).toThrow(RangeError);
  });
});

describe('data-movement kernels check shapes themselves', () => {
  // A program once called copy from [3, 2] into [3, 6]: the kernel walked past the source (ASan).
  test('copy from a shape that does not broadcast to the output is a RangeError', () => {
    const src = tj.tensor(seq(6), { shape: [3, 2] });
    const dst = Tensor.empty([3, 6], 'float32');
    const { buffers, meta } = packTensors([src, dst]);
    expect(() => native.exec(kernelId('copy'), buffers, meta, 1, new Float64Array(0))).toThrow(/copy: input \[3, 2\] does not broadcast to \[3, 6\]/);
    const row = tj.tensor(seq(6), { shape: [1, 6] });
    const packed = packTensors([row, dst]);
    native.exec(kernelId('copy'), packed.buffers, packed.meta, 1, new Float64Array(0));
    expect(Array.from(dst.dataSync() as Float32Array).slice(12)).toEqual(Array.from(row.dataSync() as Float32Array));
  });
});

describe('tensor descriptors whose sizes or reaches would overflow int64', () => {
  // meta words per tensor: dtype, ndim, offset, shape..., strides...
  const f32 = 0;
  const call = (shape: number[], strides: number[]) => {
    const x = tj.tensor(seq(16), { shape: [16] });
    const out = tj.zeros([1]);
    const meta = Float64Array.from([2, f32, shape.length, 0, ...shape, ...strides, f32, 1, 0, 1, 1]);
    return () => native.exec(kernelId('copy'), [x.storage!.buffer, out.storage!.buffer], meta, 1, new Float64Array(0));
  };

  test('a view of 2^24 + 1 elements 2^40 apart (2^24 * 2^40 wraps to 0) is outside its storage', () => {
    expect(call([2 ** 24 + 1], [2 ** 40])).toThrow(/reaches outside its storage/);
  });

  test('a broadcast view of 2^64 elements is too large (the count would wrap to 0)', () => {
    expect(call([2 ** 32, 2 ** 32], [0, 0])).toThrow(/more than 2\^50 elements/);
  });

  test('the JS side refuses such views with the op that makes them', () => {
    // a sum over 2^80 broadcast ones returned 0 and [2^31, 2^31] crashed the process
    expect(() => tj.ones([1, 1]).expand([2 ** 40, 2 ** 40])).toThrow(/^expand: the result \[1099511627776, 1099511627776\] has .* elements, more than a tensor can hold \(2\^50\)/);
    expect(() => tj.ones([1, 1]).expand([2 ** 31, 2 ** 31]).sum()).toThrow(RangeError);
    expect(() => tj.zeros([2 ** 26, 2 ** 26])).toThrow(/^zeros: argument 'shape' \[67108864, 67108864\] has .* more than a tensor can hold/);
    // up to the limit a broadcast view is fine, and reduces to the right value
    expect(tj.ones([1, 1]).expand([2 ** 16, 2 ** 16]).sum().item()).toBe(2 ** 32);
  });
});
