// Several gateway processes on one registry folder answer with one set of figures: each publishes its
// per-version figures to the registry and every one of them reports the merge of all live gateways.
// Real processes throughout: a trainer, two backends and three gateways, with a real canary split.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSynthetic } from '../../../src/trainer/data/synthetic.js';
import { waitFor } from '../../helpers/wait.js';
import {
  call,
  gatewayArgs as sharedGatewayArgs,
  predict,
  rowBody,
  startRole,
  TOKEN,
  train,
  type Proc,
} from './procs.js';

interface VersionFigures {
  version: string;
  requests: number;
  pinned_requests: number;
  shadow_requests: number;
  errors: number;
}
interface Report {
  merged: { gateways: string[]; count: number };
  versions: VersionFigures[];
  comparison: unknown;
  verdict: unknown;
}

const PEER_EXPIRY_MS = 3000;
let registry: string;
let production: string;
let candidate: string;
const backends: Proc[] = [];
const gateways: Proc[] = [];
const rows = generateSynthetic(1000, 99);

function gatewayArgs(id: string): string[] {
  return sharedGatewayArgs(registry, backends, id, [
    '--analysis-interval',
    '0',
    '--peer-expiry',
    `${PEER_EXPIRY_MS}ms`,
  ]);
}

async function report(g: Proc): Promise<Report> {
  const r = await call(g.url, 'GET', '/experiments');
  expect(r.status).toBe(200);
  return r.json as unknown as Report;
}

const served = (r: Report) => r.versions.reduce((n, v) => n + v.requests, 0);
const of = (r: Report, version: string) => r.versions.find((v) => v.version === version);

beforeAll(async () => {
  registry = await mkdtemp(path.join(os.tmpdir(), 'flywheel-multi-'));
  production = await train(registry, ['--rows', '300', '--seed', '1']);
  candidate = await train(registry, ['--rows', '300', '--seed', '2', '--promote', 'canary']);
  backends.push(
    ...(await Promise.all(
      [0, 1].map(() =>
        startRole(['serve', '--registry', registry, '--poll-interval', '100ms', '--log-level', 'warn']),
      ),
    )),
  );
  gateways.push(...(await Promise.all(['g1', 'g2', 'g3'].map((id) => startRole(gatewayArgs(id))))));
  const r = await call(gateways[0].url, 'PUT', '/admin/traffic', {
    token: TOKEN,
    body: { mode: 'canary', weight: 50 },
  });
  expect(r.status).toBe(200);
}, 90_000);

afterAll(async () => {
  await Promise.all([...gateways, ...backends].map((p) => p.stop()));
  await rm(registry, { recursive: true, force: true });
}, 30_000);

