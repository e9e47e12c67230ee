// The grower: grows one regression tree on binned rows. It reads like the algorithm —
//   take an open node, partition its rows by its best split, give each child a histogram (build the
//   smaller child's from rows, derive the larger one's by subtraction), find each child's best split,
//   and keep the children that can still split open —
// with two orders for "take an open node": depth-first (a stack; the forest's unlimited trees, few
// histograms alive at once) and best-first by gain (the boosting's leaf-limited trees).
// Forest and boosting both use this grower; they differ only in which rows, weights and targets
// they hand it. The result is flattened in preorder for the predictor (ensemble.ts).
import {
  buildHistogram,
  histogramLayout,
  subtractHistogram,
  zeroHistogram,
  type HistogramLayout,
} from './histogram.js';
import { partitionRows } from './partition.js';
import type { Rng } from './random.js';
import { findBestSplit, type NodeTotals, type SplitRecord } from './split.js';

export interface GrowOptions {
  /** 0 = unlimited. */
  maxDepth: number;
  minSamplesLeaf: number;
  /** 0 = unlimited (depth-first); otherwise grown best-first up to this many leaves. */
  maxLeaves: number;
  featuresPerSplit: number;
  /** Also report each leaf's slice of `rows` (boosting updates its predictions from them). */
  recordLeafRows?: boolean;
}

/** One tree in preorder: an internal node's left child is the next node; leaves have feature −1. */
export interface FlatTree {
  feature: Int32Array;
  /** Split bin of an internal node (rows with bin <= it go left); 0 for leaves. */
  bin: Uint8Array;
  /** Leaf value; 0 for internal nodes. */
  value: Float64Array;
  /** Right child of an internal node; −1 for leaves. */
  right: Int32Array;
}

export interface GrownTree {
  tree: FlatTree;
  /** With recordLeafRows: for each preorder leaf i, its rows are rows[leafStart[i] .. leafEnd[i]). */
  leafStart?: Int32Array;
  leafEnd?: Int32Array;
}

export interface GrowInput {
  /** Row ids to train on; reordered in place by the partitioning. */
  rows: Int32Array;
  count: number;
  /** Per row id: weight (bootstrap count; 1 when boosting). */
  weight: Float64Array;
  /** Per row id: the value to fit (y for the forest, the residual when boosting). */
  target: Float64Array;
  rng: Rng;
}

export interface BinnedColumns {
  readonly rows: number;
  readonly columns: readonly Uint8Array[];
  readonly nBins: Int32Array;
}

interface OpenNode {
  id: number;
  start: number;
  end: number;
  depth: number;
  totals: NodeTotals;
  lo: Uint8Array;
  hi: Uint8Array;
  hist: Float64Array | null;
  split: SplitRecord | null;
}

/** Grows trees over one binned data set, reusing its buffers from tree to tree. */
export class TreeGrower {
  private readonly layout: HistogramLayout;
  private readonly columns: readonly Uint8Array[];
  private readonly features: number;
  private readonly scratch: Int32Array;
  private readonly gatherW: Float64Array;
  private readonly gatherWY: Float64Array;
  private readonly allFeatures: Int32Array;
  private readonly shuffled: Int32Array;
  private readonly pool: Float64Array[] = [];
  // Node storage in creation order, flattened to preorder at the end.
  private cap = 0;
  private count = 0;
  private nFeature = new Int32Array(0);
  private nBin = new Uint8Array(0);
  private nLeft = new Int32Array(0);
  private nRight = new Int32Array(0);
  private nValue = new Float64Array(0);
  private nStart = new Int32Array(0);
  private nEnd = new Int32Array(0);
  // Per-tree state.
  private input!: GrowInput;
  private options!: GrowOptions;

  constructor(binned: BinnedColumns) {
    this.layout = histogramLayout(binned.nBins);
    this.columns = binned.columns;
    this.features = binned.columns.length;
    this.scratch = new Int32Array(binned.rows);
    this.gatherW = new Float64Array(binned.rows);
    this.gatherWY = new Float64Array(binned.rows);
    this.allFeatures = Int32Array.from({ length: this.features }, (_, i) => i);
    this.shuffled = Int32Array.from(this.allFeatures);
  }

