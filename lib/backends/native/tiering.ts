/**
 * Which tier runs a dynamic graph's call at an input shape it has no executable for: the
 * native executable (lowered and built for that shape first) or the graph's eager
 * interpreter. A decoding loop whose caches grow by one position every step meets a new
 * shape on every call and never reuses one: building each costs more than running the
 * step eagerly. So, as a JIT's tiers do, a new shape runs eagerly when that is estimated
 * to cost less than building it and running the executable, and a shape that comes back
 * is built (it recurs, so its executable will be reused).
 *
 * New shapes differ in size (a server's requests of random lengths), so a run's time is
 * estimated from the recent runs of the nearest sizes (input elements), scaled to the new
 * size; building (lowering plus the native build) costs about the same at any size,
 * except the graph's first build, which also prepacks its weights for all later ones.
 * Each estimate is a lower median of three (a collection pausing one run does not flip
 * the choice). Every 8th new shape takes the other tier so its estimate does not go
 * stale; every 64th once both are measured thrice and the other cost over twice as much.
 */

/** Shapes remembered as run eagerly once (a second call builds them). */
const REMEMBERED_SHAPES = 256;
const EXPLORE_EVERY = 8;
const EXPLORE_COSTLY_EVERY = 64;
/** Run times kept per tier (of the most recent new shapes). */
const KEPT_RUNS = 16;

function lowerMedian(values: number[]): number {
  const sorted = values.sort((a, b) => a - b);
  return sorted.length ? sorted[(sorted.length - 1) >> 1] : NaN;
}

/** The last three measurements of a cost; its estimate is their lower median. */
class RecentCosts {
  private readonly ms: number[] = [];
  add(ms: number): void {
    if (this.ms.push(ms) > 3) this.ms.shift();
  }
  get count(): number {
    return this.ms.length;
  }
  get estimate(): number {
    return lowerMedian([...this.ms]);
  }
}

/** Recent run times with their sizes; a size's estimate scales those of the three nearest sizes. */
class RecentRuns {
  private readonly runs: { work: number; ms: number }[] = [];
  add(work: number, ms: number): void {
    if (this.runs.push({ work: Math.max(work, 1), ms }) > KEPT_RUNS) this.runs.shift();
  }
  get count(): number {
    return this.runs.length;
  }
  estimate(work: number): number {
    const w = Math.max(work, 1);
    const distance = (r: { work: number }) => Math.abs(Math.log(r.work / w));
    const nearest = [...this.runs].sort((a, b) => distance(a) - distance(b)).slice(0, 3);
    return lowerMedian(nearest.map((r) => (r.ms * w) / r.work));
  }
}

export type Tier = 'build' | 'eager';

export interface TierEstimates {
  /** An eager run at the shape asked about. */
  eagerMs: number;
  /** Lowering and building an executable for it, then running it. */
  buildMs: number;
}

export class ShapeTiering {
  private readonly eager = new RecentRuns();
  private readonly run = new RecentRuns();
  private readonly build = new RecentCosts();
  private newShapes = 0;
  private builds = 0;
  private readonly ranEagerly = new Set<string>();

  /**
   * The tier for `key`, a signature with no executable yet, whose inputs hold `work`
   * elements; `first` when the graph has no executable at all.
   */
  choose(key: string, first: boolean, work: number): Tier {
    if (first || this.ranEagerly.delete(key)) return 'build';
    const { eagerMs, buildMs } = this.estimates(work);
    if (Number.isNaN(eagerMs)) return this.rememberEager(key);
    if (Number.isNaN(buildMs)) return 'build';
    const cheaper: Tier = eagerMs < buildMs ? 'eager' : 'build';
    const settled = Math.min(this.eager.count, this.run.count, this.build.count) >= 3;
    const costlyOther = settled && Math.max(eagerMs, buildMs) > 2 * Math.min(eagerMs, buildMs);
    const explore = ++this.newShapes % (costlyOther ? EXPLORE_COSTLY_EVERY : EXPLORE_EVERY) === 0;
    const tier: Tier = explore ? (cheaper === 'eager' ? 'build' : 'eager') : cheaper;
    return tier === 'eager' ? this.rememberEager(key) : 'build';
  }

  /** A new shape of `work` input elements was lowered and built in `buildMs`, then ran in `runMs`. */
  builtIn(buildMs: number, runMs: number, work: number): void {
    if (this.builds++ === 0) return;  // the first build's one-time work says nothing of the next
    this.build.add(buildMs);
    this.run.add(work, runMs);
  }

  /** A new shape of `work` input elements ran eagerly in `ms`. */
  ranEagerlyIn(ms: number, work: number): void {
    this.eager.add(work, ms);
  }

  /** The estimates for a shape of `work` input elements (NaN before a measurement). */
  estimates(work: number): TierEstimates {
    return { eagerMs: this.eager.estimate(work), buildMs: this.build.estimate + this.run.estimate(work) };
  }

  private rememberEager(key: string): Tier {
    if (this.ranEagerly.size >= REMEMBERED_SHAPES) this.ranEagerly.delete(this.ranEagerly.values().next().value!);
    this.ranEagerly.add(key);
    return 'eager';
  }
}
