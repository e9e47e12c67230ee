// `flywheel import` as a person runs it: the real executable on a temp registry. Served predictions
// equal the library's own for every supported family (over HTTP, from a real `flywheel serve`), and
// every bad input exits non-zero with its FLY_ERR_* code and leaves the registry byte-identical.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from '../../src/registry/index.js';
import { call, startBackend, waitServing, type Backend } from '../backend/helpers.js';
import { expected, FEATURES, FIXTURES } from '../model/import-fixtures.js';
import { runFlywheel, tempDir, treeSnapshot } from '../registry/helpers.js';
import { HAVE_SKLEARN, PYTHON, REQUIRED, SKIP_MESSAGE } from './python.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('import'));
});
afterEach(() => cleanup());

const flywheelImport = (file: string, ...args: string[]) =>
  runFlywheel(['import', file, '--registry', dir, '--log-level', 'warn', ...args]);

interface Summary {
  version: string;
  metrics: { r2: number } | null;
  promoted: boolean;
  alias: string | null;
  reason: string;
  production_version: string | null;
}

async function importJson(file: string, ...args: string[]): Promise<Summary> {
  const r = await flywheelImport(file, '--json', ...args);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Summary;
}

describe('flywheel import serves what the library predicts', () => {
  let backend: Backend | undefined;
  afterAll(async () => {
    await backend?.stop();
  });

  const families: [string, string, string[]][] = [
    ['xgboost', 'xgboost.json', []],
    ['xgboost-absolute-nonames', 'xgboost-absolute-nonames.json', ['--features', FEATURES.join(',')]],
    ['random-forest', 'random-forest.jsonl', []],
    ['extra-trees', 'extra-trees.jsonl', []],
    ['decision-tree', 'decision-tree.jsonl', []],
    ['gradient-boosting', 'gradient-boosting.jsonl', []],
    ['gradient-boosting-lad', 'gradient-boosting-lad.jsonl', []],
    ['hist-gradient-boosting', 'hist-gradient-boosting.jsonl', []],
    ['lab', 'lab.jsonl', []],
  ];

  it('for every family, /predict with instances equals the library within 1e-4 on 400 rows', async () => {
    for (const [name, file, args] of families) {
      const s = await importJson(`${FIXTURES}${file}`, '--promote', 'manual', ...args);
      expect(s.metrics).toBeNull();
      await runFlywheel(['models', 'promote', s.version, '--registry', dir]);
      backend ??= await startBackend(dir);
      await waitServing(backend.url, s.version);
      const e = expected[name];
      const instances = e.rows.map((r) => Object.fromEntries(FEATURES.map((f, j) => [f, r[j]])));
      const res = await call(`${backend.url}/predict`, { body: { instances } });
      expect(res.status, res.text).toBe(200);
      expect(res.body.model_version).toBe(s.version);
      const got = res.body.predictions as number[];
      expect(got).toHaveLength(e.rows.length);
      const worst = Math.max(...got.map((p, i) => Math.abs(p - e.predictions[i])));
      expect(worst, name).toBeLessThan(1e-4);
    }
    const info = await call(`${backend!.url}/model-info`);
    expect((info.body.provenance as { origin_description: string }).origin_description).toMatch(
      /^scikit-learn 1\.2\.\d+ RandomForestRegressor, imported from lab\.jsonl$/,
    );
  });
});

describe('promotion of imports', () => {
  it('without evaluation data auto promotes only a first version, and says why not the next', async () => {
    const first = await importJson(`${FIXTURES}xgboost.json`);
    expect(first).toMatchObject({ promoted: true, alias: 'production', metrics: null });
    const second = await importJson(`${FIXTURES}random-forest.jsonl`);
    expect(second.promoted).toBe(false);
    expect(second.reason).toMatch(/not promoted: .*no evaluation data/);
    expect((await new Registry(dir).readAliases()).production).toBe(first.version);
  });

  it('with --eval, gates on the same rows as train does, and records the origin', async () => {
    const first = await importJson(`${FIXTURES}xgboost.json`, '--eval', 'synthetic', '--rows', '400');
    expect(first.metrics?.r2).toBeGreaterThan(0);
    const second = await importJson(`${FIXTURES}random-forest.jsonl`, '--eval', 'synthetic', '--rows', '400');
    expect(second.production_version).toBe(first.version);
    expect(second.reason).toMatch(/holdout r2 \S+ vs production/);
    const manifest = await new Registry(dir).readManifest(second.version);
    expect(manifest.origin).toMatchObject({ kind: 'scikit-learn', estimator: 'RandomForestRegressor' });
    // The evaluation rows give the drift reference: every feature and the predictions are binned.
    expect((manifest.reference?.features ?? []).map((f) => f.name).sort()).toEqual([...FEATURES].sort());
    expect(manifest.reference?.prediction).not.toBeNull();
    const bare = await new Registry(dir).readManifest(
      (await importJson(`${FIXTURES}xgboost.json`, '--promote', 'manual')).version,
    );
    expect(bare.reference).toBeUndefined();
    const show = await runFlywheel(['models', 'show', first.version, '--registry', dir]);
    expect(show.stdout).toMatch(
      /origin\s+XGBoost 1\.7\.\d+ \(reg:squarederror\), imported from xgboost\.json/,
    );
  });
});

