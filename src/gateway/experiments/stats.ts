// Per-version figures of live traffic: requests, errors, latency distribution, predictions, and the
// online error once feedback arrives. Updated on every /predict (a few additions and one array bump),
// exported to Prometheus with a `version` label and compared between candidate and production.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { Welford, welchTest, type WelchResult } from './welch.js';

/** Latency buckets grow by 2^(1/8) (≈ 9%) from 50 µs to about a minute: percentiles within ±5%. */
const LAT_MIN_MS = 0.05;
const LAT_STEPS_PER_DOUBLING = 8;
const LAT_BUCKETS = 8 * 21;

export class LatencyHistogram {
  readonly counts = new Uint32Array(LAT_BUCKETS + 1);
  count = 0;

  add(ms: number): void {
    const i = ms <= LAT_MIN_MS ? 0 : Math.ceil(Math.log2(ms / LAT_MIN_MS) * LAT_STEPS_PER_DOUBLING);
    this.counts[i < LAT_BUCKETS ? i : LAT_BUCKETS] += 1;
    this.count += 1;
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
}

/** Prometheus children bound to one version's labels once, so the hot path does no label hashing. */
interface VersionSeries {
  readonly served: Counter.Internal;
  readonly shadow: Counter.Internal;
  readonly errors: Counter.Internal;
  readonly latency: Histogram.Internal<'version'>;
  readonly feedback: Counter.Internal;
}

/** Everything observed about one model version by this gateway. */
export class VersionStats {
  readonly version: string;
  /** When this gateway first saw the version answer (ms since epoch). */
  readonly firstSeen: number;
  requests = 0;
  errors = 0;
  /** Mirrored requests (shadow mode), included in requests. */
  shadowRequests = 0;
  readonly latency = new Welford();
  readonly latencyHistogram = new LatencyHistogram();
  readonly predictions = new Welford();
  /** |prediction − actual| of every prediction that received feedback. */
  readonly absErrors = new Welford();
  sumSquaredErrors = 0;

  constructor(version: string, now: number) {
    this.version = version;
    this.firstSeen = now;
  }

  get feedback(): number {
    return this.absErrors.n;
  }

  get errorRate(): number {
    return this.requests === 0 ? 0 : this.errors / this.requests;
  }

  get mae(): number {
    return this.absErrors.n === 0 ? NaN : this.absErrors.mean;
  }

  get rmse(): number {
    return this.absErrors.n === 0 ? NaN : Math.sqrt(this.sumSquaredErrors / this.absErrors.n);
  }

  snapshot(): VersionSnapshot {
    return {
      version: this.version,
      first_seen: new Date(this.firstSeen).toISOString(),
      requests: this.requests,
      shadow_requests: this.shadowRequests,
      errors: this.errors,
      error_rate: this.errorRate,
      latency_ms: {
        mean: finiteOrNull(this.latency.mean, this.latency.n),
        p50: finiteOrNull(this.latencyHistogram.quantile(0.5)),
        p90: finiteOrNull(this.latencyHistogram.quantile(0.9)),
        p99: finiteOrNull(this.latencyHistogram.quantile(0.99)),
      },
      prediction: {
        count: this.predictions.n,
        mean: finiteOrNull(this.predictions.mean, this.predictions.n),
        stddev: finiteOrNull(this.predictions.stddev, this.predictions.n),
      },
      feedback: {
        count: this.feedback,
        mae: finiteOrNull(this.mae),
        rmse: finiteOrNull(this.rmse),
      },
    };
  }
}

function finiteOrNull(x: number, n = 1): number | null {
  return n > 0 && Number.isFinite(x) ? x : null;
}

export interface VersionSnapshot {
  readonly version: string;
  readonly first_seen: string;
  readonly requests: number;
  readonly shadow_requests: number;
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

export interface Observation {
  readonly latencyMs: number;
  /** The version failed to answer (5xx or no answer); a client's 4xx is not the model's error. */
  readonly error: boolean;
  readonly prediction?: number;
  readonly shadow?: boolean;
}

/** Versions kept: older ones (long promoted or rolled back) are forgotten, and their series removed. */
const MAX_VERSIONS = 8;

/** The per-version figures of this gateway, and their Prometheus series. */
export class ExperimentStats {
  readonly #versions = new Map<string, VersionStats>();
  readonly #series = new Map<string, VersionSeries>();
  readonly #now: () => number;
  readonly #requests: Counter<'version' | 'kind'>;
  readonly #errors: Counter<'version'>;
  readonly #latency: Histogram<'version'>;
  readonly #feedback: Counter<'version'>;

