/** A float64 reference convolution for the conv2d tests (eager and fused). */
import * as tj from '../../lib/index';
import { Layout, Ref, Tol, expectClose, makeTensor, numel, randomValues } from './reference';

export interface Conv {
  stride: [number, number];
  pad: [number, number, number, number]; // top, left, bottom, right
  dil: [number, number];
  groups: number;
}

/** Direct float64 convolution (x [N, C, H, W], w [O, C/g, kh, kw]). */
export function refConv(x: Ref, w: Ref, b: Ref | null, c: Conv): Ref {
  const [N, C, H, W] = x.shape;
  const [O, Cg, kh, kw] = w.shape;
  const OH = Math.floor((H + c.pad[0] + c.pad[2] - c.dil[0] * (kh - 1) - 1) / c.stride[0]) + 1;
  const OW = Math.floor((W + c.pad[1] + c.pad[3] - c.dil[1] * (kw - 1) - 1) / c.stride[1]) + 1;
  const Og = O / c.groups;
  const out = new Float64Array(N * O * OH * OW);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let s = b ? b.data[o] : 0;
          for (let ci = 0; ci < Cg; ci++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = oy * c.stride[0] - c.pad[0] + ky * c.dil[0], ix = ox * c.stride[1] - c.pad[1] + kx * c.dil[1];
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                s += x.data[((n * C + g * Cg + ci) * H + iy) * W + ix] * w.data[((o * Cg + ci) * kh + ky) * kw + kx];
              }
          out[((n * O + o) * OH + oy) * OW + ox] = s;
        }
    }
  return { shape: [N, O, OH, OW], data: out };
}

/** Tolerance for float32 convs summing K products. */
export const convTol = (K: number): Tol => ({ rtol: 1e-5, atol: 4e-6 * Math.max(1, K) });

export const convOf = (stride: [number, number] = [1, 1], pad: [number, number, number, number] = [0, 0, 0, 0], dil: [number, number] = [1, 1], groups = 1): Conv =>
  ({ stride, pad, dil, groups });

export interface ConvCase {
  x: number[];
  w: number[];
  bias?: boolean;
  opts?: tj.Conv2dOptions;
  conv: Conv;
  lx?: Layout;
  lw?: Layout;
}

/**
 * Seeded operands (a tensor in the given layout and its float64 values) and a checker that
 * runs tj.conv2d on a case and compares it with refConv. Each test file passes its own
 * first seed so the files draw different values.
 */
export function convChecker(firstSeed: number) {
  let seed = firstSeed;
  const operand = (shape: number[], layout: Layout = 'contiguous', lo = -2, hi = 2): { t: tj.Tensor; r: Ref } => {
    const vals = randomValues(numel(shape), seed++, 'float32', lo, hi);
    return { t: makeTensor(vals, shape, 'float32', layout), r: { shape, data: Float64Array.from(vals) } };
  };
  const check = (c: ConvCase) => {
    const x = operand(c.x, c.lx), w = operand(c.w, c.lw), b = operand([c.w[0]]);
    const got = c.bias ? tj.conv2d(x.t, w.t, b.t, c.opts) : tj.conv2d(x.t, w.t, null, c.opts);
    expectClose(got, refConv(x.r, w.r, c.bias ? b.r : null, c.conv), convTol(c.w[1] * c.w[2] * c.w[3]), JSON.stringify({ ...c, conv: undefined }));
  };
  return { operand, check, nextSeed: () => seed++ };
}
