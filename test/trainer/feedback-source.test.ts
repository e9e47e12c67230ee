// `--source feedback` and `<source>+feedback`: the trainer's source parser delegates to the registry's
// feedback reader, on a real registry folder written by a FeedbackStore.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { featureMembers, FeedbackStore } from '../../src/registry/feedback.js';
import { readSource } from '../../src/trainer/data/index.js';
import { formatSourceSpec, parseSourceSpec } from '../../src/trainer/source.js';
import { tempDir } from '../registry/helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('fbsource'));
});
afterEach(async () => cleanup());

async function collect(n: number): Promise<void> {
  const store = await FeedbackStore.open({ registryDir: dir, gatewayId: 'gw' });
  for (let i = 0; i < n; i++) {
    const features = {
      avg_session_duration: 10 + i,
      visits_per_week: i % 7,
      response_rate: (i % 10) / 10,
      feature_usage_depth: i % 5,
    };
    store.logPrediction({
      requestId: `r${i}`,
      version: 'v1',
      prediction: 50,
      features: featureMembers(features),
    });
  }
  await store.recordFeedback(Array.from({ length: n }, (_, i) => ({ request_id: `r${i}`, actual: 20 + i })));
  await store.close();
}

describe('feedback as a training source', () => {
  it('parses and formats the feedback specs', () => {
    expect(parseSourceSpec('feedback')).toEqual({ kind: 'feedback', base: null });
    const mixed = parseSourceSpec('csv:/data/x.csv+feedback');
    expect(mixed).toEqual({ kind: 'feedback', base: { kind: 'csv', path: '/data/x.csv' } });
    expect(formatSourceSpec(mixed)).toBe('csv:/data/x.csv+feedback');
    expect(() => parseSourceSpec('feedback+feedback')).toThrow(/added once/);
    expect(() => parseSourceSpec('nope+feedback')).toThrow(/not a data source/);
  });

  it('trains on the joined feedback alone', async () => {
    await collect(40);
    const { dataset, provenance } = await readSource('feedback', { rows: 0, seed: 1, registry: dir });
    expect(dataset.rows).toBe(40);
    expect(dataset.targetName).toBe('engagement_score');
    expect(dataset.featureNames).toEqual([
      'avg_session_duration',
      'visits_per_week',
      'response_rate',
      'feature_usage_depth',
    ]);
    expect(dataset.target[0]).toBe(20);
    expect(provenance).toMatchObject({ source: 'feedback', rows: 40 });
    expect(provenance.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('adds feedback to another source, and trains on that source alone when there is none yet', async () => {
    const alone = await readSource('synthetic+feedback', { rows: 50, seed: 1, registry: dir });
    expect(alone.dataset.rows).toBe(50);
    await collect(30);
    const mixed = await readSource('synthetic+feedback', { rows: 50, seed: 1, registry: dir });
    expect(mixed.dataset.rows).toBe(80);
    expect([...mixed.dataset.target.slice(50)].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 30 }, (_, i) => 20 + i),
    );
    expect(mixed.provenance.sha256).not.toBe(alone.provenance.sha256);
  });

  it('says what is missing', async () => {
    await expect(readSource('feedback', { rows: 0, seed: 1, registry: dir })).rejects.toMatchObject({
      code: 'FLY_ERR_DATA_EMPTY',
    });
    await expect(readSource('feedback', { rows: 0, seed: 1 })).rejects.toMatchObject({
      code: 'FLY_ERR_USAGE',
    });
  });
});
