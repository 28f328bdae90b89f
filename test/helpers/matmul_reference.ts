/** A float64 reference matmul (torch.matmul semantics) and its float32 tolerance. */
import { Ref, Tol, numel, stridesOf } from './reference';

/** Float32 rounding grows with the reduction length: |a|,|b| < 2 gives terms below 4. */
export const tolK = (K: number): Tol => ({ rtol: 1e-5, atol: 4e-6 * Math.max(1, K) });

/** torch.matmul in float64: 1-D operands promoted then squeezed, batch dims broadcast. */
export function refMatmul(a: Ref, b: Ref): Ref {
  const aS = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bS = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const M = aS[aS.length - 2], K = aS[aS.length - 1], N = bS[bS.length - 1];
  const ab = aS.slice(0, -2), bb = bS.slice(0, -2);
  const nb = Math.max(ab.length, bb.length);
  const batch = Array.from({ length: nb }, (_, i) => {
    const da = ab[ab.length - nb + i] ?? 1, db = bb[bb.length - nb + i] ?? 1;
    return da === 1 ? db : da;
  });
  const count = numel(batch);
  const out = new Float64Array(count * M * N);
  const bst = stridesOf(batch);
  const aBst = stridesOf(ab), bBst = stridesOf(bb);
  for (let i = 0; i < count; i++) {
    let offA = 0, offB = 0;
    for (let d = 0; d < nb; d++) {
      const idx = Math.floor(i / bst[d]) % batch[d];
      const da = d - (nb - ab.length), db = d - (nb - bb.length);
      if (da >= 0 && ab[da] !== 1) offA += idx * aBst[da];
      if (db >= 0 && bb[db] !== 1) offB += idx * bBst[db];
    }
    offA *= M * K;
    offB *= K * N;
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a.data[offA + m * K + k] * b.data[offB + k * N + n];
        out[(i * M + m) * N + n] = s;
      }
  }
  const shape = [...batch, ...(a.shape.length >= 2 ? [M] : []), ...(b.shape.length >= 2 ? [N] : [])];
  return { shape, data: out };
}
