// From live counts to the drift answer: the counts snapshot (plain numbers that merge across gateways
// by addition, like Prometheus histogram buckets), the merge, and the pure `driftReport()` that turns
// (possibly merged) counts and a version's reference into PSI, out-of-range shares and verdicts.
import { STATTESTS } from '../../drift/stattests.js';
import type { Distribution, DriftReference } from '../../drift/types.js';
import type {
  DriftLevel,
  DriftSeriesView,
  DriftThresholdsView,
  VersionDriftView,
} from '../dashboard/drift-types.js';

/** One version's counts. Each series is `[bin 0, ..., bin k-1, below min, above max]`. */
export interface VersionCounts {
  readonly requests: number;
  readonly window: number;
  /** Feature name → counts, in the model's feature order; empty without a reference. */
  readonly features: Readonly<Record<string, readonly number[]>>;
  readonly prediction: readonly number[] | null;
}

export interface DriftCounts {
  readonly gateways: number;
  readonly versions: Readonly<Record<string, VersionCounts>>;
}

export interface DriftThresholds {
  readonly window: number;
  readonly minRequests: number;
  readonly warn: number;
  readonly alert: number;
}

/** A map keyed by names from files and headers: no prototype, so `__proto__` is just a name. */
export function nameMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function addSeries(a: readonly number[] | null, b: readonly number[] | null): number[] | null {
  if (a === null) return b === null ? null : [...b];
  if (b === null || b.length !== a.length) return [...a];
  return a.map((x, i) => x + b[i]);
}

/** Sum of two snapshots: requests, windows and bin counts add; a version only in one is kept. */
export function mergeDriftCounts(a: DriftCounts, b: DriftCounts): DriftCounts {
  const versions = nameMap<VersionCounts>();
  for (const [v, x] of Object.entries(a.versions)) versions[v] = x;
  for (const [v, y] of Object.entries(b.versions)) {
    const x = versions[v];
    if (x === undefined) {
      versions[v] = y;
      continue;
    }
    const features = nameMap<readonly number[]>();
    for (const [name, counts] of Object.entries(x.features)) features[name] = counts;
    for (const [name, counts] of Object.entries(y.features))
      features[name] = addSeries(features[name] ?? null, counts) ?? counts;
    versions[v] = {
      requests: x.requests + y.requests,
      window: x.window + y.window,
      features,
      prediction: addSeries(x.prediction, y.prediction),
    };
  }
  return { gateways: a.gateways + b.gateways, versions };
}

function levelOf(psi: number, t: DriftThresholds): DriftLevel {
  return psi >= t.alert ? 'alert' : psi >= t.warn ? 'warn' : 'ok';
}

/** One series' figures; `enough` is false below the minimum requests (then no verdict). */
export function seriesReport(
  ref: Distribution,
  counts: readonly number[],
  enough: boolean,
  t: DriftThresholds,
): DriftSeriesView {
  let n = 0;
  for (const c of counts) n += c;
  const psi = enough && n > 0 ? STATTESTS.psi.compute(ref.shares, counts) : null;
  return {
    psi,
    out_of_range: enough && n > 0 ? STATTESTS.out_of_range.compute(ref.shares, counts) : null,
    level: psi === null ? 'insufficient' : levelOf(psi, t),
    live: counts.map((c) => (n === 0 ? 0 : c / n)),
    reference: [...ref.shares, 0, 0],
    edges: ref.edges,
    min: ref.min,
    max: ref.max,
  };
}

/**
 * The drift answer of one version from its counts and its reference (null: the manifest has none, or
 * `note` says why it could not be read).
 */
export function driftReport(
  counts: VersionCounts,
  reference: DriftReference | null,
  t: DriftThresholds,
  note: string | null = null,
): VersionDriftView {
  const features = nameMap<DriftSeriesView>();
  const drifted: string[] = [];
  if (reference === null) {
    return {
      requests: counts.requests,
      window: counts.window,
      reference: 'none',
      note: note ?? 'no reference: the manifest has no training distribution',
      features,
      prediction: null,
      drifted,
    };
  }
  const enough = counts.window >= t.minRequests;
  for (const f of reference.features) {
    const c = counts.features[f.name] ?? new Array<number>(f.shares.length + 2).fill(0);
    const view = seriesReport(f, c, enough, t);
    features[f.name] = view;
    if (view.level === 'alert') drifted.push(f.name);
  }
  const prediction =
    reference.prediction === null
      ? null
      : seriesReport(
          reference.prediction,
          counts.prediction ?? new Array<number>(reference.prediction.shares.length + 2).fill(0),
          enough,
          t,
        );
  return {
    requests: counts.requests,
    window: counts.window,
    reference: 'training',
    note: enough
      ? null
      : `no verdict below ${t.minRequests} requests in the window (${counts.window} so far)`,
    features,
    prediction,
    drifted,
  };
}

export function thresholdsView(t: DriftThresholds): DriftThresholdsView {
  return { window: t.window, min_requests: t.minRequests, warn: t.warn, alert: t.alert };
}
