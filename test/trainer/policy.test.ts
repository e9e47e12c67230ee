// The trainer's pure parts: the promotion decision (from a table), the source spec and scoring by
// feature name.
import { describe, expect, it } from 'vitest';
import { FlywheelError } from '../../src/errors.js';
import { fitModel, DEFAULT_FIT_PARAMS } from '../../src/model/index.js';
import type { Dataset } from '../../src/model/types.js';
import { scoreOn } from '../../src/trainer/evaluate.js';
import { decidePromotion, type ProductionView, type PromotionPolicy } from '../../src/trainer/policy.js';
import { parseSourceSpec } from '../../src/trainer/source.js';

const m = (r2: number) => ({ r2, mae: 1, rmse: 1 });
const none: ProductionView = { kind: 'none' };
const scored = (r2: number): ProductionView => ({ kind: 'scored', version: 'vP', metrics: m(r2) });
const incomparable: ProductionView = { kind: 'incomparable', version: 'vP', why: 'other features' };
const broken: ProductionView = { kind: 'broken', version: 'vP', why: 'sha256 mismatch' };

describe('decidePromotion', () => {
  const table: [PromotionPolicy, number, ProductionView, 'production' | 'candidate' | null, RegExp][] = [
    ['auto', 0.8, none, 'production', /^first version/],
    ['auto', 0.8, scored(0.8), 'production', /^promoted: not worse/],
    ['auto', 0.795, scored(0.8), 'production', /^promoted/], // within the 0.01 tolerance
    [
      'auto',
      0.78,
      scored(0.8),
      null,
      /^not promoted: worse than production \(holdout r2 0\.7800 vs production vP 0\.8000/,
    ],
    ['auto', 0.9, incomparable, null, /cannot be compared.*other features/],
    ['auto', 0.1, broken, 'production', /production vP cannot be loaded \(sha256 mismatch\)/],
    ['canary', 0.8, none, 'production', /^first version/],
    ['canary', 0.1, scored(0.8), 'candidate', /^canary: .*0\.1000 vs production 0\.8000/],
    ['canary', 0.9, incomparable, 'candidate', /not comparable/],
    ['canary', 0.9, broken, 'production', /cannot be loaded/],
    ['manual', 0.99, none, null, /^published only/],
    ['manual', 0.99, scored(0.1), null, /^published only/],
  ];
  it.each(table)('%s with r2 %s against %j → %s', (policy, r2, production, alias, reason) => {
    const d = decidePromotion({ policy, tolerance: 0.01, metrics: m(r2), production });
    expect(d.alias).toBe(alias);
    expect(d.reason).toMatch(reason);
  });
});

describe('parseSourceSpec', () => {
  it('accepts the three sources and refuses the rest with the accepted forms', () => {
    expect(parseSourceSpec('synthetic')).toEqual({ kind: 'synthetic' });
    expect(parseSourceSpec('csv:/data/a:b.csv')).toEqual({ kind: 'csv', path: '/data/a:b.csv' });
    expect(parseSourceSpec('jsonl:rel/x.jsonl')).toEqual({ kind: 'jsonl', path: 'rel/x.jsonl' });
    for (const bad of ['csv:', 'xlsx:/a', '', 'parquet:x.parquet']) {
      expect(() => parseSourceSpec(bad)).toThrow(FlywheelError);
    }
    expect(() => parseSourceSpec('excel:/a')).toThrow(/csv:<path>/);
  });
});

describe('scoreOn', () => {
  const ds = (names: string[], target = 'y'): Dataset => {
    const rows = 40;
    const columns = names.map((_, f) =>
      Float64Array.from({ length: rows }, (_, r) => ((r * (f + 3)) % 17) / 17),
    );
    return {
      featureNames: names,
      targetName: target,
      rows,
      columns,
      target: Float64Array.from({ length: rows }, (_, r) => columns[0][r] * 10 + (r % 3)),
    };
  };

  it('scores by feature name, whatever the column order, and names what does not match', async () => {
    const train = ds(['a', 'b']);
    const { model } = await fitModel(train, { ...DEFAULT_FIT_PARAMS, trees: 3 }, { threads: 1 });
    const direct = scoreOn(model, train);
    const swapped: Dataset = {
      ...train,
      featureNames: ['b', 'a', 'c'],
      columns: [train.columns[1], train.columns[0], train.columns[0]],
    };
    expect(scoreOn(model, swapped)).toEqual(direct);
    expect(scoreOn(model, ds(['a', 'c']))).toEqual({ mismatch: 'this data lacks its features b' });
    expect(scoreOn(model, ds(['a', 'b'], 'z'))).toEqual({
      mismatch: "it predicts y, this data's target is z",
    });
  });
});
