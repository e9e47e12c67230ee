// Per-version figures kept so that they merge exactly across gateways, the way Prometheus histogram
// buckets and HdrHistogram do: counts, sums and sums of squares, and a latency histogram with fixed
// buckets. Adding two gateways' figures field by field gives exactly the figures of their union, so
// percentiles come from the merged histogram and Welch tests from the merged moments. The wire form
// (`VersionWire`) is what each gateway publishes to the registry (see peers.ts).
//
// Every version has three columns: `served` (the split decided which version answered: the only
// column the canary comparison and the analysis read), `pinned` (the client chose the version itself
// with `x-model-version`) and `shadow` (mirrored copies whose answers nobody saw).

/** Latency buckets grow by 2^(1/8) (≈ 9%) from 50 µs to about a minute: percentiles within ±5%. */
const LAT_MIN_MS = 0.05;
const LAT_STEPS_PER_DOUBLING = 8;
const LAT_BUCKETS = 8 * 21;

/**
 * n, Σx and Σx²: merge by addition. The variance is derived as (Σx² − Σx·mean)/(n − 1), which loses
 * digits when the spread is tiny next to the mean (not the case for latencies and errors in ms and
 * target units); it is clamped at 0 so rounding never makes it negative.
 */
export class Moments {
  n = 0;
  sum = 0;
  sumSq = 0;

  add(x: number): void {
    this.n += 1;
    this.sum += x;
    this.sumSq += x * x;
  }

  merge(o: Moments): void {
    this.n += o.n;
    this.sum += o.sum;
    this.sumSq += o.sumSq;
  }

  /** NaN when empty. */
  get mean(): number {
    return this.n === 0 ? NaN : this.sum / this.n;
  }

  /** Sample variance (n − 1 denominator); 0 below two values. */
  get variance(): number {
    if (this.n < 2) return 0;
    return Math.max(0, (this.sumSq - this.sum * (this.sum / this.n)) / (this.n - 1));
  }

  get stddev(): number {
    return Math.sqrt(this.variance);
  }

  toWire(): [number, number, number] {
    return [this.n, this.sum, this.sumSq];
  }

  static fromWire(w: readonly [number, number, number]): Moments {
    const m = new Moments();
    [m.n, m.sum, m.sumSq] = w;
    return m;
  }
}

export class LatencyHistogram {
  readonly counts = new Float64Array(LAT_BUCKETS + 1);
  count = 0;

  static readonly BUCKETS = LAT_BUCKETS + 1;

  add(ms: number): void {
    const i = ms <= LAT_MIN_MS ? 0 : Math.ceil(Math.log2(ms / LAT_MIN_MS) * LAT_STEPS_PER_DOUBLING);
    this.counts[i < LAT_BUCKETS ? i : LAT_BUCKETS] += 1;
    this.count += 1;
  }

  merge(o: LatencyHistogram): void {
    for (let i = 0; i <= LAT_BUCKETS; i++) this.counts[i] += o.counts[i];
    this.count += o.count;
  }

  /** Upper bound of bucket i in ms. */
  static bound(i: number): number {
    return LAT_MIN_MS * 2 ** (i / LAT_STEPS_PER_DOUBLING);
  }

  /** The q-quantile in ms, interpolated geometrically inside its bucket; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i <= LAT_BUCKETS; i++) {
      const c = this.counts[i];
      if (c === 0) continue;
      if (seen + c >= rank) {
        if (i === 0) return LAT_MIN_MS;
        const lo = LatencyHistogram.bound(i - 1);
        const hi = LatencyHistogram.bound(i);
        return lo * (hi / lo) ** Math.max(0, Math.min(1, (rank - seen) / c));
      }
      seen += c;
    }
    return LatencyHistogram.bound(LAT_BUCKETS);
  }

  /** Sparse: [bucket, count, bucket, count, ...] for the non-empty buckets. */
  toWire(): number[] {
    const out: number[] = [];
    for (let i = 0; i <= LAT_BUCKETS; i++) if (this.counts[i] > 0) out.push(i, this.counts[i]);
    return out;
  }
}

export type Column = 'served' | 'pinned' | 'shadow';
export const COLUMNS: readonly Column[] = ['served', 'pinned', 'shadow'];

