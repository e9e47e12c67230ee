// The predictor: a tree ensemble flattened into one typed-array block. Each node is 16 bytes — a
// float64 (the split threshold, or the leaf value) and two int32 (row slot; jump child) — laid out in
// preorder so that the child a split takes when `row[slot] <= threshold` is the next 16 bytes, and the
// other one is the jump child. Thresholds are raw feature values, so inputs are never binned. One
// prediction walks these arrays with no allocation.
//
// A full-depth forest on 100,000 rows is 10 million nodes (160 MB): a walk is a chain of cache
// misses, each waiting for the one before. So trees are walked 16 at a time, in lockstep, whose
// misses overlap (3–4× faster than one tree after another). For that, a leaf is a node that loops
// to itself: its slot is the always-NaN slot `featureCount` of the row buffer, so the comparison
// fails and the walk takes the jump child, which is the leaf itself.
//
// Models trained elsewhere (src/model/import/) need three things more, all settled when the trees are
// compiled so that the walk stays one `<=` per node:
//   - `x < t` becomes `x <= t'`, t' the largest input value below t (exact: inputs have a known
//     precision);
//   - float32 inputs (XGBoost, scikit-learn's trees): each input is rounded to float32 first;
//   - missing values (NaN) that go left: such a split compares the negated input (slots after the NaN
//     slot hold −x), with its children swapped: `−x <= t''` holds exactly when x goes right, and NaN
//     fails every comparison, so it takes the jump child, the left one.
//
// This file never imports the grower: a served model carries no training code.
import type { FitParams } from './params.js';
import type { FlatTree } from './tree.js';
import type { Algorithm, Predictor } from './types.js';
import { walk1, walk16, walk8 } from './walk.js';

/** How the trees' outputs combine: the forest averages them, boosting adds them to a base score. */
export type Aggregation = 'mean' | 'sum';

/** The precision inputs are compared in: float32 rounds each input first, as XGBoost and scikit-learn's trees do. */
export type InputPrecision = 'float64' | 'float32';

export interface EnsembleInfo {
  readonly algorithm: Algorithm;
  readonly featureNames: readonly string[];
  readonly targetName: string;
  /** The learner's parameters; null for a model trained elsewhere. */
  readonly params: Readonly<FitParams> | null;
  readonly aggregation: Aggregation;
  /** Added to every prediction (boosting's initial guess; 0 for the forest). */
  readonly base: number;
  /**
   * Per feature: the raw-value bin edges that the learner's split thresholds are taken from; null for
   * a model trained elsewhere, whose thresholds are its own.
   */
  readonly thresholds: readonly Float64Array[] | null;
  /** Default float64 (the learner's models). */
  readonly inputs?: InputPrecision;
}

export const NODE_BYTES = 16;

export class TreeEnsemble implements Predictor {
  readonly algorithm: Algorithm;
  readonly featureNames: readonly string[];
  readonly targetName: string;
  readonly params: Readonly<FitParams> | null;
  readonly aggregation: Aggregation;
  readonly base: number;
  readonly thresholds: readonly Float64Array[] | null;
  readonly inputs: InputPrecision;
  /** Whether some split compares a negated input (a missing value goes left there). */
  readonly negated: boolean;
  /** First node of each tree. */
  readonly treeStart: Int32Array;
  /** Per node: [2i] threshold or leaf value. */
  readonly nodeValue: Float64Array;
  /**
   * Per node: [4i+2] row slot — a feature f, the feature count for a leaf (the NaN slot), or
   * featureCount + 1 + f for −x_f; [4i+3] jump child (itself for a leaf). Same memory as nodeValue.
   */
  readonly nodeLinks: Int32Array;
  private readonly scale: number;
  /** The row being predicted: features, the NaN slot that leaves compare against, negated features. */
  private readonly row: Float64Array;

  /** Use `TreeEnsemble.fromTrees` or `decodeArtifact`; the block is trusted here. */
  constructor(info: EnsembleInfo, treeStart: Int32Array, block: ArrayBuffer) {
    this.algorithm = info.algorithm;
    this.featureNames = Object.freeze([...info.featureNames]);
    this.targetName = info.targetName;
    this.params = info.params === null ? null : Object.freeze({ ...info.params });
    this.aggregation = info.aggregation;
    this.base = info.base;
    this.thresholds = info.thresholds;
    this.inputs = info.inputs ?? 'float64';
    this.treeStart = treeStart;
    this.nodeValue = new Float64Array(block);
    this.nodeLinks = new Int32Array(block);
    this.scale = info.aggregation === 'mean' ? 1 / treeStart.length : 1;
    const nf = info.featureNames.length;
    let negated = false;
    for (let i = 0; i < this.nodeLinks.length && !negated; i += 4) negated = this.nodeLinks[i + 2] > nf;
    this.negated = negated;
    this.row = new Float64Array(2 * nf + 1);
    this.row[nf] = NaN;
  }

