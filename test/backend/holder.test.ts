// The model holder carrying out nextAction's decisions with real models: the old version answers
// until the new one has loaded, a request keeps the model it took, a failed load leaves production
// alone and is not retried at once. The loader here is a function the test resolves by hand, so each
// step can be observed; the models themselves are real.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ModelHolder } from '../../src/backend/holder.js';
import { BackendMetrics } from '../../src/backend/metrics.js';
import { ServedModel } from '../../src/backend/served-model.js';
import { FlywheelError } from '../../src/errors.js';
import { decodeArtifact } from '../../src/model/index.js';
import type { Manifest } from '../../src/registry/index.js';
import { waitFor } from '../helpers/wait.js';
import { trainModels } from './helpers.js';

describe('ModelHolder', () => {
  it('swaps only when the new model is ready, keeps in-flight references, survives a failed load', async () => {
    const models = await trainModels(2, 100, 3);
    const served = (version: string, k: number) =>
      new ServedModel(
        version,
        {
          version,
          features: models[k].features,
          target: 'engagement_score',
          created_at: new Date().toISOString(),
          artifact: { sha256: 'x' },
        } as unknown as Manifest,
        decodeArtifact(models[k].artifact),
      );
    const pending = new Map<string, { resolve: (m: ServedModel) => void; reject: (e: Error) => void }>();
    const calls: string[] = [];
    const holder = new ModelHolder({
      load: (version) => {
        calls.push(version);
        return new Promise((resolve, reject) => pending.set(version, { resolve, reject }));
      },
      log: pino({ level: 'silent' }),
      metrics: new BackendMetrics(),
    });
    try {
      holder.setAspired({ production: 'v1', candidate: null });
      expect(holder.production).toBeUndefined();
      pending.get('v1')!.resolve(served('v1', 0));
      const first = await waitFor(() => holder.production, { timeoutMs: 2000, what: 'v1' });
      expect(first.version).toBe('v1');

      // A request takes its model; v2 starts loading; v1 answers meanwhile.
      const taken = holder.production!;
      holder.setAspired({ production: 'v2', candidate: null });
      await waitFor(() => pending.has('v2'), { timeoutMs: 2000, what: 'v2 to start loading' });
      expect(holder.production?.version).toBe('v1');
      expect(holder.loadedVersions()).toEqual(['v1']);

      pending.get('v2')!.resolve(served('v2', 1));
      await waitFor(() => holder.production?.version === 'v2', { timeoutMs: 2000, what: 'the switch' });
      expect(holder.loadedVersions()).toEqual(['v2']);
      // The request that took v1 still has a working v1.
      expect(taken.version).toBe('v1');
      expect(Number.isFinite(taken.predictor.predictRow([30, 14, 40, 6]))).toBe(true);

      // A failing version: production stays, and no immediate retry.
      holder.setAspired({ production: 'v3', candidate: null });
      await waitFor(() => pending.has('v3'), { timeoutMs: 2000, what: 'v3 to start loading' });
      pending.get('v3')!.reject(new FlywheelError('FLY_ERR_VERSION_CORRUPT', 'bad bytes'));
      await new Promise((r) => setTimeout(r, 300));
      expect(calls).toEqual(['v1', 'v2', 'v3']);
      expect(holder.production?.version).toBe('v2');
      expect(holder.servingVersions()).toEqual({ production: 'v2', candidate: null });

      // A candidate loads beside production; explicit lookups find both.
      holder.setAspired({ production: 'v3', candidate: 'v1' });
      await waitFor(() => pending.get('v1') !== undefined && calls.at(-1) === 'v1', {
        timeoutMs: 2000,
        what: 'the candidate to start loading',
      });
      pending.get('v1')!.resolve(served('v1', 0));
      await waitFor(() => holder.candidate?.version === 'v1', { timeoutMs: 2000, what: 'the candidate' });
      expect(holder.get('candidate')?.version).toBe('v1');
      expect(holder.get('v2')?.version).toBe('v2');
      expect(holder.get('v9')).toBeUndefined();
    } finally {
      holder.close();
    }
  });
});