describe.sequential('three gateways on one registry', () => {
  it('every gateway shows the requests sent through all of them within 3 s, with the same comparison and verdict', async () => {
    // Every gateway follows the split (read from the registry) before traffic starts.
    for (const g of gateways) {
      await waitFor(
        async () => ((await report(g)) as unknown as { routing: { mode: string } }).routing.mode === 'canary',
        {
          timeoutMs: 5000,
          what: `${g.url} to follow the canary split`,
        },
      );
    }
    const sent = [120, 90, 60];
    await Promise.all(
      gateways.map(async (g, k) => {
        const pool = new Pool(g.url, { connections: 4 });
        for (let i = 0; i < sent[k]; i++) {
          expect((await predict(pool, rowBody(rows, (k * 200 + i) % 1000))).status).toBe(200);
        }
        await pool.close();
      }),
    );
    const total = sent.reduce((a, b) => a + b, 0);
    // Published about once a second and read on the same tick: all of it is everywhere within 3 s.
    const reports = await waitFor(
      async () => {
        const rs = await Promise.all(gateways.map(report));
        return rs.every((r) => r.merged.count === 3 && served(r) === total) ? rs : null;
      },
      { timeoutMs: 3000, intervalMs: 50, what: `all three gateways to report ${total} requests` },
    );
    for (const r of reports) expect([...r.merged.gateways].sort()).toEqual(['g1', 'g2', 'g3']);
    expect(reports[0].comparison).not.toBeNull();
    for (const r of reports.slice(1)) {
      expect(r.comparison).toEqual(reports[0].comparison);
      expect(r.verdict).toEqual(reports[0].verdict);
      expect(r.versions).toEqual(reports[0].versions);
    }
    // The dashboard, on any gateway, shows the other gateways and the replicas they balance (how the
    // page pictures a deployment with no local stack), and the same merged figures.
    const ov = (await call(gateways[1].url, 'GET', '/dashboard/api/overview')).json as unknown as {
      peers: { id: string; replicas: { url: string; state: string }[] }[];
      analysis: { versions: { version: string; requests: number }[] };
    };
    expect(ov.peers.map((p) => p.id).sort()).toEqual(['g1', 'g3']);
    for (const p of ov.peers)
      expect(p.replicas.map((r) => r.url).sort()).toEqual(backends.map((b) => b.url).sort());
    expect(ov.analysis.versions.reduce((n, v) => n + v.requests, 0)).toBe(total);
    // Each file also carries the gateway's drift counts (the seam for a merged GET /drift).
    const file = JSON.parse(await readFile(path.join(registry, 'gateways', 'g1.json'), 'utf8')) as {
      drift?: { versions: Record<string, { requests: number }> };
    };
    expect(Object.values(file.drift!.versions).reduce((n, v) => n + v.requests, 0)).toBeGreaterThan(0);
    // The split really sent both versions traffic (a comparison of something).
    expect(of(reports[0], candidate)!.requests).toBeGreaterThan(30);
    expect(of(reports[0], production)!.requests).toBeGreaterThan(30);
  });

  it('counts 300 requests pinned to the candidate in their own column, leaving its canary figures unchanged', async () => {
    const settle = async () =>
      waitFor(
        async () => {
          const rs = await Promise.all(gateways.map(report));
          return rs.every((r) => JSON.stringify(r.versions) === JSON.stringify(rs[0].versions))
            ? rs[0]
            : null;
        },
        { timeoutMs: 5000, what: 'the gateways to agree' },
      );
    const before = await settle();
    const pool = new Pool(gateways[1].url, { connections: 4 });
    for (let i = 0; i < 300; i++) {
      const a = await predict(pool, rowBody(rows, i), { 'x-model-version': candidate });
      expect(a.status).toBe(200);
      expect(a.version).toBe(candidate);
    }
    await pool.close();
    const after = await waitFor(
      async () => {
        const r = await settle();
        return of(r, candidate)!.pinned_requests - of(before, candidate)!.pinned_requests === 300 ? r : null;
      },
      { timeoutMs: 5000, what: 'the 300 pinned requests to be merged everywhere' },
    );
    const strip = (r: Report) =>
      r.versions.map(
        ({ pinned_requests: _p, pinned: _q, ...rest }: VersionFigures & { pinned?: unknown }) => rest,
      );
    // The served column, the comparison and the verdict are exactly as before.
    expect(strip(after)).toEqual(strip(before));
    expect(after.comparison).toEqual(before.comparison);
    // The verdict too, but for its clock ("observed 12s of 60s" moves on by itself).
    const timeless = (r: Report) => {
      const v = r.verdict as { decision: string; reasons: string[] };
      return { decision: v.decision, reasons: v.reasons.filter((x) => !x.startsWith('observed')) };
    };
    expect(timeless(after)).toEqual(timeless(before));
  });

  it('skips a corrupt or half-written peer file with a warning and never merges it', async () => {
    const dir = path.join(registry, 'gateways');
    const baseline = await report(gateways[0]);
    await writeFile(path.join(dir, 'torn.json'), '{"format":1,"gateway":"torn","versions":[{"vers');
    await writeFile(
      path.join(dir, 'forged.json'),
      JSON.stringify({
        format: 1,
        gateway: 'forged',
        versions: [
          {
            version: candidate,
            first_seen_ms: 1,
            served: {
              requests: -5,
              errors: 0,
              latency: [0, 0, 0],
              latency_buckets: [],
              prediction: [0, 0, 0],
              abs_error: [0, 0, 0],
            },
            pinned: {},
            shadow: {},
          },
        ],
      }),
    );
    for (const g of gateways) {
      await waitFor(() => g.logs().includes('forged.json') && g.logs().includes('torn.json'), {
        timeoutMs: 5000,
        what: `${g.url} to warn about both files`,
      });
      expect(g.logs()).toMatch(/gateway figures file skipped/);
      const r = await report(g);
      expect(r.merged.count).toBe(3);
      expect(served(r)).toBe(served(baseline));
    }
    await rm(path.join(dir, 'torn.json'));
    await rm(path.join(dir, 'forged.json'));
  });

  it('stops counting a killed gateway once its file is older than --peer-expiry', async () => {
    const [g1, , g3] = gateways;
    const whole = await report(g1);
    expect(whole.merged.count).toBe(3);
    g3.proc.kill('SIGKILL');
    await g3.stop();
    const r = await waitFor(
      async () => {
        const now = await report(g1);
        return now.merged.count === 2 ? now : null;
      },
      { timeoutMs: PEER_EXPIRY_MS + 5000, what: 'g3 to drop out of the merge' },
    );
    expect(r.merged.gateways).toEqual(['g1', 'g2']);
    // The 60 requests g3 served itself are gone from the total; g1's and g2's are all still there.
    expect(served(r)).toBe(served(whole) - 60);
    gateways.pop();
  });
});
