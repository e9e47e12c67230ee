// Reading request instances into the model's feature order: every problem named, far-away values
// flagged (not refused), and a model whose manifest disagrees with it never taken into service.
import { describe, expect, it } from 'vitest';
import {
  FAR_OUTSIDE_SHARE,
  FeatureReader,
  describeProblems,
  type ReadReport,
} from '../../src/backend/features.js';
import { ServedModel } from '../../src/backend/served-model.js';
import { decodeArtifact } from '../../src/model/index.js';
import type { Manifest } from '../../src/registry/index.js';
import { trainModels } from './helpers.js';

const schema = [
  { name: 'a', type: 'number' as const, min: 0, max: 10 },
  { name: 'b', type: 'number' as const, min: 5, max: 5 },
];
const fresh = (): ReadReport => ({ problems: undefined, warnings: undefined });

describe('FeatureReader', () => {
  it('copies features in model order, ignores other fields, allocates no report on a clean read', () => {
    const reader = new FeatureReader(schema);
    const out = new Float64Array(5);
    const report = fresh();
    reader.readObject({ user_id: 3, b: 5.5, a: 2 }, out, 3, report);
    expect([...out]).toEqual([0, 0, 0, 2, 5.5]);
    expect(report).toEqual({ problems: undefined, warnings: undefined });
  });

  it('names each missing or invalid feature, with what it received', () => {
    const reader = new FeatureReader(schema);
    const report = fresh();
    reader.readObject({ a: 'NaN' }, new Float64Array(2), 0, report, 4);
    reader.readObject({ a: true, b: null }, new Float64Array(2), 0, report, 5);
    reader.readObject({ a: [1], b: { x: 1 } }, new Float64Array(2), 0, report);
    expect(report.problems).toEqual([
      { instance: 4, feature: 'a', problem: 'not finite', received: 'string' },
      { instance: 4, feature: 'b', problem: 'missing' },
      { instance: 5, feature: 'a', problem: 'not a number', received: 'boolean' },
      { instance: 5, feature: 'b', problem: 'not a number', received: 'null' },
      { feature: 'a', problem: 'not a number', received: 'array' },
      { feature: 'b', problem: 'not a number', received: 'object' },
    ]);
    expect(describeProblems(report.problems!)).toBe(
      'missing or invalid features: instances[4].a is not finite (string); instances[4].b is missing; ' +
        'instances[5].a is not a number (boolean); instances[5].b is not a number (null); ' +
        'a is not a number (array); b is not a number (object)',
    );
  });

  it('rejects non-finite numbers that arrive through tensors', () => {
    const report = fresh();
    new FeatureReader(schema).readValue(0, Infinity, new Float64Array(2), 0, report, 0);
    expect(report.problems).toEqual([
      { instance: 0, feature: 'a', problem: 'not finite', received: 'Infinity' },
    ]);
  });

  it('flags values more than half the training range outside it, and only those', () => {
    const reader = new FeatureReader(schema);
    const edge = 10 + FAR_OUTSIDE_SHARE * 10;
    for (const [a, flagged] of [
      [-4.9, false],
      [edge, false],
      [edge + 0.01, true],
      [-5.01, true],
    ] as const) {
      const report = fresh();
      reader.readObject({ a, b: 5 }, new Float64Array(2), 0, report);
      expect([a, report.warnings?.map((w) => w.feature) ?? []]).toEqual([a, flagged ? ['a'] : []]);
      expect(report.problems).toBeUndefined();
    }
    // A feature constant in training (b: always 5) takes its magnitude as the width: 5 ± 2.5.
    const report = fresh();
    reader.readObject({ a: 1, b: 7.4 }, new Float64Array(2), 0, report);
    reader.readObject({ a: 1, b: 7.6 }, new Float64Array(2), 0, report, 1);
    expect(report.warnings).toEqual([
      {
        instance: 1,
        feature: 'b',
        value: 7.6,
        training_min: 5,
        training_max: 5,
        message: 'b=7.6 is far outside the training range [5, 5]',
      },
    ]);
  });
});

describe('ServedModel', () => {
  it('refuses a manifest that disagrees with its model, naming each problem', async () => {
    const [m] = await trainModels(1, 100, 2);
    const predictor = decodeArtifact(m.artifact);
    const manifest = {
      version: 'v1',
      features: m.features.map((f, j) => (j === 0 ? { ...f, name: 'renamed' } : f)),
      target: 'other',
      created_at: '2026-01-01T00:00:00.000Z',
    } as unknown as Manifest;
    expect(() => new ServedModel('v1', manifest, predictor)).toThrow(
      expect.objectContaining({
        code: 'FLY_ERR_ARTIFACT_INVALID',
        details: {
          version: 'v1',
          problems: [
            expect.stringMatching(
              /^manifest features \[renamed, .*\] differ from the model's \[avg_session_duration, /,
            ),
            "manifest target other differs from the model's engagement_score",
          ],
        },
      }),
    );
    const good = { ...manifest, features: m.features, target: 'engagement_score' } as Manifest;
    const served = new ServedModel('v1', good, predictor);
    expect(served.reader.names).toEqual(predictor.featureNames);
  });
});
