// Drift monitoring end to end with real processes: `flywheel train` on synthetic rows, a `flywheel
// serve` backend and a `flywheel gateway`, all on one temp registry. Traffic is rows of the same
// synthetic generator with another seed (no drift), then the same rows with one feature × 1.8 (drift
// on that feature alone), far-out values, bad requests, and a canary split between two versions.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Pool, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriftDocument, VersionDriftView } from '../../../src/gateway/dashboard/drift-types.js';
import { generateSynthetic, SYNTHETIC_FEATURES } from '../../../src/trainer/data/synthetic.js';
import { Registry } from '../../../src/registry/registry.js';
import { publish, trainModels } from '../../backend/helpers.js';
import { postRows, rowBody } from '../../helpers/rows.js';
import { runCli } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';
import { startRole as startProc, type Proc } from '../experiments/procs.js';

const TOKEN = 'drift-admin-token';
const SCALED = 'visits_per_week';

/** A role with the admin token set (the canary steps use the admin routes). */
function startRole(role: 'serve' | 'gateway', args: string[]): Promise<Proc> {
  return startProc([role, ...args], { FLYWHEEL_ADMIN_TOKEN: TOKEN });
}

async function drift(url: string): Promise<DriftDocument> {
  const res = await request(`${url}/drift`);
  expect(res.statusCode).toBe(200);
  return (await res.body.json()) as DriftDocument;
}

async function train(registry: string, extra: string[]): Promise<string> {
  const r = await runCli(
    [
      'train',
      '--registry',
      registry,
      '--rows',
      '2000',
      '--trees',
      '20',
      '--json',
      '--log-level',
      'warn',
      ...extra,
    ],
    { timeoutMs: 60_000 },
  );
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { version: string }).version;
}

