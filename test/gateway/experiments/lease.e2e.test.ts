// One decision among several gateway processes: only the holder of the analysis lease in the registry
// runs the automatic analysis. Real processes on one registry folder (a trainer, two backends, up to
// three gateways), short lease timings set by flags. The candidate's minimum observation time keeps
// every verdict at "wait" until the test has killed or stopped the holder, so the decision always falls
// to the gateway that took the lease over.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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

const LEASE_MS = 3000;
/** Long enough that the holder is always killed or stopped before any verdict can be reached. */
const MIN_DURATION_MS = 12_000;
let registry: string;
const backends: Proc[] = [];
const gateways = new Map<string, Proc>();
const rows = generateSynthetic(1000, 7);

function gatewayArgs(id: string): string[] {
  return sharedGatewayArgs(registry, backends, id, [
    '--analysis-interval',
    '200ms',
    '--analysis-min-requests',
    '30',
    '--analysis-min-duration',
    `${MIN_DURATION_MS}ms`,
    '--analysis-min-feedback',
    '0',
    '--analysis-max-latency-ratio',
    '100',
    '--analysis-max-error-increase',
    '0.5',
    '--lease-duration',
    `${LEASE_MS}ms`,
    '--lease-renew-deadline',
    '2s',
    '--lease-retry-period',
    '300ms',
    '--peer-expiry',
    '30s',
    '--log-level',
    'info',
  ]);
}

interface LeaseView {
  holder: string | null;
  leading: boolean;
}
async function leaseOf(g: Proc): Promise<LeaseView> {
  const r = await call(g.url, 'GET', '/experiments');
  return (r.json.analysis as { lease: LeaseView }).lease;
}
async function leaseFile(): Promise<{ holder: string; transitions: number }> {
  return JSON.parse(await readFile(path.join(registry, 'leases', 'analysis.json'), 'utf8')) as {
    holder: string;
    transitions: number;
  };
}

interface HistoryEntry {
  alias: string;
  from: string | null;
  to: string | null;
  by: string;
  action: string;
  evidence?: { gateway?: string; merged?: { gateways: string[]; count: number } };
}
/** The automatic promote-or-rollback decisions recorded about one candidate. */
async function decisionsAbout(candidate: string): Promise<HistoryEntry[]> {
  const lines = (await readFile(path.join(registry, 'history.jsonl'), 'utf8')).split('\n').filter(Boolean);
  return lines
    .map((l) => JSON.parse(l) as HistoryEntry)
    .filter((h) => h.by.startsWith('analysis:'))
    .filter(
      (h) =>
        (h.alias === 'production' && h.to === candidate && h.action === 'promote') ||
        (h.alias === 'candidate' && h.from === candidate && h.to === null && h.action !== 'promote'),
    );
}

async function newCanary(seed: number): Promise<string> {
  const candidate = await train(registry, ['--rows', '300', '--seed', String(seed), '--promote', 'canary']);
  const any = [...gateways.values()][0];
  const r = await call(any.url, 'PUT', '/admin/traffic', {
    token: TOKEN,
    body: { mode: 'canary', weight: 50 },
  });
  expect(r.status).toBe(200);
  for (const g of gateways.values()) {
    await waitFor(
      async () => {
        const e = await call(g.url, 'GET', '/experiments');
        return (e.json.aliases as { candidate: string | null }).candidate === candidate;
      },
      { timeoutMs: 10_000, what: `${g.url} to see candidate ${candidate}` },
    );
  }
  return candidate;
}

/**
 * Enough traffic through every live gateway for the minimum sample (the duration still blocks): each
 * gateway alone gets about 60 requests per version at 50%, twice the minimum, so the decision never
 * depends on a stopped or killed gateway having published its last figures.
 */
async function traffic(): Promise<void> {
  await Promise.all(
    [...gateways.values()].map(async (g, k) => {
      const pool = new Pool(g.url, { connections: 4 });
      for (let i = 0; i < 120; i++)
        expect((await predict(pool, rowBody(rows, k * 100 + i))).status).toBe(200);
      await pool.close();
    }),
  );
}

/**
 * Waits for the first recorded decision about the candidate (the alias file changes a moment before
 * its history line is appended), then until every live gateway has seen it, so that a second decision
 * by any of them would have been recorded by the time the test counts.
 */
async function decided(candidate: string, stopped?: Proc): Promise<void> {
  await waitFor(async () => (await decisionsAbout(candidate)).length > 0, {
    timeoutMs: MIN_DURATION_MS + 20_000,
    what: 'a decision about the candidate',
  });
  for (const g of gateways.values()) {
    if (g.proc === stopped?.proc) continue; // a stopped process answers nothing
    await waitFor(
      async () => {
        const e = await call(g.url, 'GET', '/experiments');
        return (e.json.aliases as { candidate: string | null }).candidate !== candidate;
      },
      { timeoutMs: 10_000, what: `${g.url} to see the decision` },
    );
  }
}

