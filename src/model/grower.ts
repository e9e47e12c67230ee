// The grower: grows one regression tree on binned rows. It reads like the algorithm —
//   take an open node, partition its rows by its best split, give each child a histogram (build the
//   smaller child's from rows, derive the larger one's by subtraction), find each child's best split,
//   and keep the children that can still split open —
// with two orders for "take an open node": depth-first (a stack; the forest's unlimited trees, few
// histograms alive at once) and best-first by gain (the boosting's leaf-limited trees).
// Forest and boosting both use this grower; they differ only in which rows, weights and targets
// they hand it. The result is flattened in preorder for the predictor (ensemble.ts).
// Depth-first trees hand their small nodes' subtrees to presorted.ts, which is faster there.
import {
  buildHistogram,
  buildUnitHistogram,
  histogramLayout,
  packColumns,
  subtractHistogram,
  zeroHistogram,
  type HistogramLayout,
} from './histogram.js';
import { NodeStore } from './nodes.js';
import { partitionRows } from './partition.js';
import { PresortedSubtrees } from './presorted.js';
import type { Rng } from './random.js';
import { findBestSplit, type NodeTotals, type SplitRecord } from './split.js';
import type { GrownTree } from './tree.js';

export interface GrowOptions {
  /** 0 = unlimited. */
  maxDepth: number;
  minSamplesLeaf: number;
  /** 0 = unlimited (depth-first); otherwise grown best-first up to this many leaves. */
  maxLeaves: number;
  featuresPerSplit: number;
  /** Also report each leaf's slice of `rows` (boosting updates its predictions from them). */
  recordLeafRows?: boolean;
  /**
   * Depth-first only: nodes of at most this many rows grow their subtree from presorted lists
   * (presorted.ts) instead of histograms. Default SMALL_NODE_ROWS; 0 turns it off (tests compare both).
   */
  smallNodeRows?: number;
}

export interface GrowInput {
  /** Row ids to train on; reordered in place by the partitioning. */
  rows: Int32Array;
  count: number;
  /** Per row id: weight (bootstrap count); null when every row weighs 1 (boosting: a faster path). */
  weight: Float64Array | null;
  /** Per row id: the value to fit (y for the forest, the residual when boosting). */
  target: Float64Array;
  rng: Rng;
}

export interface BinnedColumns {
  readonly rows: number;
  readonly columns: readonly Uint8Array[];
  readonly nBins: Int32Array;
  /** The columns packed 4 to a word (histogram.ts packColumns); made here when absent. */
  readonly packed?: readonly Uint32Array[];
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

/** Below this many rows a histogram costs more than the rows (measured on the seed's data). */
export const SMALL_NODE_ROWS = 256;

type Plan = 'leaf' | 'small' | 'histogram';

/** Grows trees over one binned data set, reusing its buffers from tree to tree. */
export class TreeGrower {
  private readonly layout: HistogramLayout;
  private readonly columns: readonly Uint8Array[];
  private readonly features: number;
  private readonly scratch: Int32Array;
  private readonly packed: readonly Uint32Array[];
  private readonly allFeatures: Int32Array;
  private readonly shuffled: Int32Array;
  private readonly pool: Float64Array[] = [];
  private readonly store = new NodeStore();
  private presorted: PresortedSubtrees | null = null;
  // Per-tree state.
  private input!: GrowInput;
  private options!: GrowOptions;
  private smallRows = 0;

  constructor(binned: BinnedColumns) {
    this.layout = histogramLayout(binned.nBins);
    this.columns = binned.columns;
    this.features = binned.columns.length;
    this.scratch = new Int32Array(binned.rows);
    this.packed = binned.packed ?? packColumns(binned.columns, binned.rows);
    this.allFeatures = Int32Array.from({ length: this.features }, (_, i) => i);
    this.shuffled = Int32Array.from(this.allFeatures);
  }

