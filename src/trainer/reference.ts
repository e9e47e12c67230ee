// The reference distribution drift is measured against (docs/drift.md), computed when a version is
// made: quantile bins of every training feature and of the model's predictions on its holdout. Kept
// apart from the pipeline so every way a version is made (train, import with evaluation data) calls
// the same function.
import { buildReference, DEFAULT_BINS } from '../drift/reference.js';
import type { DriftReference } from '../drift/types.js';
import type { Dataset, Predictor } from '../model/types.js';
import { predictOn } from './evaluate.js';

/**
 * The reference of a model whose training rows are `train`, with its predictions on `holdout` (null:
 * no holdout, so no prediction reference, as for an import without evaluation data). Throws when
 * either data set lacks one of the model's features.
 */
export function trainingReference(
  model: Pick<Predictor, 'featureNames' | 'predictBatch'>,
  train: Dataset,
  holdout: Dataset | null,
  bins = DEFAULT_BINS,
): DriftReference {
  const columns = model.featureNames.map((name) => {
    const i = train.featureNames.indexOf(name);
    if (i < 0) throw new Error(`the training data has no column ${name}`);
    return train.columns[i].subarray(0, train.rows);
  });
  let predictions: Float64Array | null = null;
  if (holdout !== null && holdout.rows > 0) {
    const p = predictOn(model, holdout);
    if (!(p instanceof Float64Array)) throw new Error(`holdout predictions: ${p.mismatch}`);
    predictions = p;
  }
  return buildReference(model.featureNames, columns, predictions, bins);
}
