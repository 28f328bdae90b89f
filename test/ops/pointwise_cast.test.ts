import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import type { DType } from '../../lib/index';
import { makeTensor, randomValues } from '../helpers/reference';
import { bfloat16BitsToNumber, halfBitsToNumber, toBFloat16Bits, toHalfBits } from './pointwise_ref';

const DTYPES: DType[] = ['float32', 'int32', 'int64', 'bool', 'float16', 'bfloat16'];

/** The value a dtype stores for a JS number (what tj.tensor puts there), as a number. */
function stored(v: number, d: DType): number {
  switch (d) {
    case 'float32': return Math.fround(v);
    case 'int32': case 'int64': return Math.trunc(v);
    case 'bool': return v !== 0 ? 1 : 0;
    case 'float16': return halfBitsToNumber(toHalfBits(v));
    case 'bfloat16': return bfloat16BitsToNumber(toBFloat16Bits(v));
  }
}

/** Expected raw element of `to(dtype)` from a source value (torch on x86). */
function converted(v: number, d: DType): number | bigint {
  const intFrom = (lo: number, hi: number, indefinite: number | bigint) =>
    Number.isNaN(v) || v < lo || v >= hi ? indefinite : Math.trunc(v);
  switch (d) {
    case 'float32': return Math.fround(v);
    case 'int32': return intFrom(-(2 ** 31), 2 ** 31, -(2 ** 31));
    case 'int64': { const r = intFrom(-(2 ** 63), 2 ** 63, -(2n ** 63n)); return typeof r === 'bigint' ? r : BigInt(r); }
    case 'bool': return v !== 0 ? 1 : 0; // NaN is true
    case 'float16': return toHalfBits(Math.fround(v));
    case 'bfloat16': return toBFloat16Bits(Math.fround(v));
  }
}

function raw(t: tj.Tensor): (number | bigint)[] {
  return Array.from(t.dataSync() as ArrayLike<number | bigint>);
}

describe('to(dtype): every dtype pair, any layout', () => {
  const values = [0, 1, -1, 2.5, -2.5, 3.75, 100, -7, 65504, 0.1, 1e-3, 255, -128];
  for (const from of DTYPES) {
    test(`from ${from}`, () => {
      const src = values.map((v) => stored(v, from));
      for (const layout of ['contiguous', 'sliced'] as const) {
        const x = makeTensor(src, [src.length], from, layout);
        for (const to of DTYPES) {
          const y = x.to(to);
          expect(y.dtype).toBe(to);
          expect(raw(y), `${from} -> ${to} (${layout})`).toEqual(src.map((v) => converted(v, to)));
        }
      }
      const m = makeTensor(Array.from({ length: 12 }, (_, i) => stored(i - 5, from)), [3, 4], from, 'transposed');
      expect(tj.to(m, 'float32').toArray(), `${from} transposed`).toEqual(
        Array.from({ length: 3 }, (_, r) => Array.from({ length: 4 }, (_, c) => stored(r * 4 + c - 5, from))));
    });
  }
  test('same dtype returns the tensor itself; another tensor gives the dtype', () => {
    const x = tj.tensor([1, 2]);
    expect(x.to('float32')).toBe(x);
    expect(x.to(tj.zeros([1], { dtype: 'int64' })).dtype).toBe('int64');
  });
});

describe('float -> int and bool edge cases', () => {
  test('truncation toward zero; NaN, inf and out of range give INT_MIN (x86 indefinite)', () => {
    const x = tj.tensor(new Float32Array([1.9, -1.9, NaN, Infinity, -Infinity, 3e9, -3e9, 2147483520, -2147483648]));
    expect(raw(x.to('int32'))).toEqual([1, -1, -2147483648, -2147483648, -2147483648, -2147483648, -2147483648, 2147483520, -2147483648]);
    expect(raw(x.to('int64'))).toEqual([1n, -1n, -(2n ** 63n), -(2n ** 63n), -(2n ** 63n), 3000000000n, -3000000000n, 2147483520n, -2147483648n]);
    expect(raw(x.to('bool'))).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(raw(tj.tensor([0, -0]).to('bool'))).toEqual([0, 0]);
  });
  test('int64 -> int32 wraps; large int64 -> float32 rounds to nearest', () => {
    const x = tj.tensor(new BigInt64Array([2n ** 32n + 7n, -(2n ** 31n) - 1n, 16777217n]));
    expect(raw(x.to('int32'))).toEqual([7, 2147483647, 16777217]);
    expect(raw(x.to('float32'))).toEqual([4294967296, -2147483648, 16777216]);
  });
});

