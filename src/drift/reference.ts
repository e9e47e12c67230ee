// Building a reference distribution from a column of values (quantile bins), finding a value's bin,
// and checking a reference read back from a manifest. Pure functions: the trainer, the registry's
// manifest check and the gateway's live accounting all share them, so a value is binned the same way
// at training time and in production.
import { binOf } from '../model/binning.js';
import type { Distribution, DriftReference, FeatureDistribution } from './types.js';

/** Bins per variable unless asked otherwise: the usual choice for PSI (deciles). */
export const DEFAULT_BINS = 10;
/** Most bins a reference may ask for (the live window stores bin indices as bytes). */
export const MAX_BINS = 100;
/**
 * Fewest reference rows per bin: fewer bins rather than bins of a handful of rows, whose shares are
 * mostly noise (a holdout of 50 rows gets 5 bins, not 10).
 */
export const MIN_ROWS_PER_BIN = 10;

/**
 * The q-quantile of sorted values, interpolating linearly between the two nearest ranks: numpy's
 * default (`method="linear"`), so the fixtures computed with numpy check this exactly.
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Inner edges of `bins` quantile bins of sorted values: duplicates (ties, clipped values) are merged
 * and an edge at the maximum is dropped, since the bin above it could never hold a value in range.
 */
export function quantileEdges(sorted: ArrayLike<number>, bins: number): number[] {
  const max = sorted[sorted.length - 1];
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) {
    const e = quantileSorted(sorted, i / bins);
    if (e < max && (edges.length === 0 || e > edges[edges.length - 1])) edges.push(e);
  }
  return edges;
}

/**
 * Where `v` is counted in the live layout of a distribution with `k = edges.length + 1` bins: its bin
 * (0..k-1, the number of edges below it: the learner's own binary search), `k` below `min`, `k + 1` above `max`,
 * `k + 2` when it is not a number. The range is checked first, so the search runs over at most
 * `k - 1` sorted edges.
 */
export function slotOf(edges: Float64Array, min: number, max: number, v: number): number {
  const k = edges.length + 1;
  if (!(v >= min)) return v < min ? k : k + 2;
  if (v > max) return k + 1;
  return binOf(edges, v);
}

/** How many bins a variable of `rows` values gets when `bins` are asked for. */
export function binsFor(rows: number, bins: number): number {
  return Math.max(1, Math.min(bins, Math.floor(rows / MIN_ROWS_PER_BIN)));
}

/** The distribution of finite `values` in (at most) `bins` quantile bins; null when none is finite. */
export function distributionOf(values: ArrayLike<number>, bins: number): Distribution | null {
  const finite: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i])) finite.push(values[i]);
  if (finite.length === 0) return null;
  const sorted = Float64Array.from(finite).sort();
  const min = sorted[0];
  const max = sorted[sorted.length - 1];
  const edges = quantileEdges(sorted, binsFor(sorted.length, bins));
  const cuts = Float64Array.from(edges);
  const counts = new Float64Array(edges.length + 1);
  for (let i = 0; i < sorted.length; i++) counts[slotOf(cuts, min, max, sorted[i])]++;
  return {
    edges,
    shares: Array.from(counts, (c) => c / sorted.length),
    min,
    max,
    rows: sorted.length,
  };
}

// ---- checking a reference read from a manifest -----------------------------------------------------

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function distributionProblem(d: unknown): string | undefined {
  if (!isObj(d)) return 'is not an object';
  const { edges, shares, min, max, rows } = d;
  if (!isFiniteNum(min) || !isFiniteNum(max) || min > max) return 'has no valid min and max';
  if (!isFiniteNum(rows) || rows < 1) return 'has no valid rows';
  if (!Array.isArray(edges) || !Array.isArray(shares)) return 'has no edges and shares';
  if (shares.length !== edges.length + 1 || shares.length > MAX_BINS)
    return 'has mismatched edges and shares';
  for (let i = 0; i < edges.length; i++) {
    const e: unknown = edges[i];
    if (!isFiniteNum(e) || e < min || e >= max || (i > 0 && e <= (edges[i - 1] as number)))
      return 'has edges that are not increasing within [min, max)';
  }
  let sum = 0;
  for (const s of shares as unknown[]) {
    if (!isFiniteNum(s) || s < 0 || s > 1) return 'has a share outside [0, 1]';
    sum += s;
  }
  if (Math.abs(sum - 1) > 1e-6) return 'has shares that do not sum to 1';
  return undefined;
}

/**
 * Why a manifest's `reference` field is unusable, or undefined when it is well formed and covers
 * exactly `featureNames` in that order.
 */
export function referenceProblem(ref: unknown, featureNames: readonly string[]): string | undefined {
  if (!isObj(ref) || ref.format !== 1) return 'is not a format 1 reference';
  if (!Number.isInteger(ref.bins) || (ref.bins as number) < 1 || (ref.bins as number) > MAX_BINS)
    return 'has no valid bins';
  const features = ref.features;
  if (!Array.isArray(features) || features.length !== featureNames.length)
    return 'does not cover the manifest features';
  for (let i = 0; i < features.length; i++) {
    const f: unknown = features[i];
    if (!isObj(f) || f.name !== featureNames[i]) return `does not list feature ${featureNames[i]} in place`;
    const problem = distributionProblem(f);
    if (problem) return `feature ${featureNames[i]} ${problem}`;
  }
  if (ref.prediction !== null) {
    const problem = distributionProblem(ref.prediction);
    if (problem) return `prediction ${problem}`;
  }
  return undefined;
}

/** A reference for these columns (in `names` order) and, when given, the holdout predictions. */
export function buildReference(
  names: readonly string[],
  columns: readonly ArrayLike<number>[],
  predictions: ArrayLike<number> | null,
  bins = DEFAULT_BINS,
): DriftReference {
  const features: FeatureDistribution[] = names.map((name, i) => {
    const d = distributionOf(columns[i], bins);
    // Training data is validated finite before a fit, so an empty column cannot reach this.
    if (d === null) throw new Error(`feature ${name} has no finite value`);
    return { name, ...d };
  });
  const prediction = predictions === null ? null : distributionOf(predictions, bins);
  return { format: 1, bins, features, prediction };
}
