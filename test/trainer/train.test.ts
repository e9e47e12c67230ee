// `flywheel train` end to end, as real processes on a real temp registry: synthetic and CSV data, each
// promotion policy, and every bad input failing with a clear error while the registry stays untouched.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeArtifact } from '../../src/model/index.js';
import { Registry } from '../../src/registry/index.js';
import { readSource, splitHoldout } from '../../src/trainer/data/index.js';
import { scoreOn } from '../../src/trainer/evaluate.js';
import type { TrainSummary } from '../../src/trainer/main.js';
import { runFlywheel, tempDir, treeSnapshot } from '../registry/helpers.js';

const HOUSES = fileURLToPath(new URL('./fixtures/houses.csv', import.meta.url));

let dir: string;
let cleanup: () => Promise<void>;
let reg: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('train'));
  reg = path.join(dir, 'registry');
});
afterEach(() => cleanup());

/** A small, quick training run (one thread: the machine is shared by parallel test files). */
function tiny(...extra: string[]): string[] {
  return ['train', '--registry', reg, '--rows', '200', '--trees', '5', '--threads', '1', '--json', ...extra];
}

async function train(...extra: string[]): Promise<TrainSummary> {
  const r = await runFlywheel(tiny('--log-level', 'warn', ...extra));
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as TrainSummary;
}

describe('flywheel train', () => {
  it('trains on synthetic data, publishes a verified version and promotes the first one', async () => {
    // Default threads (worker threads) and info logs: the path a CronJob takes.
    const r = await runFlywheel(['train', '--registry', reg, '--rows', '200', '--trees', '8', '--json']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as TrainSummary;
    expect(summary).toMatchObject({
      rows: 200,
      holdout_rows: 40,
      production_version: null,
      production_metrics: null,
      promoted: true,
      alias: 'production',
    });
    expect(summary.reason).toMatch(/first version/);
    expect(summary.fit_seconds).toBeGreaterThan(0);
    expect(summary.metrics.r2).toBeGreaterThan(0.5);
    // Off a TTY the logs are JSON lines on stderr, one of them per published version.
    const events = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; version?: string });
    expect(events.find((e) => e.msg === 'version published')?.version).toBe(summary.version);

    const registry = new Registry(reg);
    const { manifest, bytes } = await registry.loadArtifact(summary.version);
    expect(manifest).toMatchObject({
      format: 1,
      version: summary.version,
      algorithm: 'random-forest',
      data: { source: 'synthetic', rows: 200 },
      parameters: { trees: 8, seed: 42, holdout: 0.2 },
      metrics: summary.metrics,
      target: 'engagement_score',
    });
    expect(manifest.data.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.features.map((f) => f.name)).toEqual([
      'avg_session_duration',
      'visits_per_week',
      'response_rate',
      'feature_usage_depth',
    ]);
    for (const f of manifest.features) expect(f.max).toBeGreaterThan(f.min);
    expect(await registry.readAliases()).toMatchObject({ production: summary.version, generation: 1 });

    // The stored model reproduces the reported holdout score on the same seeded split.
    const { dataset } = await readSource('synthetic', { rows: 200, seed: 42 });
    const { holdout } = splitHoldout(dataset, 0.2, 42);
    const score = scoreOn(decodeArtifact(bytes), holdout);
    expect('metrics' in score && score.metrics.r2).toBeCloseTo(summary.metrics.r2, 10);
  });

  it('trains on a CSV file with a chosen target and features', async () => {
    const s = await train(
      '--source',
      `csv:${HOUSES}`,
      '--target',
      'price_k',
      '--features',
      'rooms,area_m2,age_years',
      '--trees',
      '20',
    );
    expect(s).toMatchObject({ rows: 150, holdout_rows: 30, promoted: true });
    expect(s.metrics.r2).toBeGreaterThan(0.6);
    const m = await new Registry(reg).readManifest(s.version);
    expect(m.target).toBe('price_k');
    expect(m.features.map((f) => f.name)).toEqual(['rooms', 'area_m2', 'age_years']);
    expect(m.data).toEqual({
      source: `csv:${HOUSES}`,
      rows: 150,
      sha256: createHash('sha256')
        .update(await readFile(HOUSES))
        .digest('hex'),
    });
  });
});

