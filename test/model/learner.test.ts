// The learner on data with a known answer, its parameters and edge checks, and reproducibility.
import { describe, expect, it } from 'vitest';
import { FlywheelError } from '../../src/errors.js';
import {
  DEFAULT_FIT_PARAMS,
  encodeArtifact,
  featureSchema,
  fitModel,
  regressionMetrics,
  type FitParams,
} from '../../src/model/index.js';
import { Rng } from '../../src/model/random.js';
import { makeDataset, rowMajor, rowOf, uniformColumn } from './fixtures.js';

const forest = (over: Partial<FitParams> = {}): FitParams => ({ ...DEFAULT_FIT_PARAMS, trees: 20, ...over });
const boosting = (over: Partial<FitParams> = {}): FitParams => ({
  ...DEFAULT_FIT_PARAMS,
  algorithm: 'gradient-boosting',
  trees: 200,
  minSamplesLeaf: 5,
  ...over,
});

describe('known answers', () => {
  const rng = new Rng(11);
  const step = makeDataset([uniformColumn(rng, 1000)], ([x]) => (x < 0.5 ? 1 : 5));

  it('a forest learns a step function exactly', async () => {
    const { model } = await fitModel(step, forest(), { threads: 1 });
    expect(model.predictRow([0.1])).toBe(1);
    expect(model.predictRow([0.49])).toBe(1);
    expect(model.predictRow([0.51])).toBe(5);
    expect(model.predictRow([0.9])).toBe(5);
    // Outside the training range the nearest leaf answers.
    expect(model.predictRow([-100])).toBe(1);
    expect(model.predictRow([100])).toBe(5);
  });

  it('boosting learns a step function to within its shrinkage', async () => {
    const { model } = await fitModel(step, boosting({ earlyStopping: false }), { threads: 1 });
    expect(model.predictRow([0.2])).toBeCloseTo(1, 3);
    expect(model.predictRow([0.8])).toBeCloseTo(5, 3);
    expect(model.treeCount).toBe(200);
  });

  it('both learn a linear target (R² > 0.99 on fresh rows)', async () => {
    const r = new Rng(5);
    const train = makeDataset(
      [uniformColumn(r, 3000, -1, 1), uniformColumn(r, 3000)],
      ([a, b]) => 3 * a + b + 2,
    );
    const test = makeDataset(
      [uniformColumn(r, 500, -1, 1), uniformColumn(r, 500)],
      ([a, b]) => 3 * a + b + 2,
    );
    for (const params of [forest(), boosting()]) {
      const { model } = await fitModel(train, params, { threads: 1 });
      const m = regressionMetrics(test.target, model.predictBatch(rowMajor(test), test.rows));
      expect(m.r2, params.algorithm).toBeGreaterThan(0.99);
      // Linear in a: predictions keep the order of a.
      expect(model.predictRow([0.5, 0.5])).toBeGreaterThan(model.predictRow([-0.5, 0.5]));
    }
  });

  it('never splits on a constant feature, and it changes no prediction', async () => {
    const r = new Rng(8);
    const x = uniformColumn(r, 800);
    const constant = new Float64Array(800).fill(3);
    const without = makeDataset([x], ([a]) => Math.sin(6 * a));
    const withConstant = makeDataset([constant, x], ([, a]) => Math.sin(6 * a));
    for (const params of [forest({ trees: 5 }), boosting({ trees: 30 })]) {
      const a = (await fitModel(without, params, { threads: 1 })).model;
      const b = (await fitModel(withConstant, params, { threads: 1 })).model;
      for (let i = 0; i < b.nodeCount; i++) expect(b.nodeLinks[4 * i + 2]).not.toBe(0);
      for (const v of [0.1, 0.33, 0.7, 0.95]) expect(b.predictRow([3, v])).toBe(a.predictRow([v]));
    }
  });

  it('an unlimited forest reproduces its training rows (pure leaves)', async () => {
    const r = new Rng(2);
    const ds = makeDataset([uniformColumn(r, 200), uniformColumn(r, 200)], ([a, b]) => a * 10 + b);
    const { model } = await fitModel(ds, forest({ trees: 1 }), { threads: 1 });
    // One bootstrap tree: rows it drew are predicted exactly; the count matches about 63%.
    let exact = 0;
    for (let i = 0; i < ds.rows; i++) if (model.predictRow(rowOf(ds, i)) === ds.target[i]) exact++;
    expect(exact / ds.rows).toBeGreaterThan(0.55);
    expect(exact / ds.rows).toBeLessThan(0.72);
  });
});

