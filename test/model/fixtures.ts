// Small seeded data sets and slow, obvious reference implementations for the learner's tests.
import { Rng } from '../../src/model/random.js';
import type { Dataset } from '../../src/model/types.js';

/** A data set from columns and a target function of each row's values. */
export function makeDataset(
  columns: Float64Array[],
  target: (x: number[]) => number,
  names = columns.map((_, i) => `x${i}`),
): Dataset {
  const rows = columns[0].length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) y[r] = target(columns.map((c) => c[r]));
  return { featureNames: names, targetName: 'y', rows, columns, target: y };
}

export function uniformColumn(rng: Rng, rows: number, lo = 0, hi = 1): Float64Array {
  const c = new Float64Array(rows);
  for (let r = 0; r < rows; r++) c[r] = lo + (hi - lo) * rng.next();
  return c;
}

/** Row-major copy of a data set's features, as predictBatch takes them. */
export function rowMajor(ds: Dataset): Float64Array {
  const nf = ds.featureNames.length;
  const x = new Float64Array(ds.rows * nf);
  for (let r = 0; r < ds.rows; r++) for (let f = 0; f < nf; f++) x[r * nf + f] = ds.columns[f][r];
  return x;
}

export function rowOf(ds: Dataset, r: number): number[] {
  return ds.columns.map((c) => c[r]);
}
