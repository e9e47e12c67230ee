// Failure handling through a real gateway on a real socket. The replicas here are small real node:http
// servers standing in for `flywheel serve`, because the fault shapes under test — a connection reset
// mid-request, a replica that hangs, one that answers 503 or flips its readiness on demand — cannot be
// produced by a real backend at will. (proxy.test.ts kills real backend processes.)
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/main.js';
import { call, FakeReplica, startTestGateway, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function replicas(...names: string[]): Promise<FakeReplica[]> {
  const out = await Promise.all(names.map((n) => FakeReplica.start(n)));
  cleanups.push(async () => {
    await Promise.all(out.map((r) => r.stop()));
  });
  return out;
}

async function gateway(reps: FakeReplica[], flags: Record<string, string> = {}): Promise<Gateway> {
  const gw = await startTestGateway({ backends: reps.map((r) => r.url).join(','), ...flags });
  cleanups.push(() => gw.close());
  return gw;
}

function stateOf(gw: Gateway, replica: FakeReplica): string | undefined {
  return gw.balancer.stats().replicas.find((r) => r.url === replica.url)?.state;
}

async function metric(gw: Gateway, line: string): Promise<number> {
  const text = (await call(`${gw.url}/metrics`)).text;
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

describe('retry on another replica', () => {
  it('a reset connection is retried elsewhere: the client sees 200, the retry is counted', async () => {
    const [a, b] = await replicas('a', 'b');
    a.mode = 'reset';
    const gw = await gateway([a, b], { ejectAfter: '100' });
    for (let i = 0; i < 6; i++) {
      const r = await call(`${gw.url}/predict`, { body: `{"i":${i}}` });
      expect(r.status).toBe(200);
      expect(r.json().replica).toBe('b');
      expect(r.json().body).toBe(`{"i":${i}}`); // the buffered body is sent again, intact
    }
    expect(a.traffic.length).toBeGreaterThanOrEqual(2); // least-outstanding did send some to a
    expect(await metric(gw, 'flywheel_gateway_retries_total{reason="reset"}')).toBe(a.traffic.length);
  });

  it('a replica that died since its last check (connection refused) costs the client nothing', async () => {
    const [a, b] = await replicas('a', 'b');
    // Checks far apart: the gateway still believes `a` is healthy when it is gone.
    const gw = await gateway([a, b], { healthInterval: '1m', ejectAfter: '100' });
    await a.stop();
    for (let i = 0; i < 6; i++) {
      const r = await call(`${gw.url}/model-info`);
      expect(r.status).toBe(200);
      expect(r.json().replica).toBe('b');
    }
    expect(await metric(gw, 'flywheel_gateway_retries_total{reason="connect"}')).toBeGreaterThan(0);
  });

  it('a 503 is retried on another replica; with no other replica the 503 passes through as it is', async () => {
    const [a, b] = await replicas('a', 'b');
    a.mode = '503';
    const gw = await gateway([a, b], { ejectAfter: '100' });
    for (let i = 0; i < 4; i++) {
      const r = await call(`${gw.url}/predict`, { body: '{}' });
      expect(r.status).toBe(200);
      expect(r.json().replica).toBe('b');
    }
    expect(await metric(gw, 'flywheel_gateway_retries_total{reason="status_503"}')).toBeGreaterThan(0);

    const [solo] = await replicas('solo');
    solo.mode = '503';
    const gw2 = await gateway([solo], { ejectAfter: '100' });
    const r = await call(`${gw2.url}/predict`, { body: '{}' });
    expect(r.status).toBe(503);
    expect(r.json()).toEqual({ error: 'solo is unavailable', code: 'FLY_ERR_NO_MODEL' });
    expect(r.headers['x-replica']).toBe('solo');
  });

  it('when every attempt fails the client gets 502 JSON naming what happened', async () => {
    const [a, b] = await replicas('a', 'b');
    a.mode = 'reset';
    b.mode = 'reset';
    const gw = await gateway([a, b], { ejectAfter: '100' });
    const r = await call(`${gw.url}/predict`, { body: '{}', headers: { 'x-request-id': 'req-502' } });
    expect(r.status).toBe(502);
    const body = r.json<{
      error: string;
      code: string;
      details: { request_id: string; attempts: string[] };
    }>();
    expect(body.code).toBe('FLY_ERR_UPSTREAM_FAILED');
    expect(body.error).toMatch(/backend replica failed to answer/);
    expect(body.details.request_id).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(body.details.attempts).toHaveLength(2);
    expect(r.headers['x-request-id']).toBe(body.details.request_id);
    expect(r.headers['x-correlation-id']).toBe('req-502');
  });
});

describe('timeouts', () => {
  it('a hanging replica times out its attempt and the request is answered by the other one', async () => {
    const [a, b] = await replicas('a', 'b');
    a.mode = 'hang';
    const gw = await gateway([a, b], {
      attemptTimeout: '300ms',
      deadline: '5s',
      ejectAfter: '100',
      hedgeBudget: '0',
    });
    const results = await Promise.all(
      Array.from({ length: 4 }, () => call(`${gw.url}/predict`, { body: '{}' })),
    );
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.json().replica).toBe('b');
    }
    expect(await metric(gw, 'flywheel_gateway_retries_total{reason="timeout"}')).toBeGreaterThan(0);
  });

  it('504 JSON when no replica answers within the attempt timeout', async () => {
    const [a] = await replicas('a');
    a.mode = 'hang';
    const gw = await gateway([a], { attemptTimeout: '200ms', deadline: '5s' });
    const started = Date.now();
    const r = await call(`${gw.url}/predict`, { body: '{}' });
    const took = Date.now() - started;
    expect(r.status).toBe(504);
    expect(r.json()).toMatchObject({
      code: 'FLY_ERR_UPSTREAM_TIMEOUT',
      error: 'no backend replica answered in time',
    });
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(3000);
  });

  it('the total deadline bounds a request and its retry', async () => {
    const [a, b] = await replicas('a', 'b');
    a.mode = 'hang';
    b.mode = 'hang';
    const gw = await gateway([a, b], {
      attemptTimeout: '400ms',
      deadline: '600ms',
      ejectAfter: '100',
      hedgeBudget: '0',
    });
    const started = Date.now();
    const r = await call(`${gw.url}/predict`, { body: '{}' });
    const took = Date.now() - started;
    expect(r.status).toBe(504);
    expect(r.json<{ error: string }>().error).toMatch(/600 ms deadline/);
    expect(took).toBeGreaterThanOrEqual(590);
    expect(took).toBeLessThan(780 + 2000); // generous: a loaded 2-core machine
    expect(gw.forwarder.inFlight).toBe(0);
  });
});

