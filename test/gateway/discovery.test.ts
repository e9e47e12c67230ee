// Replica discovery while the gateway runs: a real DNS server (dns2, UDP on 127.0.0.1) whose records
// change under it, and a replica file rewritten atomically as `flywheel up` does. The replicas are
// small real node:http servers standing in for backends (several on one port, on 127.0.0.x, as pods
// behind a headless Service would be).
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import dns2 from 'dns2';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/main.js';
import { call, FakeReplica, startTestGateway, waitFor } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function urlsOf(gw: Gateway): string[] {
  return gw.balancer
    .stats()
    .replicas.map((r) => `${r.url} ${r.state}`)
    .sort();
}

async function answeredBy(gw: Gateway, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await call(`${gw.url}/predict`, { body: '{}' });
    expect(r.status).toBe(200);
    seen.add(r.json<{ replica: string }>().replica);
  }
  return seen;
}

/** An authoritative DNS server for one name whose A records the test edits. */
async function startDns(name: string, records: string[]): Promise<{ port: number; close: () => void }> {
  const { Packet } = dns2;
  const server = dns2.createUDPServer((request, send) => {
    const response = Packet.createResponseFromRequest(request);
    const [question] = request.questions;
    if (question.name.toLowerCase() !== name) {
      response.header.rcode = 3; // NXDOMAIN
    } else if (question.type === Packet.TYPE.A) {
      for (const address of records) {
        response.answers.push(Packet.createResourceFromQuestion(question, { address, ttl: 1 }));
      }
    }
    void send(response);
  });
  await server.listen(0, '127.0.0.1');
  const { port } = server.address();
  return { port, close: () => server.close() };
}

describe('dns+http:// discovery', () => {
  it('follows A records as they are added and removed, and keeps the set when the resolver fails', async () => {
    const a = await FakeReplica.start('a', { host: '127.0.0.1' });
    const b = await FakeReplica.start('b', { host: '127.0.0.2', port: a.port });
    const c = await FakeReplica.start('c', { host: '127.0.0.3', port: a.port });
    cleanups.push(() => Promise.all([a, b, c].map((r) => r.stop())).then(() => undefined));
    const name = 'replicas.flywheel.test';
    const records = ['127.0.0.1', '127.0.0.2'];
    const dns = await startDns(name, records);
    let dnsClosed = false;
    cleanups.push(async () => {
      if (!dnsClosed) dns.close();
    });

    const gw = await startTestGateway({
      backends: `dns+http://${name}:${a.port}`,
      dnsServer: `127.0.0.1:${dns.port}`,
      dnsInterval: '100ms',
    });
    cleanups.push(() => gw.close());
    expect(urlsOf(gw)).toEqual([`${a.url} healthy`, `${b.url} healthy`]);
    expect(await answeredBy(gw, 10)).toEqual(new Set(['a', 'b']));

    records.push('127.0.0.3');
    await waitFor(() => gw.balancer.get(c.url)?.state === 'healthy', { timeoutMs: 5000, what: 'c added' });
    expect(await answeredBy(gw, 12)).toEqual(new Set(['a', 'b', 'c']));

    records.splice(records.indexOf('127.0.0.1'), 1);
    await waitFor(() => !urlsOf(gw).some((u) => u.startsWith(a.url)), { timeoutMs: 5000, what: 'a drained' });
    const before = a.traffic.length;
    expect(await answeredBy(gw, 10)).toEqual(new Set(['b', 'c']));
    expect(a.traffic.length).toBe(before);

    // The resolver goes away: a failed lookup is not an empty answer, the replicas stay.
    dns.close();
    dnsClosed = true;
    await new Promise((r) => setTimeout(r, 500));
    expect(urlsOf(gw)).toEqual([`${b.url} healthy`, `${c.url} healthy`]);
    expect(await answeredBy(gw, 4)).toEqual(new Set(['b', 'c']));
  });

  it('a name without records means no replicas: 503 until records appear', async () => {
    const a = await FakeReplica.start('a');
    cleanups.push(() => a.stop());
    const records: string[] = [];
    const dns = await startDns('empty.flywheel.test', records);
    cleanups.push(async () => dns.close());
    const gw = await startTestGateway({
      backends: `dns+http://empty.flywheel.test:${a.port}`,
      dnsServer: `127.0.0.1:${dns.port}`,
      dnsInterval: '100ms',
    });
    cleanups.push(() => gw.close());
    const r = await call(`${gw.url}/predict`, { body: '{}' });
    expect(r.status).toBe(503);
    expect(r.json()).toMatchObject({ code: 'FLY_ERR_NO_UPSTREAM' });
    records.push('127.0.0.1');
    await waitFor(async () => (await call(`${gw.url}/predict`, { body: '{}' })).status === 200, {
      timeoutMs: 5000,
      what: 'replica from DNS',
    });
  });
});

