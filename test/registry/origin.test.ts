// Where a version came from: an additive manifest field. Manifests written before it (no `origin`)
// still load and read as Flywheel's learner; a malformed one is refused by name.
import { describe, expect, it } from 'vitest';
import { describeOrigin } from '../../src/registry/origin.js';
import { manifestProblem } from '../../src/registry/validate.js';

const base = {
  format: 1,
  version: 'v1',
  created_at: '2026-01-01T00:00:00.000Z',
  trainer_host: 'h',
  package_version: '0.1.0',
  algorithm: 'random-forest',
  data: { source: 'synthetic', rows: 10, sha256: 'a'.repeat(64) },
  parameters: {},
  metrics: { r2: 0.5, mae: 1, rmse: 1 },
  fit_seconds: 1,
  artifact: { file: 'model.bin', sha256: 'b'.repeat(64), bytes: 10 },
  features: [{ name: 'x', type: 'number', min: 0, max: 1 }],
  target: 'y',
};

describe('manifest origin', () => {
  it('an older manifest without origin loads, and reads as the learner', () => {
    expect(manifestProblem(base, 'v1')).toBeUndefined();
    expect(describeOrigin({})).toBe('Flywheel learner');
  });

  it('an import without evaluation data has null metrics; a NaN metric is still refused', () => {
    expect(manifestProblem({ ...base, metrics: null }, 'v1')).toBeUndefined();
    expect(manifestProblem({ ...base, metrics: { r2: null, mae: 1, rmse: 1 } }, 'v1')).toMatch(/metrics/);
  });

  it('a malformed origin is refused by name', () => {
    expect(manifestProblem({ ...base, origin: { kind: 'pytorch' } }, 'v1')).toMatch(/origin is malformed/);
    expect(manifestProblem({ ...base, origin: { kind: 'xgboost', objective: 3 } }, 'v1')).toMatch(
      /origin\.objective is not a string/,
    );
  });

  it.each([
    [
      { kind: 'xgboost', library_version: '1.7.4', objective: 'reg:squarederror', file: 'm.json' },
      'XGBoost 1.7.4 (reg:squarederror), imported from m.json',
    ],
    [
      {
        kind: 'scikit-learn',
        library_version: '1.2.1',
        estimator: 'RandomForestRegressor',
        command: 'python3 train.py',
      },
      'scikit-learn 1.2.1 RandomForestRegressor via command "python3 train.py"',
    ],
    [{ kind: 'interchange', file: 'trees.json' }, 'interchange file, imported from trees.json'],
  ] as const)('describes %o', (origin, text) => {
    expect(manifestProblem({ ...base, origin }, 'v1')).toBeUndefined();
    expect(describeOrigin({ origin })).toBe(text);
  });
});