  constructor(options: { registry: Registry; now?: () => number }) {
    this.#now = options.now ?? Date.now;
    const registers = [options.registry];
    this.#requests = new Counter({
      name: 'flywheel_version_requests_total',
      help: 'Predictions answered per model version (kind: served or shadow)',
      labelNames: ['version', 'kind'],
      registers,
    });
    this.#errors = new Counter({
      name: 'flywheel_version_errors_total',
      help: 'Predictions a model version failed to answer (5xx or no answer)',
      labelNames: ['version'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'flywheel_version_latency_seconds',
      help: 'Time from forwarding a prediction to its answer, per model version',
      labelNames: ['version'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#feedback = new Counter({
      name: 'flywheel_version_feedback_total',
      help: 'Feedback records (ground truth) joined to a prediction, per model version',
      labelNames: ['version'],
      registers,
    });
    // Gauges computed at scrape time from the running figures: nothing extra per request.
    const gauge = (name: string, help: string, value: (s: VersionStats) => number): void => {
      const versions = this.#versions;
      new Gauge({
        name,
        help,
        labelNames: ['version'],
        registers,
        collect() {
          this.reset();
          for (const s of versions.values()) {
            const v = value(s);
            if (Number.isFinite(v)) this.set({ version: s.version }, v);
          }
        },
      });
    };
    // Registered with the registry on construction; nothing else needs to hold them.
    gauge('flywheel_version_prediction_mean', 'Mean prediction per model version', (s) =>
      s.predictions.n > 0 ? s.predictions.mean : NaN,
    );
    gauge('flywheel_version_prediction_stddev', 'Standard deviation of predictions per model version', (s) =>
      s.predictions.n > 1 ? s.predictions.stddev : NaN,
    );
    gauge('flywheel_version_mae', 'Mean absolute error from feedback per model version', (s) => s.mae);
    gauge('flywheel_version_rmse', 'Root mean squared error from feedback per model version', (s) => s.rmse);
    gauge(
      'flywheel_version_latency_p99_seconds',
      'p99 latency per model version',
      (s) => s.latencyHistogram.quantile(0.99) / 1000,
    );
  }

  #of(version: string): VersionStats {
    let s = this.#versions.get(version);
    if (s === undefined) {
      s = new VersionStats(version, this.#now());
      this.#versions.set(version, s);
      this.#series.set(version, {
        served: this.#requests.labels(version, 'served'),
        shadow: this.#requests.labels(version, 'shadow'),
        errors: this.#errors.labels(version),
        latency: this.#latency.labels(version),
        feedback: this.#feedback.labels(version),
      });
      if (this.#versions.size > MAX_VERSIONS) {
        const oldest = this.#versions.keys().next().value as string;
        this.#versions.delete(oldest);
        this.#series.delete(oldest);
        this.#requests.remove({ version: oldest, kind: 'served' });
        this.#requests.remove({ version: oldest, kind: 'shadow' });
        this.#errors.remove(oldest);
        this.#latency.remove(oldest);
        this.#feedback.remove(oldest);
      }
    }
    return s;
  }

  /** One answer (or failure) of a version. */
  observe(version: string, o: Observation): void {
    const s = this.#of(version);
    const series = this.#series.get(version) as VersionSeries;
    s.requests += 1;
    if (o.shadow) {
      s.shadowRequests += 1;
      series.shadow.inc();
    } else series.served.inc();
    s.latency.add(o.latencyMs);
    s.latencyHistogram.add(o.latencyMs);
    series.latency.observe(o.latencyMs / 1000);
    if (o.error) {
      s.errors += 1;
      series.errors.inc();
    } else if (o.prediction !== undefined && Number.isFinite(o.prediction)) {
      s.predictions.add(o.prediction);
    }
  }

  /** Ground truth for one prediction of a version. */
  observeFeedback(version: string, prediction: number, actual: number): void {
    const s = this.#of(version);
    const e = prediction - actual;
    s.absErrors.add(Math.abs(e));
    s.sumSquaredErrors += e * e;
    (this.#series.get(version) as VersionSeries).feedback.inc();
  }

  get(version: string): VersionStats | undefined {
    return this.#versions.get(version);
  }

  snapshot(): VersionSnapshot[] {
    return [...this.#versions.values()].map((s) => s.snapshot());
  }
}

export interface Comparison {
  readonly candidate: string;
  readonly production: string;
  readonly requests: { readonly candidate: number; readonly production: number };
  readonly error_rate: {
    readonly candidate: number;
    readonly production: number;
    /** candidate − production, in rate units (0.01 = one percentage point) */
    readonly increase: number;
  };
  readonly latency: {
    readonly p99_candidate_ms: number | null;
    readonly p99_production_ms: number | null;
    readonly p99_ratio: number | null;
    /** Welch test of mean latency, candidate − production */
    readonly welch: WelchResult | null;
  };
  readonly mae: {
    readonly feedback_candidate: number;
    readonly feedback_production: number;
    readonly candidate: number | null;
    readonly production: number | null;
    readonly ratio: number | null;
    /** Welch test of mean absolute error, candidate − production */
    readonly welch: WelchResult | null;
  };
}

function ratio(a: number, b: number): number | null {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return null;
  if (b === 0) return a === 0 ? 1 : null;
  return a / b;
}

/** Candidate against production on everything this gateway has seen of both. */
export function compareVersions(candidate: VersionStats, production: VersionStats): Comparison {
  const p99c = candidate.latencyHistogram.quantile(0.99);
  const p99p = production.latencyHistogram.quantile(0.99);
  const moments = (w: Welford) => ({ n: w.n, mean: w.mean, variance: w.variance });
  return {
    candidate: candidate.version,
    production: production.version,
    requests: { candidate: candidate.requests, production: production.requests },
    error_rate: {
      candidate: candidate.errorRate,
      production: production.errorRate,
      increase: candidate.errorRate - production.errorRate,
    },
    latency: {
      p99_candidate_ms: finiteOrNull(p99c),
      p99_production_ms: finiteOrNull(p99p),
      p99_ratio: ratio(p99c, p99p),
      welch: welchTest(moments(candidate.latency), moments(production.latency)),
    },
    mae: {
      feedback_candidate: candidate.feedback,
      feedback_production: production.feedback,
      candidate: finiteOrNull(candidate.mae),
      production: finiteOrNull(production.mae),
      ratio: ratio(candidate.mae, production.mae),
      welch: welchTest(moments(candidate.absErrors), moments(production.absErrors)),
    },
  };
}
