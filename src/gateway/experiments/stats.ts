// This gateway's per-version figures of live traffic: requests, errors, latency distribution,
// predictions, and the online error once feedback arrives. Updated on every /predict (a few additions
// and one array bump), exported to Prometheus with a `version` label (per process: Prometheus sums
// across pods), published for the other gateways to merge (figures.ts, peers.ts) and compared between
// candidate and production.
import { Counter, Gauge, type Registry } from 'prom-client';
import { ArrayHistogram, BucketCounts } from '../metrics.js';
import {
  COLUMNS,
  finiteOrNull,
  MergedStats,
  type Column,
  type Moments,
  type StatsView,
  VersionStats,
  type VersionSnapshot,
  type VersionWire,
} from './figures.js';
import { welchTest, type WelchResult } from './welch.js';

export {
  Figures,
  LatencyHistogram,
  MergedStats,
  Moments,
  VersionStats,
  type Column,
  type StatsView,
  type VersionSnapshot,
  type VersionWire,
} from './figures.js';

/** Bounds of `flywheel_version_latency_seconds`. */
const VERSION_LATENCY_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export interface Observation {
  readonly latencyMs: number;
  /** The version failed to answer (5xx or no answer); a client's 4xx is not the model's error. */
  readonly error: boolean;
  readonly prediction?: number;
  /** Which column: chosen by the split (default), pinned by the client, or a shadow copy. */
  readonly kind?: Column;
}

/** Versions kept: older ones (long promoted or rolled back) are forgotten, and their series removed. */
const MAX_VERSIONS = 8;

/** The per-version figures of this gateway, and their Prometheus series. */
export class ExperimentStats implements StatsView {
  readonly #versions = new Map<string, VersionStats>();
  /** `flywheel_version_latency_seconds` per version (the figures' own histogram has other bounds). */
  readonly #latency = new Map<string, BucketCounts>();
  readonly #now: () => number;

  constructor(options: { registry: Registry; now?: () => number }) {
    this.#now = options.now ?? Date.now;
    const registers = [options.registry];
    // Every series is read from the running figures when scraped: the hot path only adds to plain
    // numbers (prom-client's inc()/observe() hash their labels on every call).
    const versions = this.#versions;
    const latency = this.#latency;
    new Counter({
      name: 'flywheel_version_requests_total',
      help: 'Predictions answered per model version (kind: served by the split, pinned by the client, or shadow)',
      labelNames: ['version', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const s of versions.values()) {
          for (const kind of COLUMNS) this.inc({ version: s.version, kind }, s.column(kind).requests);
        }
      },
    });
    new Counter({
      name: 'flywheel_version_errors_total',
      help: 'Predictions a model version failed to answer (5xx or no answer)',
      labelNames: ['version'],
      registers,
      collect() {
        this.reset();
        for (const s of versions.values()) {
          this.inc(
            { version: s.version },
            COLUMNS.reduce((n, k) => n + s.column(k).errors, 0),
          );
        }
      },
    });
    new ArrayHistogram({
      name: 'flywheel_version_latency_seconds',
      help: 'Time from forwarding a prediction to its answer, per model version',
      label: 'version',
      bounds: VERSION_LATENCY_BUCKETS,
      registry: options.registry,
      series: () => latency.entries(),
    });
    new Counter({
      name: 'flywheel_version_feedback_total',
      help: 'Feedback records (ground truth) joined to a prediction, per model version',
      labelNames: ['version'],
      registers,
      collect() {
        this.reset();
        for (const s of versions.values()) {
          this.inc(
            { version: s.version },
            COLUMNS.reduce((n, k) => n + s.column(k).absErrors.n, 0),
          );
        }
      },
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
      s.served.predictions.n > 0 ? s.served.predictions.mean : NaN,
    );
    gauge('flywheel_version_prediction_stddev', 'Standard deviation of predictions per model version', (s) =>
      s.served.predictions.n > 1 ? s.served.predictions.stddev : NaN,
    );
    gauge('flywheel_version_mae', 'Mean absolute error from feedback per model version', (s) => s.mae);
    gauge('flywheel_version_rmse', 'Root mean squared error from feedback per model version', (s) => s.rmse);
    gauge(
      'flywheel_version_latency_p99_seconds',
      'p99 latency per model version',
      (s) => s.served.latencyHistogram.quantile(0.99) / 1000,
    );
  }

