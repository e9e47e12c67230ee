// Shared shapes of the model layer: what a data set looks like to the learner and what a trained
// model offers to its callers (trainer, backend). The learner's internals live beside this file.

/** Column-major numeric training data. */
export interface Dataset {
  readonly featureNames: readonly string[];
  readonly targetName: string;
  readonly rows: number;
  /** One column per feature, each of length `rows`. */
  readonly columns: readonly Float64Array[];
  readonly target: Float64Array;
}

/** What training saw of one feature: used to validate and flag requests. */
export interface FeatureSchema {
  readonly name: string;
  readonly type: 'number';
  readonly min: number;
  readonly max: number;
}

export type Algorithm = 'random-forest' | 'gradient-boosting';

/** A trained model ready to answer. Implementations never allocate per row. */
export interface Predictor {
  readonly algorithm: Algorithm;
  readonly featureNames: readonly string[];
  readonly targetName: string;
  /** One row, features in `featureNames` order. */
  predictRow(x: ArrayLike<number>): number;
  /** `n` rows stored row-major in `x` (length n × features); writes into `out` when given. */
  predictBatch(x: Float64Array, n: number, out?: Float64Array): Float64Array;
}

export interface HoldoutMetrics {
  readonly r2: number;
  readonly mae: number;
  readonly rmse: number;
}