describe('promotion policies', () => {
  it('auto promotes a version not worse than production, within the tolerance', async () => {
    const good = await train('--rows', '400', '--trees', '30');
    // A stump is clearly worse on the same holdout (same rows and seed).
    const worse = await train('--rows', '400', '--trees', '1', '--max-depth', '1');
    expect(worse.production_version).toBe(good.version);
    expect(worse.production_metrics?.r2).toBeCloseTo(good.metrics.r2, 10);
    expect(worse.metrics.r2).toBeLessThan(good.metrics.r2 - 0.01);
    expect(worse).toMatchObject({ promoted: false, alias: null });
    expect(worse.reason).toMatch(/^not promoted: worse than production/);
    const registry = new Registry(reg);
    expect((await registry.readAliases()).production).toBe(good.version);
    // The refusal and its figures are in the history.
    expect((await registry.history()).at(-1)).toMatchObject({
      action: 'decision',
      from: good.version,
      to: good.version,
      reason: worse.reason,
      evidence: { version: worse.version, policy: 'auto', production: good.version },
    });
    // With a tolerance wide enough the same drop is accepted.
    const tolerated = await train('--rows', '400', '--trees', '1', '--max-depth', '1', '--tolerance', '1');
    expect(tolerated).toMatchObject({
      promoted: true,
      alias: 'production',
      production_version: good.version,
    });
    expect((await registry.readAliases()).production).toBe(tolerated.version);
  });

  it('auto does not replace a production it cannot compare (other features)', async () => {
    const houses = await train('--source', `csv:${HOUSES}`, '--target', 'price_k');
    const synthetic = await train();
    expect(synthetic).toMatchObject({
      promoted: false,
      alias: null,
      production_version: houses.version,
      production_metrics: null,
    });
    expect(synthetic.reason).toMatch(/cannot be compared/);
  });

  it('canary makes the new version the candidate (the first one still becomes production)', async () => {
    const first = await train('--promote', 'canary');
    expect(first).toMatchObject({ promoted: true, alias: 'production' });
    const second = await train('--promote', 'canary', '--seed', '7');
    expect(second).toMatchObject({ promoted: false, alias: 'candidate', production_version: first.version });
    expect(second.production_metrics).not.toBeNull();
    expect(await new Registry(reg).readAliases()).toMatchObject({
      production: first.version,
      candidate: second.version,
    });
  });

  it('manual only publishes, and says so in the history', async () => {
    const s = await train('--promote', 'manual');
    expect(s).toMatchObject({ promoted: false, alias: null, reason: 'published only (policy manual)' });
    const registry = new Registry(reg);
    expect(await registry.readAliases()).toMatchObject({ production: null, candidate: null, generation: 0 });
    expect((await registry.listVersions()).map((e) => e.version)).toEqual([s.version]);
    expect((await registry.history()).map((h) => h.action)).toEqual(['decision']);
  });

  it('keeps the newest --keep versions plus production', async () => {
    const first = await train();
    const later: TrainSummary[] = [];
    for (let i = 0; i < 3; i++) later.push(await train('--promote', 'manual', '--keep', '2'));
    expect(later.map((s) => s.pruned.length)).toEqual([0, 0, 1]);
    expect((await new Registry(reg).listVersions()).map((e) => e.version)).toEqual([
      later[2].version,
      later[1].version,
      first.version,
    ]);
  });
});

describe('bad input', () => {
  it('fails with a clear error and a non-zero exit, leaving the registry untouched', async () => {
    const existing = await train();
    const before = await treeSnapshot(reg);
    const badCsv = path.join(dir, 'bad.csv');
    await writeFile(badCsv, 'a,b,y\n1,2,3\n4,oops,6\n');
    const empty = path.join(dir, 'empty.csv');
    await writeFile(empty, 'a,b,y\n');
    const cases: [string[], string, RegExp][] = [
      [['--source', `csv:${path.join(dir, 'missing.csv')}`], 'FLY_ERR_DATA_NOT_FOUND', /missing\.csv/],
      [['--source', `csv:${HOUSES}`, '--target', 'nope'], 'FLY_ERR_DATA_COLUMN', /nope/],
      [
        ['--source', `csv:${HOUSES}`, '--target', 'price_k', '--features', 'rooms,bogus'],
        'FLY_ERR_DATA_COLUMN',
        /bogus/,
      ],
      [['--source', `csv:${badCsv}`, '--target', 'y'], 'FLY_ERR_DATA_VALUE', /oops/],
      [['--source', `csv:${empty}`, '--target', 'y'], 'FLY_ERR_DATA_EMPTY', /./],
      [['--rows', '20', '--holdout', '0.1'], 'FLY_ERR_HOLDOUT_TOO_SMALL', /holdout/],
      [['--source', 'parquet:/x'], 'FLY_ERR_USAGE', /csv:<path>/],
      [['--promote', 'sometimes'], 'FLY_ERR_CONFIG', /--promote/],
    ];
    const results = await Promise.all(cases.map(([args]) => runFlywheel(tiny(...args))));
    results.forEach((r, i) => {
      const [args, code, message] = cases[i];
      const context = `${args.join(' ')}: ${r.stderr}`;
      expect(r.code, context).not.toBe(0);
      expect(r.stderr, context).toContain(`[${code}]`);
      expect(r.stderr, context).toMatch(message);
      expect(r.stderr, context).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.stdout, context).toBe('');
    });
    expect(await treeSnapshot(reg)).toEqual(before);
    expect((await new Registry(reg).readAliases()).production).toBe(existing.version);
  });

  it('refuses an unwritable registry before fitting, and creates nothing', async () => {
    const file = path.join(dir, 'plain-file');
    await writeFile(file, 'not a folder');
    const under = path.join(file, 'registry');
    const r = await runFlywheel([
      'train',
      '--registry',
      under,
      '--rows',
      '200',
      '--trees',
      '5',
      '--threads',
      '1',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[FLY_ERR_REGISTRY_UNWRITABLE]');
    expect(r.stderr).toContain(under);
    expect(r.stderr).not.toMatch(/model fitted/);
    expect(await treeSnapshot(dir)).toEqual({
      'plain-file': createHash('sha256').update('not a folder').digest('hex'),
    });
  });
});