describe('float16 / bfloat16: exact round-to-nearest-even', () => {
  // ties, subnormals, overflow thresholds, NaN and signed zeros
  const specials = [
    1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 65504, 65519.99, 65520, 65536, -65520, 2 ** -24, 2 ** -25,
    3 * 2 ** -26, 2 ** -25 + 2 ** -40, 2 ** -14 - 2 ** -25, 6e-8, -0, 0, Infinity, -Infinity, NaN, 1e-40, 3.4e38, 1 + 2 ** -8,
    1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -23, 2 ** -133, 2 ** -134, 3.3961776e38, 3.3961777e38,
  ].map(Math.fround);
  test('float32 -> float16 and bfloat16 bits (specials and a random sweep)', () => {
    const rnd = randomValues(20000, 17, 'float32', -1, 1).map((u, i) => Math.fround(u * 2 ** ((i % 60) - 30)));
    const vals = [...specials, ...rnd];
    const x = tj.tensor(new Float32Array(vals), { shape: [vals.length] });
    expect(raw(x.to('float16'))).toEqual(vals.map(toHalfBits));
    expect(raw(x.to('bfloat16'))).toEqual(vals.map(toBFloat16Bits));
    // the same through a strided view (the scalar conversion path)
    const wide = tj.tensor(new Float32Array(vals.flatMap((v) => [v, 0])), { shape: [vals.length, 2] }).select(1, 0);
    expect(raw(wide.to('float16'))).toEqual(vals.map(toHalfBits));
    expect(raw(wide.to('bfloat16'))).toEqual(vals.map(toBFloat16Bits));
  });
  test('every float16 and bfloat16 widens exactly (NaNs stay NaN)', () => {
    const bits = new Uint16Array(65536).map((_, i) => i);
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const decode = dtype === 'float16' ? halfBitsToNumber : bfloat16BitsToNumber;
      const h = tj.tensor(bits, { shape: [65536], dtype });
      const f = h.to('float32').dataSync() as Float32Array;
      for (let i = 0; i < 65536; i++) {
        const want = decode(i);
        if (Number.isNaN(want) ? !Number.isNaN(f[i]) : !Object.is(f[i], want)) expect.fail(`${dtype} bits ${i.toString(16)}: got ${f[i]}, want ${want}`);
      }
      // and back: every non-NaN value round-trips bit-exactly
      const back = raw(h.to('float32').to(dtype));
      for (let i = 0; i < 65536; i++) if (!Number.isNaN(decode(i)) && back[i] !== i) expect.fail(`${dtype} round trip of ${i.toString(16)}`);
    }
  });
  test('float16 NaN payloads survive widening as quiet NaNs (F16C and the bit code agree)', () => {
    const h = tj.tensor(new Uint16Array([0x7c01, 0xfe00, 0x7fff]), { shape: [3], dtype: 'float16' });
    const f = h.to('float32').dataSync() as Float32Array;
    expect(Array.from(new Uint32Array(f.buffer))).toEqual([0x7fc02000, 0xffc00000, 0x7fffe000]);
    expect(raw(h.to('float32').to('float16'))).toEqual([0x7e01, 0xfe00, 0x7fff]);
  });
  test('int and bool to 16-bit floats and back', () => {
    const i = tj.tensor(new Int32Array([0, 1, -3, 2049, 65519, 65520, 300]));
    expect(raw(i.to('float16'))).toEqual([0, 1, -3, 2049, 65519, 65520, 300].map(toHalfBits));
    expect(raw(i.to('bfloat16').to('int32'))).toEqual([0, 1, -3, 2048, 65536, 65536, 300]);
    expect(raw(tj.tensor([true, false]).to('float16'))).toEqual([0x3c00, 0]);
  });
  test('float16 arithmetic computes in float32 and rounds once', () => {
    const a = tj.tensor([1, 2048], { dtype: 'float16' }), b = tj.tensor([2 ** -11, 1], { dtype: 'float16' });
    // 1 + 2^-11 is a tie -> 1; 2048 + 1 is a tie -> 2048 (even)
    expect(raw(tj.add(a, b))).toEqual([0x3c00, toHalfBits(2048)]);
  });
});

describe('to BAD CALLs', () => {
  test('unknown dtype, non-tensor input, disposed input', () => {
    expect(() => tj.zeros([1]).to('float64' as DType)).toThrow(TypeError);
    expect(() => tj.zeros([1]).to('float64' as DType)).toThrow(/to: unknown dtype "float64"/);
    expect(() => tj.to(3 as unknown as tj.Tensor, 'int32')).toThrow(/to: argument 'input' must be a Tensor/);
    const x = tj.zeros([1]);
    x.dispose();
    expect(() => x.to('int32')).toThrow(/disposed/);
  });
});
