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

/** Where each feature's bins start in a histogram. */
export interface HistogramLayout {
  readonly features: number;
  /** In bins. */
  readonly offsets: Int32Array;
  readonly nBins: Int32Array;
  /** Length of one histogram in doubles (one spare bin at the end, see groupOffsets). */
  readonly size: number;
  /**
   * For each group of 4 features (see packColumns), the 4 features' offsets in doubles; a missing
   * feature of the last group points at the spare bin, which nothing reads.
   */
  readonly groupOffsets: Int32Array;
}

export function histogramLayout(nBins: Int32Array): HistogramLayout {
  const offsets = new Int32Array(nBins.length);
  let total = 0;
  for (let f = 0; f < nBins.length; f++) {
    offsets[f] = total;
    total += nBins[f];
  }
  const groups = Math.ceil(nBins.length / 4);
  const groupOffsets = new Int32Array(4 * groups);
  for (let i = 0; i < 4 * groups; i++) groupOffsets[i] = (i < nBins.length ? offsets[i] : total) * SLOTS;
  return { features: nBins.length, offsets, nBins, size: (total + 1) * SLOTS, groupOffsets };
}

/**
 * The bins of 4 features per row in one 32-bit word (feature 4g + j in byte j of group g): building
 * a histogram then reads one word per row instead of four scattered bytes, about 3× faster.
 */
export function packColumns(columns: readonly Uint8Array[], rows: number, shared = false): Uint32Array[] {
  const groups: Uint32Array[] = [];
  for (let g = 0; g < columns.length; g += 4) {
    const packed = shared ? new Uint32Array(new SharedArrayBuffer(4 * rows)) : new Uint32Array(rows);
    for (let j = 0; j < 4 && g + j < columns.length; j++) {
      const col = columns[g + j];
      const shift = 8 * j;
      for (let r = 0; r < rows; r++) packed[r] |= col[r] << shift;
    }
    groups.push(packed);
  }
  return groups;
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
 * Adds rows `rows[start..end)` into `h`, which must be zero over the rows' bins: per row, one count,
 * its weight and weight × target.
 */
export function buildHistogram(
  h: Float64Array,
  layout: HistogramLayout,
  packed: readonly Uint32Array[],
  rows: Int32Array,
  start: number,
  end: number,
  weight: Float64Array,
  target: Float64Array,
): void {
  const go = layout.groupOffsets;
  for (let g = 0; g < packed.length; g++) {
    const words = packed[g];
    const o0 = go[4 * g];
    const o1 = go[4 * g + 1];
    const o2 = go[4 * g + 2];
    const o3 = go[4 * g + 3];
    for (let k = start; k < end; k++) {
      const r = rows[k];
      const p = words[r];
      const w = weight[r];
      const wy = w * target[r];
      let j = o0 + (p & 0xff) * SLOTS;
      h[j] += 1;
      h[j + 1] += w;
      h[j + 2] += wy;
      j = o1 + ((p >>> 8) & 0xff) * SLOTS;
      h[j] += 1;
      h[j + 1] += w;
      h[j + 2] += wy;
      j = o2 + ((p >>> 16) & 0xff) * SLOTS;
      h[j] += 1;
      h[j + 1] += w;
      h[j + 2] += wy;
      j = o3 + (p >>> 24) * SLOTS;
      h[j] += 1;
      h[j + 1] += w;
      h[j + 2] += wy;
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
  packed: readonly Uint32Array[],
  rows: Int32Array,
  start: number,
  end: number,
  target: Float64Array,
  lo: Uint8Array,
  hi: Uint8Array,
): void {
  const go = layout.groupOffsets;
  for (let g = 0; g < packed.length; g++) {
    const words = packed[g];
    const o0 = go[4 * g];
    const o1 = go[4 * g + 1];
    const o2 = go[4 * g + 2];
    const o3 = go[4 * g + 3];
    for (let k = start; k < end; k++) {
      const r = rows[k];
      const p = words[r];
      const y = target[r];
      let j = o0 + (p & 0xff) * SLOTS;
      h[j] += 1;
      h[j + 2] += y;
      j = o1 + ((p >>> 8) & 0xff) * SLOTS;
      h[j] += 1;
      h[j + 2] += y;
      j = o2 + ((p >>> 16) & 0xff) * SLOTS;
      h[j] += 1;
      h[j + 2] += y;
      j = o3 + (p >>> 24) * SLOTS;
      h[j] += 1;
      h[j + 2] += y;
    }
  }
  for (let f = 0; f < layout.features; f++) {
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