describe('timeouts and the last replica', () => {
  it('timeouts never eject the last replica in rotation: slow answers stay answers, not 503s', async () => {
    const [a] = await replicas('a');
    a.mode = 'hang';
    const gw = await gateway([a], { attemptTimeout: '200ms', ejectAfter: '2', deadline: '5s' });
    for (let i = 0; i < 3; i++) expect((await call(`${gw.url}/predict`, { body: '{}' })).status).toBe(504);
    expect(stateOf(gw, a)).toBe('healthy');
    a.mode = 'ok';
    expect((await call(`${gw.url}/predict`, { body: '{}' })).status).toBe(200);
  });
});

describe('hedging', () => {
  it('a prediction with no answer after the hedge delay goes to another replica too; the loser times out on its own', async () => {
    const [a, b] = await replicas('a', 'b');
    a.mode = 'hang';
    const gw = await gateway([a, b], { attemptTimeout: '1s', balance: 'round-robin', ejectAfter: '100' });
    // Round robin sends the first request to one replica: when it is a, the hedge goes to b.
    const results = await Promise.all(
      Array.from({ length: 2 }, () => call(`${gw.url}/predict`, { body: '{}' })),
    );
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.json().replica).toBe('b');
    }
    expect(await metric(gw, 'flywheel_gateway_retries_total{reason="hedge"}')).toBe(1);
    expect(await metric(gw, 'flywheel_gateway_retries_total{reason="timeout"}')).toBe(0);
    // The loser runs on detached until its attempt timeout: then it is cancelled and counted as a
    // timeout of its replica (how a replica that only ever loses races still gets ejected).
    await waitFor(() => a.cancelled === 1, { timeoutMs: 5000, what: 'the slow attempt cancelled' });
    expect(
      await metric(gw, `flywheel_gateway_upstream_failures_total{replica="${a.url}",reason="timeout"}`),
    ).toBe(1);
    expect(await metric(gw, 'flywheel_gateway_retries_total{reason="timeout"}')).toBe(0);
    await waitFor(() => gw.balancer.stats().replicas.every((r) => r.in_flight === 0), {
      timeoutMs: 5000,
      what: 'in-flight counts back to 0',
    });
  });
});

