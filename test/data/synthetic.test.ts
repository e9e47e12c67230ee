// The seed's synthetic data set: seeded, clipped as the seed clips, the target by the seed's formula,
// and `flywheel data synthetic` writing it as CSV (the real CLI, from dist/).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSynthetic, readCsv, readSource, SYNTHETIC_FEATURES } from '../../src/trainer/data/index.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flywheel-data-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('synthetic data', () => {
  it('is the same for a seed and different for another', () => {
    const a = generateSynthetic(500, 42);
    expect(generateSynthetic(500, 42)).toEqual(a);
    expect(generateSynthetic(500, 43).columns[0]).not.toEqual(a.columns[0]);
    expect(a.featureNames).toEqual([...SYNTHETIC_FEATURES]);
    expect(a.targetName).toBe('engagement_score');
  });

  it('draws each feature around its mean, clipped to its range, and computes the seed’s target', () => {
    const ds = generateSynthetic(20_000, 7);
    const ranges = [
      [15, 8, 1, 60],
      [5, 2, 1, 14],
      [70, 15, 0, 100],
      [6, 2, 1, 10],
    ];
    ranges.forEach(([mean, sd, lo, hi], f) => {
      const c = ds.columns[f];
      let s = 0;
      let below = 0;
      let min = Infinity;
      let max = -Infinity;
      for (const v of c) {
        min = Math.min(min, v);
        max = Math.max(max, v);
        s += v;
        if (v === lo) below++;
      }
      expect(min).toBeGreaterThanOrEqual(lo);
      expect(max).toBeLessThanOrEqual(hi);
      // Clipping moves the mean a little; the draw is N(mean, sd).
      expect(Math.abs(s / c.length - mean)).toBeLessThan(sd * 0.1);
      if (f === 0) expect(below / c.length).toBeCloseTo(0.0401, 1); // P(N(15,8) < 1) ≈ 4%
    });
    const max = (c: Float64Array) => c.reduce((a, b) => Math.max(a, b), -Infinity);
    const [asd, vpw, rr, fud] = ds.columns;
    for (const r of [0, 1, 999, 19_999]) {
      const expected =
        0.3 * (asd[r] / max(asd)) * 100 +
        0.3 * (vpw[r] / max(vpw)) * 100 +
        0.2 * rr[r] +
        0.2 * (fud[r] / max(fud)) * 100;
      expect(ds.target[r]).toBeCloseTo(expected, 10);
    }
  });

  it('refuses bad sizes and seeds', () => {
    expect(() => generateSynthetic(0, 1)).toThrow(/rows/);
    expect(() => generateSynthetic(10, -1)).toThrow(/seed/);
  });
});

describe('flywheel data synthetic', () => {
  it('writes the header and the seeded rows, the same on every run', async () => {
    expect(existsSync(cli), 'dist/cli.js is missing: run `npm run build` first').toBe(true);
    const out = join(dir, 'seven.csv');
    await run(process.execPath, [cli, 'data', 'synthetic', '--rows', '50', '--seed', '7', '--out', out]);
    const text = await readFile(out, 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'avg_session_duration,visits_per_week,response_rate,feature_usage_depth,engagement_score',
    );
    expect(lines).toHaveLength(51);
    // The file holds exactly the generator's values (full precision), readable back unchanged.
    const { dataset } = await readCsv(out, { target: 'engagement_score' });
    const ds = generateSynthetic(50, 7);
    expect(dataset.columns).toEqual(ds.columns);
    expect(dataset.target).toEqual(ds.target);
    // Deterministic: a second run writes the same bytes, and the trainer's provenance hash is theirs.
    const again = join(dir, 'seven-again.csv');
    await run(process.execPath, [cli, 'data', 'synthetic', '--rows', '50', '--seed', '7', '--out', again]);
    expect(await readFile(again, 'utf8')).toBe(text);
    const { provenance } = await readSource('synthetic', { rows: 50, seed: 7 });
    expect(provenance).toEqual({
      source: 'synthetic',
      rows: 50,
      sha256: createHash('sha256').update(text).digest('hex'),
    });
  });

  it('writes to stdout with --out - and fails clearly on an unwritable path', async () => {
    const { stdout } = await run(process.execPath, [
      cli,
      'data',
      'synthetic',
      '--rows',
      '3',
      '--seed',
      '7',
      '--out',
      '-',
    ]);
    expect(stdout.trimEnd().split('\n')).toHaveLength(4);
    const bad = await run(process.execPath, [
      cli,
      'data',
      'synthetic',
      '--rows',
      '3',
      '--out',
      join(dir, 'missing-dir', 'x.csv'),
    ]).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).not.toBe(0);
    expect((bad as { stderr: string }).stderr).toMatch(/cannot write .*missing-dir/);
  });
});
