// The experiment routes over real HTTP on 127.0.0.1, on a real registry folder: admin auth, traffic
// changes, promote/rollback with their alias history, feedback, and the CLI against both.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Registry as Metrics } from 'prom-client';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/log.js';
import { Registry } from '../../../src/registry/registry.js';
import { readRouting, readRoutingHistory } from '../../../src/registry/routing.js';
import { runDecision, runTraffic } from '../../../src/gateway/experiments/cli.js';
import { Experiments } from '../../../src/gateway/experiments/experiments.js';
import { publishInput, tempDir } from '../../registry/helpers.js';

const TOKEN = 's3cret-token-for-tests';
let dir: string;
let cleanup: () => Promise<void>;
let server: http.Server | undefined;
let ex: Experiments | undefined;
let base: string;

async function start(adminToken?: string): Promise<void> {
  const flags: Record<string, unknown> = {
    registry: dir,
    gatewayId: 'gw-test',
    analysisInterval: '0',
    routingPollInterval: '50ms',
    logLevel: 'silent',
  };
  if (adminToken) flags.adminToken = adminToken;
  const config = loadConfig('gateway', flags, {});
  ex = await Experiments.start({
    config,
    log: createLogger({ role: 'test', level: 'silent' }),
    metrics: new Metrics(),
  });
  const experiments = ex;
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void experiments
        .handle(req.method ?? 'GET', req.url ?? '/', req.headers, Buffer.concat(chunks).toString('utf8'))
        .then((r) => {
          if (r === null) {
            res.writeHead(404).end();
            return;
          }
          res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
          res.end(JSON.stringify(r.body));
        });
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function call(
  method: string,
  route: string,
  opts: { token?: string; auth?: string; body?: unknown } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.auth !== undefined) headers.authorization = opts.auth;
  const res = await request(`${base}${route}`, {
    method: method as 'GET',
    headers,
    ...(opts.body === undefined
      ? {}
      : { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) }),
  });
  return {
    status: res.statusCode,
    headers: res.headers,
    body: (await res.body.json()) as Record<string, unknown>,
  };
}

async function seedVersions(): Promise<{ reg: Registry; prod: string; cand: string }> {
  const reg = new Registry(dir);
  const prod = (await reg.publish(publishInput(1))).version;
  const cand = (await reg.publish(publishInput(2))).version;
  await reg.promote(prod, { reason: 'first' });
  await reg.setAlias('candidate', cand, { reason: 'canary' });
  return { reg, prod, cand };
}

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('admin'));
});
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
  await ex?.close();
  ex = undefined;
  await cleanup();
});

