// Small nodes without histograms. A full-depth forest tree has about as many nodes as distinct rows,
// and most of them hold a handful of rows: for those, zeroing, subtracting and scanning a histogram
// (O(bins) per feature) costs far more than the rows themselves. Once a node is small, its rows are
// sorted by bin once per feature, and its whole subtree is grown from those lists: a split scans
// each list (O(rows)), and partitioning keeps every list sorted (stable, O(rows) per feature).
// It finds exactly the splits the histogram search finds (same candidates in the same order, same
// criterion, same tie-breaking); the grower's tests check that.
import type { NodeStore } from './nodes.js';
import type { Rng } from './random.js';

/** Below this many rows an insertion sort beats a counting sort over 256 bins. */
const INSERTION_SORT_ROWS = 40;

// Slots of the best-split record (a Float64Array, so that scanList can update it in place).
const NUM = 0;
const DEN = 1;
const CROSS = 2;
const FEATURE = 3;
const BIN = 4;
const NEXT_BIN = 5;
const LEFT_ROWS = 6;
const LEFT_WEIGHT = 7;
const LEFT_SUM = 8;

/**
 * Scans one feature's list over positions [from, to) of a node (total weight tw, sum ts) and keeps
 * in `best` the split that beats it: the criterion of split.ts, computed the same way (the tests
 * compare the two paths). Small functions like this one are optimised sooner by V8, which matters
 * for the first trees of a fit.
 */
function scanList(
  sorted: Int32Array,
  sortedBin: Uint8Array,
  w: Float64Array,
  wy: Float64Array,
  from: number,
  to: number,
  tw: number,
  ts: number,
  minLeaf: number,
  f: number,
  best: Float64Array,
): void {
  const tr = to - from;
  let bestNum = best[NUM];
  let bestDen = best[DEN];
  let lr = 0;
  let lw = 0;
  let ls = 0;
  let b = sortedBin[from];
  for (let k = from, last = to - 1; k < last; k++) {
    const i = sorted[k];
    lr++;
    lw += w[i];
    ls += wy[i];
    const nb = sortedBin[k + 1];
    if (b === nb || lr < minLeaf) {
      b = nb;
      continue;
    }
    if (tr - lr < minLeaf) break;
    const rw = tw - lw;
    const cross = ls * rw - (ts - ls) * lw;
    const num = cross * cross;
    const den = lw * rw;
    if (num * bestDen > bestNum * den) {
      bestNum = num;
      bestDen = den;
      best[NUM] = num;
      best[DEN] = den;
      best[CROSS] = cross;
      best[FEATURE] = f;
      best[BIN] = b;
      best[NEXT_BIN] = nb;
      best[LEFT_ROWS] = lr;
      best[LEFT_WEIGHT] = lw;
      best[LEFT_SUM] = ls;
    }
    b = nb;
  }
}

/** Stable partition of one list segment [from, to): rows marked in goLeft first. */
function partitionList(
  sorted: Int32Array,
  sortedBin: Uint8Array,
  goLeft: Uint8Array,
  tmp: Int32Array,
  tmpBin: Uint8Array,
  from: number,
  to: number,
): void {
  let l = from;
  let r = 0;
  // Branch-free (the branch would be a coin flip): write both ways, advance one.
  for (let k = from; k < to; k++) {
    const i = sorted[k];
    const b = sortedBin[k];
    const g = goLeft[i];
    sorted[l] = i; // l <= k: this slot has been read already
    sortedBin[l] = b;
    tmp[r] = i;
    tmpBin[r] = b;
    l += g;
    r += 1 - g;
  }
  for (let k = 0; k < r; k++, l++) {
    sorted[l] = tmp[k];
    sortedBin[l] = tmpBin[k];
  }
}

export interface SubtreeOptions {
  maxDepth: number;
  minSamplesLeaf: number;
  featuresPerSplit: number;
}

