// Training parameters of the learner, their defaults (scikit-learn's, as the seed used them) and the
// one place they are validated.
import { FlywheelError } from '../errors.js';
import type { Algorithm } from './types.js';

export interface FitParams {
  algorithm: Algorithm;
  /** Trees in the forest, or the most boosting iterations. */
  trees: number;
  /** Deepest a tree may grow; 0 = unlimited (grow until leaves are pure or too small). */
  maxDepth: number;
  /** Fewest training rows in a leaf (distinct rows: bootstrap copies of a row count once). */
  minSamplesLeaf: number;
  /** Share of the features tried at each split, 0 < f <= 1 (at least one feature is tried). */
  maxFeatures: number;
  /** Most leaves per tree when boosting (grown best-first); the forest ignores it. */
  maxLeaves: number;
  /** Shrinkage of each boosting tree. */
  learningRate: number;
  /** Boosting: hold out 10% of the training rows and stop when their loss stops improving. */
  earlyStopping: boolean;
  seed: number;
}

export const DEFAULT_FIT_PARAMS: Readonly<FitParams> = Object.freeze({
  algorithm: 'random-forest',
  trees: 100,
  maxDepth: 0,
  minSamplesLeaf: 1,
  maxFeatures: 1,
  maxLeaves: 31,
  learningRate: 0.1,
  earlyStopping: true,
  seed: 42,
});

const ALGORITHMS: readonly Algorithm[] = ['random-forest', 'gradient-boosting'];

/** Throws FLY_ERR_TRAIN_PARAMS naming every bad parameter; returns a clean copy. */
export function validateFitParams(p: FitParams): FitParams {
  const problems: string[] = [];
  const int = (name: keyof FitParams, min: number, max: number) => {
    const v = p[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got ${String(v)})`);
    }
  };
  if (!ALGORITHMS.includes(p.algorithm)) {
    problems.push(`algorithm must be one of ${ALGORITHMS.join(', ')} (got ${String(p.algorithm)})`);
  }
  int('trees', 1, 100_000);
  int('maxDepth', 0, 1_000);
  int('minSamplesLeaf', 1, 2 ** 31 - 1);
  int('maxLeaves', 2, 2 ** 31 - 1);
  int('seed', 0, Number.MAX_SAFE_INTEGER);
  if (typeof p.maxFeatures !== 'number' || !(p.maxFeatures > 0 && p.maxFeatures <= 1)) {
    problems.push(`maxFeatures must be a fraction in (0, 1] (got ${String(p.maxFeatures)})`);
  }
  if (typeof p.learningRate !== 'number' || !(p.learningRate > 0 && p.learningRate <= 1)) {
    problems.push(`learningRate must be in (0, 1] (got ${String(p.learningRate)})`);
  }
  if (typeof p.earlyStopping !== 'boolean') problems.push('earlyStopping must be true or false');
  if (problems.length > 0) {
    throw new FlywheelError('FLY_ERR_TRAIN_PARAMS', `invalid training parameters: ${problems.join('; ')}`, {
      problems,
    });
  }
  return {
    algorithm: p.algorithm,
    trees: p.trees,
    maxDepth: p.maxDepth,
    minSamplesLeaf: p.minSamplesLeaf,
    maxFeatures: p.maxFeatures,
    maxLeaves: p.maxLeaves,
    learningRate: p.learningRate,
    earlyStopping: p.earlyStopping,
    seed: p.seed,
  };
}

/** Features tried per split, as scikit-learn counts them: max(1, floor(fraction × features)). */
export function featuresPerSplit(maxFeatures: number, features: number): number {
  return Math.max(1, Math.min(features, Math.floor(maxFeatures * features + 1e-9)));
}
