// The gateway in front of two real `flywheel serve` processes on a registry trained by the real
// `flywheel train`: the lab's requests, byte-for-byte passthrough, observability, and a backend killed
// with SIGKILL under load.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/main.js';
import { LAB_PREDICT_BODY, startLoad } from '../helpers/load.js';
import { BackendProcess, call, startTestGateway, trainedRegistry, waitFor } from './helpers.js';

const LAB = JSON.stringify(LAB_PREDICT_BODY);

let registry: { dir: string; cleanup: () => Promise<void> };
let backends: BackendProcess[] = [];
let gw: Gateway;

beforeAll(async () => {
  registry = await trainedRegistry();
  backends = await Promise.all([BackendProcess.start(registry.dir), BackendProcess.start(registry.dir)]);
  gw = await startTestGateway({
    backends: backends.map((b) => b.url).join(','),
    healthInterval: '100ms',
    ejectAfter: '2',
    readmitAfter: '2',
  });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all(backends.map((b) => b.kill('SIGKILL')));
  await registry?.cleanup();
});

describe('through the gateway to real backends', () => {
  it('answers the lab’s prediction from both replicas, with the backend’s headers and a request id', async () => {
    const hosts = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const r = await call(`${gw.url}/predict`, { body: LAB });
      expect(r.status).toBe(200);
      const body = r.json<{
        engagement_score: number;
        prediction: number;
        model_version: string;
        host: string;
      }>();
      expect(typeof body.engagement_score).toBe('number');
      expect(body.prediction).toBe(body.engagement_score);
      expect(r.headers['x-model-version']).toBe(body.model_version);
      expect(r.headers['content-type']).toMatch(/application\/json/);
      expect(r.headers['x-request-id']).toMatch(/^[A-Za-z0-9_-]{24}$/);
      hosts.add(body.host);
    }
    expect(hosts.size).toBe(2);
  });

  it('passes a 4xx through byte for byte', async () => {
    const bad = '{"avg_session_duration":"thirty","visits_per_week":14}';
    const direct = await call(`${backends[0].url}/predict`, { body: bad });
    const proxied = await call(`${gw.url}/predict`, { body: bad });
    expect(direct.status).toBe(400);
    expect(proxied.status).toBe(400);
    expect(proxied.body.equals(direct.body)).toBe(true);
    expect(proxied.headers['content-type']).toBe(direct.headers['content-type']);
    expect(proxied.headers['content-length']).toBe(direct.headers['content-length']);
    expect(proxied.json()).toMatchObject({ code: 'FLY_ERR_INVALID_FEATURES' });

    const notJson = await call(`${gw.url}/predict`, { body: '{not json' });
    const notJsonDirect = await call(`${backends[1].url}/predict`, { body: '{not json' });
    expect(notJson.status).toBe(notJsonDirect.status);
    expect(notJson.body.equals(notJsonDirect.body)).toBe(true);
  });

  it('forwards GET /model-info and the v2 paths, but answers its own health paths', async () => {
    const info = await call(`${gw.url}/model-info`);
    expect(info.status).toBe(200);
    expect(info.json()).toMatchObject({ status: expect.any(String), features: expect.any(Array) });
    const model = await call(`${gw.url}/v2/models/engagement`);
    const direct = await call(`${backends[0].url}/v2/models/engagement`);
    expect(model.status).toBe(direct.status);
    expect(model.text).toBe(direct.text);
    const ready = await call(`${gw.url}/v2/health/ready`);
    expect(ready.json()).toEqual({ ready: true, healthy_replicas: 2 });
  });

  it('reports replicas in /status and counts requests in /metrics', async () => {
    const status = (await call(`${gw.url}/status`)).json<{
      gateway: { ready: boolean; policy: string; requests_total: number };
      replicas: { url: string; state: string; requests_total: number; in_flight: number }[];
    }>();
    expect(status.gateway.ready).toBe(true);
    expect(status.gateway.policy).toBe('least-outstanding');
    expect(status.replicas.map((r) => r.url).sort()).toEqual(backends.map((b) => b.url).sort());
    for (const r of status.replicas) {
      expect(r.state).toBe('healthy');
      expect(r.requests_total).toBeGreaterThan(0);
      expect(r.in_flight).toBe(0);
    }

    const before = await call(`${gw.url}/metrics`);
    const count = (text: string) =>
      Number(/flywheel_gateway_requests_total\{route="predict",code="200"\} (\d+)/.exec(text)?.[1] ?? 0);
    const n = count(before.text);
    for (let i = 0; i < 3; i++) await call(`${gw.url}/predict`, { body: LAB });
    const after = await call(`${gw.url}/metrics`);
    expect(after.headers['content-type']).toMatch(/text\/plain/);
    expect(count(after.text)).toBe(n + 3);
    expect(after.text).toMatch(/flywheel_gateway_request_duration_seconds_count\{route="predict"\} \d+/);
    expect(after.text).toMatch(
      /flywheel_gateway_request_duration_seconds_bucket\{le="\+Inf",route="predict"\} \d+/,
    );
    for (const b of backends) {
      expect(after.text).toContain(`flywheel_gateway_replica_state{replica="${b.url}",state="healthy"} 1`);
    }
    expect(after.text).toMatch(/flywheel_gateway_healthy_replicas 2/);
    expect(after.text).toMatch(/flywheel_gateway_requests_total\{route="predict",code="400"\} \d+/);
  });

  it('loses no request when a backend is killed with SIGKILL under load, and takes it back', async () => {
    const load = startLoad({ url: `${gw.url}/predict`, body: LAB_PREDICT_BODY, concurrency: 4, pauseMs: 2 });
    await waitFor(() => load.report().ok >= 100, { timeoutMs: 10_000, what: '100 requests' });
    const victim = backends[1];
    await victim.kill('SIGKILL');
    const atKill = load.report().ok;
    await waitFor(() => load.report().ok >= atKill + 300, {
      timeoutMs: 15_000,
      what: '300 requests after the kill',
    });
    const report = await load.stop();
    expect(report.failures).toEqual([]);
    expect(report.failed).toBe(0);
    await waitFor(() => gw.balancer.get(victim.url)?.state !== 'healthy', {
      timeoutMs: 5000,
      what: 'victim out',
    });

    await victim.start();
    await waitFor(() => gw.balancer.get(victim.url)?.state === 'healthy', {
      timeoutMs: 10_000,
      what: 'victim back',
    });
    const hosts = new Set<string>();
    for (let i = 0; i < 10; i++)
      hosts.add((await call(`${gw.url}/predict`, { body: LAB })).json<{ host: string }>().host);
    expect(hosts.size).toBe(2);
  });
});
