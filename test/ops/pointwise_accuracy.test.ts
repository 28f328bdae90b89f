/**
 * Dense error sweeps of the vectorized float32 math against float64 references, on the
 * ISA table this process runs (vitest runs the file under every table). The bounds are
 * the ones documented beside each function in native/kernels/math/*.h (measured there on
 * every 61st float32 by native/kernels/math/vmath_test.cc).
 */
import { describe, expect, test } from 'vitest';
import * as tj from '../../lib/index';
import { rng } from '../helpers/reference';
import { erf, erfc, gelu, geluTanh, powC, sigmoid, silu, ulpError } from './pointwise_ref';

interface Region {
  lo: number;
  hi: number;
  maxUlp: number;
}
interface Sweep {
  name: string;
  fn: (x: tj.Tensor) => tj.Tensor;
  ref: (x: number) => number;
  regions: Region[];
}

const all = (maxUlp: number, lo = -Infinity, hi = Infinity): Region[] => [{ lo, hi, maxUlp }];

const SWEEPS: Sweep[] = [
  { name: 'exp', fn: tj.exp, ref: Math.exp, regions: all(1.05) },
  { name: 'log', fn: tj.log, ref: Math.log, regions: all(1) },
  { name: 'tanh', fn: tj.tanh, ref: Math.tanh, regions: all(2.5) },
  { name: 'sigmoid', fn: tj.sigmoid, ref: sigmoid, regions: all(2.5) },
  { name: 'silu', fn: tj.silu, ref: silu, regions: all(3.5) },
  { name: 'erf', fn: tj.erf, ref: erf, regions: all(1.5) },
  {
    name: 'gelu', fn: (x) => tj.gelu(x), ref: gelu,
    // polynomial pieces from -3 up, the erfc form below (see erf_gelu.h)
    regions: [{ lo: -3, hi: Infinity, maxUlp: 2.5 }, { lo: -Infinity, hi: -3, maxUlp: 7 }],
  },
  {
    name: 'gelu tanh', fn: (x) => tj.gelu(x, { approximate: 'tanh' }), ref: geluTanh,
    // below -1 the float32 rounding of u = sqrt(2/pi)(x + 0.044715 x^3) dominates (as in torch)
    regions: [{ lo: -1, hi: Infinity, maxUlp: 3 }, { lo: -5, hi: -1, maxUlp: 35 }, { lo: -Infinity, hi: -5, maxUlp: 250 }],
  },
  { name: 'sin', fn: tj.sin, ref: Math.sin, regions: all(2) },
  { name: 'cos', fn: tj.cos, ref: Math.cos, regions: all(2) },
];

/** A dense linear sweep of [-span, span] plus random float32 bit patterns (all magnitudes). */
function inputs(span: number, n: number, seed: number): Float32Array {
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) out[i] = -span + (2 * span * i) / (n - 1);
  const bits = new Uint32Array(out.buffer, 4 * n, n);
  const r = rng(seed);
  for (let i = 0; i < n; i++) {
    let b = 0;
    do b = (r() * 4294967296) >>> 0; while ((b & 0x7f800000) === 0x7f800000);
    bits[i] = b;
  }
  return out;
}

describe('documented error bounds hold on a dense sweep', () => {
  for (const s of SWEEPS) {
    test(s.name, () => {
      const xs = inputs(s.name === 'sin' || s.name === 'cos' ? 200 : 20, 1 << 18, 12345);
      const y = s.fn(tj.tensor(xs, { shape: [xs.length] })).dataSync() as Float32Array;
      for (const region of s.regions) {
        let worst = 0, at = NaN;
        for (let i = 0; i < xs.length; i++) {
          const x = xs[i];
          if (!(x >= region.lo && x < region.hi)) continue;
          const e = ulpError(y[i], s.ref(x));
          if (e > worst) { worst = e; at = x; }
        }
        expect(worst, `${s.name} on [${region.lo}, ${region.hi}): ${worst.toFixed(3)} ulp at x = ${at}`).toBeLessThanOrEqual(region.maxUlp);
      }
    });
  }

  test('gelu: a lane gives the same bits whether or not its vector has a lane below -3', () => {
    // gelu branches per vector (pieces, or also the erfc form when a lane is below -3)
    const n = 4099;
    const alone = new Float32Array(n), mixed = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      alone[i] = Math.fround(-3 + (9 * i) / (n - 1));
      mixed[2 * i] = alone[i];
      mixed[2 * i + 1] = -3.5 - i / n;
    }
    const a = tj.gelu(tj.tensor(alone, { shape: [n] })).dataSync() as Float32Array;
    const m = tj.gelu(tj.tensor(mixed, { shape: [2 * n] })).dataSync() as Float32Array;
    for (let i = 0; i < n; i++) {
      if (!Object.is(a[i], m[2 * i])) expect.fail(`gelu(${alone[i]}): ${a[i]} alone, ${m[2 * i]} beside a tail lane`);
    }
    expect(a[n - 1]).toBe(Math.fround(6)); // x >= 5.5: Phi rounds to 1, gelu(x) = x exactly
  });

  test('pow: error <= 2 + |y ln|x|| / 2 ulp', () => {
    const r = rng(7);
    const n = 1 << 16;
    const xs = new Float32Array(n), ys = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      xs[i] = Math.fround((r() < 0.2 ? -1 : 1) * Math.exp(12 * (r() - 0.5)));
      ys[i] = Math.fround(i % 3 === 0 ? Math.round(20 * (r() - 0.5)) : 30 * (r() - 0.5));
    }
    const got = tj.pow(tj.tensor(xs, { shape: [n] }), tj.tensor(ys, { shape: [n] })).dataSync() as Float32Array;
    for (let i = 0; i < n; i++) {
      const phi = Math.abs(ys[i] * Math.log(Math.abs(xs[i])));
      const bound = 2 + phi / 2;
      const e = ulpError(got[i], powC(xs[i], ys[i]));
      if (!(e <= bound)) expect.fail(`pow(${xs[i]}, ${ys[i]}): ${e} ulp > ${bound}`);
    }
  });

  test('rsqrt and sqrt', () => {
    const xs = inputs(100, 1 << 16, 99).map(Math.abs);
    const t = tj.tensor(xs, { shape: [xs.length] });
    const s = tj.sqrt(t).dataSync() as Float32Array, rs = tj.rsqrt(t).dataSync() as Float32Array;
    for (let i = 0; i < xs.length; i++) {
      if (s[i] !== Math.fround(Math.sqrt(xs[i]))) expect.fail(`sqrt(${xs[i]}) is not correctly rounded`);
      if (!(ulpError(rs[i], 1 / Math.sqrt(xs[i])) <= 1.5)) expect.fail(`rsqrt(${xs[i]}) = ${rs[i]}`);
    }
  });
});

test('the float64 erf/erfc references are themselves right', () => {
  // values from the Handbook of Mathematical Functions / high-precision tables
  expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 15);
  expect(erf(1)).toBeCloseTo(0.8427007929497149, 15);
  expect(erf(2)).toBeCloseTo(0.9953222650189527, 15);
  expect(erfc(3) / 2.209049699858544e-5).toBeCloseTo(1, 13);
  expect(erfc(5) / 1.5374597944280349e-12).toBeCloseTo(1, 13);
  expect(erfc(10) / 2.088487583762545e-45).toBeCloseTo(1, 12);
});