/** The parts of XGBoost's model JSON the tests edit. */
interface XgbDoc {
  learner: {
    objective: { name: string };
    gradient_booster: { model: { trees: { left_children: number[]; split_conditions: number[] }[] } };
  };
}

describe('bad input changes nothing', () => {
  let seeded: string;
  beforeEach(async () => {
    seeded = (await importJson(`${FIXTURES}xgboost.json`)).version;
  });

  async function refused(file: string, code: string, message: RegExp, ...args: string[]): Promise<void> {
    const before = await treeSnapshot(dir);
    const r = await flywheelImport(file, ...args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`[${code}]`);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await treeSnapshot(dir)).toEqual(before);
    expect((await new Registry(dir).readAliases()).production).toBe(seeded);
  }

  async function variant(name: string, edit: (doc: XgbDoc) => unknown): Promise<string> {
    const doc = JSON.parse(await readFile(`${FIXTURES}xgboost.json`, 'utf8')) as XgbDoc;
    const out = path.join(path.dirname(dir), `${path.basename(dir)}-${name}.json`);
    await writeFile(out, JSON.stringify(edit(doc) ?? doc));
    return out;
  }
  const trees = (doc: XgbDoc) => doc.learner.gradient_booster.model.trees as Record<string, number[]>[];

  it('a truncated file', async () => {
    const text = await readFile(`${FIXTURES}xgboost.json`, 'utf8');
    const out = await variant('truncated', () => undefined);
    await writeFile(out, text.slice(0, text.length / 2));
    await refused(out, 'FLY_ERR_IMPORT_FORMAT', /not valid JSON \(truncated or edited\?\)/);
  });

  it('a truncated JSON Lines file (fewer trees than its header announces)', async () => {
    const lines = (await readFile(`${FIXTURES}random-forest.jsonl`, 'utf8')).trim().split('\n');
    const out = path.join(path.dirname(dir), `${path.basename(dir)}-cut.jsonl`);
    await writeFile(out, lines.slice(0, 5).join('\n') + '\n');
    await refused(out, 'FLY_ERR_IMPORT_FORMAT', /announces 12 trees but the file holds 4/);
  });

  it('JSON of another shape', async () => {
    await refused(
      await variant('other', () => ({ weights: [1, 2] })),
      'FLY_ERR_IMPORT_FORMAT',
      /another shape/,
    );
  });

  it('a classifier and an unknown objective', async () => {
    await refused(
      `${FIXTURES}xgboost-classifier.json`,
      'FLY_ERR_IMPORT_UNSUPPORTED',
      /binary:logistic is not supported/,
    );
    const out = await variant('objective', (d) => void (d.learner.objective.name = 'count:poisson'));
    await refused(out, 'FLY_ERR_IMPORT_UNSUPPORTED', /objective count:poisson is not supported/);
  });

  it('NaN or infinite leaves, a child out of range, a cycle', async () => {
    // JSON has no Infinity, but 1e999 parses as one.
    const inf = await variant('inf', (d) => {
      const t = trees(d)[1];
      t.split_conditions[t.left_children.indexOf(-1)] = 123456.789;
    });
    await writeFile(inf, (await readFile(inf, 'utf8')).replace('123456.789', '1e999'));
    await refused(inf, 'FLY_ERR_IMPORT_INVALID', /leaf \d+ has value Infinity, not a finite number/);
    // JSON has no NaN either: an interchange file that writes one is not JSON (Python's json.dump would).
    const nan = path.join(path.dirname(dir), `${path.basename(dir)}-nan.json`);
    await writeFile(
      nan,
      '{"format":"flywheel-trees","format_version":1,"n_features":4,"inputs":"float64","comparison":"<=","combine":"sum",' +
        `"feature_names":${JSON.stringify(FEATURES)},"trees":[{"left":[-1],"right":[-1],"feature":[0],"threshold":[0],"value":[NaN]}]}`,
    );
    await refused(nan, 'FLY_ERR_IMPORT_FORMAT', /not valid JSON/);
    const range = await variant('range', (d) => void (trees(d)[3].left_children[0] = 9999));
    await refused(range, 'FLY_ERR_IMPORT_INVALID', /tree 3: node 0 has children 9999 and \d+, out of range/);
    const cycle = await variant('cycle', (d) => void (trees(d)[2].left_children[1] = 0));
    await refused(
      cycle,
      'FLY_ERR_IMPORT_INVALID',
      /tree 2: node 0 is reached twice \(a cycle or a shared subtree\)/,
    );
  });

  it('feature names that do not match, or none at all', async () => {
    await refused(
      `${FIXTURES}xgboost-absolute-nonames.json`,
      'FLY_ERR_IMPORT_FEATURES',
      /carries no feature names: give its 4/,
    );
    await refused(
      `${FIXTURES}xgboost.json`,
      'FLY_ERR_IMPORT_FEATURES',
      /4 features but 2 were given/,
      '--features',
      'a,b',
    );
  });

  it('a missing Python', async () => {
    await refused(
      `${FIXTURES}random-forest.joblib`,
      'FLY_ERR_PYTHON',
      /"\/nonexistent\/python3" was not found/,
      '--python',
      '/nonexistent/python3',
    );
  });

  describe.skipIf(!HAVE_SKLEARN && !REQUIRED)(`with ${PYTHON} and scikit-learn`, () => {
    it('is installed (required under CI)', () => {
      expect(HAVE_SKLEARN, SKIP_MESSAGE).toBe(true);
    });

    it('a Python without scikit-learn', async () => {
      // Debian's own python3 with its site packages turned off (-S): a real interpreter lacking sklearn.
      const bare = path.join(path.dirname(dir), `${path.basename(dir)}-python`);
      await writeFile(bare, `#!/bin/sh\nexec ${PYTHON} -S "$@"\n`);
      await chmod(bare, 0o755);
      await refused(
        `${FIXTURES}random-forest.joblib`,
        'FLY_ERR_PYTHON',
        /scikit-learn is not installed/,
        '--python',
        bare,
      );
    });

    it('a pickle that is not an estimator, a classifier, a pipeline with transformers', async () => {
      const py = ['--python', PYTHON];
      await refused(
        `${FIXTURES}not-an-estimator.pkl`,
        'FLY_ERR_IMPORT_UNSUPPORTED',
        /dict without a "model" key/,
        ...py,
      );
      await refused(
        `${FIXTURES}classifier.joblib`,
        'FLY_ERR_IMPORT_UNSUPPORTED',
        /RandomForestClassifier is a classifier/,
        ...py,
      );
      await refused(
        `${FIXTURES}pipeline.joblib`,
        'FLY_ERR_IMPORT_UNSUPPORTED',
        /Pipeline with transformers \(StandardScaler\)/,
        ...py,
      );
      const junk = path.join(path.dirname(dir), `${path.basename(dir)}-junk.pkl`);
      await writeFile(junk, Buffer.from([0x80, 0x04, 0x95, 0x10, 0, 0, 0]));
      await refused(junk, 'FLY_ERR_IMPORT_FORMAT', /not a joblib or pickle file/, ...py);
    });

    it('every scikit-learn fixture exported by the shipped exporter predicts as the library does', async () => {
      for (const name of ['random-forest', 'gradient-boosting', 'hist-gradient-boosting', 'lab']) {
        const s = await importJson(`${FIXTURES}${name}.joblib`, '--python', PYTHON, '--promote', 'manual');
        const { model } = await import('../../src/model/index.js').then(async (m) => ({
          model: m.decodeArtifact((await new Registry(dir).loadArtifact(s.version)).bytes),
        }));
        const e = expected[name];
        const worst = Math.max(...e.rows.map((r, i) => Math.abs(model.predictRow(r) - e.predictions[i])));
        expect(worst, name).toBeLessThan(1e-4);
      }
    });
  });
});