describe('prediction', () => {
  it('predictBatch equals predictRow, writes into `out`, and refuses a short input', async () => {
    const r = new Rng(3);
    const ds = makeDataset(
      [uniformColumn(r, 500), uniformColumn(r, 500), uniformColumn(r, 500)],
      ([a, b, c]) => a * b + c,
    );
    for (const params of [forest({ trees: 10 }), boosting({ trees: 40 })]) {
      const { model } = await fitModel(ds, params, { threads: 1 });
      const x = rowMajor(ds);
      const out = new Float64Array(ds.rows + 5).fill(NaN);
      const batch = model.predictBatch(x, ds.rows, out);
      expect(batch).toBe(out);
      for (let i = 0; i < ds.rows; i++) expect(batch[i]).toBe(model.predictRow(rowOf(ds, i)));
      expect(() => model.predictBatch(x.subarray(0, 10), 5)).toThrow(RangeError);
      expect(() => model.predictBatch(x, 10, new Float64Array(3))).toThrow(RangeError);
      expect(model.predictBatch(x, 0)).toHaveLength(0);
    }
  });
});

describe('parameters and input', () => {
  const ds = makeDataset([Float64Array.from([1, 2, 3, 4])], ([a]) => a);

  it('refuses bad parameters with FLY_ERR_TRAIN_PARAMS naming each', async () => {
    const bad = { ...DEFAULT_FIT_PARAMS, trees: 0, maxFeatures: 1.5, learningRate: -1, algorithm: 'svm' };
    const err = await fitModel(ds, bad as unknown as FitParams).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlywheelError);
    expect((err as FlywheelError).code).toBe('FLY_ERR_TRAIN_PARAMS');
    for (const name of ['trees', 'maxFeatures', 'learningRate', 'algorithm']) {
      expect((err as FlywheelError).message).toContain(name);
    }
    await expect(fitModel(ds, forest(), { threads: -1 })).rejects.toMatchObject({
      code: 'FLY_ERR_TRAIN_PARAMS',
    });
  });

  it('refuses non-finite values, too few rows and mismatched columns', async () => {
    const nan = makeDataset([Float64Array.from([1, NaN, 3])], () => 1);
    await expect(fitModel(nan, forest())).rejects.toMatchObject({ code: 'FLY_ERR_DATA_VALUE' });
    await expect(fitModel(nan, forest())).rejects.toThrow(/row 2, column "x0"/);
    const one = makeDataset([Float64Array.from([1])], () => 1);
    await expect(fitModel(one, forest())).rejects.toMatchObject({ code: 'FLY_ERR_DATA_EMPTY' });
    await expect(fitModel({ ...ds, featureNames: ['a', 'b'] }, forest())).rejects.toMatchObject({
      code: 'FLY_ERR_DATA_COLUMN',
    });
  });

  it('reports progress, per-phase timings, and observed feature ranges', async () => {
    const seen: number[] = [];
    const { timings, workers } = await fitModel(ds, forest({ trees: 4 }), {
      threads: 1,
      onProgress: (done, total) => seen.push(done / total),
    });
    expect(seen).toEqual([0.25, 0.5, 0.75, 1]);
    expect(workers).toBe(0);
    for (const phase of ['bin', 'trees', 'assemble', 'total'])
      expect(timings[phase]).toBeGreaterThanOrEqual(0);
    expect(featureSchema(ds)).toEqual([{ name: 'x0', type: 'number', min: 1, max: 4 }]);
  });
});

describe('metrics', () => {
  it('computes R², MAE and RMSE as scikit-learn does', () => {
    const m = regressionMetrics([3, -0.5, 2, 7], [2.5, 0.0, 2, 8]);
    expect(m.r2).toBeCloseTo(0.9486081370449679, 12); // sklearn.metrics.r2_score docs example
    expect(m.mae).toBeCloseTo(0.5, 12);
    expect(m.rmse).toBeCloseTo(Math.sqrt(0.375), 12);
    expect(regressionMetrics([1, 1], [1, 1]).r2).toBe(1);
    expect(regressionMetrics([1, 1], [1, 2]).r2).toBe(0);
    expect(() => regressionMetrics([1], [])).toThrow(RangeError);
  });
});

describe('reproducibility', () => {
  it('the same seed gives the same artifact; another seed another model', async () => {
    const r = new Rng(4);
    const ds = makeDataset([uniformColumn(r, 400), uniformColumn(r, 400)], ([a, b]) => a + b * b);
    for (const params of [forest({ trees: 8, maxFeatures: 0.5 }), boosting({ trees: 30 })]) {
      const a = encodeArtifact((await fitModel(ds, params, { threads: 1 })).model);
      const b = encodeArtifact((await fitModel(ds, params, { threads: 1 })).model);
      const c = encodeArtifact((await fitModel(ds, { ...params, seed: 43 }, { threads: 1 })).model);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    }
  });

  it('boosting stops early on a validation split and keeps the best rounds', async () => {
    const r = new Rng(6);
    const x = uniformColumn(r, 2000);
    const noise = Float64Array.from({ length: 2000 }, () => r.normal(0, 1));
    const ds = makeDataset([x, noise], ([a]) => a + r.normal(0, 0.3));
    const early = (await fitModel(ds, boosting({ trees: 500, learningRate: 0.3 }), { threads: 1 })).model;
    expect(early.treeCount).toBeLessThan(500);
    const full = (await fitModel(ds, boosting({ trees: 50, earlyStopping: false }), { threads: 1 })).model;
    expect(full.treeCount).toBe(50);
  });
});