describe('file: discovery', () => {
  async function tempFile(): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-replicas-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return path.join(dir, 'replicas.json');
  }

  /** Write-then-rename, as the local-stack supervisor does: readers see the old or the new file. */
  async function writeAtomically(file: string, text: string): Promise<void> {
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, file);
  }

  it('follows the file: replicas added, removed (in-flight ones finish), bad writes ignored', async () => {
    const [a, b] = await Promise.all([FakeReplica.start('a'), FakeReplica.start('b')]);
    cleanups.push(() => Promise.all([a.stop(), b.stop()]).then(() => undefined));
    const file = await tempFile();
    await writeAtomically(file, JSON.stringify({ replicas: [a.url] }));
    // A long poll interval: the change must be noticed by watching the file.
    const gw = await startTestGateway({ backends: `file:${file}`, filePollInterval: '30s' });
    cleanups.push(() => gw.close());
    expect(urlsOf(gw)).toEqual([`${a.url} healthy`]);

    await writeAtomically(file, JSON.stringify({ replicas: [a.url, b.url] }));
    await waitFor(() => gw.balancer.get(b.url)?.state === 'healthy', { timeoutMs: 5000, what: 'b added' });
    expect(await answeredBy(gw, 8)).toEqual(new Set(['a', 'b']));

    // A rolling restart removes `a` while it is answering a slow request: that request still succeeds.
    a.mode = 'slow';
    a.slowMs = 600;
    const slow = (async () => {
      for (;;) {
        const r = await call(`${gw.url}/predict`, { body: '{"slow":true}' });
        if (r.json<{ replica: string }>().replica === 'a') return r;
      }
    })();
    await waitFor(() => a.traffic.some((t) => t.body === '{"slow":true}'), {
      timeoutMs: 5000,
      what: 'slow on a',
    });
    await writeAtomically(file, JSON.stringify({ replicas: [b.url] }));
    await waitFor(() => gw.balancer.get(a.url) === undefined, { timeoutMs: 5000, what: 'a removed' });
    expect(urlsOf(gw)).toContain(`${a.url} draining`);
    expect((await slow).status).toBe(200);
    await waitFor(() => urlsOf(gw).length === 1, { timeoutMs: 5000, what: 'a drained' });
    expect(await answeredBy(gw, 4)).toEqual(new Set(['b']));

    // A torn or wrong file never empties the set.
    await writeFile(file, '{"replicas": [');
    await writeAtomically(file, '{"backends": []}');
    await new Promise((r) => setTimeout(r, 300));
    expect(urlsOf(gw)).toEqual([`${b.url} healthy`]);
    expect(await answeredBy(gw, 2)).toEqual(new Set(['b']));
  });

  it('starts without the file (no replicas, 503) and serves once it is written', async () => {
    const a = await FakeReplica.start('a');
    cleanups.push(() => a.stop());
    const file = await tempFile();
    const gw = await startTestGateway({ backends: `file:${file}`, filePollInterval: '200ms' });
    cleanups.push(() => gw.close());
    expect((await call(`${gw.url}/predict`, { body: '{}' })).status).toBe(503);
    expect((await call(`${gw.url}/v2/health/ready`)).status).toBe(503);
    await writeAtomically(file, JSON.stringify({ replicas: [a.url] }));
    await waitFor(async () => (await call(`${gw.url}/predict`, { body: '{}' })).status === 200, {
      timeoutMs: 5000,
      what: 'replica from the file',
    });
  });
});