  grow(input: GrowInput, options: GrowOptions): GrownTree {
    this.input = input;
    this.options = options;
    this.count = 0;
    this.ensureCapacity(2 * input.count + 1);
    const { rows, weight, target } = input;
    let w = 0;
    let s = 0;
    for (let k = 0; k < input.count; k++) {
      const r = rows[k];
      w += weight[r];
      s += weight[r] * target[r];
    }
    const hi = new Uint8Array(this.features);
    for (let f = 0; f < this.features; f++) hi[f] = this.layout.nBins[f] - 1;
    const root = this.open(
      0,
      input.count,
      0,
      { rows: input.count, weight: w, sum: s },
      new Uint8Array(this.features),
      hi,
    );
    if (this.canSplit(root)) {
      root.hist = this.acquire();
      zeroHistogram(root.hist, this.layout, root.lo, root.hi);
      this.build(root.hist, root.start, root.end);
    }
    const open: OpenNode[] = [];
    this.settle(root, open);

    const bestFirst = options.maxLeaves > 0;
    let leaves = 1;
    while (open.length > 0) {
      const node = bestFirst ? takeBest(open) : (open.pop() as OpenNode);
      if (bestFirst && leaves >= options.maxLeaves) {
        this.makeLeaf(node);
        continue;
      }
      leaves++;
      this.splitNode(node, open);
    }
    return this.flatten(options.recordLeafRows === true);
  }

  /** Partitions a node by its split, gives its children histograms and splits, opens them. */
  private splitNode(node: OpenNode, open: OpenNode[]): void {
    const s = node.split as SplitRecord;
    const mid = partitionRows(
      this.input.rows,
      node.start,
      node.end,
      this.columns[s.feature],
      s.bin,
      this.scratch,
    );
    const leftHi = node.hi.slice();
    leftHi[s.feature] = s.lastLeftBin;
    const rightLo = node.lo.slice();
    rightLo[s.feature] = s.firstRightBin;
    const depth = node.depth + 1;
    const left = this.open(
      node.start,
      mid,
      depth,
      { rows: s.leftRows, weight: s.leftWeight, sum: s.leftSum },
      node.lo,
      leftHi,
    );
    const right = this.open(
      mid,
      node.end,
      depth,
      { rows: s.rightRows, weight: s.rightWeight, sum: s.rightSum },
      rightLo,
      node.hi,
    );
    this.nFeature[node.id] = s.feature;
    this.nBin[node.id] = s.bin;
    this.nLeft[node.id] = left.id;
    this.nRight[node.id] = right.id;

    const leftOk = this.canSplit(left);
    const rightOk = this.canSplit(right);
    const parent = node.hist as Float64Array;
    node.hist = null;
    if (leftOk || rightOk) {
      const [small, large] = left.totals.rows <= right.totals.rows ? [left, right] : [right, left];
      const largeOk = large === left ? leftOk : rightOk;
      const smallOk = small === left ? leftOk : rightOk;
      if (largeOk) {
        // Build the smaller child from its rows; the larger is the parent minus it.
        const h = this.acquire();
        zeroHistogram(h, this.layout, node.lo, node.hi);
        this.build(h, small.start, small.end);
        subtractHistogram(parent, h, this.layout, node.lo, node.hi);
        large.hist = parent;
        if (smallOk) small.hist = h;
        else this.release(h);
      } else {
        small.hist = parent;
        zeroHistogram(parent, this.layout, small.lo, small.hi);
        this.build(parent, small.start, small.end);
      }
    } else {
      this.release(parent);
    }
    // Right first so that the stack (depth-first) continues with the left child.
    this.settle(right, open);
    this.settle(left, open);
  }

  /** Finds a node's split if it has a histogram; opens it, or makes it a leaf. */
  private settle(node: OpenNode, open: OpenNode[]): void {
    if (node.hist !== null) {
      let order = this.allFeatures;
      if (this.options.featuresPerSplit < this.features) {
        order = this.input.rng.shuffle(this.shuffled);
      }
      node.split = findBestSplit(
        node.hist,
        this.layout,
        node.lo,
        node.hi,
        node.totals,
        order,
        this.options.featuresPerSplit,
        this.options.minSamplesLeaf,
      );
    }
    if (node.split !== null) open.push(node);
    else this.makeLeaf(node);
  }

