// Scores a model on a data set by feature name, so production can be measured on the new version's
// holdout even when the columns come in another order; a model whose features or target the data set
// lacks cannot be scored on it.
import { regressionMetrics } from '../model/index.js';
import type { Dataset, HoldoutMetrics, Predictor } from '../model/types.js';

export type Score = { readonly metrics: HoldoutMetrics } | { readonly mismatch: string };

/** The model's predictions on every row of `ds`, or why it cannot read them (features missing). */
export function predictOn(
  model: Pick<Predictor, 'featureNames' | 'predictBatch'>,
  ds: Dataset,
): Float64Array | { readonly mismatch: string } {
  const index = new Map(ds.featureNames.map((name, i) => [name, i]));
  const missing = model.featureNames.filter((name) => !index.has(name));
  if (missing.length > 0) return { mismatch: `this data lacks its features ${missing.join(', ')}` };
  const cols = model.featureNames.map((name) => ds.columns[index.get(name) as number]);
  const nf = cols.length;
  const x = new Float64Array(ds.rows * nf);
  for (let r = 0; r < ds.rows; r++) for (let f = 0; f < nf; f++) x[r * nf + f] = cols[f][r];
  return model.predictBatch(x, ds.rows);
}

export function scoreOn(model: Predictor, ds: Dataset): Score {
  if (model.targetName !== ds.targetName) {
    return { mismatch: `it predicts ${model.targetName}, this data's target is ${ds.targetName}` };
  }
  const predicted = predictOn(model, ds);
  if (!(predicted instanceof Float64Array)) return predicted;
  return { metrics: regressionMetrics(ds.target.subarray(0, ds.rows), predicted) };
}
