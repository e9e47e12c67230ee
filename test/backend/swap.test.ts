// Following the registry under load: a new version promoted every 200 ms for 5 s while clients send
// continuously — no failed request, versions seen in promotion order, the last one served within 1 s.
// Then versions that cannot load (wrong format, corrupt bytes) are skipped and the old model stays.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, type AliasState } from '../../src/registry/index.js';
import { waitFor } from '../helpers/wait.js';
import {
  LAB_PREDICT_TEXT,
  call,
  publish,
  startBackend,
  tempRegistry,
  trainModels,
  waitServing,
  type Backend,
  type TrainedModel,
} from './helpers.js';

let backend: Backend;
let reg: Awaited<ReturnType<typeof tempRegistry>>;
let models: TrainedModel[];

beforeAll(async () => {
  reg = await tempRegistry();
  models = await trainModels(3);
  const first = await publish(reg.registry, models[0]);
  await reg.registry.promote(first, { reason: 'test' });
  backend = await startBackend(reg.dir);
  await waitServing(backend.url, first);
});

afterAll(async () => {
  await backend?.stop('SIGKILL');
  await reg?.cleanup();
});

interface Answer {
  readonly loop: number;
  readonly status: number | 'error';
  readonly version: string | undefined;
  readonly at: number;
  readonly detail?: string;
}

/** Clients sending the lab's request back to back on keep-alive connections until stopped. */
function sendContinuously(url: string, loops: number) {
  const agent = new Agent({ connections: loops });
  const answers: Answer[] = [];
  let running = true;
  const run = async (loop: number) => {
    while (running) {
      try {
        const res = await request(`${url}/predict`, {
          method: 'POST',
          body: LAB_PREDICT_TEXT,
          headers: { 'content-type': 'application/json' },
          dispatcher: agent,
        });
        const text = await res.body.text();
        const version = res.headers['x-model-version'];
        const body = JSON.parse(text) as { model_version?: string };
        answers.push({
          loop,
          status: res.statusCode,
          version: typeof version === 'string' && version === body.model_version ? version : undefined,
          at: Date.now(),
          detail: res.statusCode === 200 ? undefined : text.slice(0, 200),
        });
      } catch (err) {
        answers.push({ loop, status: 'error', version: undefined, at: Date.now(), detail: String(err) });
      }
    }
  };
  const all = Array.from({ length: loops }, (_, i) => run(i));
  return {
    answers,
    stop: async () => {
      running = false;
      await Promise.all(all);
      await agent.close();
    },
  };
}

describe('hot swap under load', () => {
  it('promotes a new version every 200 ms for 5 s: 0 failed, versions in order, last served within 1 s', async () => {
    const client = sendContinuously(backend.url, 4);
    const promoted: { version: string; at: number }[] = [];
    const start = Date.now();
    let i = 0;
    while (Date.now() - start < 5000) {
      const tick = Date.now();
      const version = await publish(reg.registry, models[i++ % models.length]);
      await reg.registry.promote(version, { reason: 'hot swap test' });
      promoted.push({ version, at: Date.now() });
      await new Promise((r) => setTimeout(r, Math.max(0, 200 - (Date.now() - tick))));
    }
    const last = promoted[promoted.length - 1];
    await waitFor(() => client.answers.some((a) => a.version === last.version), {
      timeoutMs: 5000,
      what: `the last version ${last.version} to answer`,
    });
    await client.stop();

    const failed = client.answers.filter((a) => a.status !== 200 || a.version === undefined);
    expect(failed).toEqual([]);
    // 25 at 200 ms; fewer when fsync is slow on a busy machine (publish and promote both sync to disk).
    expect(promoted.length).toBeGreaterThanOrEqual(5);
    expect(client.answers.length).toBeGreaterThan(200);

    // Each client sees versions only move forward, in promotion order (ids sort by creation time).
    const order = new Map(promoted.map((p, k) => [p.version, k]));
    for (let loop = 0; loop < 4; loop++) {
      const seen = client.answers.filter((a) => a.loop === loop && order.has(a.version!));
      const idx = seen.map((a) => order.get(a.version!)!);
      expect(idx).toEqual([...idx].sort((a, b) => a - b));
    }
    const firstOfLast = client.answers.find((a) => a.version === last.version)!;
    expect(firstOfLast.at - last.at).toBeLessThan(1000);
    // Most promotions were served at all (a version replaced within ~200 ms may be skipped).
    const served = new Set(client.answers.map((a) => a.version));
    expect(promoted.filter((p) => served.has(p.version)).length).toBeGreaterThan(promoted.length / 2);
    // The old models were unloaded: only the last one is kept.
    const info = await call(`${backend.url}/model-info`);
    expect(info.body.loaded_versions).toEqual([last.version]);
  });
});

