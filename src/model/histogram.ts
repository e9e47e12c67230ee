// Per-node histograms: for every feature and bin, the node's rows, their weight and their weighted
// target sum. A node's best split is read from its histogram in O(bins) per feature, and a child's
// histogram is its parent's minus its sibling's, so only the smaller child is ever built from rows.
//
// The sum of squares is not kept: it is the same for every candidate split of a node, so the best
// split by variance reduction depends only on the counts and sums (see split.ts).
//
// Every operation works within per-feature bin ranges [lo, hi]: all rows of a node have bins in its
// ranges (a child narrows its parent's range on the split feature), so deep nodes touch few bins.

/** Slots per bin: rows (distinct), weight (bootstrap count), weighted target sum. */
export const SLOTS = 3;

/** Where each feature's bins start in a histogram (in bins). */
export interface HistogramLayout {
  readonly features: number;
  readonly offsets: Int32Array;
  readonly nBins: Int32Array;
  /** Length of one histogram in doubles. */
  readonly size: number;
}

export function histogramLayout(nBins: Int32Array): HistogramLayout {
  const offsets = new Int32Array(nBins.length);
  let total = 0;
  for (let f = 0; f < nBins.length; f++) {
    offsets[f] = total;
    total += nBins[f];
  }
  return { features: nBins.length, offsets, nBins, size: total * SLOTS };
}

/** Zeroes `h` over the bin ranges [lo[f], hi[f]]. */
export function zeroHistogram(
  h: Float64Array,
  layout: HistogramLayout,
  lo: Uint8Array,
  hi: Uint8Array,
): void {
  for (let f = 0; f < layout.features; f++) {
    h.fill(0, (layout.offsets[f] + lo[f]) * SLOTS, (layout.offsets[f] + hi[f] + 1) * SLOTS);
  }
}

/**
 * Adds rows `rows[start..end)` into `h` (which must be zero over the rows' bins). `w` and `wy` are
 * gathered per position (w[k - start] belongs to rows[k]) so the inner loop reads them sequentially.
 */
export function buildHistogram(
  h: Float64Array,
  layout: HistogramLayout,
  columns: readonly Uint8Array[],
  rows: Int32Array,
  start: number,
  end: number,
  w: Float64Array,
  wy: Float64Array,
): void {
  for (let f = 0; f < layout.features; f++) {
    const col = columns[f];
    const base = layout.offsets[f] * SLOTS;
    for (let k = start, i = 0; k < end; k++, i++) {
      const j = base + col[rows[k]] * SLOTS;
      h[j] += 1;
      h[j + 1] += w[i];
      h[j + 2] += wy[i];
    }
  }
}

/**
 * buildHistogram for rows that all weigh 1 (boosting): the weight slot is the row count, copied over
 * the node's ranges afterwards instead of being added row by row.
 */
export function buildUnitHistogram(
  h: Float64Array,
  layout: HistogramLayout,
  columns: readonly Uint8Array[],
  rows: Int32Array,
  start: number,
  end: number,
  y: Float64Array,
  lo: Uint8Array,
  hi: Uint8Array,
): void {
  for (let f = 0; f < layout.features; f++) {
    const col = columns[f];
    const base = layout.offsets[f] * SLOTS;
    for (let k = start, i = 0; k < end; k++, i++) {
      const j = base + col[rows[k]] * SLOTS;
      h[j] += 1;
      h[j + 2] += y[i];
    }
    const last = (layout.offsets[f] + hi[f]) * SLOTS;
    for (let j = (layout.offsets[f] + lo[f]) * SLOTS; j <= last; j += SLOTS) h[j + 1] = h[j];
  }
}

/** parent -= child over the parent's ranges: turns the parent's histogram into the sibling's. */
export function subtractHistogram(
  parent: Float64Array,
  child: Float64Array,
  layout: HistogramLayout,
  lo: Uint8Array,
  hi: Uint8Array,
): void {
  for (let f = 0; f < layout.features; f++) {
    const end = (layout.offsets[f] + hi[f] + 1) * SLOTS;
    for (let j = (layout.offsets[f] + lo[f]) * SLOTS; j < end; j++) parent[j] -= child[j];
  }
}
