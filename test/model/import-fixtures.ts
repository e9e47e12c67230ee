// The committed import fixtures (test/model/fixtures/import/, made by make.py there) and the
// comparison the import tests share.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { ReadModelOptions } from '../../src/model/import/index.js';
import type { TreeEnsemble } from '../../src/model/index.js';

export const FIXTURES = fileURLToPath(new URL('./fixtures/import/', import.meta.url));
export const FEATURES = ['avg_session_duration', 'visits_per_week', 'response_rate', 'feature_usage_depth'];

interface Expected {
  rows: number[][];
  predictions: number[];
  missing_rows?: (number | null)[][];
  missing_predictions?: number[];
}
export const expected = (
  JSON.parse(readFileSync(`${FIXTURES}expected.json`, 'utf8')) as { models: Record<string, Expected> }
).models;

export const readOptions: ReadModelOptions = {
  format: 'auto',
  python: '/usr/bin/python3',
  features: [],
  target: undefined,
  defaultTarget: 'engagement_score',
};

/** Largest |ours − library| over the fixture's rows, predicted one by one and as one batch. */
export function maxError(model: TreeEnsemble, e: Expected): number {
  const nf = e.rows[0].length;
  const x = Float64Array.from(e.rows.flat());
  const batch = model.predictBatch(x, e.rows.length);
  let worst = 0;
  e.rows.forEach((row, i) => {
    worst = Math.max(worst, Math.abs(model.predictRow(row) - e.predictions[i]));
    worst = Math.max(worst, Math.abs(batch[i] - e.predictions[i]));
  });
  expect(x.length).toBe(nf * e.rows.length);
  return worst;
}
