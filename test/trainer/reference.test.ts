// The reference distribution the trainer stores for drift monitoring: from the real `flywheel train`
// into the manifest, and trainingReference() as an importer would call it (no holdout).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fitModel } from '../../src/model/index.js';
import { Registry } from '../../src/registry/registry.js';
import { generateSynthetic, SYNTHETIC_FEATURES } from '../../src/trainer/data/synthetic.js';
import { trainingReference } from '../../src/trainer/reference.js';
import { runCli } from '../helpers/stack.js';

describe('the trainer’s drift reference', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('is stored in the manifest: per feature in model order, and for the holdout predictions', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-reference-'));
    dirs.push(dir);
    const r = await runCli(
      ['train', '--registry', dir, '--rows', '500', '--trees', '5', '--reference-bins', '4', '--json'],
      { timeoutMs: 60_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const { version } = JSON.parse(r.stdout) as { version: string };
    const m = await new Registry(dir).readManifest(version);
    const ref = m.reference!;
    expect(ref.bins).toBe(4);
    expect(ref.features.map((f) => f.name)).toEqual([...SYNTHETIC_FEATURES]);
    for (const [i, f] of ref.features.entries()) {
      expect(f.rows).toBe(400); // the training rows, not the holdout
      expect(f.min).toBe(m.features[i].min);
      expect(f.max).toBe(m.features[i].max);
      expect(f.shares.length).toBeLessThanOrEqual(4);
      expect(f.shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
    expect(ref.prediction?.rows).toBe(100);
  });

  it('has no prediction part without a holdout, and refuses data lacking a feature', async () => {
    const ds = generateSynthetic(300, 3);
    const { model } = await fitModel(
      ds,
      {
        algorithm: 'random-forest',
        trees: 3,
        maxDepth: 4,
        minSamplesLeaf: 1,
        maxFeatures: 1,
        maxLeaves: 31,
        learningRate: 0.1,
        earlyStopping: false,
        seed: 3,
      },
      { threads: 1 },
    );
    const ref = trainingReference(model, ds, null);
    expect(ref.prediction).toBeNull();
    expect(ref.features[0].shares).toHaveLength(10);
    const lacking = { ...ds, featureNames: ['a', 'b', 'c', 'd'] };
    expect(() => trainingReference(model, lacking, null)).toThrow(/no column avg_session_duration/);
  });
});
