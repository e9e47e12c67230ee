// Imported models predict what their library predicts: every supported family, read from the
// committed fixtures (made by test/model/fixtures/import/make.py with Debian's scikit-learn 1.2 and
// XGBoost 1.7, so these tests need no Python), on 400 rows half of which sit at split thresholds.
import { describe, expect, it } from 'vitest';
import { decodeArtifact, encodeArtifact } from '../../src/model/index.js';
import { readModelFile } from '../../src/model/import/index.js';
import { expected, FEATURES, FIXTURES, maxError, readOptions } from './import-fixtures.js';

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

describe('limits and exact comparisons', () => {
  it('refuses more nodes than a model may hold before building it', async () => {
    const file = `${FIXTURES}random-forest.jsonl`;
    await expect(readModelFile(file, { ...readOptions, maxNodes: 1000 })).rejects.toMatchObject({
      code: 'FLY_ERR_IMPORT_TOO_LARGE',
      message: expect.stringMatching(/more than 1000 nodes/),
    });
    await expect(
      readModelFile(`${FIXTURES}xgboost.json`, { ...readOptions, maxJsonBytes: 1000 }),
    ).rejects.toMatchObject({
      code: 'FLY_ERR_IMPORT_TOO_LARGE',
    });
  });

  it('x < t and x <= t, float32 and float64, missing left or right: one tree, every boundary value', async () => {
    const { TreeCompiler, parseInterchangeHeader } = await import('../../src/model/import/interchange.js');
    const { below32, below64 } = await import('../../src/model/import/float.js');
    const t = 0.1; // not a float32: float32 inputs compare against the float32 values around it
    for (const inputs of ['float32', 'float64'] as const) {
      for (const comparison of ['<', '<='] as const) {
        for (const defaultLeft of [0, 1]) {
          const header = parseInterchangeHeader(
            {
              format: 'flywheel-trees',
              format_version: 1,
              n_features: 1,
              inputs,
              comparison,
              combine: 'sum',
            },
            'test',
          );
          const c = new TreeCompiler(header, { featureNames: ['x'], targetName: 'y' });
          c.add(
            {
              left: [1, -1, -1],
              right: [2, -1, -1],
              feature: [0, 0, 0],
              threshold: [t, 0, 0],
              value: [0, 1, 2],
              default_left: [defaultLeft, 0, 0],
            },
            0,
          );
          const model = c.finish();
          const round = inputs === 'float32' ? Math.fround : (v: number) => v;
          const probes = [t, below64(t), Math.fround(t), below32(Math.fround(t)), -t, 0, Infinity, -Infinity];
          for (const x of probes) {
            const xi = round(x);
            const left = comparison === '<' ? xi < t : xi <= t;
            expect(model.predictRow([x]), `${inputs} ${comparison} x=${x}`).toBe(left ? 1 : 2);
          }
          expect(model.predictRow([NaN])).toBe(defaultLeft ? 1 : 2);
        }
      }
    }
  });
});

describe('docs/models.md', () => {
  it('the worked example predicts what its table says, in both layouts', async () => {
    const { readFile, writeFile, mkdtemp } = await import('node:fs/promises');
    const os = await import('node:os');
    const doc = await readFile(new URL('../../docs/models.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('### A worked example'));
    const json = /```json\n([\s\S]*?)```/.exec(section)?.[1] as string;
    const lines = /```\n(\{"format"[\s\S]*?)```/.exec(section)?.[1] as string;
    const dir = await mkdtemp(`${os.tmpdir()}/flywheel-doc-`);
    await writeFile(`${dir}/two.json`, json);
    await writeFile(`${dir}/two.jsonl`, lines);
    for (const file of ['two.json', 'two.jsonl']) {
      const { model, origin } = await readModelFile(`${dir}/${file}`, readOptions);
      expect(model.featureNames).toEqual(['visits_per_week', 'response_rate']);
      expect(model.predictRow([0.5, 3])).toBe(8.75);
      expect(model.predictRow([0.6, 3.1])).toBe(11.75);
      expect(model.predictRow([0.2, NaN])).toBe(8.75);
      if (file === 'two.json') expect(origin).toEqual({ library: 'my-gbm', library_version: '0.3' });
    }
  });
});
