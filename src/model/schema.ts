// What training saw of each feature (range), recorded in the manifest to validate and flag requests.
import type { Dataset, FeatureSchema } from './types.js';

export function featureSchema(ds: Dataset): FeatureSchema[] {
  return ds.featureNames.map((name, f) => {
    const col = ds.columns[f];
    let min = Infinity;
    let max = -Infinity;
    for (let r = 0; r < ds.rows; r++) {
      const v = col[r];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    return { name, type: 'number', min, max };
  });
}