describe('drift monitoring with a real trainer, backend and gateway', () => {
  let registry: string;
  let backend: Proc;
  let gateway: Proc;
  let pool: Pool;
  let production: string;
  const live = generateSynthetic(3000, 4242);

  const view = async (version: string): Promise<VersionDriftView> => {
    const doc = await drift(gateway.url);
    const v = doc.versions[version];
    expect(v, JSON.stringify(Object.keys(doc.versions))).toBeDefined();
    return v;
  };

  beforeAll(async () => {
    registry = await mkdtemp(path.join(os.tmpdir(), 'flywheel-drift-'));
    production = await train(registry, ['--seed', '1']);
    backend = await startRole('serve', ['--registry', registry, '--log-level', 'warn']);
    gateway = await startRole('gateway', [
      '--registry',
      registry,
      '--backends',
      backend.url,
      '--drift-check-interval',
      '100ms',
      '--analysis-interval',
      '0',
      '--log-level',
      'info',
    ]);
    pool = new Pool(gateway.url, { connections: 8 });
  }, 120_000);

  afterAll(async () => {
    await pool?.close();
    await gateway?.stop();
    await backend?.stop();
    if (registry) await rm(registry, { recursive: true, force: true });
  });

  it('flags nothing for 1,500 rows from the training distribution (another seed)', async () => {
    // The first answer makes the gateway read the version's reference; count from a known start.
    await postRows(pool, [rowBody(live, 0)]);
    await waitFor(async () => (await drift(gateway.url)).versions[production] !== undefined, {
      timeoutMs: 5000,
      what: 'the version to be measured',
    });
    const before = (await view(production)).requests;
    const answered = await postRows(
      pool,
      Array.from({ length: 1500 }, (_, i) => rowBody(live, i)),
    );
    expect(answered.get(`200 ${production}`)).toBe(1500);
    const v = await view(production);
    expect(v.requests - before).toBe(1500);
    expect(v.window).toBe(1000);
    expect(v.reference).toBe('training');
    expect(Object.keys(v.features)).toEqual([...SYNTHETIC_FEATURES]);
    for (const [name, f] of Object.entries(v.features)) {
      expect(f.psi, name).not.toBeNull();
      expect(f.psi!, name).toBeLessThan(0.1);
      expect(f.level, name).toBe('ok');
    }
    expect(v.drifted).toEqual([]);
    expect(v.prediction?.psi).toBeLessThan(0.1);

    const metrics = await (await request(`${gateway.url}/metrics`)).body.text();
    for (const name of SYNTHETIC_FEATURES) {
      const m = new RegExp(
        `^flywheel_feature_drift_psi\\{version="${production}",feature="${name}"\\} (\\S+)$`,
        'm',
      ).exec(metrics);
      expect(m, name).not.toBeNull();
      expect(Number(m![1])).toBeCloseTo(v.features[name].psi!, 9);
    }
    expect(metrics).toMatch(
      new RegExp(`^flywheel_drift_window_requests\\{version="${production}"\\} 1000$`, 'm'),
    );
  });

  it('counts far-out values as out of range without touching the other features, and never 400s', async () => {
    const before = await view(production);
    const far = Array.from({ length: 10 }, (_, i) => ({
      ...rowBody(live, 2000 + i),
      avg_session_duration: 1e9,
      response_rate: -5,
    }));
    const bad = [
      ...Array.from({ length: 20 }, (_, i) => ({ ...rowBody(live, i), visits_per_week: 'many' })),
      ...Array.from({ length: 20 }, () => ({ avg_session_duration: 3 })),
      '{"avg_session_duration": ',
    ];
    const answered = await postRows(pool, [...far, ...bad]);
    expect(answered.get(`200 ${production}`)).toBe(10);
    const v = await view(production);
    expect(v.requests - before.requests).toBe(10); // the 41 bad requests are not counted
    const asd = v.features.avg_session_duration;
    const rr = v.features.response_rate;
    const k = asd.edges.length + 1;
    // Each window slot holds one row: 10 new rows above max, minus any the leaving rows had there.
    expect(asd.live[k + 1] * 1000).toBeGreaterThanOrEqual(10);
    expect(rr.live[rr.edges.length + 1] * 1000).toBeGreaterThanOrEqual(10); // below min
    expect(asd.out_of_range).toBeGreaterThanOrEqual(0.01);
    expect(asd.out_of_range).toBeLessThan(0.02);
    for (const name of ['visits_per_week', 'feature_usage_depth']) {
      expect(Math.abs(v.features[name].psi! - before.features[name].psi!)).toBeLessThan(0.02);
    }
    expect(v.drifted).toEqual([]);
  });

  it(`flags ${SCALED} alone, by name, when its values are multiplied by 1.8`, async () => {
    await postRows(
      pool,
      Array.from({ length: 1500 }, (_, i) => rowBody(live, i, { [SCALED]: 1.8 })),
    );
    const v = await view(production);
    expect(v.features[SCALED].psi!).toBeGreaterThanOrEqual(0.25);
    expect(v.features[SCALED].level).toBe('alert');
    expect(v.drifted).toEqual([SCALED]);
    for (const name of SYNTHETIC_FEATURES.filter((n) => n !== SCALED)) {
      expect(v.features[name].psi!, name).toBeLessThan(0.1);
    }
    // The crossing is logged once by the periodic check, with the feature named.
    const line = await waitFor(
      () =>
        gateway
          .logs()
          .split('\n')
          .find((l) => l.includes('"feature drift alert"')),
      { timeoutMs: 5000, what: 'the drift alert log line' },
    );
    const event = JSON.parse(line) as Record<string, unknown>;
    // From ok, or from warn when a check ran while the window was filling with shifted rows.
    expect(event).toMatchObject({ version: production, feature: SCALED, to: 'alert' });
    expect(['ok', 'warn']).toContain(event.from);
    expect(event.psi).toBeGreaterThanOrEqual(0.25);
    expect(gateway.logs()).not.toMatch(/"feature drift alert".*"feature":"(?!visits_per_week)/);
  });

  it('counts each version only its own requests under a canary split', async () => {
    const candidate = await train(registry, ['--seed', '2', '--promote', 'canary']);
    // The backend follows the aliases: wait until it answers for the candidate.
    await waitFor(
      async () => {
        const res = await request(`${backend.url}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-model-version': candidate },
          body: JSON.stringify(rowBody(live, 0)),
        });
        await res.body.dump();
        return res.statusCode === 200;
      },
      { timeoutMs: 10_000, what: 'the backend to serve the candidate' },
    );
    const set = await request(`${gateway.url}/admin/traffic`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ mode: 'canary', weight: 40 }),
    });
    expect(set.statusCode).toBe(200);
    await set.body.dump();
    // Warm-up until the candidate is measured, then count from there.
    await waitFor(
      async () => {
        await postRows(pool, [rowBody(live, 0), rowBody(live, 1), rowBody(live, 2)]);
        return (await drift(gateway.url)).versions[candidate] !== undefined;
      },
      { timeoutMs: 10_000, what: 'the candidate to be measured' },
    );
    const before = await drift(gateway.url);
    const answered = await postRows(
      pool,
      Array.from({ length: 600 }, (_, i) => rowBody(live, i)),
    );
    const after = await drift(gateway.url);
    const toCandidate = answered.get(`200 ${candidate}`) ?? 0;
    const toProduction = answered.get(`200 ${production}`) ?? 0;
    expect(toCandidate + toProduction).toBe(600);
    expect(toCandidate).toBeGreaterThan(150);
    expect(toProduction).toBeGreaterThan(250);
    expect(after.versions[candidate].requests - before.versions[candidate].requests).toBe(toCandidate);
    expect(after.versions[production].requests - before.versions[production].requests).toBe(toProduction);
    // The candidate's window holds only its own (undrifted) rows: measured against its own reference.
    const c = after.versions[candidate];
    expect(c.window).toBe(c.requests);
    expect(c.drifted).toEqual([]);
    const manifest = JSON.parse(
      await readFile(path.join(registry, 'versions', candidate, 'manifest.json'), 'utf8'),
    ) as { reference: { features: { name: string; edges: number[] }[] } };
    expect(c.features[SCALED].edges).toEqual(manifest.reference.features[1].edges);
  });

  it('says "no reference" for a version published before drift monitoring, and still counts it', async () => {
    // A manifest as older Flywheel wrote it: no reference field (the backend tests' publisher).
    const registryApi = new Registry(registry);
    const [old] = await trainModels(1, 250, 4);
    const version = await publish(registryApi, old);
    await registryApi.setAlias('candidate', version, { reason: 'drift test: a version without reference' });
    await waitFor(
      async () => {
        await postRows(pool, [rowBody(live, 0), rowBody(live, 1), rowBody(live, 2), rowBody(live, 3)]);
        const v = (await drift(gateway.url)).versions[version];
        return v !== undefined && v.requests > 0;
      },
      { timeoutMs: 15_000, what: 'the old version to answer and be measured' },
    );
    const v = (await drift(gateway.url)).versions[version];
    expect(v).toMatchObject({ reference: 'none', prediction: null, drifted: [] });
    expect(v.note).toMatch(/no reference/);
    expect(v.features).toEqual({});
    const metrics = await (await request(`${gateway.url}/metrics`)).body.text();
    expect(metrics).not.toContain(`flywheel_feature_drift_psi{version="${version}"`);
  });
});