/** One column of one version: what its answers did, and their error once feedback arrived. */
export class Figures {
  requests = 0;
  /** Answers the version failed to give (5xx or no answer); a client's 4xx is not the model's error. */
  errors = 0;
  readonly latency = new Moments();
  readonly latencyHistogram = new LatencyHistogram();
  readonly predictions = new Moments();
  /** |prediction − actual| of every prediction that received feedback (Σx² of it gives the RMSE). */
  readonly absErrors = new Moments();

  merge(o: Figures): void {
    this.requests += o.requests;
    this.errors += o.errors;
    this.latency.merge(o.latency);
    this.latencyHistogram.merge(o.latencyHistogram);
    this.predictions.merge(o.predictions);
    this.absErrors.merge(o.absErrors);
  }

  get errorRate(): number {
    return this.requests === 0 ? 0 : this.errors / this.requests;
  }

  get mae(): number {
    return this.absErrors.mean;
  }

  get rmse(): number {
    return this.absErrors.n === 0 ? NaN : Math.sqrt(this.absErrors.sumSq / this.absErrors.n);
  }

  view(): ColumnView {
    return {
      requests: this.requests,
      errors: this.errors,
      error_rate: this.errorRate,
      latency_ms: {
        mean: finiteOrNull(this.latency.mean),
        p50: finiteOrNull(this.latencyHistogram.quantile(0.5)),
        p90: finiteOrNull(this.latencyHistogram.quantile(0.9)),
        p99: finiteOrNull(this.latencyHistogram.quantile(0.99)),
      },
      prediction: {
        count: this.predictions.n,
        mean: finiteOrNull(this.predictions.mean),
        stddev: this.predictions.n > 0 ? this.predictions.stddev : null,
      },
      feedback: {
        count: this.absErrors.n,
        mae: finiteOrNull(this.mae),
        rmse: finiteOrNull(this.rmse),
      },
    };
  }

  toWire(): FiguresWire {
    return {
      requests: this.requests,
      errors: this.errors,
      latency: this.latency.toWire(),
      latency_buckets: this.latencyHistogram.toWire(),
      prediction: this.predictions.toWire(),
      abs_error: this.absErrors.toWire(),
    };
  }
}

export function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** Everything known about one model version: its three columns. */
export class VersionStats {
  readonly version: string;
  /** When its first answer was seen (ms since epoch; the earliest over merged gateways). */
  firstSeen: number;
  readonly served = new Figures();
  readonly pinned = new Figures();
  readonly shadow = new Figures();

  constructor(version: string, firstSeen: number) {
    this.version = version;
    this.firstSeen = firstSeen;
  }

  column(c: Column): Figures {
    return c === 'served' ? this.served : c === 'pinned' ? this.pinned : this.shadow;
  }

  merge(o: VersionStats): void {
    this.firstSeen = Math.min(this.firstSeen, o.firstSeen);
    for (const c of COLUMNS) this.column(c).merge(o.column(c));
  }

  // The served column under the names the comparison and the analysis read.
  get requests(): number {
    return this.served.requests;
  }
  get errors(): number {
    return this.served.errors;
  }
  get errorRate(): number {
    return this.served.errorRate;
  }
  get feedback(): number {
    return this.served.absErrors.n;
  }
  get mae(): number {
    return this.served.mae;
  }
  get rmse(): number {
    return this.served.rmse;
  }

  snapshot(): VersionSnapshot {
    return {
      version: this.version,
      first_seen: new Date(this.firstSeen).toISOString(),
      ...this.served.view(),
      pinned_requests: this.pinned.requests,
      shadow_requests: this.shadow.requests,
      pinned: this.pinned.view(),
      shadow: this.shadow.view(),
    };
  }

  toWire(): VersionWire {
    return {
      version: this.version,
      first_seen_ms: this.firstSeen,
      served: this.served.toWire(),
      pinned: this.pinned.toWire(),
      shadow: this.shadow.toWire(),
    };
  }
}

export interface ColumnView {
  readonly requests: number;
  readonly errors: number;
  readonly error_rate: number;
  readonly latency_ms: {
    readonly mean: number | null;
    readonly p50: number | null;
    readonly p90: number | null;
    readonly p99: number | null;
  };
  readonly prediction: {
    readonly count: number;
    readonly mean: number | null;
    readonly stddev: number | null;
  };
  readonly feedback: { readonly count: number; readonly mae: number | null; readonly rmse: number | null };
}

