// Feedback a client cannot steer, over real HTTP through a real gateway: the join key is minted by the
// gateway (a client's own x-request-id is only echoed), guessed and stale ids are refused, one
// feedback per prediction, the optional feedback token, and bodies that are too large, not JSON or
// carry a forbidden key get an answer that says so.
import { readdir, rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../../src/gateway/main.js';
import { waitFor } from '../../helpers/wait.js';
import { call, FakeReplica, publishFakeModel, startTestGateway } from '../helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(flags: Record<string, string> = {}): Promise<{ gw: Gateway; registry: string }> {
  const registry = await mkdtemp(path.join(os.tmpdir(), 'flywheel-feedback-guard-'));
  await publishFakeModel(registry);
  const replica = await FakeReplica.start('a');
  const gw = await startTestGateway({ backends: replica.url, registry, analysisInterval: '0', ...flags });
  cleanups.push(async () => {
    await gw.close();
    await replica.stop();
    await rm(registry, { recursive: true, force: true });
  });
  return { gw, registry };
}

async function predict(gw: Gateway, headers: Record<string, string> = {}): Promise<string> {
  const r = await call(`${gw.url}/predict`, { body: '{"a":1,"b":2}', headers });
  expect(r.status).toBe(200);
  return String(r.headers['x-request-id']);
}

function feedback(gw: Gateway, body: unknown, headers: Record<string, string> = {}) {
  return call(`${gw.url}/feedback`, {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers,
  });
}

describe('feedback join keys', () => {
  it('a client-chosen x-request-id is echoed as x-correlation-id and cannot be used for feedback', async () => {
    const { gw } = await setup();
    const r = await call(`${gw.url}/predict`, { body: '{"a":1}', headers: { 'x-request-id': 'mine-1' } });
    expect(r.headers['x-correlation-id']).toBe('mine-1');
    const minted = String(r.headers['x-request-id']);
    expect(minted).not.toBe('mine-1');
    const chosen = await feedback(gw, { request_id: 'mine-1', actual: 1 });
    expect(chosen.status).toBe(404);
    expect(chosen.json()).toMatchObject({ code: 'FLY_ERR_FEEDBACK_UNKNOWN_REQUEST' });
    expect((await feedback(gw, { request_id: minted, actual: 1 })).status).toBe(200);
  });

  it('refuses a guessed id, a second feedback, and feedback older than --feedback-max-age', async () => {
    const { gw } = await setup({ feedbackMaxAge: '300ms' });
    const ids = [await predict(gw), await predict(gw)];
    const madeAt = Date.now();
    // A guess built from the ids a client has seen: same length and alphabet, last character changed.
    const guess = ids[1].slice(0, -1) + (ids[1].endsWith('A') ? 'B' : 'A');
    const guessed = await feedback(gw, { request_id: guess, actual: 1 });
    expect(guessed.status).toBe(404);
    expect(guessed.json<{ error: string }>().error).toMatch(/no recent prediction with request id/);

    expect((await feedback(gw, { request_id: ids[0], actual: 1 })).status).toBe(200);
    const again = await feedback(gw, { request_id: ids[0], actual: 2 });
    expect(again.status).toBe(409);
    expect(again.json()).toMatchObject({ code: 'FLY_ERR_FEEDBACK_DUPLICATE' });

    // The age is the point of this test: wait until the prediction is past it, then send once.
    await waitFor(() => Date.now() - madeAt > 400, { timeoutMs: 5000, what: 'the prediction to age' });
    const late = await feedback(gw, { request_id: ids[1], actual: 1 });
    expect(late.status).toBe(410);
    expect(late.json()).toMatchObject({
      code: 'FLY_ERR_FEEDBACK_EXPIRED',
      details: { expired: [ids[1]], max_age_ms: 300 },
    });
  });
});