  private canSplit(node: OpenNode): boolean {
    const { maxDepth, minSamplesLeaf } = this.options;
    if (node.totals.rows < 2 * minSamplesLeaf) return false;
    if (maxDepth > 0 && node.depth >= maxDepth) return false;
    for (let f = 0; f < this.features; f++) if (node.lo[f] < node.hi[f]) return true;
    return false;
  }

  private open(
    start: number,
    end: number,
    depth: number,
    totals: NodeTotals,
    lo: Uint8Array,
    hi: Uint8Array,
  ): OpenNode {
    const id = this.count++;
    this.nStart[id] = start;
    this.nEnd[id] = end;
    return { id, start, end, depth, totals, lo, hi, hist: null, split: null };
  }

  /** A leaf predicts its rows' weighted mean, summed exactly from the rows (not the histogram). */
  private makeLeaf(node: OpenNode): void {
    const { rows, weight, target } = this.input;
    let w = 0;
    let s = 0;
    for (let k = node.start; k < node.end; k++) {
      const r = rows[k];
      w += weight[r];
      s += weight[r] * target[r];
    }
    this.nFeature[node.id] = -1;
    this.nBin[node.id] = 0;
    this.nValue[node.id] = w > 0 ? s / w : 0;
    if (node.hist !== null) this.release(node.hist);
    node.hist = null;
  }

  private build(h: Float64Array, start: number, end: number): void {
    const { rows, weight, target } = this.input;
    const gw = this.gatherW;
    const gwy = this.gatherWY;
    for (let k = start, i = 0; k < end; k++, i++) {
      const r = rows[k];
      gw[i] = weight[r];
      gwy[i] = weight[r] * target[r];
    }
    buildHistogram(h, this.layout, this.columns, rows, start, end, gw, gwy);
  }

  private acquire(): Float64Array {
    return this.pool.pop() ?? new Float64Array(this.layout.size);
  }

  private release(h: Float64Array): void {
    this.pool.push(h);
  }

  private ensureCapacity(n: number): void {
    if (n <= this.cap) return;
    this.cap = n;
    this.nFeature = new Int32Array(n);
    this.nBin = new Uint8Array(n);
    this.nLeft = new Int32Array(n);
    this.nRight = new Int32Array(n);
    this.nValue = new Float64Array(n);
    this.nStart = new Int32Array(n);
    this.nEnd = new Int32Array(n);
  }

  /** Renumbers the nodes in preorder (left child = next node), the layout the predictor walks. */
  private flatten(withLeafRows: boolean): GrownTree {
    const n = this.count;
    const feature = new Int32Array(n);
    const bin = new Uint8Array(n);
    const value = new Float64Array(n);
    const right = new Int32Array(n);
    const leafStart = withLeafRows ? new Int32Array(n) : undefined;
    const leafEnd = withLeafRows ? new Int32Array(n) : undefined;
    const stack = new Int32Array(n);
    const parentOfRight = new Int32Array(n).fill(-1);
    let top = 0;
    stack[top++] = 0;
    let out = 0;
    while (top > 0) {
      const id = stack[--top];
      const i = out++;
      if (parentOfRight[id] >= 0) right[parentOfRight[id]] = i;
      const f = this.nFeature[id];
      feature[i] = f;
      if (f < 0) {
        value[i] = this.nValue[id];
        right[i] = -1;
        if (leafStart && leafEnd) {
          leafStart[i] = this.nStart[id];
          leafEnd[i] = this.nEnd[id];
        }
      } else {
        bin[i] = this.nBin[id];
        parentOfRight[this.nRight[id]] = i;
        stack[top++] = this.nRight[id];
        stack[top++] = this.nLeft[id];
      }
    }
    return { tree: { feature, bin, value, right }, leafStart, leafEnd };
  }
}

function takeBest(open: OpenNode[]): OpenNode {
  let best = 0;
  for (let i = 1; i < open.length; i++) {
    if ((open[i].split as SplitRecord).gain > (open[best].split as SplitRecord).gain) best = i;
  }
  const node = open[best];
  open[best] = open[open.length - 1];
  open.pop();
  return node;
}