describe('hedging and shutdown', () => {
  it('closing the gateway cancels a hedge loser still waiting on a hung replica', async () => {
    const [a, b] = await replicas('a', 'b');
    a.mode = 'hang';
    // Learned nothing yet: the hedge goes out after half the 2 s attempt timeout, the loser would
    // wait the whole 2 s; closing must not wait for it (undici's pool close waits for its requests).
    const gw = await startTestGateway({
      backends: [a, b].map((r) => r.url).join(','),
      attemptTimeout: '2s',
      balance: 'round-robin',
      ejectAfter: '100',
    });
    const results = await Promise.all(
      Array.from({ length: 2 }, () => call(`${gw.url}/predict`, { body: '{}' })),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect(a.cancelled).toBe(0);
    await gw.close();
    // The replica sees its connection close a moment after the gateway has closed it.
    await waitFor(() => a.cancelled === 1, { timeoutMs: 1000, what: 'the hung attempt cancelled' });
    expect(gw.forwarder.attemptTimeouts.size).toBe(0);
  });
});

describe('ejection and re-admission', () => {
  it('failed requests eject a replica; passing checks bring it back and it takes traffic again', async () => {
    const [a, b] = await replicas('a', 'b');
    const gw = await gateway([a, b], { ejectAfter: '2', readmitAfter: '2', healthInterval: '100ms' });
    a.mode = 'reset';
    // Its readiness still says yes: only the failing requests can take it out.
    for (let i = 0; i < 8; i++) expect((await call(`${gw.url}/predict`, { body: '{}' })).status).toBe(200);
    await waitFor(() => stateOf(gw, a) === 'ejected', { timeoutMs: 5000, what: 'a ejected' });
    const status = (await call(`${gw.url}/status`)).json<{
      replicas: { url: string; ejections_total: number }[];
    }>();
    expect(status.replicas.find((r) => r.url === a.url)?.ejections_total).toBe(1);
    expect(await metric(gw, `flywheel_gateway_ejections_total{replica="${a.url}"}`)).toBe(1);

    // Passing readiness checks would re-admit it after 2 × 100 ms, which a loaded machine can take
    // over the next four requests: while ejected, its checks fail, so only the ejection is tested here.
    a.ready = false;
    const before = a.traffic.length;
    for (let i = 0; i < 4; i++)
      expect((await call(`${gw.url}/predict`, { body: '{}' })).json().replica).toBe('b');
    expect(a.traffic.length).toBe(before);

    a.mode = 'ok';
    a.ready = true;
    await waitFor(() => stateOf(gw, a) === 'healthy', { timeoutMs: 5000, what: 'a readmitted' });
    const seen = new Set<unknown>();
    for (let i = 0; i < 10; i++) seen.add((await call(`${gw.url}/predict`, { body: '{}' })).json().replica);
    expect(seen).toEqual(new Set(['a', 'b']));
  });

  it('a replica whose readiness check hangs is taken out after ejectAfter timed-out checks', async () => {
    const [a, b] = await replicas('a', 'b');
    const gw = await gateway([a, b], { healthInterval: '50ms', healthTimeout: '100ms', ejectAfter: '2' });
    a.ready = 'hang';
    await waitFor(() => stateOf(gw, a) === 'unhealthy', { timeoutMs: 5000, what: 'a unhealthy' });
    const snapshot = gw.balancer.stats().replicas.find((r) => r.url === a.url)!;
    expect(snapshot.last_error).toBe('readiness check took longer than 100 ms');
    expect(await metric(gw, `flywheel_gateway_replica_state{replica="${a.url}",state="unhealthy"}`)).toBe(1);
    expect((await call(`${gw.url}/predict`, { body: '{}' })).json().replica).toBe('b');
  });

  it('nothing healthy: 503 JSON at once and readiness 503; recovery when a replica is ready again', async () => {
    const [a, b] = await replicas('a', 'b');
    const gw = await gateway([a, b], { healthInterval: '100ms', readmitAfter: '1' });
    expect((await call(`${gw.url}/v2/health/ready`)).status).toBe(200);
    a.ready = false;
    b.ready = false;
    await waitFor(() => gw.balancer.healthyCount === 0, { timeoutMs: 5000, what: 'both out' });
    const r = await call(`${gw.url}/predict`, { body: '{}' });
    expect(r.status).toBe(503);
    expect(r.json()).toMatchObject({
      code: 'FLY_ERR_NO_UPSTREAM',
      error: 'no healthy backend replica to answer',
    });
    expect(r.headers['x-request-id']).toBeTruthy();
    const ready = await call(`${gw.url}/v2/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.json()).toMatchObject({ code: 'FLY_ERR_NO_UPSTREAM' });
    expect((await call(`${gw.url}/v2/health/live`)).status).toBe(200);

    b.ready = true;
    await waitFor(async () => (await call(`${gw.url}/predict`, { body: '{}' })).status === 200, {
      timeoutMs: 5000,
      what: 'recovery',
    });
    expect((await call(`${gw.url}/predict`, { body: '{}' })).json().replica).toBe('b');
    expect((await call(`${gw.url}/v2/health/ready`)).json()).toEqual({ ready: true, healthy_replicas: 1 });
  });
});

describe('what is forwarded', () => {
  it('x-request-id is always minted, the client’s goes as x-correlation-id, x-forwarded-for appended, hop-by-hop headers dropped', async () => {
    const [a] = await replicas('a');
    const gw = await gateway([a]);
    const generated = await call(`${gw.url}/predict?x=1`, { body: '{"a":1}' });
    const upstream = a.traffic.at(-1)!;
    expect(generated.headers['x-request-id']).toBe(upstream.headers['x-request-id']);
    expect(upstream.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(upstream.url).toBe('/predict?x=1');
    expect(upstream.headers.host).toBe(`127.0.0.1:${a.port}`);
    expect(upstream.headers['content-length']).toBe('7');

    const given = await call(`${gw.url}/predict`, {
      body: '{}',
      headers: { 'x-request-id': 'client-id-42', 'x-forwarded-for': '203.0.113.7', 'x-custom': 'kept' },
    });
    const up2 = a.traffic.at(-1)!;
    // The client's own id never becomes the feedback join key: it is a correlation id, echoed.
    expect(given.headers['x-request-id']).not.toBe('client-id-42');
    expect(up2.headers['x-request-id']).toBe(given.headers['x-request-id']);
    expect(up2.headers['x-correlation-id']).toBe('client-id-42');
    expect(given.headers['x-correlation-id']).toBe('client-id-42');
    expect(up2.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(up2.headers['x-custom']).toBe('kept');
    expect(up2.rawHeaders.filter((h) => h.toLowerCase() === 'x-request-id')).toHaveLength(1);
  });

  it('a chunked request body arrives whole with a Content-Length; a body over the limit is refused', async () => {
    const [a] = await replicas('a');
    const gw = await gateway([a], { bodyLimit: '1kb' });
    const { request } = await import('undici');
    const res = await request(`${gw.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // A stream of unknown length: undici sends it chunked.
      body: Readable.from(['{"part":', '"two"}']),
    });
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { body: string }).body).toBe('{"part":"two"}');
    expect(a.traffic.at(-1)!.headers['content-length']).toBe('14');
    expect(a.traffic.at(-1)!.headers['transfer-encoding']).toBeUndefined();

    const big = await call(`${gw.url}/predict`, { body: 'x'.repeat(2000) });
    expect(big.status).toBe(413);
    expect(big.json()).toMatchObject({ code: 'FLY_ERR_BODY_TOO_LARGE' });
  });

  it('streams a response larger than the socket buffers to a slow reader, intact', async () => {
    const [a] = await replicas('a');
    const gw = await gateway([a]);
    const { request } = await import('undici');
    const res = await request(`${gw.url}/v2/big`);
    expect(res.statusCode).toBe(200);
    let bytes = 0;
    let wrong = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      for (const b of chunk) if (b !== 0x61) wrong++;
      // Read slowly at first so the gateway has to hold the replica back.
      if (bytes < 1024 * 1024) await new Promise((r) => setTimeout(r, 5));
    }
    expect(bytes).toBe(4 * 1024 * 1024);
    expect(wrong).toBe(0);
    const head = await call(`${gw.url}/v2/big`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('unknown paths are the gateway’s 404; its own routes answer only GET (else 405 with Allow)', async () => {
    const [a] = await replicas('a');
    const gw = await gateway([a]);
    const r = await call(`${gw.url}/nope`);
    expect(r.status).toBe(404);
    expect(r.json()).toMatchObject({ code: 'FLY_ERR_NOT_FOUND' });
    expect(a.traffic).toHaveLength(0);
    for (const route of ['/status', '/metrics', '/v2/health/ready']) {
      const wrong = await call(`${gw.url}${route}`, { method: 'DELETE' });
      expect(wrong.status, route).toBe(405);
      expect(wrong.headers.allow).toBe('GET, HEAD');
      expect(wrong.json()).toMatchObject({
        code: 'FLY_ERR_METHOD_NOT_ALLOWED',
        error: `DELETE is not allowed on ${route}; use GET, HEAD`,
      });
    }
  });

  it('a client that goes away halfway through its body is forgotten at once, nothing forwarded', async () => {
    const [a] = await replicas('a');
    const gw = await gateway([a], { deadline: '30s', keepAliveTimeout: '60s' });
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      'POST /predict HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"half":',
    );
    await waitFor(() => gw.forwarder.inFlight === 1, { timeoutMs: 5000, what: 'request in' });
    socket.destroy();
    await waitFor(() => gw.forwarder.inFlight === 0, { timeoutMs: 5000, what: 'exchange dropped' });
    expect(a.traffic).toHaveLength(0);
  });

  it('a client that goes away cancels its attempt and the retry; in-flight counts return to 0', async () => {
    const [a, b] = await replicas('a', 'b');
    a.mode = 'hang';
    b.mode = 'hang';
    const gw = await gateway([a, b], {
      attemptTimeout: '300ms',
      deadline: '60s',
      keepAliveTimeout: '90s',
      hedgeBudget: '0',
      ejectAfter: '100',
    });
    const controller = new AbortController();
    const { request } = await import('undici');
    const pending = request(`${gw.url}/predict`, { method: 'POST', body: '{}', signal: controller.signal });
    // The first attempt times out (cancelled) and the retry is waiting on the other replica.
    await waitFor(() => a.traffic.length + b.traffic.length === 2, { timeoutMs: 5000, what: 'the retry' });
    expect(a.cancelled + b.cancelled).toBe(1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await waitFor(() => a.cancelled + b.cancelled === 2, { timeoutMs: 5000, what: 'the retry cancelled' });
    await waitFor(() => gw.forwarder.inFlight === 0, { timeoutMs: 5000, what: 'exchange finished' });
    const stats = gw.balancer.stats().replicas;
    expect(stats.map((r) => r.in_flight)).toEqual([0, 0]);
    // Only the first attempt timed out; the retry was cancelled by the client leaving.
    expect(stats.reduce((n, r) => n + r.failures_total, 0)).toBe(1);
    expect(a.traffic.length + b.traffic.length).toBe(2);
    a.mode = 'ok';
    b.mode = 'ok';
    expect((await call(`${gw.url}/predict`, { body: '{}' })).status).toBe(200);
  });

  it('a client body that stalls gets 408 FLY_ERR_REQUEST_TIMEOUT, no replica asked', async () => {
    const [a] = await replicas('a');
    const gw = await gateway([a], { deadline: '300ms' });
    const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let text = '';
    socket.setEncoding('utf8').on('data', (c: string) => (text += c));
    const closed = new Promise((r) => socket.once('close', r));
    socket.write(
      'POST /predict HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"half":',
    );
    await closed;
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(text).toMatch(/connection: close/i);
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { code: string; error: string };
    expect(body.code).toBe('FLY_ERR_REQUEST_TIMEOUT');
    expect(body.error).toMatch(/request body did not arrive/);
    expect(a.traffic).toHaveLength(0);
    expect(gw.forwarder.inFlight).toBe(0);
  });
});

describe('client connections', () => {
  it('closes a keep-alive connection idle past --keep-alive-timeout, never a busy one', async () => {
    const [a] = await replicas('a');
    const gw = await gateway([a], { keepAliveTimeout: '1s', deadline: '300ms', attemptTimeout: '200ms' });
    const { port } = new URL(gw.url);
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const s = connect(Number(port), '127.0.0.1', () => resolve(s));
        s.once('error', reject);
      });
    // Fails (rather than hangs) when the gateway closes the connection instead of answering.
    const ask = (s: Socket): Promise<string> =>
      new Promise((resolve, reject) => {
        const closed = () => reject(new Error('the gateway closed the connection'));
        s.once('close', closed);
        s.once('data', (d: Buffer) => {
          s.off('close', closed);
          resolve(d.toString('latin1'));
        });
        s.write('GET /model-info HTTP/1.1\r\nHost: gw\r\n\r\n');
      });
    const idle = await open();
    const busy = await open();
    const idleClosed = new Promise<number>((resolve) => idle.once('close', () => resolve(Date.now())));
    const started = Date.now();
    expect(await ask(idle)).toMatch(/^HTTP\/1\.1 200 OK/);
    let busyClosed = false;
    busy.once('close', () => (busyClosed = true));
    // The busy connection asks every 50 ms while the idle one waits (a 1 s timeout leaves room for a
    // loaded machine's late timers: a busy connection must never look idle).
    while (Date.now() - started < 2500) {
      expect(await ask(busy)).toMatch(/^HTTP\/1\.1 200 OK/);
      await new Promise((r) => setTimeout(r, 50));
    }
    const closedAt = await idleClosed;
    expect(closedAt - started).toBeGreaterThanOrEqual(1000);
    expect(busyClosed).toBe(false);
    busy.destroy();
  });
});
