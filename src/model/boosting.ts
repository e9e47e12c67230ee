// Gradient-boosted trees for squared error: each tree is grown (best-first, up to maxLeaves) on the
// residuals of the trees before it and shrunk by the learning rate. With early stopping, 10% of the
// training rows are held back and boosting stops once their loss has not improved for 10 rounds
// (scikit-learn's HistGradientBoosting defaults); the model keeps the trees up to the best round.
import type { BinnedFeatures } from './binning.js';
import { TreeGrower } from './grower.js';
import type { FlatTree } from './tree.js';
import { featuresPerSplit, type FitParams } from './params.js';
import { Rng, deriveSeed } from './random.js';

export const VALIDATION_FRACTION = 0.1;
export const ROUNDS_WITHOUT_IMPROVEMENT = 10;
/** Below this many validation rows early stopping is skipped: their loss would be mostly noise. */
export const MIN_VALIDATION_ROWS = 20;
const TOLERANCE = 1e-7;

export interface BoostingResult {
  trees: FlatTree[];
  base: number;
  /** Rounds run before stopping (trees kept may be fewer: up to the best round). */
  rounds: number;
}

export async function trainBoosting(
  binned: BinnedFeatures,
  target: Float64Array,
  params: FitParams,
  onProgress?: (done: number, total: number) => void,
): Promise<BoostingResult> {
  const n = binned.rows;
  const rng = new Rng(deriveSeed(params.seed, 0x0b005700));
  const validationRows = params.earlyStopping ? Math.floor(n * VALIDATION_FRACTION) : 0;
  const early = validationRows >= MIN_VALIDATION_ROWS;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  if (early) rng.shuffle(order);
  const validation = early ? order.slice(0, validationRows).sort() : new Int32Array(0);
  const train = early ? order.slice(validationRows).sort() : order;

  let base = 0;
  for (let k = 0; k < train.length; k++) base += target[train[k]];
  base /= train.length;
  const pred = new Float64Array(n).fill(base);
  const residual = new Float64Array(n);
  const rows = new Int32Array(train.length);
  const grower = new TreeGrower(binned);
  const options = {
    maxDepth: params.maxDepth,
    minSamplesLeaf: params.minSamplesLeaf,
    maxLeaves: params.maxLeaves,
    featuresPerSplit: featuresPerSplit(params.maxFeatures, binned.columns.length),
    recordLeafRows: true,
  };
  const trees: FlatTree[] = [];
  let bestLoss = Infinity;
  let bestRounds = 0;
  let rounds = 0;
  while (rounds < params.trees) {
    for (let k = 0; k < train.length; k++) {
      const r = train[k];
      residual[r] = target[r] - pred[r];
    }
    rows.set(train);
    const grown = grower.grow({ rows, count: rows.length, weight: null, target: residual, rng }, options);
    const tree = grown.tree;
    const leafStart = grown.leafStart as Int32Array;
    const leafEnd = grown.leafEnd as Int32Array;
    for (let i = 0; i < tree.feature.length; i++) {
      if (tree.feature[i] >= 0) continue;
      const v = tree.value[i] * params.learningRate;
      tree.value[i] = v;
      for (let k = leafStart[i]; k < leafEnd[i]; k++) pred[rows[k]] += v;
    }
    trees.push(tree);
    rounds++;
    onProgress?.(rounds, params.trees);
    if (early) {
      let loss = 0;
      for (let k = 0; k < validation.length; k++) {
        const r = validation[k];
        pred[r] += binnedValue(tree, binned.columns, r);
        const e = target[r] - pred[r];
        loss += e * e;
      }
      loss /= validation.length;
      if (loss < bestLoss - TOLERANCE) {
        bestLoss = loss;
        bestRounds = rounds;
      } else if (rounds - bestRounds >= ROUNDS_WITHOUT_IMPROVEMENT) {
        break;
      }
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (early) trees.length = Math.max(1, bestRounds);
  return { trees, base, rounds };
}

/** A tree's output for training row r, walking bins (exactly what the raw thresholds give). */
function binnedValue(tree: FlatTree, columns: readonly Uint8Array[], r: number): number {
  let i = 0;
  let f = tree.feature[0];
  while (f >= 0) {
    i = columns[f][r] <= tree.bin[i] ? i + 1 : tree.right[i];
    f = tree.feature[i];
  }
  return tree.value[i];
}