  /** The learner's trees, whose split thresholds are bin indices into `info.thresholds`. */
  static fromTrees(
    info: EnsembleInfo & { thresholds: readonly Float64Array[] },
    trees: readonly FlatTree[],
  ): TreeEnsemble {
    let total = 0;
    for (const t of trees) total += t.feature.length;
    const block = new ArrayBuffer(total * NODE_BYTES);
    const value = new Float64Array(block);
    const links = new Int32Array(block);
    const treeStart = new Int32Array(trees.length);
    // All features' bin edges end to end, so the copy below indexes one array.
    const edgeStart = new Int32Array(info.thresholds.length + 1);
    info.thresholds.forEach((t, f) => (edgeStart[f + 1] = edgeStart[f] + t.length));
    const edges = new Float64Array(edgeStart[info.thresholds.length]);
    info.thresholds.forEach((t, f) => edges.set(t, edgeStart[f]));
    let at = 0;
    for (let ti = 0; ti < trees.length; ti++) {
      const t = trees[ti];
      treeStart[ti] = at;
      copyTree(
        t.feature,
        t.bin,
        t.value,
        t.right,
        at,
        info.featureNames.length,
        edges,
        edgeStart,
        value,
        links,
      );
      at += t.feature.length;
    }
    return new TreeEnsemble(info, treeStart, block);
  }

  get treeCount(): number {
    return this.treeStart.length;
  }

  get nodeCount(): number {
    return this.nodeValue.length / 2;
  }

  /** Whether node i is a leaf. */
  isLeaf(i: number): boolean {
    return this.nodeLinks[4 * i + 2] === this.featureNames.length;
  }

  predictRow(x: ArrayLike<number>): number {
    const nf = this.featureNames.length;
    const row = this.row;
    fillRow(row, x, 0, nf, this.inputs === 'float32', this.negated);
    const value = this.nodeValue;
    const links = this.nodeLinks;
    const starts = this.treeStart;
    const trees = starts.length;
    let total = 0;
    let t = 0;
    for (; t + 16 <= trees; t += 16) total = walk16(value, links, starts, t, row, nf, total);
    for (; t + 8 <= trees; t += 8) total = walk8(value, links, starts, t, row, nf, total);
    for (; t < trees; t++) total += value[2 * walk1(value, links, starts[t], row, nf)];
    return this.base + total * this.scale;
  }

  predictBatch(x: Float64Array, n: number, out?: Float64Array): Float64Array {
    const nf = this.featureNames.length;
    if (!Number.isInteger(n) || n < 0 || x.length < n * nf) {
      throw new RangeError(
        `predictBatch: ${n} rows of ${nf} features need ${n * nf} values, got ${x.length}`,
      );
    }
    const result = out ?? new Float64Array(n);
    if (result.length < n)
      throw new RangeError(`predictBatch: output holds ${result.length} rows, need ${n}`);
    result.fill(0, 0, n);
    const value = this.nodeValue;
    const links = this.nodeLinks;
    const starts = this.treeStart;
    const trees = starts.length;
    const row = this.row;
    const f32 = this.inputs === 'float32';
    const negated = this.negated;
    // Sixteen trees at a time over all rows, so their upper levels stay in cache for the batch.
    // Each row still adds its trees in the order predictRow does: the two give identical results.
    let t = 0;
    for (; t + 16 <= trees; t += 16) {
      for (let r = 0, off = 0; r < n; r++, off += nf) {
        fillRow(row, x, off, nf, f32, negated);
        result[r] = walk16(value, links, starts, t, row, nf, result[r]);
      }
    }
    for (; t + 8 <= trees; t += 8) {
      for (let r = 0, off = 0; r < n; r++, off += nf) {
        fillRow(row, x, off, nf, f32, negated);
        result[r] = walk8(value, links, starts, t, row, nf, result[r]);
      }
    }
    for (; t < trees; t++) {
      for (let r = 0, off = 0; r < n; r++, off += nf) {
        fillRow(row, x, off, nf, f32, negated);
        result[r] += value[2 * walk1(value, links, starts[t], row, nf)];
      }
    }
    for (let r = 0; r < n; r++) result[r] = this.base + result[r] * this.scale;
    return result;
  }
}

/** Copies one input row into the row buffer, rounded to float32 and negated as the model needs. */
function fillRow(
  row: Float64Array,
  x: ArrayLike<number>,
  off: number,
  nf: number,
  f32: boolean,
  negated: boolean,
): void {
  if (!f32 && !negated) {
    for (let f = 0; f < nf; f++) row[f] = x[off + f];
    return;
  }
  for (let f = 0; f < nf; f++) {
    const v = f32 ? Math.fround(x[off + f]) : x[off + f];
    row[f] = v;
    row[nf + 1 + f] = -v;
  }
}

/** Writes one grown tree into the node block at node `at` (a plain function: it runs per node). */
function copyTree(
  feature: Int32Array,
  bin: Uint8Array,
  leafValue: Float64Array,
  right: Int32Array,
  at: number,
  leaf: number,
  edges: Float64Array,
  edgeStart: Int32Array,
  value: Float64Array,
  links: Int32Array,
): void {
  for (let i = 0, n = at; i < feature.length; i++, n++) {
    const f = feature[i];
    if (f < 0) {
      links[4 * n + 2] = leaf;
      links[4 * n + 3] = n;
      value[2 * n] = leafValue[i];
    } else {
      links[4 * n + 2] = f;
      links[4 * n + 3] = at + right[i];
      value[2 * n] = edges[edgeStart[f] + bin[i]];
    }
  }
}