describe('admin routes', () => {
  it('are off, and say so, when no token is configured', async () => {
    await start();
    for (const [method, route] of [
      ['GET', '/admin/traffic'],
      ['PUT', '/admin/traffic'],
      ['POST', '/admin/promote'],
      ['POST', '/admin/rollback'],
    ]) {
      const r = await call(method, route, { token: 'anything', body: { mode: 'canary', weight: 50 } });
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('FLY_ERR_ADMIN_DISABLED');
    }
    expect((await readRouting(dir)).generation).toBe(0);
  });

  it('refuse a missing or wrong token with 401 and change nothing', async () => {
    const { reg, prod, cand } = await seedVersions();
    await start(TOKEN);
    const historyBefore = (await reg.history()).length;
    const attempts = [
      {},
      { token: 'wrong' },
      { token: `${TOKEN}x` },
      { token: TOKEN.replace(/.$/, 'X') },
      { auth: TOKEN },
      { auth: `Basic ${TOKEN}` },
      { auth: 'Bearer' },
    ];
    for (const a of attempts) {
      for (const [method, route, body] of [
        ['GET', '/admin/traffic', undefined],
        ['PUT', '/admin/traffic', { mode: 'canary', weight: 50 }],
        ['POST', '/admin/promote', {}],
        ['POST', '/admin/rollback', {}],
      ] as const) {
        const r = await call(method, route, { ...a, body });
        expect(r.status, `${method} ${route} ${JSON.stringify(a)}`).toBe(401);
        expect(r.body.code).toBe('FLY_ERR_UNAUTHORIZED');
        expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
      }
    }
    expect((await readRouting(dir)).generation).toBe(0);
    expect(await reg.readAliases()).toMatchObject({ production: prod, candidate: cand });
    expect((await reg.history()).length).toBe(historyBefore);
  });

  it('change the split with the token, validate it, and keep it in the registry', async () => {
    await start(TOKEN);
    const bad = await call('PUT', '/admin/traffic', { token: TOKEN, body: { mode: 'canary', weight: 150 } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('FLY_ERR_BAD_REQUEST');
    const notJson = await call('PUT', '/admin/traffic', { token: TOKEN, body: '{mode' });
    expect(notJson.body.code).toBe('FLY_ERR_BAD_JSON');
    expect((await readRouting(dir)).generation).toBe(0);

    const ok = await call('PUT', '/admin/traffic', { token: TOKEN, body: { mode: 'canary', weight: 10 } });
    expect(ok.status).toBe(200);
    // No candidate yet: the policy is stored, and the effective split says 100% production.
    expect(ok.body).toMatchObject({
      mode: 'canary',
      weight: 10,
      candidate: null,
      effective: { production: 100 },
    });
    expect(await readRouting(dir)).toMatchObject({ mode: 'canary', weight: 10, generation: 1 });
    const history = await readRoutingHistory(dir);
    expect(history[0]).toMatchObject({ by: 'gateway:gw-test', to: { mode: 'canary', weight: 10 } });
    const got = await call('GET', '/admin/traffic', { token: TOKEN });
    expect(got.body).toMatchObject({ mode: 'canary', weight: 10 });
  });

  it('promote and roll back the candidate, recording the decision in the alias history', async () => {
    const { reg, prod, cand } = await seedVersions();
    await start(TOKEN);
    const promoted = await call('POST', '/admin/promote', { token: TOKEN, body: { reason: 'looks good' } });
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({
      decision: 'promote',
      candidate: cand,
      aliases: { production: cand, candidate: null },
    });
    const last = (await reg.history()).at(-2)!;
    expect(last).toMatchObject({
      alias: 'production',
      from: prod,
      to: cand,
      reason: 'looks good',
      by: 'gateway:gw-test (admin)',
    });
    expect(last.evidence).toMatchObject({ decision: 'promote', gateway: 'gw-test' });

    const none = await call('POST', '/admin/rollback', { token: TOKEN });
    expect(none.status).toBe(409);
    expect(none.body.code).toBe('FLY_ERR_NO_CANDIDATE');

    const third = (await reg.publish(publishInput(3))).version;
    await reg.setAlias('candidate', third, { reason: 'canary' });
    const rolled = await call('POST', '/admin/rollback', { token: TOKEN });
    expect(rolled.body).toMatchObject({
      decision: 'rollback',
      candidate: third,
      aliases: { production: cand, candidate: null },
    });
    expect((await reg.history()).at(-1)).toMatchObject({ alias: 'candidate', from: third, to: null });
  });

  it('serve GET /experiments and POST /feedback without a token', async () => {
    // A real version: the prediction log names the header's values from the version's manifest.
    const { prod } = await seedVersions();
    await start(TOKEN);
    ex!.observe({
      requestId: 'req-1',
      route: { version: null, target: 'production', shadowVersion: null },
      answeredBy: prod,
      status: 200,
      latencyMs: 3,
      prediction: 40,
      features: '1',
    });
    const fb = await call('POST', '/feedback', { body: { request_id: 'req-1', actual: 43 } });
    expect(fb.status).toBe(200);
    expect(fb.body).toMatchObject({ recorded: 1, feedback: [{ request_id: 'req-1', actual: 43 }] });
    const dup = await call('POST', '/feedback', { body: { request_id: 'req-1', actual: 43 } });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('FLY_ERR_FEEDBACK_DUPLICATE');
    const report = await call('GET', '/experiments');
    const versions = report.body.versions as { version: string; feedback: { mae: number } }[];
    expect(versions).toEqual([
      expect.objectContaining({ version: prod, feedback: { count: 1, mae: 3, rmse: 3 } }),
    ]);
    await ex!.feedback.flush();
    const file = await readFile(ex!.feedback.currentFile, 'utf8');
    expect(file.split('\n').filter(Boolean)).toHaveLength(2);
    expect(path.basename(ex!.feedback.currentFile)).toBe('gw-test-1.jsonl');
  });
});

describe('flywheel traffic | promote | rollback', () => {
  function sink() {
    let text = '';
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    return { out, text: () => text };
  }

  it('work directly on the registry', async () => {
    const { reg, cand } = await seedVersions();
    const config = loadConfig('admin', { registry: dir, json: true }, {});
    const s = sink();
    await runTraffic({ mode: 'sticky', weight: '25' }, config, s.out);
    expect(JSON.parse(s.text())).toMatchObject({ mode: 'sticky', weight: 25, candidate: cand });
    await expect(runTraffic({ mode: 'blue' }, config, sink().out)).rejects.toMatchObject({
      code: 'FLY_ERR_USAGE',
    });
    await expect(runTraffic({ weight: '200' }, config, sink().out)).rejects.toMatchObject({
      code: 'FLY_ERR_USAGE',
    });
    await runDecision('promote', {}, config, sink().out);
    expect((await reg.readAliases()).production).toBe(cand);
    await expect(runDecision('rollback', {}, config, sink().out)).rejects.toMatchObject({
      code: 'FLY_ERR_NO_CANDIDATE',
    });
  });

  it('work against a gateway with the token, and fail clearly without it', async () => {
    const { reg, cand } = await seedVersions();
    await start(TOKEN);
    const withToken = loadConfig('admin', { url: base, adminToken: TOKEN }, {});
    const s = sink();
    await runTraffic({ mode: 'canary', weight: '10' }, withToken, s.out);
    expect(s.text()).toMatch(/canary: 10% to the candidate/);
    const wrong = loadConfig('admin', { url: base, adminToken: 'nope' }, {});
    await expect(runDecision('promote', {}, wrong, sink().out)).rejects.toMatchObject({
      code: 'FLY_ERR_UNAUTHORIZED',
    });
    const none = loadConfig('admin', { url: base }, {});
    await expect(runTraffic({}, none, sink().out)).rejects.toMatchObject({ code: 'FLY_ERR_USAGE' });
    await runDecision('rollback', { reason: 'bad' }, withToken, sink().out);
    expect(await reg.readAliases()).toMatchObject({ candidate: null });
    expect((await reg.history()).at(-1)).toMatchObject({ from: cand, to: null, reason: 'bad' });
  });
});