export class PresortedSubtrees {
  private readonly features: number;
  private readonly cap: number;
  /** Per feature f: local row numbers sorted by bin, a segment per node, at [f·cap + k]. */
  private readonly sorted: Int32Array;
  /** The bins of `sorted`, side by side (the scan then reads one array in order). */
  private readonly sortedBin: Uint8Array;
  private readonly w: Float64Array;
  private readonly wy: Float64Array;
  private readonly goLeft: Uint8Array;
  private readonly tmp: Int32Array;
  private readonly tmpBin: Uint8Array;
  private readonly allFeatures: Int32Array;
  private readonly shuffled: Int32Array;
  private readonly counts = new Int32Array(257);
  /** The best split found so far in a node (indices below). */
  private readonly best = new Float64Array(9);
  // Pending nodes of the subtree: id, segment start, segment end, depth; weight, sum.
  private readonly stackInt: Int32Array;
  private readonly stackNum: Float64Array;

  constructor(
    private readonly columns: readonly Uint8Array[],
    /** Most rows a subtree may start with. */
    readonly capacity: number,
  ) {
    this.features = columns.length;
    this.cap = capacity;
    this.sorted = new Int32Array(this.features * capacity);
    this.sortedBin = new Uint8Array(this.features * capacity);
    this.w = new Float64Array(capacity);
    this.wy = new Float64Array(capacity);
    this.goLeft = new Uint8Array(capacity);
    this.tmp = new Int32Array(capacity);
    this.tmpBin = new Uint8Array(capacity);
    this.allFeatures = Int32Array.from({ length: this.features }, (_, i) => i);
    this.shuffled = Int32Array.from(this.allFeatures);
    this.stackInt = new Int32Array(4 * capacity + 4);
    this.stackNum = new Float64Array(2 * capacity + 2);
  }

