/**
 * Float64 references for the pointwise tests (never calls tensorjit kernels): erf/erfc,
 * the activation functions, float16/bfloat16 rounding, and ulp distances.
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126;

/** erf(x) in float64: Taylor series for |x| < 2.5, 1 - erfc beyond (error < 1e-15). */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 2.5) return Math.sign(x) * (1 - erfc(a));
  // sum (-1)^n x^(2n+1) / (n! (2n+1))
  let term = a, sum = a;
  const x2 = a * a;
  for (let n = 1; n < 200; n++) {
    term *= -x2 / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
  }
  return Math.sign(x) * TWO_OVER_SQRT_PI * sum;
}

/**
 * erfc(x) with full relative accuracy in the tail: a continued fraction for x >= 2.5
 * (evaluated backwards), 1 - erf(x) below (where erfc > 4e-4, so no bad cancellation).
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 2.5) return 1 - erf(x);
  if (x === Infinity) return 0;
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
  let f = x;
  for (let k = 120; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

export const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
export const silu = (x: number): number => (x === -Infinity ? NaN : x * sigmoid(x));
/** 0.5 x (1 + erf(x/√2)) = 0.5 x erfc(-x/√2) (the erfc form keeps the tail exact). */
export const gelu = (x: number): number => (x === -Infinity ? NaN : 0.5 * x * erfc(-x * Math.SQRT1_2));
export const geluTanh = (x: number): number => {
  if (x === -Infinity) return NaN;
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  return x * sigmoid(2 * u);
};

/** C99/torch pow (JS Math.pow differs for pow(1, NaN) and pow(±1, ±inf)). */
export function powC(x: number, y: number): number {
  if (y === 0 || x === 1) return 1;
  if (Math.abs(x) === 1 && Math.abs(y) === Infinity) return 1;
  return Math.pow(x, y);
}

// ---- 16-bit floats

/** floor(log2(a)) exactly for a > 0 (Math.log2 may round across a power of two). */
export function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return e;
}

function roundToGrid(v: number, mantissaBits: number, minExp: number, overflowAt: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  const e = Math.max(exponentOf(a), minExp);
  const ulp = 2 ** (e - mantissaBits);
  const q = a / ulp;
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r += 1;
  const out = r * ulp;
  return Math.sign(v) * (out >= overflowAt ? Infinity : out);
}

/** Bits of float16 nearest to v (ties to even), NaN -> sign | 0x7e00 (quiet, no payload). */
export function toHalfBits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const r = roundToGrid(v, 10, -14, 65536);
  const sign = r < 0 || Object.is(r, -0) ? 0x8000 : 0;
  const a = Math.abs(r);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  const e = exponentOf(a);
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return sign | ((e + 15) << 10) | m;
}

export function halfBitsToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Bits of bfloat16 nearest to v (ties to even), NaN -> 0x7fc0. */
export function toBFloat16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7fc0;
  const r = roundToGrid(v, 7, -126, 2 ** 128);
  const f = new Float32Array([r]);
  return new Uint32Array(f.buffer)[0] >>> 16;
}

export function bfloat16BitsToNumber(b: number): number {
  const u = new Uint32Array([b << 16]);
  return new Float32Array(u.buffer)[0];
}

// ---- ulp distance of a float32 result to a float64 reference

/** |got - ref| in float32 ulps at ref (subnormal spacing below 2^-126); Infinity on NaN/inf mismatch. */
export function ulpError(got: number, ref: number): number {
  if (Number.isNaN(ref)) return Number.isNaN(got) ? 0 : Infinity;
  if (Number.isNaN(got)) return Infinity;
  const rounded = Math.fround(ref);
  if (!Number.isFinite(rounded) || !Number.isFinite(got)) return got === rounded ? 0 : Infinity;
  const a = Math.abs(ref);
  const ulp = a < 2 ** -126 ? 2 ** -149 : 2 ** (exponentOf(a) - 23);
  return Math.abs(got - ref) / ulp;
}
