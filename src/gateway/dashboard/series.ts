// Turns the gateway's running totals (requests, errors, latency histogram, predictions, feedback per
// version; requests per replica) into rates over time: sampled once per interval into a ring of a few
// minutes, read by the dashboard. Sampling reads counters the hot path already keeps; it adds nothing to it.
import type { SeriesMetric, SeriesView, VersionSeries } from './api-types.js';

/** Running totals of one model version, as the gateway's per-version statistics keep them. */
export interface VersionCounters {
  readonly version: string;
  readonly requests: number;
  readonly errors: number;
  /** Latency histogram: count per bucket (not cumulative); `latencyBound(i)` is bucket i's upper edge in ms. */
  readonly latencyCounts: ArrayLike<number>;
  readonly latencyBound: (i: number) => number;
  readonly predictionCount: number;
  readonly predictionSum: number;
  readonly feedbackCount: number;
  readonly absErrorSum: number;
}

/** Running totals of the gateway and of each replica. */
export interface TrafficCounters {
  readonly requests: number | null;
  readonly replicas: readonly { readonly url: string; readonly requests: number | null }[];
}

interface VersionSample {
  readonly requests: number;
  readonly errors: number;
  readonly latency: Float64Array;
  readonly predictionCount: number;
  readonly predictionSum: number;
  readonly feedbackCount: number;
  readonly absErrorSum: number;
  readonly bound: (i: number) => number;
}

interface Sample {
  readonly t: number;
  readonly versions: Map<string, VersionSample>;
  readonly requests: number | null;
  readonly replicas: Map<string, number | null>;
}

type Point = Record<SeriesMetric, number | null>;

export interface SamplerOptions {
  readonly intervalMs: number;
  /** How much history is kept and served, in seconds. */
  readonly windowS: number;
  /** Latency percentiles are computed over this many intervals, so a quiet second does not blank them. */
  readonly latencyIntervals: number;
}

export const DEFAULT_SAMPLER: SamplerOptions = { intervalMs: 1000, windowS: 300, latencyIntervals: 5 };

/**
 * The q-quantile (0..1) of a histogram given as per-bucket counts, interpolated linearly inside the
 * bucket it falls in (as Prometheus' histogram_quantile does); null when empty. `bound(i)` is the upper
 * edge of bucket i; bucket 0 starts at 0.
 */
export function histogramQuantile(
  counts: ArrayLike<number>,
  bound: (i: number) => number,
  q: number,
): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c <= 0) continue;
    if (seen + c >= rank) {
      const lo = i === 0 ? 0 : bound(i - 1);
      const hi = bound(i);
      // The last bucket is open-ended in most histograms: its lower edge is the best figure there is.
      if (!Number.isFinite(hi)) return lo;
      return lo + (hi - lo) * Math.min(1, Math.max(0, (rank - seen) / c));
    }
    seen += c;
  }
  return bound(counts.length - 1);
}

/** a − b, or null when either is missing or the counter went backwards (the source restarted). */
function delta(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined) return null;
  const d = a - b;
  return d >= 0 ? d : null;
}

/**
 * Keeps a ring of samples and derives, per version and interval: requests/s, error rate, latency
 * p50/p99 (over the last few intervals), mean prediction, and the MAE of the feedback received so far.
 */
export class Sampler {
  readonly #opts: SamplerOptions;
  readonly #samples: Sample[] = [];
  readonly #points = new Map<string, (Point | null)[]>();
  readonly #times: number[] = [];
  readonly #capacity: number;

  constructor(options: Partial<SamplerOptions> = {}) {
    this.#opts = { ...DEFAULT_SAMPLER, ...options };
    this.#capacity = Math.max(2, Math.ceil((this.#opts.windowS * 1000) / this.#opts.intervalMs));
  }

  get intervalMs(): number {
    return this.#opts.intervalMs;
  }