  /**
   * Grows the subtree under node `id`, whose rows are rows[start..end) (at most `capacity`), at
   * `depth`.
   */
  grow(
    store: NodeStore,
    id: number,
    rows: Int32Array,
    start: number,
    end: number,
    depth: number,
    weight: Float64Array | null,
    target: Float64Array,
    rng: Rng,
    options: SubtreeOptions,
  ): void {
    const m = end - start;
    const F = this.features;
    const cap = this.cap;
    const { sorted, sortedBin, w, wy, goLeft, tmp, tmpBin } = this;
    let totalW = 0;
    let totalS = 0;
    for (let i = 0; i < m; i++) {
      const r = rows[start + i];
      w[i] = weight === null ? 1 : weight[r];
      wy[i] = w[i] * target[r];
      totalW += w[i];
      totalS += wy[i];
    }
    for (let f = 0; f < F; f++) this.sortByBin(f, rows, start, m);

    const { minSamplesLeaf, maxDepth, featuresPerSplit } = options;
    const si = this.stackInt;
    const sn = this.stackNum;
    si[0] = id;
    si[1] = 0;
    si[2] = m;
    si[3] = depth;
    sn[0] = totalW;
    sn[1] = totalS;
    let top = 1;
    while (top > 0) {
      top--;
      const node = si[4 * top];
      const s = si[4 * top + 1];
      const e = si[4 * top + 2];
      const d = si[4 * top + 3];
      const tw = sn[2 * top];
      const ts = sn[2 * top + 1];
      const tr = e - s;
      if (tr < 2 * minSamplesLeaf || (maxDepth > 0 && d >= maxDepth)) {
        store.setLeaf(node, this.leafValue(0, s, e));
        continue;
      }
      let order = this.allFeatures;
      if (featuresPerSplit < F) {
        this.shuffled.set(this.allFeatures); // from the identity: no state carried between trees
        order = rng.shuffle(this.shuffled);
      }

      const best = this.best;
      best.fill(0);
      best[DEN] = 1;
      best[FEATURE] = -1;
      let usable = 0;
      for (let o = 0; o < F && usable < featuresPerSplit; o++) {
        const f = order[o];
        const base = f * cap;
        if (sortedBin[base + s] === sortedBin[base + e - 1]) continue;
        usable++;
        scanList(sorted, sortedBin, w, wy, base + s, base + e, tw, ts, minSamplesLeaf, f, best);
      }
      const bestF = best[FEATURE];
      if (bestF < 0 || !(Math.abs(best[CROSS]) / best[DEN] > 1e-10 * (Math.abs(ts / tw) + 1))) {
        store.setLeaf(node, this.leafValue(0, s, e));
        continue;
      }
      const bestB = best[BIN];
      const bestNext = best[NEXT_BIN];
      const bestLR = best[LEFT_ROWS];
      const bestLW = best[LEFT_WEIGHT];
      const bestLS = best[LEFT_SUM];
      const mid = s + bestLR;
      const left = store.add(-1, -1);
      const right = store.add(-1, -1);
      store.setSplit(node, bestF, bestB + ((bestNext - 1 - bestB) >> 1), left, right);
      const fb = bestF * cap;
      const leftLeaf = bestLR < 2 * minSamplesLeaf || (maxDepth > 0 && d + 1 >= maxDepth);
      const rightLeaf = e - mid < 2 * minSamplesLeaf || (maxDepth > 0 && d + 1 >= maxDepth);
      if (leftLeaf && rightLeaf) {
        // Both children are leaves: the split feature's list already holds their rows apart.
        store.setLeaf(left, this.leafValue(fb, s, mid));
        store.setLeaf(right, this.leafValue(fb, mid, e));
        continue;
      }
      // Partition every other feature's list stably, left rows first; the split feature's list is
      // already in that order (its left rows have the smaller bins).
      for (let k = fb + s; k < fb + mid; k++) goLeft[sorted[k]] = 1;
      for (let k = fb + mid; k < fb + e; k++) goLeft[sorted[k]] = 0;
      for (let f = 0; f < F; f++) {
        if (f !== bestF) partitionList(sorted, sortedBin, goLeft, tmp, tmpBin, f * cap + s, f * cap + e);
      }
      // Push right, then left: the left subtree is grown first.
      si[4 * top] = right;
      si[4 * top + 1] = mid;
      si[4 * top + 2] = e;
      si[4 * top + 3] = d + 1;
      sn[2 * top] = tw - bestLW;
      sn[2 * top + 1] = ts - bestLS;
      top++;
      si[4 * top] = left;
      si[4 * top + 1] = s;
      si[4 * top + 2] = mid;
      si[4 * top + 3] = d + 1;
      sn[2 * top] = bestLW;
      sn[2 * top + 1] = bestLS;
      top++;
    }
  }

  /** Fills feature f's list with the local rows 0..m-1 in (stable) bin order. */
  private sortByBin(f: number, rows: Int32Array, start: number, m: number): void {
    const col = this.columns[f];
    const base = f * this.cap;
    const { sorted, sortedBin } = this;
    if (m < INSERTION_SORT_ROWS) {
      for (let i = 0; i < m; i++) {
        const b = col[rows[start + i]];
        let k = base + i - 1;
        while (k >= base && sortedBin[k] > b) {
          sorted[k + 1] = sorted[k];
          sortedBin[k + 1] = sortedBin[k];
          k--;
        }
        sorted[k + 1] = i;
        sortedBin[k + 1] = b;
      }
      return;
    }
    // Counting sort over the 256 possible bins.
    const counts = this.counts;
    counts.fill(0);
    for (let i = 0; i < m; i++) counts[col[rows[start + i]] + 1]++;
    for (let b = 1; b < 257; b++) counts[b] += counts[b - 1];
    for (let i = 0; i < m; i++) {
      const b = col[rows[start + i]];
      const k = base + counts[b]++;
      sorted[k] = i;
      sortedBin[k] = b;
    }
  }

  /** Weighted mean of the rows at positions [s, e) of the list starting at `base`. */
  private leafValue(base: number, s: number, e: number): number {
    let lw = 0;
    let ls = 0;
    for (let k = base + s; k < base + e; k++) {
      const i = this.sorted[k];
      lw += this.w[i];
      ls += this.wy[i];
    }
    return lw > 0 ? ls / lw : 0;
  }
}
