// Drift across several gateways with real processes: a `flywheel train`, two `flywheel serve` backends
// and two `flywheel gateway`s in front of both, on one temp registry. Drifted traffic (one feature × 1.8)
// goes half through each gateway, each half below --drift-min-requests, the whole above it: both
// gateways' GET /drift answer with the same merged counts and flag that feature, while each process's
// gauges keep its own traffic. A forged drift section in a peer file is left out with a warning.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Pool, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriftDocument } from '../../../src/gateway/dashboard/drift-types.js';
import { generateSynthetic } from '../../../src/trainer/data/synthetic.js';
import { startRole, train, type Proc } from '../experiments/procs.js';
import { postRows, rowBody } from '../../helpers/rows.js';
import { waitFor } from '../../helpers/wait.js';

const SCALED = 'visits_per_week';
const MIN_REQUESTS = 200;
const EACH = 150;

let registry: string;
let production: string;
const backends: Proc[] = [];
const gateways: Proc[] = [];
const live = generateSynthetic(3000, 4242);

async function drift(g: Proc): Promise<DriftDocument> {
  const res = await request(`${g.url}/drift`);
  expect(res.statusCode).toBe(200);
  return (await res.body.json()) as DriftDocument;
}

beforeAll(async () => {
  registry = await mkdtemp(path.join(os.tmpdir(), 'flywheel-drift-multi-'));
  production = await train(registry, ['--rows', '2000', '--seed', '1']);
  backends.push(
    ...(await Promise.all(
      [0, 1].map(() => startRole(['serve', '--registry', registry, '--log-level', 'warn'])),
    )),
  );
  gateways.push(
    ...(await Promise.all(
      ['g1', 'g2'].map((id) =>
        startRole([
          'gateway',
          '--registry',
          registry,
          '--backends',
          backends.map((b) => b.url).join(','),
          '--gateway-id',
          id,
          '--drift-min-requests',
          String(MIN_REQUESTS),
          '--analysis-interval',
          '0',
          '--log-level',
          'warn',
        ]),
      ),
    )),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([...gateways, ...backends].map((p) => p.stop()));
  if (registry) await rm(registry, { recursive: true, force: true });
}, 30_000);

describe.sequential('drift with two gateways on one registry', () => {
  it('answers on both gateways with the merged counts, flagging the feature neither sees enough of alone', async () => {
    const pools = gateways.map((g) => new Pool(g.url, { connections: 4 }));
    try {
      // A version's first answer makes a gateway read its reference (that row is not counted).
      await Promise.all(pools.map((p, k) => postRows(p, [rowBody(live, 2900 + k)])));
      for (const g of gateways) {
        await waitFor(async () => (await drift(g)).versions[production] !== undefined, {
          timeoutMs: 10_000,
          what: `${g.url} to measure ${production}`,
        });
      }
      const answered = await Promise.all(
        pools.map((p, k) =>
          postRows(
            p,
            Array.from({ length: EACH }, (_, i) => rowBody(live, k * EACH + i, { [SCALED]: 1.8 })),
            4,
          ),
        ),
      );
      for (const a of answered) expect(a.get(`200 ${production}`)).toBe(EACH);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }

    // Published about once a second and read on the same tick; generous on a loaded machine.
    const docs = await waitFor(
      async () => {
        const ds = await Promise.all(gateways.map(drift));
        return ds.every((d) => d.gateways === 2 && d.versions[production]?.window === 2 * EACH) ? ds : null;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: `both gateways to merge ${2 * EACH} rows` },
    );
    for (const d of docs) {
      expect(d.scope).toBe('merged across 2 gateways');
      const v = d.versions[production];
      expect(v.requests).toBe(2 * EACH);
      expect(v.note).toBeNull();
      expect(v.drifted).toEqual([SCALED]);
      expect(v.features[SCALED].level).toBe('alert');
    }
    expect(docs[1].versions[production].features).toEqual(docs[0].versions[production].features);
    expect(docs[1].versions[production].prediction).toEqual(docs[0].versions[production].prediction);

    // /metrics stays per process: each gateway's own window, below the minimum, so no PSI gauge.
    for (const g of gateways) {
      const metrics = await (await request(`${g.url}/metrics`)).body.text();
      expect(metrics).toMatch(
        new RegExp(`^flywheel_drift_window_requests\\{version="${production}"\\} ${EACH}$`, 'm'),
      );
      expect(metrics).not.toMatch(/^flywheel_feature_drift_psi\{/m);
    }
  });

  it('leaves a forged peer drift section out of the merge, with one warning per gateway', async () => {
    const before = await Promise.all(gateways.map(drift));
    await writeFile(
      path.join(registry, 'gateways', 'forged.json'),
      JSON.stringify({
        format: 1,
        gateway: 'forged',
        host: 'elsewhere',
        pid: 1,
        started_at: new Date().toISOString(),
        written_at: new Date().toISOString(),
        replicas: [],
        versions: [],
        drift: {
          gateways: 1,
          versions: {
            [production]: { requests: 1e6, window: 1e6, features: { [SCALED]: [1e6] }, prediction: null },
          },
        },
      }),
    );
    for (const [k, g] of gateways.entries()) {
      await waitFor(
        async () => {
          await drift(g);
          return g.logs().includes('drift: peer snapshot skipped');
        },
        { timeoutMs: 10_000, intervalMs: 100, what: `${g.url} to warn about the forged drift section` },
      );
      for (let i = 0; i < 3; i++) {
        const d = await drift(g);
        expect(d.gateways).toBe(2);
        expect(d.versions[production].window).toBe(before[k].versions[production].window);
        expect(d.versions[production].features).toEqual(before[k].versions[production].features);
      }
      const warnings = g
        .logs()
        .split('\n')
        .filter((l) => l.includes('drift: peer snapshot skipped'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/"gateway":"forged"/);
    }
    await rm(path.join(registry, 'gateways', 'forged.json'));
  });
});
