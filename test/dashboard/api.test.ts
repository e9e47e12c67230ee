// The dashboard's HTTP side, mounted in a real gateway on 127.0.0.1: the page and every file it loads
// are served from the gateway itself, the overview reflects a real registry folder, routing file and
// local-stack state file, and bad requests get the project's JSON errors.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { Overview } from '../../src/gateway/dashboard/api-types.js';
import { mountDashboard } from '../../src/gateway/dashboard/mount.js';
import { Gateway } from '../../src/gateway/server.js';
import { statePath } from '../../src/local/paths.js';
import { writeState, type StackState } from '../../src/local/state.js';
import { createLogger } from '../../src/log.js';
import { Registry } from '../../src/registry/registry.js';
import { ROUTING_FILE, updateRouting } from '../../src/registry/routing.js';
import { publishInput, tempDir } from '../registry/helpers.js';
import { waitFor } from '../helpers/wait.js';

const HOSTILE = '<img src=x onerror="alert(1)"> & "quotes"';

let registryDir: string;
let cleanup: () => Promise<void>;
let gateway: Gateway;
let base: string;
const versions: string[] = [];

function stackState(overrides: Partial<StackState['supervisor']> = {}): StackState {
  const now = Date.now();
  const iso = (ago: number) => new Date(now - ago).toISOString();
  return {
    format: 1,
    supervisor: {
      pid: process.pid,
      state: 'running',
      started_at: iso(60_000),
      host: os.hostname(),
      url: 'http://127.0.0.1:30080',
      ...overrides,
    },
    components: [
      {
        name: 'gateway',
        role: 'gateway',
        replica: null,
        pid: process.pid,
        port: 30080,
        url: 'http://127.0.0.1:30080',
        state: 'running',
        restarts: 0,
        started_at: iso(50_000),
        last_exit: null,
      },
      {
        name: 'backend-0',
        role: 'backend',
        replica: 0,
        pid: 4242,
        port: 5001,
        url: 'http://127.0.0.1:5001',
        state: 'backoff',
        restarts: 3,
        started_at: null,
        last_exit: { code: 1, signal: null, at: iso(1000) },
      },
    ],
    schedule: {
      cron: '*/2 * * * *',
      next_run: iso(-30_000),
      running_since: iso(2000),
      last_runs: [
        {
          started_at: iso(240_000),
          duration_ms: 1500,
          outcome: 'succeeded',
          trigger: 'startup',
          version: 'v-first',
          promoted: true,
          exit_code: 0,
          message: null,
        },
        {
          started_at: iso(120_000),
          duration_ms: 900,
          outcome: 'failed',
          trigger: 'schedule',
          version: null,
          promoted: null,
          exit_code: 1,
          message: HOSTILE,
        },
      ],
    },
    rollout: {
      generation: 0,
      status: 'idle',
      started_at: null,
      finished_at: null,
      replaced: 0,
      total: 0,
      message: null,
    },
    updated_at: new Date(now).toISOString(),
  };
}

