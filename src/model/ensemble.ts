// The predictor: a trained tree ensemble flattened into one typed-array block. Each node is 16 bytes
// — a float64 (the split threshold, or the leaf value) and two int32 (feature, −1 for a leaf; right
// child) — laid out in preorder so a node's left child is the next 16 bytes. One prediction walks
// these arrays with no allocation; thresholds are raw feature values, so inputs are never binned.
// This file never imports the grower: a served model carries no training code.
import type { FitParams } from './params.js';
import type { Algorithm, Predictor } from './types.js';

/** How the trees' outputs combine: the forest averages them, boosting adds them to a base score. */
export type Aggregation = 'mean' | 'sum';

export interface EnsembleInfo {
  readonly algorithm: Algorithm;
  readonly featureNames: readonly string[];
  readonly targetName: string;
  readonly params: Readonly<FitParams>;
  readonly aggregation: Aggregation;
  /** Added to every prediction (boosting's initial guess; 0 for the forest). */
  readonly base: number;
  /** Per feature: the raw-value bin edges that split thresholds are taken from. */
  readonly thresholds: readonly Float64Array[];
}

/** A tree as the grower hands it over: preorder, left child = next node, feature −1 = leaf. */
export interface TreeNodes {
  readonly feature: Int32Array;
  readonly bin: Uint8Array;
  readonly value: Float64Array;
  readonly right: Int32Array;
}

export const NODE_BYTES = 16;

export class TreeEnsemble implements Predictor {
  readonly algorithm: Algorithm;
  readonly featureNames: readonly string[];
  readonly targetName: string;
  readonly params: Readonly<FitParams>;
  readonly aggregation: Aggregation;
  readonly base: number;
  readonly thresholds: readonly Float64Array[];
  /** First node of each tree. */
  readonly treeStart: Int32Array;
  /** Per node: [2i] threshold or leaf value. */
  readonly nodeValue: Float64Array;
  /** Per node: [4i+2] feature (−1 = leaf), [4i+3] right child. Same memory as nodeValue. */
  readonly nodeLinks: Int32Array;
  private readonly scale: number;

  /** Use `TreeEnsemble.fromTrees` or `decodeArtifact`; the block is trusted here. */
  constructor(info: EnsembleInfo, treeStart: Int32Array, block: ArrayBuffer) {
    this.algorithm = info.algorithm;
    this.featureNames = Object.freeze([...info.featureNames]);
    this.targetName = info.targetName;
    this.params = Object.freeze({ ...info.params });
    this.aggregation = info.aggregation;
    this.base = info.base;
    this.thresholds = info.thresholds;
    this.treeStart = treeStart;
    this.nodeValue = new Float64Array(block);
    this.nodeLinks = new Int32Array(block);
    this.scale = info.aggregation === 'mean' ? 1 / treeStart.length : 1;
  }

  static fromTrees(info: EnsembleInfo, trees: readonly TreeNodes[]): TreeEnsemble {
    let total = 0;
    for (const t of trees) total += t.feature.length;
    const block = new ArrayBuffer(total * NODE_BYTES);
    const value = new Float64Array(block);
    const links = new Int32Array(block);
    const treeStart = new Int32Array(trees.length);
    let at = 0;
    trees.forEach((t, ti) => {
      treeStart[ti] = at;
      for (let i = 0; i < t.feature.length; i++) {
        const f = t.feature[i];
        const n = at + i;
        links[4 * n + 2] = f;
        if (f < 0) {
          value[2 * n] = t.value[i];
          links[4 * n + 3] = -1;
        } else {
          value[2 * n] = info.thresholds[f][t.bin[i]];
          links[4 * n + 3] = at + t.right[i];
        }
      }
      at += t.feature.length;
    });
    return new TreeEnsemble(info, treeStart, block);
  }

  get treeCount(): number {
    return this.treeStart.length;
  }

  get nodeCount(): number {
    return this.nodeValue.length / 2;
  }

  predictRow(x: ArrayLike<number>): number {
    const value = this.nodeValue;
    const links = this.nodeLinks;
    const starts = this.treeStart;
    let total = 0;
    for (let t = 0; t < starts.length; t++) {
      let i = starts[t];
      let f = links[4 * i + 2];
      while (f >= 0) {
        i = x[f] <= value[2 * i] ? i + 1 : links[4 * i + 3];
        f = links[4 * i + 2];
      }
      total += value[2 * i];
    }
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
    // Tree by tree, so that one tree's upper levels stay in cache for the whole batch.
    for (let t = 0; t < starts.length; t++) {
      const root = starts[t];
      for (let r = 0, off = 0; r < n; r++, off += nf) {
        let i = root;
        let f = links[4 * i + 2];
        while (f >= 0) {
          i = x[off + f] <= value[2 * i] ? i + 1 : links[4 * i + 3];
          f = links[4 * i + 2];
        }
        result[r] += value[2 * i];
      }
    }
    for (let r = 0; r < n; r++) result[r] = this.base + result[r] * this.scale;
    return result;
  }
}