/** The served column's figures at the top level (what the comparison uses), the other two beside. */
export interface VersionSnapshot extends ColumnView {
  readonly version: string;
  readonly first_seen: string;
  readonly pinned_requests: number;
  readonly shadow_requests: number;
  readonly pinned: ColumnView;
  readonly shadow: ColumnView;
}

export interface FiguresWire {
  readonly requests: number;
  readonly errors: number;
  readonly latency: readonly [number, number, number];
  readonly latency_buckets: readonly number[];
  readonly prediction: readonly [number, number, number];
  readonly abs_error: readonly [number, number, number];
}

export interface VersionWire {
  readonly version: string;
  readonly first_seen_ms: number;
  readonly served: FiguresWire;
  readonly pinned: FiguresWire;
  readonly shadow: FiguresWire;
}

/** What the comparison, the analysis and the reports read: one gateway's figures or a merge. */
export interface StatsView {
  get(version: string): VersionStats | undefined;
  all(): Iterable<VersionStats>;
}

// ---- reading the wire form: it comes from files other processes wrote, so nothing is trusted ----

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
const isFinite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function momentsFrom(v: unknown, what: string): Moments {
  if (!Array.isArray(v) || v.length !== 3 || !isCount(v[0]) || !isFinite(v[1]) || !isFinite(v[2])) {
    throw new Error(`${what} must be [count, sum, sum of squares]`);
  }
  if (v[2] < 0) throw new Error(`${what}: a sum of squares cannot be negative`);
  return Moments.fromWire(v as [number, number, number]);
}

function figuresFrom(v: unknown, what: string): Figures {
  if (!isRecord(v)) throw new Error(`${what} is not an object`);
  const f = new Figures();
  if (!isCount(v.requests) || !isCount(v.errors) || v.errors > v.requests) {
    throw new Error(`${what}: requests and errors must be counts, errors ≤ requests`);
  }
  f.requests = v.requests;
  f.errors = v.errors;
  f.latency.merge(momentsFrom(v.latency, `${what}.latency`));
  f.predictions.merge(momentsFrom(v.prediction, `${what}.prediction`));
  f.absErrors.merge(momentsFrom(v.abs_error, `${what}.abs_error`));
  const b = v.latency_buckets;
  if (!Array.isArray(b) || b.length % 2 !== 0) throw new Error(`${what}.latency_buckets must be pairs`);
  for (let i = 0; i < b.length; i += 2) {
    const bucket: unknown = b[i];
    const count: unknown = b[i + 1];
    if (!isCount(bucket) || bucket >= LatencyHistogram.BUCKETS || !isCount(count)) {
      throw new Error(`${what}.latency_buckets: bad bucket ${String(bucket)}`);
    }
    f.latencyHistogram.counts[bucket] += count;
    f.latencyHistogram.count += count;
  }
  return f;
}

/** One version's figures from the wire form; throws an Error saying what is wrong. */
export function versionFromWire(v: unknown): VersionStats {
  if (!isRecord(v) || typeof v.version !== 'string' || v.version === '' || v.version.length > 200) {
    throw new Error('version entry without a version name');
  }
  if (!isFinite(v.first_seen_ms)) throw new Error(`${v.version}: first_seen_ms must be a time`);
  const s = new VersionStats(v.version, v.first_seen_ms);
  s.served.merge(figuresFrom(v.served, `${v.version}.served`));
  s.pinned.merge(figuresFrom(v.pinned, `${v.version}.pinned`));
  s.shadow.merge(figuresFrom(v.shadow, `${v.version}.shadow`));
  return s;
}

/** The sum of several gateways' figures, version by version. */
export class MergedStats implements StatsView {
  readonly #versions = new Map<string, VersionStats>();

  add(s: VersionStats): void {
    let mine = this.#versions.get(s.version);
    if (mine === undefined) {
      mine = new VersionStats(s.version, s.firstSeen);
      this.#versions.set(s.version, mine);
    }
    mine.merge(s);
  }

  get(version: string): VersionStats | undefined {
    return this.#versions.get(version);
  }

  all(): Iterable<VersionStats> {
    return this.#versions.values();
  }
}