  grow(input: GrowInput, options: GrowOptions): GrownTree {
    this.input = input;
    this.options = options;
    this.store.reset(2 * input.count + 1);
    const bestFirst = options.maxLeaves > 0;
    this.smallRows = bestFirst ? 0 : (options.smallNodeRows ?? SMALL_NODE_ROWS);
    if (this.smallRows > 0 && (this.presorted === null || this.presorted.capacity < this.smallRows)) {
      this.presorted = new PresortedSubtrees(this.columns, this.smallRows);
    }
    const { rows, weight, target } = input;
    let w = 0;
    let s = 0;
    for (let k = 0; k < input.count; k++) {
      const r = rows[k];
      const wr = weight === null ? 1 : weight[r];
      w += wr;
      s += wr * target[r];
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
    const plan = this.plan(root);
    if (plan === 'histogram') {
      root.hist = this.acquire();
      zeroHistogram(root.hist, this.layout, root.lo, root.hi);
      this.build(root.hist, root.start, root.end, root.lo, root.hi);
    }
    const open: OpenNode[] = [];
    this.settle(root, plan, open);

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
    return this.store.flatten(options.recordLeafRows === true);
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
    this.store.setSplit(node.id, s.feature, s.bin, left.id, right.id);

    const leftPlan = this.plan(left);
    const rightPlan = this.plan(right);
    const parent = node.hist as Float64Array;
    node.hist = null;
    const [small, large] = left.totals.rows <= right.totals.rows ? [left, right] : [right, left];
    const smallNeeds = (small === left ? leftPlan : rightPlan) === 'histogram';
    const largeNeeds = (large === left ? leftPlan : rightPlan) === 'histogram';
    if (largeNeeds) {
      // Build the smaller child from its rows; the larger is the parent minus it.
      const h = this.acquire();
      zeroHistogram(h, this.layout, node.lo, node.hi);
      this.build(h, small.start, small.end, node.lo, node.hi);
      subtractHistogram(parent, h, this.layout, node.lo, node.hi);
      large.hist = parent;
      if (smallNeeds) small.hist = h;
      else this.release(h);
    } else if (smallNeeds) {
      small.hist = parent;
      zeroHistogram(parent, this.layout, small.lo, small.hi);
      this.build(parent, small.start, small.end, small.lo, small.hi);
    } else {
      this.release(parent);
    }
    // Right first so that the stack (depth-first) continues with the left child.
    this.settle(right, rightPlan, open);
    this.settle(left, leftPlan, open);
  }

  /** What a new node needs: nothing (a leaf), a presorted subtree, or a histogram. */
  private plan(node: OpenNode): Plan {
    const { maxDepth, minSamplesLeaf } = this.options;
    if (node.totals.rows < 2 * minSamplesLeaf) return 'leaf';
    if (maxDepth > 0 && node.depth >= maxDepth) return 'leaf';
    let spread = false;
    for (let f = 0; f < this.features; f++) if (node.lo[f] < node.hi[f]) spread = true;
    if (!spread) return 'leaf';
    return node.totals.rows <= this.smallRows ? 'small' : 'histogram';
  }

  /** Finds a node's split (histogram) or grows its subtree (small); opens it, or makes it a leaf. */
  private settle(node: OpenNode, plan: Plan, open: OpenNode[]): void {
    if (plan === 'small') {
      const { rows, weight, target, rng } = this.input;
      (this.presorted as PresortedSubtrees).grow(
        this.store,
        node.id,
        rows,
        node.start,
        node.end,
        node.depth,
        weight,
        target,
        rng,
        this.options,
      );
      return;
    }
    if (node.hist !== null) {
      let order = this.allFeatures;
      if (this.options.featuresPerSplit < this.features) {
        // From the identity each time: a tree must not depend on the trees this thread grew before.
        this.shuffled.set(this.allFeatures);
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

  private open(
    start: number,
    end: number,
    depth: number,
    totals: NodeTotals,
    lo: Uint8Array,
    hi: Uint8Array,
  ): OpenNode {
    const id = this.store.add(start, end);
    return { id, start, end, depth, totals, lo, hi, hist: null, split: null };
  }

  /** A leaf predicts its rows' weighted mean, summed exactly from the rows (not the histogram). */
  private makeLeaf(node: OpenNode): void {
    const { rows, weight, target } = this.input;
    let w = 0;
    let s = 0;
    for (let k = node.start; k < node.end; k++) {
      const r = rows[k];
      const wr = weight === null ? 1 : weight[r];
      w += wr;
      s += wr * target[r];
    }
    this.store.setLeaf(node.id, w > 0 ? s / w : 0);
    if (node.hist !== null) this.release(node.hist);
    node.hist = null;
  }

  /** Adds rows[start..end) into `h`, which is zero over the bin ranges [lo, hi] the rows fall in. */
  private build(h: Float64Array, start: number, end: number, lo: Uint8Array, hi: Uint8Array): void {
    const { rows, weight, target } = this.input;
    if (weight === null) buildUnitHistogram(h, this.layout, this.packed, rows, start, end, target, lo, hi);
    else buildHistogram(h, this.layout, this.packed, rows, start, end, weight, target);
  }

  private acquire(): Float64Array {
    return this.pool.pop() ?? new Float64Array(this.layout.size);
  }

  private release(h: Float64Array): void {
    this.pool.push(h);
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