  #of(version: string): VersionStats {
    let s = this.#versions.get(version);
    if (s === undefined) {
      s = new VersionStats(version, this.#now());
      this.#versions.set(version, s);
      this.#latency.set(version, new BucketCounts(VERSION_LATENCY_BUCKETS));
      if (this.#versions.size > MAX_VERSIONS) {
        const oldest = this.#versions.keys().next().value as string;
        this.#versions.delete(oldest);
        this.#latency.delete(oldest);
      }
    }
    return s;
  }

  /** One answer (or failure) of a version. */
  observe(version: string, o: Observation): void {
    this.count(version, o.kind ?? 'served', o.latencyMs, o.error, o.prediction ?? NaN);
  }

  /** `observe` without an Observation object: the proxy's path counts every /predict here. */
  count(version: string, kind: Column, latencyMs: number, error: boolean, prediction: number): void {
    const s = this.#of(version);
    const f = s.column(kind);
    f.requests += 1;
    f.latency.add(latencyMs);
    f.latencyHistogram.add(latencyMs);
    (this.#latency.get(version) as BucketCounts).add(latencyMs / 1000);
    if (error) {
      f.errors += 1;
    } else if (Number.isFinite(prediction)) {
      f.predictions.add(prediction);
    }
  }

  /** Ground truth for one prediction of a version, in the column the prediction was made in. */
  observeFeedback(version: string, prediction: number, actual: number, kind: Column = 'served'): void {
    this.#of(version)
      .column(kind)
      .absErrors.add(Math.abs(prediction - actual));
  }

  get(version: string): VersionStats | undefined {
    return this.#versions.get(version);
  }

  all(): Iterable<VersionStats> {
    return this.#versions.values();
  }

  snapshot(): VersionSnapshot[] {
    return [...this.#versions.values()].map((s) => s.snapshot());
  }

  /** The mergeable form published to the registry for the other gateways. */
  toWire(): VersionWire[] {
    return [...this.#versions.values()].map((s) => s.toWire());
  }
}

/** Several gateways' figures (this one's live, the others' as last published) summed version by version. */
export function mergeStats(sources: Iterable<Iterable<VersionStats>>): MergedStats {
  const merged = new MergedStats();
  for (const source of sources) for (const s of source) merged.add(s);
  return merged;
}

/** The versions of a view as the reports list them, in the order first seen. */
export function snapshotOf(stats: StatsView): VersionSnapshot[] {
  return [...stats.all()].sort((a, b) => a.firstSeen - b.firstSeen).map((s) => s.snapshot());
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

/**
 * Candidate against production on the served column only: answers a client pinned or a shadow copy
 * nobody saw say nothing about how the split's choice served clients, and must not let a client vote.
 */
export function compareVersions(candidate: VersionStats, production: VersionStats): Comparison {
  const c = candidate.served;
  const p = production.served;
  const p99c = c.latencyHistogram.quantile(0.99);
  const p99p = p.latencyHistogram.quantile(0.99);
  const moments = (w: Moments) => ({ n: w.n, mean: w.mean, variance: w.variance });
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
      welch: welchTest(moments(c.latency), moments(p.latency)),
    },
    mae: {
      feedback_candidate: candidate.feedback,
      feedback_production: production.feedback,
      candidate: finiteOrNull(candidate.mae),
      production: finiteOrNull(production.mae),
      ratio: ratio(candidate.mae, production.mae),
      welch: welchTest(moments(c.absErrors), moments(p.absErrors)),
    },
  };
}
