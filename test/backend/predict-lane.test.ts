// The /predict fast lane against the route it stands in for, on a real `flywheel serve` process: every
// answer the lane writes is the route's answer byte for byte, the lane writes only those, and requests
// it hands over (any other shape, a body in pieces, a client gone mid-body) are answered as before.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LAB_PREDICT_TEXT,
  call,
  publish,
  startBackend,
  tempRegistry,
  trainModels,
  waitServing,
  type Backend,
} from './helpers.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Writes `parts` on one fresh socket (each in its own write, after the previous was flushed) and reads
 * one Content-Length framed response, returned as text without its Date header (the only line that
 * changes between two answers).
 */
function exchange(port: number, parts: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const writeFrom = (i: number): void => {
      if (i < parts.length) socket.write(parts[i], () => setImmediate(() => writeFrom(i + 1)));
    };
    socket.once('connect', () => writeFrom(0));
    let data = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = data.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1]);
      if (data.length < end + 4 + length) return;
      socket.destroy();
      resolve(
        data
          .subarray(0, end + 4 + length)
          .toString('utf8')
          .replace(/\r\nDate: [^\r]*/, ''),
      );
    });
  });
}

function post(body: string, headers: Record<string, string>): string {
  const lines = Object.entries({ ...headers, 'Content-Length': String(Buffer.byteLength(body)) });
  return `POST /predict HTTP/1.1\r\nHost: x\r\n${lines.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
}

async function laneAnswers(): Promise<number> {
  const text = (await call(`${backend.url}/metrics`)).text;
  return Number(/^flywheel_backend_predict_fast_lane_total (\d+)$/m.exec(text)?.[1]);
}

let backend: Backend;
let reg: Awaited<ReturnType<typeof tempRegistry>>;
let v1: string;
let v2: string;

beforeAll(async () => {
  reg = await tempRegistry();
  const models = await trainModels(2);
  v1 = await publish(reg.registry, models[0]);
  v2 = await publish(reg.registry, models[1]);
  await reg.registry.setAlias('production', v1, { reason: 'test' });
  await reg.registry.setAlias('candidate', v2, { reason: 'test' });
  backend = await startBackend(reg.dir);
  await waitServing(backend.url, v1);
  // The candidate is loaded too, so that a request naming either is a lane request.
  await waitFor(
    async () =>
      (await call(`${backend.url}/model-info`, { headers: { 'x-model-version': v2 } })).status === 200,
    { timeoutMs: 10_000, what: 'the candidate to load' },
  );
});

afterAll(async () => {
  await backend?.stop('SIGKILL');
  await reg?.cleanup();
});

describe('the /predict fast lane', () => {
  const asked: Record<string, string>[] = [
    {},
    { 'x-request-id': 'gw-abc_1.2:3' },
    { 'x-request-id': 'not "usable"' },
    { 'x-model-version': 'production' },
    { 'x-model-version': 'candidate', 'x-request-id': 'r1' },
  ];

  it('answers single predictions byte for byte as the route does, and counts them', async () => {
    const versions: Record<string, string>[] = [{ 'x-model-version': v1 }, { 'x-model-version': v2 }];
    for (const extra of [...asked, ...versions]) {
      // First the route, with a content type the lane leaves to it. (The first answer of each model
      // goes through the route anyway: it checks the hand-written answer the lane then uses.)
      const before = await laneAnswers();
      const route = await exchange(backend.port, [
        post(LAB_PREDICT_TEXT, { 'Content-Type': 'application/json; charset=utf-8', ...extra }),
      ]);
      expect(await laneAnswers()).toBe(before);
      const lane = await exchange(backend.port, [
        post(LAB_PREDICT_TEXT, { 'Content-Type': 'application/json', ...extra }),
      ]);
      expect(await laneAnswers(), JSON.stringify(extra)).toBe(before + 1);
      expect(lane).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(lane).toBe(route);
    }
  });

  it('reads a body that arrives in pieces', async () => {
    const before = await laneAnswers();
    const whole = post(LAB_PREDICT_TEXT, { 'Content-Type': 'application/json' });
    const split = whole.indexOf('\r\n\r\n') + 4;
    const pieces = [whole.slice(0, split), whole.slice(split, split + 10), whole.slice(split + 10)];
    expect(await exchange(backend.port, pieces)).toBe(await exchange(backend.port, [whole]));
    expect(await laneAnswers()).toBe(before + 2);
  });

  it('hands everything else to the route, which answers it as before', async () => {
    const cases: [string, string, Record<string, string>, string][] = [
      ['a batch', JSON.stringify({ instances: [JSON.parse(LAB_PREDICT_TEXT)] }), {}, 'predictions'],
      ['a feature missing', '{"avg_session_duration":30}', {}, 'code'],
      [
        'a value far outside training',
        LAB_PREDICT_TEXT.replace('"response_rate":4', '"response_rate":4e9'),
        {},
        'warnings',
      ],
      ['not JSON', '{"avg_session_duration":', {}, 'code'],
      ['an array', '[1]', {}, 'code'],
      ['a forbidden key', '{"__proto__":{"x":1}}', {}, 'code'],
      ['an unknown version', LAB_PREDICT_TEXT, { 'x-model-version': 'v-nope' }, 'code'],
    ];
    const before = await laneAnswers();
    for (const [what, body, extra, member] of cases) {
      const r = await call(`${backend.url}/predict`, { body, headers: extra });
      // What each answers is asserted in api.test.ts; here: the route's answer, not a lane one.
      expect([what, r.headers['content-type']]).toEqual([what, 'application/json; charset=utf-8']);
      expect(r.body, what).toHaveProperty(member);
    }
    expect(await laneAnswers()).toBe(before);
  });

  it('answers pipelined requests in order, whether the lane or fastify answers each', async () => {
    // Fastify's answers wait for the ones before them on the connection; a lane answer ready before
    // an earlier fastify answer is held until that one is out.
    const socket = net.connect(backend.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const before = await laneAnswers();
    socket.write(
      'GET /model-info HTTP/1.1\r\nHost: x\r\n\r\n' +
        post(LAB_PREDICT_TEXT, { 'Content-Type': 'application/json', 'x-request-id': 'first' }) +
        'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n' +
        post(LAB_PREDICT_TEXT, { 'Content-Type': 'application/json', 'x-request-id': 'second' }),
    );
    await waitFor(() => (text.match(/HTTP\/1\.1 200 OK/g) ?? []).length === 4, {
      timeoutMs: 5000,
      what: 'four answers on one connection',
    });
    socket.destroy();
    const order = [
      text.indexOf('"last_training_time"'),
      text.indexOf('"request_id":"first"'),
      text.indexOf('{"live":true}'),
      text.indexOf('"request_id":"second"'),
    ];
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(await laneAnswers()).toBe(before + 2);
  });

  it('keeps the connection open after answers to requests without a body', async () => {
    const socket = net.connect(backend.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const answers = (n: number) =>
      waitFor(() => (text.match(/\r\n\r\n\{"live":true\}/g) ?? []).length === n, {
        timeoutMs: 5000,
        what: `${n} answers on one connection`,
      });
    socket.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    await answers(1);
    socket.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    await answers(2);
    socket.destroy();
    expect(text).not.toMatch(/Connection: close/);
    expect(text.match(/\r\nConnection: keep-alive\r\n/g)).toHaveLength(2);
  });

  it('does not read a body the route answered without reading: the connection closes after the answer', async () => {
    // A declared terabyte the route refuses by its content type (415) before reading any of it. The
    // body must not be read on into memory: the server closes once its answer is out.
    const limit = 64 * 2 ** 20;
    const result = await new Promise<{ answer: string; sent: number }>((resolve) => {
      const socket = net.connect(backend.port, '127.0.0.1');
      const chunk = Buffer.alloc(2 ** 20, 'a');
      let answer = '';
      let sent = 0;
      socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve({ answer, sent }));
      const pump = (): void => {
        while (!socket.destroyed && sent < limit) {
          sent += chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
        if (sent >= limit) socket.destroy();
      };
      socket.once('connect', () => {
        socket.write(
          `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${2 ** 40}\r\n\r\n`,
        );
        pump();
      });
    });
    expect(result.answer).toMatch(/^HTTP\/1\.1 415 /);
    expect(result.answer).toMatch(/\r\nConnection: close\r\n/);
    expect(result.sent).toBeLessThan(limit);
    const r = await call(`${backend.url}/predict`, { body: LAB_PREDICT_TEXT });
    expect(r.status).toBe(200);
  });

  it('survives a client that leaves mid-body, and keeps answering', async () => {
    const whole = post(LAB_PREDICT_TEXT, { 'Content-Type': 'application/json' });
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(backend.port, '127.0.0.1', () =>
        socket.write(whole.slice(0, whole.length - 20), () => {
          socket.destroy();
          resolve();
        }),
      );
      socket.on('error', reject);
    });
    const r = await call(`${backend.url}/predict`, { body: LAB_PREDICT_TEXT });
    expect(r.status).toBe(200);
    expect(backend.proc.exitCode).toBeNull();
    expect(backend.logs().filter((l) => l.level >= 50)).toEqual([]);
  });
});
