/**
 * Which tier runs a dynamic graph's call at an input shape it has no executable for: the
 * native executable (lowered and built for that shape first) or the graph's eager
 * interpreter (whose runs of static-shape nodes are native: static_segments.ts). A
 * decoding loop whose caches grow by one position every step meets a new shape on every
 * call and never reuses one: building each costs more than running the step eagerly.
 * So, as a JIT's tiers do, a new shape runs eagerly when that is estimated to cost less,
 * and a shape that comes back is built (it recurs, so its executable will be reused).
 * What running eagerly first costs counts those builds too, as often as the graph's recent
 * new shapes have come back: a server's request lengths mostly recur, so it builds them
 * at once.
 *
 * New shapes differ in size (a server's requests of random lengths), so a run's time is
 * estimated from recent runs at the nearest sizes (input elements), scaled to the new size
 * as the graph's run times have grown with size; building (lowering plus the native build)
 * costs about the same at any size, except the graph's first build, which also prepacks
 * its weights for all later ones. Timings have slow outliers (a collection, a busy
 * neighbour), so both estimates are robust to a few and lean to the fast: an estimate too
 * high would keep its tier from being measured again, one too low is measured and mended.
 * The other tier is taken now and then to keep its estimate true: every 8th new shape
 * until both have run thrice, then at a cost held to 2% of what new shapes cost.
 */

/** Shapes remembered as run eagerly once (a second call builds them). */
const REMEMBERED_SHAPES = 256;
/** The share of new shapes' costs spent on measuring the other tier, */
const EXPLORATION_SHARE = 0.02;
/** and how often it is measured before both tiers have run thrice. */
const EXPLORE_UNSETTLED_EVERY = 8;
/** Run times kept per tier (of the most recent new shapes). */
const KEPT_RUNS = 16;
/** New shapes over which the share that came back is counted. */
const RECURRENCE_WINDOW = 64;
/** Runs of the nearest sizes a size's estimate is scaled from. */
const NEAREST_RUNS = 5;
/** Runs added before the size exponent is fitted again. */
const REFIT_EVERY = 4;

/** The value a share `q` of the way up the sorted values, rounding down (q = 0.5: the lower median). */
function lowerQuantile(values: number[], q: number): number {
  const sorted = values.sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) * q)] : NaN;
}

/** The last three measurements of a cost; its estimate is their lower median (one slow run does not move it). */
class RecentCosts {
  private readonly ms: number[] = [];
  add(ms: number): void {
    if (this.ms.push(ms) > 3) this.ms.shift();
  }
  get count(): number {
    return this.ms.length;
  }
  get estimate(): number {
    return lowerQuantile([...this.ms], 0.5);
  }
}

/**
 * Recent run times with their sizes. A run's time grows with its size as `size^exponent`,
 * the exponent between 0 (a graph of tiny tensors costs the same at every size) and 1 (a
 * large one in proportion): the weighted median of the slopes between pairs of runs in
 * log-log, weighted by how far apart their sizes are (the slope between close sizes is
 * mostly noise). A size's estimate is the lower quartile of the five nearest runs, each
 * scaled to it: it holds while three of the five were slowed.
 */
class RecentRuns {
  // logarithms kept with each run: a decoding loop asks for an estimate at every step
  private readonly runs: { work: number; ms: number; logWork: number; logMs: number }[] = [];
  private fitted: number | null = null;
  private addedSinceFit = 0;
  add(work: number, ms: number): void {
    // a timer may read 0 for a tiny run, and 0 has no logarithm
    const run = { work: Math.max(work, 1), ms: Math.max(ms, 1e-6), logWork: 0, logMs: 0 };
    run.logWork = Math.log(run.work);
    run.logMs = Math.log(run.ms);
    if (this.runs.push(run) > KEPT_RUNS) this.runs.shift();
    // refitted every few runs: one more run barely moves the exponent
    if (++this.addedSinceFit >= REFIT_EVERY || this.runs.length < KEPT_RUNS) this.fitted = null;
  }
  get count(): number {
    return this.runs.length;
  }
  estimate(work: number): number {
    const w = Math.max(work, 1);
    const logW = Math.log(w);
    if (this.fitted === null) {
      this.fitted = this.exponent();
      this.addedSinceFit = 0;
    }
    const exponent = this.fitted;
    // of runs as near, the newest
    const nearest = [...this.runs].reverse().sort((a, b) => Math.abs(a.logWork - logW) - Math.abs(b.logWork - logW)).slice(0, NEAREST_RUNS);
    return lowerQuantile(nearest.map((r) => r.ms * (w / r.work) ** exponent), 0.25);
  }

