// Binning: each feature is mapped once, before any tree is grown, to at most 255 quantile bins stored
// as one byte per row. Training then only ever sees bin numbers; the bin edges (thresholds) are raw
// feature values, so a trained split `bin <= b` becomes `x <= thresholds[b]` at inference.
import { packColumns } from './histogram.js';
import { Rng } from './random.js';

export const MAX_BINS = 255;
/** Rows sampled to place the quantiles (as scikit-learn's HistGradientBoosting does). */
export const BIN_SAMPLE_ROWS = 200_000;

/** Binned training data, shared read-only by every tree (and every worker thread). */
export interface BinnedFeatures {
  readonly rows: number;
  /** Per feature: the bin of each row. Row r of feature f falls in thresholds[f][b-1] < x <= thresholds[f][b]. */
  readonly columns: readonly Uint8Array[];
  /** Per feature: bins in use (thresholds + 1, at most 255). */
  readonly nBins: Int32Array;
  /** Per feature: strictly increasing raw-value edges between bins. */
  readonly thresholds: readonly Float64Array[];
  /** The columns packed 4 to a 32-bit word, for building histograms (histogram.ts). */
  readonly packed: readonly Uint32Array[];
}

/**
 * Edges between bins for one feature: midpoints between distinct values when there are few enough,
 * otherwise quantiles of a sample (midpoint interpolation), deduplicated.
 */
export function findThresholds(values: Float64Array, maxBins: number, rng: Rng): Float64Array {
  const n = values.length;
  let sample: Float64Array;
  if (n > BIN_SAMPLE_ROWS) {
    // Partial Fisher–Yates: a sample without replacement, reproducible from the seed.
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    sample = new Float64Array(BIN_SAMPLE_ROWS);
    for (let i = 0; i < BIN_SAMPLE_ROWS; i++) {
      const j = i + rng.nextInt(n - i);
      const t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
      sample[i] = values[idx[i]];
    }
  } else {
    sample = Float64Array.from(values);
  }
  sample.sort();
  const distinct: number[] = [];
  for (let i = 0; i < sample.length; i++) {
    if (i === 0 || sample[i] !== sample[i - 1]) distinct.push(sample[i]);
  }
  const edges: number[] = [];
  if (distinct.length <= maxBins) {
    for (let i = 1; i < distinct.length; i++) edges.push(midpoint(distinct[i - 1], distinct[i]));
  } else {
    const last = sample.length - 1;
    for (let q = 1; q < maxBins; q++) {
      const pos = (q / maxBins) * last;
      edges.push(midpoint(sample[Math.floor(pos)], sample[Math.ceil(pos)]));
    }
  }
  const out: number[] = [];
  for (const e of edges) if (out.length === 0 || e > out[out.length - 1]) out.push(e);
  return Float64Array.from(out);
}

function midpoint(a: number, b: number): number {
  return a / 2 + b / 2; // no overflow for huge values of either sign
}

/** Bin of `v`: the number of edges strictly below it. */
export function binOf(thresholds: Float64Array, v: number): number {
  let lo = 0;
  let hi = thresholds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (thresholds[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * binOf for a whole column, branch-free: a fixed 8-step search over the edges padded to 255 with
 * +Infinity (a branchy binary search mispredicts about every other step on continuous data).
 */
export function binColumn(values: Float64Array, rows: number, edges: Float64Array, out: Uint8Array): void {
  const padded = new Float64Array(255).fill(Infinity);
  padded.set(edges);
  for (let r = 0; r < rows; r++) {
    const v = values[r];
    let b = 0;
    b += +(padded[b + 127] < v) << 7;
    b += +(padded[b + 63] < v) << 6;
    b += +(padded[b + 31] < v) << 5;
    b += +(padded[b + 15] < v) << 4;
    b += +(padded[b + 7] < v) << 3;
    b += +(padded[b + 3] < v) << 2;
    b += +(padded[b + 1] < v) << 1;
    b += +(padded[b] < v);
    out[r] = b;
  }
}

/**
 * Bins every feature of a data set. With `shared`, the byte columns live in SharedArrayBuffers so
 * worker threads read them without a copy.
 */
export function binDataset(
  columns: readonly Float64Array[],
  rows: number,
  options: { seed: number; shared?: boolean; maxBins?: number },
): BinnedFeatures {
  const maxBins = Math.min(options.maxBins ?? MAX_BINS, MAX_BINS);
  const rng = new Rng(options.seed);
  const thresholds: Float64Array[] = [];
  const binned: Uint8Array[] = [];
  const nBins = new Int32Array(columns.length);
  columns.forEach((values, f) => {
    const edges = findThresholds(values.length === rows ? values : values.subarray(0, rows), maxBins, rng);
    const out = options.shared ? new Uint8Array(new SharedArrayBuffer(rows)) : new Uint8Array(rows);
    binColumn(values, rows, edges, out);
    thresholds.push(edges);
    binned.push(out);
    nBins[f] = edges.length + 1;
  });
  return { rows, columns: binned, nBins, thresholds, packed: packColumns(binned, rows, options.shared) };
}
