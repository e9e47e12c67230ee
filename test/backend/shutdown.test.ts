// SIGTERM while clients send continuously: readiness fails at once, every request sent before the
// signal is answered 200, nothing is answered with an error status, one summary line is logged
// (host, served versions, last training time), and the process exits 0.
import os from 'node:os';
import { Agent, Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import {
  LAB_PREDICT_TEXT,
  publish,
  startBackend,
  tempRegistry,
  trainModels,
  waitServing,
  type Backend,
} from './helpers.js';

let backend: Backend;
let reg: Awaited<ReturnType<typeof tempRegistry>>;
let version: string;

beforeAll(async () => {
  reg = await tempRegistry();
  const [model] = await trainModels(1);
  version = await publish(reg.registry, model);
  await reg.registry.promote(version, { reason: 'test' });
  backend = await startBackend(reg.dir, ['--grace-period', '5s']);
  await waitServing(backend.url, version);
});

afterAll(async () => {
  await backend?.stop('SIGKILL');
  await reg?.cleanup();
});

describe('SIGTERM during load', () => {
  it('answers every request sent before the signal, reports not ready at once, logs one line, exits 0', async () => {
    const loops = 8;
    const agent = new Agent({ connections: loops });
    const results: { sentAt: number; status: number | 'error'; detail?: string }[] = [];
    let running = true;
    const run = async () => {
      while (running) {
        const sentAt = performance.now();
        try {
          const res = await request(`${backend.url}/predict`, {
            method: 'POST',
            body: LAB_PREDICT_TEXT,
            headers: { 'content-type': 'application/json' },
            dispatcher: agent,
          });
          const text = await res.body.text();
          results.push({ sentAt, status: res.statusCode, detail: res.statusCode === 200 ? undefined : text });
        } catch (err) {
          results.push({ sentAt, status: 'error', detail: String(err) });
          // The server stopped accepting connections: this client is done.
          return;
        }
      }
    };
    // A separate keep-alive connection that asks for readiness.
    const probe = new Client(backend.url);
    const ready = async () => (await probe.request({ path: '/v2/health/ready', method: 'GET' })).statusCode;
    expect(await ready()).toBe(200);

    const clients = Array.from({ length: loops }, () => run());
    await waitFor(() => results.length >= 200, { timeoutMs: 15_000, what: '200 answers under load' });
    const before = results.length;
    const signalAt = performance.now();
    backend.proc.kill('SIGTERM');

    // Readiness flips at once: the first answers after the signal are 503 on the open connection.
    let readiness: number | undefined;
    // (Bounded by time, not count: the probe keeps its connection busy, so it is never closed as idle.)
    for (const until = Date.now() + 5000; Date.now() < until && readiness === undefined;) {
      const status = await ready();
      if (status !== 200) readiness = status;
    }
    expect(readiness).toBe(503);

    const exit = await backend.exited;
    running = false;
    await Promise.all(clients);
    await Promise.all([agent.close(), probe.close()]);

    expect(exit).toEqual({ code: 0, signal: null });
    expect(before).toBeGreaterThanOrEqual(200);
    const sentBefore = results.filter((r) => r.sentAt < signalAt);
    expect(sentBefore.filter((r) => r.status !== 200)).toEqual([]);
    // After the signal: answered normally, or refused as a new connection — never an error status.
    expect(results.filter((r) => r.status !== 200 && r.status !== 'error')).toEqual([]);

    const stopped = backend.logs().filter((l) => l.msg === 'backend stopped');
    expect(stopped).toHaveLength(1);
    const manifest = await reg.registry.readManifest(version);
    expect(stopped[0]).toMatchObject({
      signal: 'SIGTERM',
      host: `${os.hostname()}:${backend.port}`,
      served_versions: { production: version, candidate: null },
      last_training_time: manifest.created_at,
      grace_expired: false,
    });
    expect(backend.logs().filter((l) => l.level >= 50)).toEqual([]);
  });
});
