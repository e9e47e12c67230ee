// Imported models predict what their library predicts: every supported family, read from the
// committed fixtures (made by test/model/fixtures/import/make.py with Debian's scikit-learn 1.2 and
// XGBoost 1.7, so these tests need no Python), on 400 rows half of which sit at split thresholds.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeArtifact, encodeArtifact, type TreeEnsemble } from '../../src/model/index.js';
import { readModelFile, type ReadModelOptions } from '../../src/model/import/index.js';

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

const FAMILIES: [string, string][] = [
  ['random-forest', 'random-forest.jsonl'],
  ['extra-trees', 'extra-trees.jsonl'],
  ['decision-tree', 'decision-tree.jsonl'],
  ['gradient-boosting', 'gradient-boosting.jsonl'],
  ['gradient-boosting-lad', 'gradient-boosting-lad.jsonl'],
  ['hist-gradient-boosting', 'hist-gradient-boosting.jsonl'],
  ['lab', 'lab.jsonl'],
  ['xgboost', 'xgboost.json'],
];

describe('imported models predict as their library does', () => {
  it.each(FAMILIES)('%s (%s), within 1e-4 on 400 rows incl. values at thresholds', async (name, file) => {
    const e = expected[name];
    expect(e.rows.length).toBeGreaterThanOrEqual(300);
    const { model } = await readModelFile(`${FIXTURES}${file}`, readOptions);
    expect(model.featureNames).toEqual(FEATURES);
    expect(maxError(model, e)).toBeLessThan(1e-4);
    // And through the artifact, as the backend loads it.
    const loaded = decodeArtifact(encodeArtifact(model));
    expect(maxError(loaded, e)).toBeLessThan(1e-4);
    expect(Buffer.from(encodeArtifact(loaded)).equals(Buffer.from(encodeArtifact(model)))).toBe(true);
  });

  it('an XGBoost model without feature names takes them from --features', async () => {
    const file = `${FIXTURES}xgboost-absolute-nonames.json`;
    const { model, origin, format } = await readModelFile(file, { ...readOptions, features: FEATURES });
    expect(format).toBe('xgboost-json');
    expect(origin).toEqual({
      library: 'xgboost',
      library_version: '1.7.4',
      estimator: 'gbtree',
      objective: 'reg:absoluteerror',
    });
    expect(maxError(model, expected['xgboost-absolute-nonames'])).toBeLessThan(1e-4);
  });

  it.each([
    ['xgboost', 'xgboost.json'],
    ['hist-gradient-boosting', 'hist-gradient-boosting.jsonl'],
  ])('%s sends missing values where the library does', async (name, file) => {
    const e = expected[name];
    const { model } = await readModelFile(`${FIXTURES}${file}`, readOptions);
    const rows = e.missing_rows as (number | null)[][];
    const x = Float64Array.from(rows.flat().map((v) => (v === null ? NaN : v)));
    const batch = model.predictBatch(x, rows.length);
    rows.forEach((row, i) => {
      const want = (e.missing_predictions as number[])[i];
      expect(Math.abs(model.predictRow(row.map((v) => (v === null ? NaN : v))) - want)).toBeLessThan(1e-4);
      expect(Math.abs(batch[i] - want)).toBeLessThan(1e-4);
    });
  });
});