async function holder(): Promise<Proc & { id: string }> {
  const id = await waitFor(async () => (await leaseFile()).holder || null, {
    timeoutMs: LEASE_MS * 3,
    what: 'a lease holder',
  });
  return { ...gateways.get(id)!, id };
}

beforeAll(async () => {
  registry = await mkdtemp(path.join(os.tmpdir(), 'flywheel-lease-'));
  await train(registry, ['--rows', '300', '--seed', '1']);
  backends.push(
    ...(await Promise.all(
      [0, 1].map(() =>
        startRole(['serve', '--registry', registry, '--poll-interval', '100ms', '--log-level', 'warn']),
      ),
    )),
  );
}, 60_000);

afterAll(async () => {
  for (const g of gateways.values()) g.proc.kill('SIGCONT');
  await Promise.all([...gateways.values(), ...backends].map((p) => p.stop()));
  await rm(registry, { recursive: true, force: true });
}, 30_000);

describe.sequential('the analysis lease across gateway processes', () => {
  it('elects one holder among gateways started at the same instant', async () => {
    const started = await Promise.all(['g1', 'g2'].map((id) => startRole(gatewayArgs(id))));
    started.forEach((p, i) => gateways.set(`g${i + 1}`, p));
    const h = await holder();
    const leaders = async () => (await Promise.all(started.map(leaseOf))).filter((v) => v.leading).length;
    await waitFor(async () => (await leaders()) === 1, { timeoutMs: 5000, what: 'the holder to lead' });
    // Over several retry periods, exactly one gateway leads and every gateway names it.
    for (let round = 0; round < 8; round++) {
      const views = await Promise.all(started.map(leaseOf));
      expect(views.filter((v) => v.leading)).toHaveLength(1);
      expect((await leaseFile()).holder).toBe(h.id);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect((await leaseFile()).transitions).toBe(1);
  });

  it('moves the lease when the holder is SIGKILLed during a canary, and records exactly one decision', async () => {
    gateways.set('g3', await startRole(gatewayArgs('g3')));
    const candidate = await newCanary(2);
    await traffic();
    const h = await holder();
    h.proc.kill('SIGKILL');
    await h.stop();
    gateways.delete(h.id);
    // Another gateway takes over within the lease duration (plus a retry period and slack for load).
    const next = await waitFor(
      async () => {
        const id = (await leaseFile()).holder;
        return id !== h.id && id !== '' ? id : null;
      },
      { timeoutMs: LEASE_MS + 4000, what: 'another gateway to take the lease over' },
    );
    await decided(candidate);
    const decisions = await decisionsAbout(candidate);
    expect(decisions).toHaveLength(1);
    expect(decisions[0].by).toBe(`analysis:gateway:${next}`);
    expect(decisions[0].evidence!.gateway).toBe(next);
    // The decision rests on the merge: the new holder's figures and at least one other gateway's.
    expect(decisions[0].evidence!.merged!.count).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it('moves the lease away from a SIGSTOPped holder, which does not act on it when resumed', async () => {
    const candidate = await newCanary(3);
    await traffic();
    const h = await holder();
    h.proc.kill('SIGSTOP');
    let resumed = false;
    try {
      const next = await waitFor(
        async () => {
          const id = (await leaseFile()).holder;
          return id !== h.id && id !== '' ? id : null;
        },
        { timeoutMs: LEASE_MS + 4000, what: 'the lease to move off the stopped holder' },
      );
      await decided(candidate, h);
      // Resumed, the old holder's timers fire at once with its stale picture (the candidate still there,
      // the minimum duration passed): it must see that its lease is gone and not act.
      const logsBefore = h.logs().length;
      h.proc.kill('SIGCONT');
      resumed = true;
      // Generous: its first renewals after SIGCONT may fail on a registry lock broken while it was
      // stopped, each retried after the retry period; at load 11 one run needed more than 10 s.
      await waitFor(() => h.logs().includes('lease lost to another process'), {
        timeoutMs: 25_000,
        what: 'the resumed gateway to notice it lost the lease',
      });
      const view = await leaseOf(h);
      expect(view.leading).toBe(false);
      expect(view.holder).toBe(next);
      const report = await call(h.url, 'GET', '/experiments');
      const tried = (report.json.analysis as { decisions: { candidate: string }[] }).decisions;
      expect(tried.filter((d) => d.candidate === candidate)).toEqual([]);
      expect(h.logs().slice(logsBefore)).not.toMatch(/canary analysis decided|canary decision not applied/);
      const decisions = await decisionsAbout(candidate);
      expect(decisions).toHaveLength(1);
      expect(decisions[0].by).toBe(`analysis:gateway:${next}`);
    } finally {
      if (!resumed) h.proc.kill('SIGCONT');
    }
  }, 90_000);
});
