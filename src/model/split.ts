// Split search over one node's histogram. A split "bin <= b goes left" is scored by the decrease in
// the weighted sum of squared errors, wL·wR/w · (meanL − meanR)² — scikit-learn's variance
// reduction. Written as (sL·wR − sR·wL)² / (wL·wR) (that is w·decrease): it keeps the precision of
// the difference of means, where sL²/wL + sR²/wR − s²/w would cancel catastrophically, and candidates
// are compared cross-multiplied, without a division in the inner loop.
import { SLOTS, type HistogramLayout } from './histogram.js';

/** The best split of a node, as a plain record. */
export interface SplitRecord {
  feature: number;
  /** Rows with bin <= bin go left; no row of the node has a bin in (lastLeftBin, firstRightBin). */
  bin: number;
  lastLeftBin: number;
  firstRightBin: number;
  /** Decrease in the weighted sum of squared errors (comparable across nodes: best-first uses it). */
  gain: number;
  leftRows: number;
  leftWeight: number;
  leftSum: number;
  rightRows: number;
  rightWeight: number;
  rightSum: number;
}

export interface NodeTotals {
  rows: number;
  weight: number;
  sum: number;
}

/**
 * Best split over the features in `order[0..]`, stopping after `maxFeatures` features that are not
 * constant in the node (scikit-learn's rule: keep drawing until enough usable features were seen).
 * Returns null when no split leaves `minLeaf` rows on each side or none improves the fit.
 */
export function findBestSplit(
  h: Float64Array,
  layout: HistogramLayout,
  lo: Uint8Array,
  hi: Uint8Array,
  totals: NodeTotals,
  order: Int32Array,
  maxFeatures: number,
  minLeaf: number,
): SplitRecord | null {
  const tr = totals.rows;
  const tw = totals.weight;
  const ts = totals.sum;
  let bestNum = 0;
  let bestDen = 1;
  let bestCross = 0;
  let bestF = -1;
  let bestB = -1;
  let bestLR = 0;
  let bestLW = 0;
  let bestLS = 0;
  let usable = 0;
  for (let o = 0; o < order.length && usable < maxFeatures; o++) {
    const f = order[o];
    const first = lo[f];
    const last = hi[f];
    if (first >= last) continue;
    const base = layout.offsets[f];
    let lr = 0;
    let lw = 0;
    let ls = 0;
    let nonEmpty = 0;
    let stopped = false;
    for (let b = first; b < last; b++) {
      const j = (base + b) * SLOTS;
      const c = h[j];
      if (c === 0) continue;
      nonEmpty++;
      lr += c;
      lw += h[j + 1];
      ls += h[j + 2];
      if (lr < minLeaf) continue;
      const rr = tr - lr;
      if (rr < minLeaf) {
        stopped = true;
        break;
      }
      const rw = tw - lw;
      const cross = ls * rw - (ts - ls) * lw; // wL·wR·(meanL − meanR)
      const num = cross * cross;
      const den = lw * rw;
      if (num * bestDen > bestNum * den) {
        bestNum = num;
        bestDen = den;
        bestCross = cross;
        bestF = f;
        bestB = b;
        bestLR = lr;
        bestLW = lw;
        bestLS = ls;
      }
    }
    // A feature whose node rows all share one bin cannot split: it does not count towards maxFeatures.
    if (stopped || nonEmpty + (h[(base + last) * SLOTS] > 0 ? 1 : 0) >= 2) usable++;
  }
  if (bestF < 0) return null;
  // Differences of means below rounding noise are not real: such a node is pure.
  if (!(Math.abs(bestCross) / bestDen > 1e-10 * (Math.abs(ts / tw) + 1))) return null;
  // Place the threshold halfway (in bins, i.e. in quantiles) across the empty bins between the two
  // sides, as scikit-learn places it halfway between the two nearest training values.
  const base = layout.offsets[bestF];
  let next = bestB + 1;
  while (next < hi[bestF] && h[(base + next) * SLOTS] === 0) next++;
  return {
    feature: bestF,
    bin: bestB + ((next - 1 - bestB) >> 1),
    lastLeftBin: bestB,
    firstRightBin: next,
    gain: bestNum / (bestDen * tw),
    leftRows: bestLR,
    leftWeight: bestLW,
    leftSum: bestLS,
    rightRows: tr - bestLR,
    rightWeight: tw - bestLW,
    rightSum: ts - bestLS,
  };
}