describe('--feedback-token', () => {
  it('requires the bearer token on POST /feedback, compared like the admin token', async () => {
    const { gw } = await setup({ feedbackToken: 'back-office-token' });
    const id = await predict(gw);
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: 'back-office-token' },
    ];
    for (const headers of attempts) {
      const r = await feedback(gw, { request_id: id, actual: 1 }, headers);
      expect(r.status).toBe(401);
      expect(r.json()).toMatchObject({ code: 'FLY_ERR_UNAUTHORIZED' });
      expect(r.json<{ error: string }>().error).toMatch(/^feedback token missing or wrong/);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="flywheel-feedback"');
    }
    const ok = await feedback(
      gw,
      { request_id: id, actual: 1 },
      { authorization: 'Bearer back-office-token' },
    );
    expect(ok.status).toBe(200);
  });
});

describe('bodies and methods of the gateway’s own routes', () => {
  it('a 2 MB /feedback body gets a 413 JSON, and the connection still answers', async () => {
    const { gw } = await setup();
    const big = JSON.stringify({ request_id: 'x', actual: 1, pad: 'x'.repeat(2 * 1024 * 1024) });
    const r = await feedback(gw, big);
    expect(r.status).toBe(413);
    expect(r.json()).toMatchObject({
      code: 'FLY_ERR_BODY_TOO_LARGE',
      details: { limit: 1024 * 1024 },
    });
    const admin = await call(`${gw.url}/admin/promote`, { body: big });
    expect(admin.status).toBe(413);
    expect(admin.json()).toMatchObject({ code: 'FLY_ERR_BODY_TOO_LARGE' });
    expect((await call(`${gw.url}/experiments`)).status).toBe(200);
  });

  it('JSON failures say which: empty, truncated, trailing comma, forbidden key named', async () => {
    const { gw } = await setup();
    const cases: [string, string, RegExp][] = [
      ['', 'empty', /the request body is empty/],
      ['  \n ', 'empty', /the request body is empty/],
      ['{"request_id":"a","actual":', 'truncated', /ends before its JSON does/],
      ['{"request_id":"a","actual":1,}', 'syntax', /trailing comma/],
      ['{"request_id":"a","actual":NaN}', 'syntax', /NaN and Infinity are not JSON numbers/],
      ['{"__proto__":{"admin":true},"request_id":"a","actual":1}', 'forbidden_key', /"__proto__"/],
    ];
    for (const [body, reason, message] of cases) {
      const r = await feedback(gw, body);
      expect(r.status, body).toBe(400);
      expect(r.json(), body).toMatchObject({ code: 'FLY_ERR_BAD_JSON', details: { reason } });
      expect(r.json<{ error: string }>().error, body).toMatch(message);
    }
  });

  it('a wrong method on a known path is 405 with Allow', async () => {
    const { gw } = await setup();
    const cases: [string, string, string][] = [
      ['GET', '/feedback', 'POST'],
      ['POST', '/experiments', 'GET, HEAD'],
      ['DELETE', '/admin/traffic', 'GET, HEAD, PUT'],
      ['GET', '/admin/promote', 'POST'],
    ];
    for (const [method, route, allow] of cases) {
      const r = await call(`${gw.url}${route}`, { method });
      expect(r.status, `${method} ${route}`).toBe(405);
      expect(r.headers.allow).toBe(allow);
      expect(r.json()).toMatchObject({ code: 'FLY_ERR_METHOD_NOT_ALLOWED' });
    }
  });
});

describe('feedback log', () => {
  it('a feedback folder removed while in use is re-created and written again within seconds', async () => {
    const { gw, registry } = await setup();
    const folder = path.join(registry, 'feedback');
    const first = await predict(gw);
    expect((await feedback(gw, { request_id: first, actual: 1 })).status).toBe(200);
    await rm(folder, { recursive: true, force: true });
    const id = await predict(gw);
    await waitFor(async () => (await readdir(folder).catch(() => [])).length > 0, {
      timeoutMs: 5000,
      what: 'the feedback folder re-created',
    });
    await waitFor(async () => (await feedback(gw, { request_id: id, actual: 1 })).status === 200, {
      timeoutMs: 5000,
      what: 'feedback accepted in the new folder',
    });
    expect((await call(`${gw.url}/metrics`)).text).toMatch(
      /flywheel_feedback_log_errors_total\{kind="vanished"\} 1/,
    );
  });
});