  /** Records one sample taken at `nowMs`. */
  record(nowMs: number, versions: readonly VersionCounters[], traffic: TrafficCounters): void {
    const sample: Sample = {
      t: nowMs / 1000,
      versions: new Map(
        versions.map((v) => [
          v.version,
          {
            requests: v.requests,
            errors: v.errors,
            latency: Float64Array.from(v.latencyCounts),
            predictionCount: v.predictionCount,
            predictionSum: v.predictionSum,
            feedbackCount: v.feedbackCount,
            absErrorSum: v.absErrorSum,
            bound: v.latencyBound,
          },
        ]),
      ),
      requests: traffic.requests,
      replicas: new Map(traffic.replicas.map((r) => [r.url, r.requests])),
    };
    const prev = this.#samples[this.#samples.length - 1];
    this.#samples.push(sample);
    // Only the samples the latency window needs are kept whole; the derived points are the history.
    while (this.#samples.length > this.#opts.latencyIntervals + 1) this.#samples.shift();
    if (prev === undefined) return;
    const old = this.#samples[0];
    this.#times.push(sample.t);
    const seen = new Set<string>();
    for (const [version, cur] of sample.versions) {
      seen.add(version);
      let points = this.#points.get(version);
      if (!points) {
        points = new Array<Point | null>(this.#times.length - 1).fill(null);
        this.#points.set(version, points);
      }
      points.push(derivePoint(cur, prev.versions.get(version), old.versions.get(version), sample.t - prev.t));
    }
    for (const [version, points] of this.#points) if (!seen.has(version)) points.push(null);
    this.#trim();
  }

  #trim(): void {
    const drop = this.#times.length - this.#capacity;
    if (drop <= 0) return;
    this.#times.splice(0, drop);
    for (const [version, points] of this.#points) {
      points.splice(0, drop);
      if (points.every((p) => p === null)) this.#points.delete(version);
    }
  }

  /** Requests/s of the gateway and of each replica over the last interval; null before two samples. */
  rates(): { gateway: number | null; replicas: Map<string, number | null> } {
    const n = this.#samples.length;
    const replicas = new Map<string, number | null>();
    if (n < 2) return { gateway: null, replicas };
    const cur = this.#samples[n - 1];
    const prev = this.#samples[n - 2];
    const dt = cur.t - prev.t;
    const rate = (d: number | null) => (d === null || dt <= 0 ? null : d / dt);
    for (const [url, requests] of cur.replicas)
      replicas.set(url, rate(delta(requests, prev.replicas.get(url))));
    return { gateway: rate(delta(cur.requests, prev.requests)), replicas };
  }

  /**
   * The points after `since` (seconds since the epoch), oldest first. `aliasOf` labels each version
   * with the alias that names it now.
   */
  series(since: number | null, aliasOf: (version: string) => VersionSeries['alias']): SeriesView {
    let from = 0;
    if (since !== null) {
      while (from < this.#times.length && this.#times[from] <= since) from++;
    }
    const t = this.#times.slice(from);
    const versions: VersionSeries[] = [];
    for (const [version, points] of this.#points) {
      const slice = points.slice(from);
      const column = (m: SeriesMetric) => slice.map((p) => (p === null ? null : p[m]));
      versions.push({
        version,
        alias: aliasOf(version),
        rps: column('rps'),
        p50_ms: column('p50_ms'),
        p99_ms: column('p99_ms'),
        error_rate: column('error_rate'),
        mean_prediction: column('mean_prediction'),
        mae: column('mae'),
      });
    }
    return { interval_s: this.#opts.intervalMs / 1000, t, versions };
  }
}

function derivePoint(
  cur: VersionSample,
  prev: VersionSample | undefined,
  old: VersionSample | undefined,
  dtS: number,
): Point | null {
  // A version seen for the first time has no interval yet: its totals are not a rate.
  if (prev === undefined || dtS <= 0) return null;
  const requests = delta(cur.requests, prev.requests);
  const errors = delta(cur.errors, prev.errors);
  const predictions = delta(cur.predictionCount, prev.predictionCount);
  const base = old ?? prev;
  const window = new Float64Array(cur.latency.length);
  let windowCount = 0;
  for (let i = 0; i < window.length; i++) {
    const d = cur.latency[i] - (base.latency[i] ?? 0);
    window[i] = d > 0 ? d : 0;
    windowCount += window[i];
  }
  return {
    rps: requests === null ? null : requests / dtS,
    error_rate: requests && errors !== null ? errors / requests : null,
    p50_ms: windowCount > 0 ? histogramQuantile(window, cur.bound, 0.5) : null,
    p99_ms: windowCount > 0 ? histogramQuantile(window, cur.bound, 0.99) : null,
    mean_prediction: predictions ? (cur.predictionSum - prev.predictionSum) / predictions : null,
    // The MAE of all feedback so far: feedback trickles in, a per-second figure would mostly be empty.
    mae: cur.feedbackCount > 0 ? cur.absErrorSum / cur.feedbackCount : null,
  };
}
