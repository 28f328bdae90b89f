/**
 * Which tier runs a dynamic graph's call at an input shape it has no executable for: the
 * native executable (lowered and built for that shape first) or the graph's eager
 * interpreter. A decoding loop whose caches grow by one position every step meets a new
 * shape on every call and never reuses one: building each costs more than running the
 * step eagerly. So, as a JIT's tiers do, a new shape runs eagerly while the graph's new
 * shapes have taken less time eagerly than lowered, built and run, and a shape that comes
 * back is built (it recurs, so its executable will be reused). Each tier's time
 * is the lower median of its last three (a collection pausing one run does not flip the
 * choice), and every 8th new shape takes the other tier, so the estimate not being
 * refreshed does not go stale (a decoding step pays one build in 8 instead of every step).
 */

/** Shapes remembered as run eagerly once (a second call builds them). */
const REMEMBERED_SHAPES = 256;
const EXPLORE_EVERY = 8;

/** The last three measurements of a tier; its estimate is their lower median. */
class RecentTimes {
  private readonly ms: number[] = [];
  add(ms: number): void {
    if (this.ms.push(ms) > 3) this.ms.shift();
  }
  get estimate(): number {
    const sorted = [...this.ms].sort((a, b) => a - b);
    return sorted.length ? sorted[(sorted.length - 1) >> 1] : NaN;
  }
}

export type Tier = 'build' | 'eager';

export class ShapeTiering {
  private readonly eager = new RecentTimes();
  private readonly build = new RecentTimes();
  private newShapes = 0;
  private readonly ranEagerly = new Set<string>();

  /** The tier for `key`, a signature with no executable yet; `first` when the graph has none at all. */
  choose(key: string, first: boolean): Tier {
    if (first || this.ranEagerly.delete(key)) return 'build';
    const { eagerMs, buildMs } = this.estimates();
    if (Number.isNaN(eagerMs)) return this.rememberEager(key);
    const cheaper: Tier = eagerMs < buildMs ? 'eager' : 'build';
    const tier: Tier = ++this.newShapes % EXPLORE_EVERY === 0 ? (cheaper === 'eager' ? 'build' : 'eager') : cheaper;
    return tier === 'eager' ? this.rememberEager(key) : 'build';
  }

  /** A new shape's lowering, build and first run took `ms`. */
  builtIn(ms: number): void {
    this.build.add(ms);
  }

  /** A new shape's eager run took `ms`. */
  ranEagerlyIn(ms: number): void {
    this.eager.add(ms);
  }

  /** The current estimates (NaN before a measurement). */
  estimates(): { eagerMs: number; buildMs: number } {
    return { eagerMs: this.eager.estimate, buildMs: this.build.estimate };
  }

  private rememberEager(key: string): Tier {
    if (this.ranEagerly.size >= REMEMBERED_SHAPES) this.ranEagerly.delete(this.ranEagerly.values().next().value!);
    this.ranEagerly.add(key);
    return 'eager';
  }
}
