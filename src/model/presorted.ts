// Small nodes without histograms. A full-depth forest tree has about as many nodes as distinct rows,
// and most of them hold a handful of rows: for those, zeroing, subtracting and scanning a histogram
// (O(bins) per feature) costs far more than the rows themselves. Once a node is small, its rows are
// sorted by bin once per feature, and its whole subtree is grown from those lists: a split scans
// each list (O(rows)), and partitioning keeps every list sorted (stable, O(rows) per feature).
// It finds exactly the splits the histogram search finds (same candidates in the same order, same
// criterion, same tie-breaking); the grower's tests check that.
import type { NodeStore } from './nodes.js';
import type { Rng } from './random.js';

export interface SubtreeOptions {
  maxDepth: number;
  minSamplesLeaf: number;
  featuresPerSplit: number;
}

export class PresortedSubtrees {
  private readonly features: number;
  private readonly cap: number;
  /** Per feature f: bins of the local rows at [f·cap + i]. */
  private readonly bins: Uint8Array;
  /** Per feature f: local row numbers sorted by bin, segment per node, at [f·cap + k]. */
  private readonly sorted: Int32Array;
  private readonly w: Float64Array;
  private readonly wy: Float64Array;
  private readonly goLeft: Uint8Array;
  private readonly tmp: Int32Array;
  private readonly allFeatures: Int32Array;
  private readonly shuffled: Int32Array;
  // Pending nodes of the subtree: id, segment start, segment end, depth, weight, sum.
  private readonly stackInt: Int32Array;
  private readonly stackNum: Float64Array;

  constructor(
    private readonly columns: readonly Uint8Array[],
    /** Most rows a subtree may start with. */
    readonly capacity: number,
  ) {
    this.features = columns.length;
    this.cap = capacity;
    this.bins = new Uint8Array(this.features * capacity);
    this.sorted = new Int32Array(this.features * capacity);
    this.w = new Float64Array(capacity);
    this.wy = new Float64Array(capacity);
    this.goLeft = new Uint8Array(capacity);
    this.tmp = new Int32Array(capacity);
    this.allFeatures = Int32Array.from({ length: this.features }, (_, i) => i);
    this.shuffled = Int32Array.from(this.allFeatures);
    this.stackInt = new Int32Array(4 * capacity + 4);
    this.stackNum = new Float64Array(2 * capacity + 2);
  }

  /**
   * Grows the subtree under node `id`, whose rows are rows[start..end) (at most `capacity`), at
   * `depth`, with the node's weight and weighted target sum.
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
    const { bins, sorted, w, wy } = this;
    let totalW = 0;
    let totalS = 0;
    for (let i = 0; i < m; i++) {
      const r = rows[start + i];
      w[i] = weight === null ? 1 : weight[r];
      wy[i] = w[i] * target[r];
      totalW += w[i];
      totalS += wy[i];
    }
    for (let f = 0; f < F; f++) {
      const col = this.columns[f];
      const base = f * cap;
      for (let i = 0; i < m; i++) bins[base + i] = col[rows[start + i]];
      // Insertion sort by bin (stable): nodes here are small.
      for (let i = 0; i < m; i++) {
        const b = bins[base + i];
        let k = i - 1;
        while (k >= 0 && bins[base + sorted[base + k]] > b) {
          sorted[base + k + 1] = sorted[base + k];
          k--;
        }
        sorted[base + k + 1] = i;
      }
    }

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
        store.setLeaf(node, this.leafValue(s, e));
        continue;
      }
      let order = this.allFeatures;
      if (featuresPerSplit < F) {
        this.shuffled.set(this.allFeatures); // from the identity: no state carried between trees
        order = rng.shuffle(this.shuffled);
      }

      let bestGain = 0;
      let bestF = -1;
      let bestB = -1;
      let bestNext = -1;
      let bestLR = 0;
      let bestLW = 0;
      let bestLS = 0;
      let bestD = 0;
      let usable = 0;
      for (let o = 0; o < F && usable < featuresPerSplit; o++) {
        const f = order[o];
        const base = f * cap;
        if (bins[base + sorted[base + s]] === bins[base + sorted[base + e - 1]]) continue;
        usable++;
        let lr = 0;
        let lw = 0;
        let ls = 0;
        for (let k = s; k < e - 1; k++) {
          const i = sorted[base + k];
          lr++;
          lw += w[i];
          ls += wy[i];
          const b = bins[base + i];
          const nb = bins[base + sorted[base + k + 1]];
          if (b === nb || lr < minSamplesLeaf) continue;
          if (tr - lr < minSamplesLeaf) break;
          const rw = tw - lw;
          const diff = ls / lw - (ts - ls) / rw;
          const gain = ((lw * rw) / tw) * diff * diff;
          if (gain > bestGain) {
            bestGain = gain;
            bestF = f;
            bestB = b;
            bestNext = nb;
            bestLR = lr;
            bestLW = lw;
            bestLS = ls;
            bestD = diff;
          }
        }
      }
      if (bestF < 0 || !(Math.abs(bestD) > 1e-10 * (Math.abs(ts / tw) + 1))) {
        store.setLeaf(node, this.leafValue(s, e));
        continue;
      }
      // Partition every feature's list stably: left rows first.
      const fb = bestF * cap;
      for (let k = s; k < e; k++) {
        const i = sorted[fb + k];
        this.goLeft[i] = bins[fb + i] <= bestB ? 1 : 0;
      }
      for (let f = 0; f < F; f++) {
        if (f === bestF) continue; // already in order: left rows have the smaller bins
        const base = f * cap;
        let l = s;
        let r = 0;
        for (let k = s; k < e; k++) {
          const i = sorted[base + k];
          if (this.goLeft[i] === 1) sorted[base + l++] = i;
          else this.tmp[r++] = i;
        }
        for (let k = 0; k < r; k++) sorted[base + l + k] = this.tmp[k];
      }
      const mid = s + bestLR;
      const left = store.add(-1, -1);
      const right = store.add(-1, -1);
      store.setSplit(node, bestF, bestB + ((bestNext - 1 - bestB) >> 1), left, right);
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

  private leafValue(s: number, e: number): number {
    let lw = 0;
    let ls = 0;
    for (let k = s; k < e; k++) {
      const i = this.sorted[k];
      lw += this.w[i];
      ls += this.wy[i];
    }
    return lw > 0 ? ls / lw : 0;
  }
}