describe('a version that cannot load', () => {
  it('wrong format: logged, counted, skipped; the old model keeps serving; not retried in a tight loop', async () => {
    const before = (await call(`${backend.url}/model-info`)).body.version as string;
    // The registry verifies the sha256 of what it was given, so garbage publishes fine; only the
    // backend's decoder can refuse it.
    const bad = await publish(reg.registry, models[0], new TextEncoder().encode('{"not":"a model"}'));
    await reg.registry.promote(bad, { reason: 'test' });
    const failure = await waitFor(
      () => backend.logs().find((l) => l.msg === 'model load failed' && l.version === bad),
      { timeoutMs: 5000, what: 'the load failure to be logged' },
    );
    expect(failure).toMatchObject({ code: 'FLY_ERR_ARTIFACT_INVALID', attempts: 1, retryInMs: 1000 });
    expect(failure.serving).toEqual({ production: before, candidate: null });

    const r = await call(`${backend.url}/predict`, { body: LAB_PREDICT_TEXT });
    expect([r.status, r.body.model_version]).toEqual([200, before]);
    expect((await call(`${backend.url}/v2/health/ready`)).status).toBe(200);
    const metrics = (await call(`${backend.url}/metrics`)).text;
    expect(metrics).toMatch(
      /flywheel_backend_model_load_failures_total\{code="FLY_ERR_ARTIFACT_INVALID"\} [1-9]/,
    );

    // Retries back off (1 s, 2 s, …): over 1.5 s at most one more attempt.
    await new Promise((r) => setTimeout(r, 1500));
    const attempts = backend.logs().filter((l) => l.msg === 'model load failed' && l.version === bad);
    expect(attempts.length).toBeLessThanOrEqual(2);
  });

  it('corrupt bytes (sha256 mismatch): refused; a later good version is served', async () => {
    const before = (await call(`${backend.url}/model-info`)).body.version as string;
    const corrupt = await publish(reg.registry, models[1]);
    // Damage the artifact on disk, then point production at it the way a writer would (the registry's
    // own promote refuses a corrupt version, so the alias file is written directly).
    const file = path.join(reg.dir, 'versions', corrupt, 'model.bin');
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(file, bytes);
    const aliases = JSON.parse(await readFile(reg.registry.paths.aliases, 'utf8')) as AliasState;
    await writeFileAtomic(
      reg.registry.paths.aliases,
      JSON.stringify({ ...aliases, production: corrupt, generation: aliases.generation + 1 }),
    );
    const failure = await waitFor(
      () => backend.logs().find((l) => l.msg === 'model load failed' && l.version === corrupt),
      { timeoutMs: 5000, what: 'the corrupt version to be refused' },
    );
    expect(failure.code).toBe('FLY_ERR_VERSION_CORRUPT');
    const r = await call(`${backend.url}/predict`, { body: LAB_PREDICT_TEXT });
    expect([r.status, r.body.model_version]).toEqual([200, before]);

    const good = await publish(reg.registry, models[2]);
    await reg.registry.promote(good, { reason: 'test' });
    await waitServing(backend.url, good, 2000);
  });
});