async function overview(query = ''): Promise<Overview> {
  const res = await fetch(`${base}/dashboard/api/overview${query}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return (await res.json()) as Overview;
}

beforeAll(async () => {
  ({ dir: registryDir, cleanup } = await tempDir('dashboard-api'));
  const registry = new Registry(registryDir);
  await registry.init();
  for (let i = 1; i <= 4; i++) versions.push((await registry.publish(publishInput(i))).version);
  await registry.setAlias('production', versions[0], { reason: HOSTILE });
  await registry.promote(versions[1], { reason: 'better holdout R²' });
  await registry.setAlias('candidate', versions[2], { reason: 'canary policy' });
  // A version whose manifest was damaged after publishing: listed, marked, not fatal.
  await writeFile(path.join(registry.paths.versions, versions[3], 'manifest.json'), '{ not json');
  await updateRouting(registryDir, { mode: 'canary', weight: 10 }, { reason: 'test' });
  await mkdir(path.dirname(statePath(registryDir)), { recursive: true });
  await writeState(statePath(registryDir), stackState());

  const config = loadConfig(
    'gateway',
    { registry: registryDir, host: '127.0.0.1', port: '0', backends: 'http://127.0.0.1:9' },
    {},
  );
  gateway = new Gateway(config, createLogger({ role: 'gateway', level: 'silent' }));
  mountDashboard(gateway, { dashboard: { sampler: { intervalMs: 200 } } });
  await gateway.start();
  base = gateway.url;
});

afterAll(async () => {
  await gateway?.close();
  await cleanup?.();
});

describe('the page and its files', () => {
  it('serves the page at / and /dashboard with a policy that allows only its own origin', async () => {
    for (const p of ['/', '/dashboard', '/dashboard/']) {
      const res = await fetch(`${base}${p}`);
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toContain('<script src="/dashboard/assets/app.js" type="module">');
    }
  });

  it('serves every file the page and its modules load, from this gateway only', async () => {
    const html = await (await fetch(`${base}/`)).text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThanOrEqual(4);
    for (const ref of refs) {
      // data: (the empty favicon) or a path on this gateway: never another host.
      expect(ref.startsWith('data:') || ref.startsWith('/dashboard/assets/'), ref).toBe(true);
    }
    const queue = refs.filter((r) => r.startsWith('/'));
    const seen = new Set<string>();
    while (queue.length > 0) {
      const ref = queue.shift() as string;
      if (seen.has(ref)) continue;
      seen.add(ref);
      const res = await fetch(`${base}${ref}`);
      expect(res.status, ref).toBe(200);
      const type = res.headers.get('content-type') ?? '';
      expect(type, ref).toMatch(ref.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      const text = await res.text();
      if (ref.endsWith('.js') && !ref.includes('uPlot')) {
        for (const m of text.matchAll(/from '(\.\/[^']+)'/g))
          queue.push(`/dashboard/assets/${m[1].slice(2)}`);
      }
    }
    expect(seen.has('/dashboard/assets/dom.js')).toBe(true);
    expect(seen.has('/dashboard/assets/uPlot.iife.min.js')).toBe(true);
  });

  it('answers a revalidation with 304 and a HEAD without a body', async () => {
    const first = await fetch(`${base}/dashboard/assets/app.js`);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await fetch(`${base}/dashboard/assets/app.js`, {
      headers: { 'if-none-match': etag ?? '' },
    });
    expect(again.status).toBe(304);
    const head = await fetch(`${base}/dashboard`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('refuses unknown files, paths out of the folder, other methods and a bad `since` with JSON errors', async () => {
    const cases: [string, RequestInit, number, string][] = [
      ['/dashboard/assets/nope.js', {}, 404, 'FLY_ERR_NOT_FOUND'],
      ['/dashboard/assets/..%2F..%2F..%2Fpackage.json', {}, 404, 'FLY_ERR_NOT_FOUND'],
      ['/dashboard/assets/../index.js', {}, 404, 'FLY_ERR_NOT_FOUND'],
      ['/', { method: 'POST', body: '{}' }, 404, 'FLY_ERR_NOT_FOUND'],
      ['/dashboard/api/overview?since=yesterday', {}, 400, 'FLY_ERR_BAD_REQUEST'],
      ['/dashboard/api/overview?since=-5', {}, 400, 'FLY_ERR_BAD_REQUEST'],
    ];
    for (const [p, init, status, code] of cases) {
      const res = await fetch(`${base}${p}`, init);
      expect(res.status, p).toBe(status);
      const body = (await res.json()) as { error: string; code: string };
      expect(body.code, p).toBe(code);
      expect(body.error).toEqual(expect.any(String));
    }
    // Still serving after all that.
    expect((await fetch(`${base}/dashboard`)).status).toBe(200);
  });
});

describe('the overview', () => {
  it('shows the registry: versions newest first with metrics, aliases, and the alias history', async () => {
    const ov = await overview();
    expect(ov.registry.production).toBe(versions[1]);
    expect(ov.registry.candidate).toBe(versions[2]);
    expect(ov.registry.versions.map((v) => v.version)).toEqual([...versions].reverse());
    const [broken, cand, prod, first] = ov.registry.versions;
    expect(broken.problem).toMatch(/manifest/);
    expect(cand.aliases).toEqual(['candidate']);
    expect(prod.aliases).toEqual(['production']);
    expect(first.aliases).toEqual([]);
    expect(prod).toMatchObject({
      source: 'synthetic',
      rows: 102,
      algorithm: 'random-forest',
      origin: 'Flywheel learner',
      problem: null,
    });
    expect(prod.r2).toBeCloseTo(0.52, 10);
    expect(prod.mae).toBe(1);
    expect(ov.registry.history.map((h) => [h.alias, h.to, h.action])).toEqual([
      ['candidate', versions[2], 'set'],
      ['production', versions[1], 'promote'],
      ['production', versions[0], 'set'],
    ]);
    // Text from the registry reaches the page as it is; the page shows it as text.
    expect(ov.registry.history[2].reason).toBe(HOSTILE);
    expect(ov.routing).toMatchObject({ mode: 'canary', weight: 10 });
    expect(ov.problems).toEqual([]);
  });

  it('shows the gateway and the replicas its balancer knows', async () => {
    const ov = await overview();
    expect(ov.gateway.id).toBe(gateway.config.gatewayId);
    expect(ov.gateway.admin_enabled).toBe(false);
    expect(ov.gateway.balance).toBe('least-outstanding');
    expect(ov.gateway.started_at).not.toBeNull();
    expect(ov.replicas.map((r) => r.url)).toEqual(['http://127.0.0.1:9']);
    expect(ov.replicas[0].state).not.toBe('healthy'); // nothing listens on port 9
    // No experiment layer in this gateway: no analysis, no per-version series.
    expect(ov.analysis).toBeNull();
    expect(ov.series.versions).toEqual([]);
  });

  it('shows the local stack: processes, schedule, and runs newest first with the one running', async () => {
    const ov = await overview();
    expect(ov.stack).not.toBeNull();
    const stack = ov.stack as NonNullable<Overview['stack']>;
    expect(stack.schedule).toBe('*/2 * * * *');
    expect(stack.components.map((c) => [c.name, c.state, c.restarts])).toEqual([
      ['gateway', 'running', 0],
      ['backend-0', 'backoff', 3],
    ]);
    expect(stack.runs.map((r) => r.outcome)).toEqual(['running', 'failed', 'succeeded']);
    expect(stack.runs[1]).toMatchObject({ duration_s: 0.9, detail: HOSTILE, version: null });
    expect(stack.runs[2]).toMatchObject({ version: 'v-first', detail: 'promoted' });
  });

  it('leaves out the state file of a stack that has stopped', async () => {
    await writeState(statePath(registryDir), stackState({ state: 'stopped' }));
    try {
      await waitFor(async () => (await overview()).stack === null, { timeoutMs: 5000, what: 'stack gone' });
    } finally {
      await writeState(statePath(registryDir), stackState());
    }
  });

  it('says what it could not read instead of failing: a damaged routing file', async () => {
    await writeFile(path.join(registryDir, ROUTING_FILE), 'not json');
    try {
      const ov = await waitFor(
        async () => {
          const o = await overview();
          return o.routing === null ? o : null;
        },
        { timeoutMs: 5000, what: 'the damaged routing file to show' },
      );
      expect(ov.problems.join('\n')).toMatch(/routing/);
      expect(ov.registry.versions).toHaveLength(4); // the rest still there
    } finally {
      await updateRouting(registryDir, { mode: 'canary', weight: 10 }, { reason: 'test repair' });
    }
  });

  it('keeps sampling, and returns only the samples after `since`', async () => {
    const first = await waitFor(
      async () => {
        const o = await overview();
        return o.series.t.length >= 2 ? o : null;
      },
      { timeoutMs: 5000, what: 'two samples' },
    );
    expect(first.series.interval_s).toBeCloseTo(0.2, 10);
    const last = first.series.t[first.series.t.length - 1];
    const later = await waitFor(
      async () => {
        const o = await overview(`?since=${last}`);
        return o.series.t.length > 0 ? o : null;
      },
      { timeoutMs: 5000, what: 'a newer sample' },
    );
    expect(later.series.t.every((t) => t > last)).toBe(true);
  });
});
