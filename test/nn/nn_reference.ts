/** Float64 references for the nn layers (plain JS arrays; never call tensorjit kernels). */
export type Mat = number[][];

/** Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7). */
export function erf(x: number): number {
  const s = Math.sign(x), a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
export const geluExact = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
export const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** rows [R, in] times weight [out, in]ᵀ plus bias. */
export function linearRows(x: Mat, w: Mat, b?: number[] | null): Mat {
  return x.map((row) => w.map((wr, o) => wr.reduce((s, wv, i) => s + wv * row[i], b ? b[o] : 0)));
}

export function layerNormRow(x: number[], w: number[] | null, b: number[] | null, eps: number): number[] {
  const mean = x.reduce((s, v) => s + v, 0) / x.length;
  const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * (w ? w[i] : 1) + (b ? b[i] : 0));
}

/** NCHW conv2d with zero padding. */
export function conv2d(x: number[][][][], w: number[][][][], b: number[] | null,
  stride: [number, number], pad: [number, number], dil: [number, number], groups: number): number[][][][] {
  const [N, C, H, W] = [x.length, x[0].length, x[0][0].length, x[0][0][0].length];
  const [O, Cg, KH, KW] = [w.length, w[0].length, w[0][0].length, w[0][0][0].length];
  const OH = Math.floor((H + 2 * pad[0] - dil[0] * (KH - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((W + 2 * pad[1] - dil[1] * (KW - 1) - 1) / stride[1]) + 1;
  const Og = O / groups;
  void C;
  return Array.from({ length: N }, (_, n) => Array.from({ length: O }, (_, o) => Array.from({ length: OH }, (_, oh) =>
    Array.from({ length: OW }, (_, ow) => {
      let s = b ? b[o] : 0;
      const g = Math.floor(o / Og);
      for (let c = 0; c < Cg; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
        const ih = oh * stride[0] - pad[0] + kh * dil[0], iw = ow * stride[1] - pad[1] + kw * dil[1];
        if (ih < 0 || iw < 0 || ih >= H || iw >= W) continue;
        s += x[n][g * Cg + c][ih][iw] * w[o][c][kh][kw];
      }
      return s;
    }))));
}

export interface MhaParams {
  wq: Mat; wk: Mat; wv: Mat;
  bq: number[] | null; bk: number[] | null; bv: number[] | null;
  wo: Mat; bo: number[] | null;
  biasK?: number[] | null; biasV?: number[] | null;
}

/**
 * Batch-first multi-head attention. `mask(n, h, i, j)` is additive over the original S keys
 * (padded key columns from biasKV / zeroAttn get 0). Returns output [N][L][E] and weights [N][H][L][S'].
 */
export function mha(q: number[][][], k: number[][][], v: number[][][], p: MhaParams, H: number,
  mask: ((n: number, h: number, i: number, j: number) => number) | null, zeroAttn = false): { y: number[][][]; w: number[][][][] } {
  const E = p.wq.length, D = E / H;
  const ys: number[][][] = [], ws: number[][][][] = [];
  for (let n = 0; n < q.length; n++) {
    const Q = linearRows(q[n], p.wq, p.bq), K = linearRows(k[n], p.wk, p.bk), V = linearRows(v[n], p.wv, p.bv);
    const S0 = K.length;
    if (p.biasK) { K.push(p.biasK.slice()); V.push(p.biasV!.slice()); }
    if (zeroAttn) { K.push(new Array(E).fill(0)); V.push(new Array(E).fill(0)); }
    const concat: Mat = Q.map(() => new Array(E).fill(0));
    const wn: number[][][] = [];
    for (let h = 0; h < H; h++) {
      const wh: number[][] = [];
      for (let i = 0; i < Q.length; i++) {
        const scores = K.map((kr, j) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += Q[i][h * D + d] * kr[h * D + d];
          return s / Math.sqrt(D) + (mask && j < S0 ? mask(n, h, i, j) : 0);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        const w = e.map((x) => x / z);
        wh.push(w);
        for (let d = 0; d < D; d++) concat[i][h * D + d] = w.reduce((s, wj, j) => s + wj * V[j][h * D + d], 0);
      }
      wn.push(wh);
    }
    ys.push(linearRows(concat, p.wo, p.bo));
    ws.push(wn);
  }
  return { y: ys, w: ws };
}

export const transpose01 = <T>(x: T[][]): T[][] => x[0].map((_, j) => x.map((row) => row[j]));
export const flat = (x: unknown): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x as number]);
