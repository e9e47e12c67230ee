// Holdout metrics of a regression model, as scikit-learn defines them.
import type { HoldoutMetrics } from './types.js';

export function regressionMetrics(actual: ArrayLike<number>, predicted: ArrayLike<number>): HoldoutMetrics {
  const n = actual.length;
  if (n === 0 || predicted.length !== n) {
    throw new RangeError(
      `regressionMetrics: need equal, non-empty lengths (got ${n} and ${predicted.length})`,
    );
  }
  let mean = 0;
  for (let i = 0; i < n; i++) mean += actual[i];
  mean /= n;
  let sse = 0;
  let sst = 0;
  let sae = 0;
  for (let i = 0; i < n; i++) {
    const e = actual[i] - predicted[i];
    sse += e * e;
    sae += Math.abs(e);
    const d = actual[i] - mean;
    sst += d * d;
  }
  // scikit-learn's convention for a constant truth: 1 for a perfect fit, else 0.
  const r2 = sst === 0 ? (sse === 0 ? 1 : 0) : 1 - sse / sst;
  return { r2, mae: sae / n, rmse: Math.sqrt(sse / n) };
}
