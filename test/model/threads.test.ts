// A seeded forest is the same whatever the number of worker threads. Worker threads run the compiled
// worker in dist/, so this test drives the compiled learner (npm test builds first) on both sides.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type * as Learner from '../../src/model/index.js';

const dist = new URL('../../dist/model/index.js', import.meta.url);

describe('forest on worker threads', () => {
  it('gives the identical artifact on 1, 2 and 3 threads', async () => {
    expect(existsSync(fileURLToPath(dist)), 'dist/ is missing: run `npm run build` first').toBe(true);
    const learner = (await import(dist.href)) as typeof Learner;
    const { Rng } = learner;
    const rng = new Rng(21);
    const rows = 3000;
    const cols = [0, 1, 2].map(() => Float64Array.from({ length: rows }, () => rng.normal(0, 1)));
    const target = Float64Array.from(
      { length: rows },
      (_, r) => cols[0][r] * 2 + Math.abs(cols[1][r]) + rng.normal(0, 0.1),
    );
    const ds = { featureNames: ['a', 'b', 'c'], targetName: 'y', rows, columns: cols, target };
    const params = { ...learner.DEFAULT_FIT_PARAMS, trees: 40, maxFeatures: 0.67, seed: 9 };

    const progress: number[] = [];
    const one = await learner.fitModel(ds, params, { threads: 1 });
    // Two worker threads (the calling thread only waits): every tree is grown on a worker.
    const two = await learner.fitModel(ds, params, {
      threads: 2,
      callerGrowsTrees: false,
      onProgress: (done) => progress.push(done),
    });
    expect(one.workers).toBe(0);
    // Really on worker threads, not a silent fallback to the calling thread.
    expect(two.workers).toBe(2);
    expect(two.workerTrees).toBe(40);
    expect(progress).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const a = Buffer.from(learner.encodeArtifact(one.model));
    const b = Buffer.from(learner.encodeArtifact(two.model));
    expect(a.equals(b)).toBe(true);
    const three = await learner.fitModel(ds, params, { threads: 3 });
    // The default: the calling thread and two workers share the trees.
    expect(three.workers).toBe(2);
    expect(three.threads).toBe(3);
    expect(Buffer.from(learner.encodeArtifact(three.model)).equals(a)).toBe(true);
  });
});
