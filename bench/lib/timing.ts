/** Timing helpers: warm up, then the median of repeated runs (ms). */
export interface Timing {
  medianMs: number;
  minMs: number;
  runs: number;
}

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs fn until `budgetMs` is spent (at least `minRuns` times) after `warmup` calls. */
export function time(fn: () => unknown, opts: { warmup?: number; minRuns?: number; budgetMs?: number } = {}): Timing {
  const { warmup = 2, minRuns = 5, budgetMs = 400 } = opts;
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < minRuns || (performance.now() - start < budgetMs && samples.length < 10000)) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return { medianMs: median(samples), minMs: Math.min(...samples), runs: samples.length };
}

/**
 * Times several functions side by side in alternating blocks: `rounds` times, each function
 * (in an order that rotates by round) runs for its share of `budgetMs`, at least
 * `minRunsPerBlock` timed calls after one untimed call. The speed of a shared VM drifts
 * over seconds: alternating, the functions see the same drift, so their ratios hold (three
 * consecutive 400 ms blocks did not). Not call by call: onnxruntime's pool spins for a
 * while after a run, which would slow whatever ran next; the untimed call absorbs it.
 * Promises are awaited, so async runs (session.run) are timed to completion.
 */
export async function timeAlternating(
  fns: Array<() => unknown>,
  opts: { rounds?: number; minRunsPerBlock?: number; budgetMs?: number } = {},
): Promise<Timing[]> {
  const { rounds = 4, minRunsPerBlock = 2, budgetMs = 1200 } = opts;
  const call = async (fn: () => unknown) => {
    const r = fn();
    if (r instanceof Promise) await r;
  };
  const blockMs = budgetMs / (rounds * fns.length);
  const samples: number[][] = fns.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < fns.length; k++) {
      const i = (round + k) % fns.length;
      await call(fns[i]);
      const start = performance.now();
      for (let n = 0; n < minRunsPerBlock || (performance.now() - start < blockMs && n < 10000); n++) {
        const t0 = performance.now();
        await call(fns[i]);
        samples[i].push(performance.now() - t0);
      }
    }
  }
  return samples.map((xs) => ({ medianMs: median(xs), minMs: Math.min(...xs), runs: xs.length }));
}
