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

export async function timeAsync(fn: () => Promise<unknown>, opts: { warmup?: number; minRuns?: number; budgetMs?: number } = {}): Promise<Timing> {
  const { warmup = 2, minRuns = 5, budgetMs = 400 } = opts;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < minRuns || (performance.now() - start < budgetMs && samples.length < 10000)) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return { medianMs: median(samples), minMs: Math.min(...samples), runs: samples.length };
}