  private exponent(): number {
    const pairs: { slope: number; weight: number }[] = [];
    for (let i = 0; i < this.runs.length; i++) {
      for (let j = i + 1; j < this.runs.length; j++) {
        const [a, b] = [this.runs[i], this.runs[j]];
        const weight = Math.abs(b.logWork - a.logWork);
        if (weight > 0) pairs.push({ slope: (b.logMs - a.logMs) / (b.logWork - a.logWork), weight });
      }
    }
    // all of one size: nothing says what is fixed, so scale in proportion
    if (pairs.length === 0) return 1;
    pairs.sort((a, b) => a.slope - b.slope);
    const half = pairs.reduce((sum, p) => sum + p.weight, 0) / 2;
    let below = 0;
    const median = pairs.find((p) => (below += p.weight) >= half)!.slope;
    return Math.min(1, Math.max(0, median));
  }
}

export type Tier = 'build' | 'eager';

export interface TierEstimates {
  /** An eager run at the shape asked about. */
  eagerMs: number;
  /** Lowering and building an executable for it, then running it. */
  buildMs: number;
  /** A run of that executable once built. */
  runMs: number;
  /** The share of the recent new shapes that came back (a later call at the same shape). */
  cameBack: number;
}

export class ShapeTiering {
  private readonly eager = new RecentRuns();
  private readonly run = new RecentRuns();
  private readonly build = new RecentCosts();
  private explorationBudget = 0;
  private unsettledShapes = 0;
  private builds = 0;
  private readonly ranEagerly = new Set<string>();
  /** The recent new shapes, each with whether a later call came back to it (insertion order). */
  private readonly recentShapes = new Map<string, boolean>();
  private cameBackCount = 0;

  /**
   * The tier for `key`, a signature with no executable yet, whose inputs hold `work`
   * elements; `first` when the graph has no executable at all.
   */
  choose(key: string, first: boolean, work: number): Tier {
    if (first) return 'build';
    if (this.ranEagerly.delete(key)) {
      this.cameBackTo(key);
      return 'build';
    }
    this.met(key);
    const { eagerMs, buildMs, runMs, cameBack } = this.estimates(work);
    if (Number.isNaN(eagerMs)) return this.rememberEager(key);
    if (Number.isNaN(buildMs)) return 'build';
    // Shapes that come back are built then, so running eagerly now costs the eager run plus,
    // as often as new shapes have come back lately, a build later; building now costs its
    // runs only: a decoder's growing shapes never come back, a server's request lengths
    // mostly do.
    const eagerFirst = eagerMs + cameBack * buildMs;
    const buildNow = buildMs + cameBack * runMs;
    const cheaper: Tier = eagerFirst < buildNow ? 'eager' : 'build';
    const [chosenMs, otherMs] = cheaper === 'eager' ? [eagerFirst, buildNow] : [buildNow, eagerFirst];
    const tier: Tier = this.explores(chosenMs, otherMs) ? (cheaper === 'eager' ? 'build' : 'eager') : cheaper;
    return tier === 'eager' ? this.rememberEager(key) : 'build';
  }

  /**
   * The tier for `key` when the call cannot be timed as the estimates need (a runAsync,
   * whose time includes waiting for the event loop): eager the first time a shape is met,
   * built when it comes back.
   */
  chooseUntimed(key: string): Tier {
    if (this.ranEagerly.delete(key)) {
      this.cameBackTo(key);
      return 'build';
    }
    this.met(key);
    return this.rememberEager(key);
  }

  /** A new shape is met: counted among the recent ones (or as come back, if it was built and evicted). */
  private met(key: string): void {
    if (this.recentShapes.has(key)) this.cameBackTo(key);  // built before, its executable since evicted
    else this.recentShapes.set(key, false);
    if (this.recentShapes.size > RECURRENCE_WINDOW) {
      const [oldest, cameBack] = this.recentShapes.entries().next().value!;
      this.recentShapes.delete(oldest);
      if (cameBack) this.cameBackCount--;
    }
  }

  /**
   * Whether this new shape takes the other tier, so that tier's estimate does not go stale
   * or stay wrong: at a cost held to a share of what new shapes cost (often while the tiers
   * cost nearly the same, rarely when the other costs far more).
   */
  private explores(chosenMs: number, otherMs: number): boolean {
    this.explorationBudget += EXPLORATION_SHARE * chosenMs;
    if (this.explorationBudget >= otherMs - chosenMs) {
      this.explorationBudget -= otherMs - chosenMs;
      return true;
    }
    const measuredThrice = Math.min(this.eager.count, this.run.count) >= 3;
    return !measuredThrice && ++this.unsettledShapes % EXPLORE_UNSETTLED_EVERY === 0;
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
    const runMs = this.run.estimate(work);
    const cameBack = this.recentShapes.size === 0 ? 0 : this.cameBackCount / this.recentShapes.size;
    return { eagerMs: this.eager.estimate(work), buildMs: this.build.estimate + runMs, runMs, cameBack };
  }

  /** A call came back to `key`, a shape built or run eagerly before. */
  cameBackTo(key: string): void {
    if (this.recentShapes.get(key) === false) {
      this.recentShapes.set(key, true);
      this.cameBackCount++;
    }
  }

  private rememberEager(key: string): Tier {
    if (this.ranEagerly.size >= REMEMBERED_SHAPES) this.ranEagerly.delete(this.ranEagerly.values().next().value!);
    this.ranEagerly.add(key);
    return 'eager';
  }
}
