// The seam later layers (version routing, the prediction log) use: a planner choosing a plan per
// request, extra upstream headers, an observer seeing each finished exchange (its request body, the
// answer's head), a fallback plan on 404, and local routes. Replicas are small real node:http servers
// standing in for backends, so a test can see exactly what reached them.
import { afterEach, describe, expect, it } from 'vitest';
import type { ExchangeRecord, ForwardPlan } from '../../src/gateway/forward.js';
import type { Gateway } from '../../src/gateway/main.js';
import { sendJson } from '../../src/gateway/server.js';
import { call, FakeReplica, startTestGateway } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ gw: Gateway; a: FakeReplica }> {
  const a = await FakeReplica.start('a');
  const gw = await startTestGateway({ backends: a.url });
  cleanups.push(async () => {
    await gw.close();
    await a.stop();
  });
  return { gw, a };
}

describe('the forwarding seam', () => {
  it("a planner adds a per-request header and an observer sees the body and the answer's side channel", async () => {
    const { gw, a } = await setup();
    const records: ExchangeRecord[] = [];
    const observed: ForwardPlan = {
      balancer: gw.balancer,
      headers: ['x-model-version', 'v-candidate'],
      observer: (r) => records.push(r),
    };
    gw.routes.exact(
      '/predict',
      gw.forwardRoute('predict', (req, body) =>
        body?.toString().includes('canary') ? observed : gw.defaultPlan,
      ),
    );
    const plain = await call(`${gw.url}/predict`, { body: '{"user":"plain"}' });
    expect(plain.json().version).toBeNull();
    expect(records).toHaveLength(0);

    const canary = await call(`${gw.url}/predict`, {
      body: '{"user":"canary"}',
      headers: { 'x-request-id': 'r-1' },
    });
    expect(canary.json().version).toBe('v-candidate');
    expect(a.traffic.at(-1)!.headers['x-model-version']).toBe('v-candidate');
    expect(records).toHaveLength(1);
    const [rec] = records;
    expect(rec).toMatchObject({
      requestId: canary.headers['x-request-id'],
      route: { name: 'predict' },
      status: 200,
      tries: 1,
      answer: { replica: { url: a.url } },
    });
    expect(rec.body?.toString()).toBe('{"user":"canary"}');
    // x-flywheel-* is for the gateway: recorded raw, never shown to the client.
    expect(rec.answer).toMatchObject({ prediction: '41.5', features: '30,14,4,6', answeredBy: null });
    expect(canary.headers['x-flywheel-prediction']).toBeUndefined();
    expect(canary.headers['x-flywheel-features']).toBeUndefined();
    expect(canary.headers['x-replica']).toBe('a');
    const raw = rec.answer?.rawHeaders ?? [];
    expect(raw[raw.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'x-replica') + 1]).toBe('a');
    expect(rec.durationMs).toBeGreaterThan(0);
  });

  it('a 404 goes once to the fallback plan', async () => {
    const { gw, a } = await setup();
    a.versions = ['v1'];
    const fallback: ForwardPlan = { balancer: gw.balancer, headers: null, observer: null };
    const plan: ForwardPlan = {
      balancer: gw.balancer,
      headers: ['x-model-version', 'v2'],
      observer: null,
      fallback,
    };
    gw.routes.exact('/predict', gw.forwardRoute('predict', null, plan));
    const r = await call(`${gw.url}/predict`, { body: '{}', headers: { 'x-request-id': 'r-2' } });
    expect(r.status).toBe(200);
    // The first attempt asked for v2 (404 here); the fallback asked for none and got the plain answer.
    expect(a.traffic.map((t) => t.headers['x-model-version'] ?? null)).toEqual(['v2', null]);
    expect(r.json()).toMatchObject({ replica: 'a', version: null });

    gw.routes.exact(
      '/predict',
      gw.forwardRoute('predict', null, { ...plan, headers: ['x-model-version', 'v1'] }),
    );
    const direct = await call(`${gw.url}/predict`, { body: '{}', headers: { 'x-request-id': 'r-3' } });
    expect(direct.json()).toMatchObject({ replica: 'a', version: 'v1' });
    expect(a.traffic.map((t) => t.headers['x-model-version'] ?? null)).toEqual(['v2', null, 'v1']);
  });

  it('local routes answer themselves; a failing one becomes a 500 JSON error', async () => {
    const { gw, a } = await setup();
    gw.routes
      .exact(
        '/hello',
        gw.localRoute('hello', (_req, res) => sendJson(res, 200, { hello: 'world' })),
      )
      .prefix(
        '/broken/',
        gw.localRoute('broken', async () => {
          throw new Error('boom');
        }),
      );
    expect((await call(`${gw.url}/hello`)).json()).toEqual({ hello: 'world' });
    const broken = await call(`${gw.url}/broken/x`);
    expect(broken.status).toBe(500);
    expect(broken.json()).toEqual({ error: 'internal error', code: 'FLY_ERR_INTERNAL' });
    expect(a.traffic).toHaveLength(0);
  });
});
