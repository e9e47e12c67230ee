// The HTTP/1.1 front and upstream pool (src/wire/) as the gateway runs them: what node:http and undici
// used to do for it, checked byte for byte over raw TCP. The replica is a real node:http server with a
// few answers of unusual shape (slow, chunked, many headers, large).
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/gateway/main.js';
import { call, startTestGateway, waitFor } from './helpers.js';

let upstream: http.Server;
let gw: Gateway;
let port = 0;
const seen: { url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
const BIG = Buffer.alloc(4 * 1024 * 1024, 'x');

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      switch (req.url) {
        case '/v2/health/ready':
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ready":true}');
          return;
        case '/v2/slow':
          setTimeout(() => res.writeHead(200, { 'content-length': '4' }).end('slow'), 150);
          return;
        case '/v2/fast':
          res.writeHead(200, { 'content-length': '4' }).end('fast');
          return;
        case '/v2/chunked':
          // No Content-Length: node:http sends it chunked; the gateway must frame it again.
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('part1,');
          setTimeout(() => res.end('part2'), 20);
          return;
        case '/v2/many': {
          const headers: [string, string][] = [];
          for (let i = 0; i < 40; i++) headers.push([`x-h${i}`, `v${i}`]);
          res.writeHead(200, [...headers, ['content-length', '2']].flat());
          res.end('ok');
          return;
        }
        case '/v2/big':
          res.writeHead(200, { 'content-length': String(BIG.length) }).end(BIG);
          return;
        case '/v2/echo':
          res.writeHead(200, {
            'content-type': 'text/plain',
            'content-length': String(Buffer.byteLength(body)),
          });
          res.end(body);
          return;
        default:
          res.writeHead(404, { 'content-length': '0' }).end();
      }
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const { port: up } = upstream.address() as AddressInfo;
  gw = await startTestGateway({ backends: `http://127.0.0.1:${up}`, hedgeBudget: '0' });
  port = Number(new URL(gw.url).port);
});

afterAll(async () => {
  await gw.close();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

/** Sends `data` on a new connection and collects everything until the gateway closes it or `until` holds. */
function exchange(data: string | Buffer[], until: (text: string) => boolean = () => false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const parts = typeof data === 'string' ? [data] : data;
    socket.once('connect', () => {
      for (const p of parts) socket.write(p);
    });
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      text += c;
      if (until(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
    setTimeout(() => {
      socket.destroy();
      resolve(text);
    }, 5000).unref();
  });
}

const count = (text: string, what: string) => text.split(what).length - 1;

describe('the gateway front', () => {
  it('answers pipelined requests in request order even when the first is slower', async () => {
    const text = await exchange(
      'GET /v2/slow HTTP/1.1\r\nHost: gw\r\n\r\nGET /v2/fast HTTP/1.1\r\nHost: gw\r\n\r\n',
      (t) => t.includes('fast'),
    );
    expect(count(text, 'HTTP/1.1 200 OK')).toBe(2);
    expect(text.indexOf('slow')).toBeGreaterThan(0);
    expect(text.indexOf('slow')).toBeLessThan(text.indexOf('fast'));
  });

  it('frames an answer of unknown length as chunked for HTTP/1.1 and close-delimited for HTTP/1.0', async () => {
    const v11 = await exchange('GET /v2/chunked HTTP/1.1\r\nHost: gw\r\n\r\n', (t) =>
      t.endsWith('0\r\n\r\n'),
    );
    expect(v11).toMatch(/transfer-encoding: chunked\r\n/i);
    expect(v11).toContain('6\r\npart1,\r\n');
    expect(v11).toContain('5\r\npart2\r\n0\r\n\r\n');
    const v10 = await exchange('GET /v2/chunked HTTP/1.0\r\n\r\n');
    expect(v10).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(v10).toMatch(/connection: close\r\n/i);
    expect(v10).not.toMatch(/transfer-encoding/i);
    expect(v10.endsWith('\r\n\r\npart1,part2')).toBe(true);
  });

  it('keeps an HTTP/1.0 keep-alive connection open and says so', async () => {
    const text = await exchange('GET /v2/fast HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', (t) =>
      t.endsWith('fast'),
    );
    expect(text).toMatch(/connection: keep-alive\r\n/i);
    expect(text).toMatch(/content-length: 4\r\n/i);
  });

  it('passes more than 32 header lines both ways', async () => {
    const many = Array.from({ length: 40 }, (_, i) => `X-C${i}: c${i}\r\n`).join('');
    const text = await exchange(`GET /v2/many HTTP/1.1\r\nHost: gw\r\n${many}\r\n`, (t) => t.endsWith('ok'));
    for (let i = 0; i < 40; i++) expect(text).toContain(`x-h${i}: v${i}\r\n`);
    const got = seen.findLast((s) => s.url === '/v2/many');
    for (let i = 0; i < 40; i++) expect(got?.headers[`x-c${i}`]).toBe(`c${i}`);
  });

  it('answers Expect: 100-continue before the body, and 417 to another expectation', async () => {
    const head = 'POST /v2/echo HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n';
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
      let got = '';
      socket.setEncoding('latin1');
      socket.on('data', (c: string) => {
        got += c;
        // The body goes only once the interim answer came, as a client that waits would send it.
        if (got === 'HTTP/1.1 100 Continue\r\n\r\n') socket.write('hello');
        if (got.endsWith('hello') && got.includes('200 OK')) {
          socket.destroy();
          resolve(got);
        }
      });
      socket.on('error', reject);
    });
    expect(text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
    const refused = await exchange(
      'POST /v2/echo HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nExpect: magic\r\n\r\n',
    );
    expect(refused).toMatch(/^HTTP\/1\.1 417 Expectation Failed\r\n/);
    expect(refused).toMatch(/connection: close/i);
  });

  it('a chunked request body goes upstream whole with its length', async () => {
    const text = await exchange(
      'POST /v2/echo HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
      (t) => t.endsWith('abcde'),
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 OK/);
    const got = seen.findLast((s) => s.url === '/v2/echo');
    expect(got?.headers['content-length']).toBe('5');
    expect(got?.headers['transfer-encoding']).toBeUndefined();
  });

  it('a malformed request gets 400 and an oversized head 431, and the connection closes', async () => {
    const bad = await exchange('GET /v2/fast HTTP/1.1\r\nHost gw\r\n\r\n');
    expect(bad).toBe('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    const smuggle = await exchange(
      'POST /v2/echo HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(smuggle).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const huge = await exchange(`GET /v2/fast HTTP/1.1\r\nHost: gw\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    // The gateway still answers everyone else.
    expect((await call(`${gw.url}/v2/fast`)).text).toBe('fast');
  });

  it('refuses a protocol upgrade with 501 and closes', async () => {
    const text = await exchange(
      'GET /v2/fast HTTP/1.1\r\nHost: gw\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    expect(text).toMatch(/^HTTP\/1\.1 501 Not Implemented\r\n/);
    expect(text).toMatch(/connection: close/i);
  });

  it('a HEAD answer has the head only', async () => {
    const text = await exchange(
      'HEAD /v2/fast HTTP/1.1\r\nHost: gw\r\n\r\nGET /v2/fast HTTP/1.1\r\nHost: gw\r\n\r\n',
      (t) => t.endsWith('fast'),
    );
    // The HEAD answer's Content-Length describes a body that is not sent: the GET's answer follows it directly.
    expect(count(text, 'HTTP/1.1 200 OK')).toBe(2);
    expect(count(text, 'fast')).toBe(1);
  });

  it('streams a large answer to a slow reader without losing a byte', async () => {
    const received = await new Promise<number>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () =>
        socket.write('GET /v2/big HTTP/1.1\r\nHost: gw\r\n\r\n'),
      );
      let bytes = 0;
      let headEnd = -1;
      let buffered = Buffer.alloc(0);
      socket.pause();
      // Read slowly at first so the gateway's socket buffer fills and it has to pause the replica.
      setTimeout(() => socket.resume(), 300);
      socket.on('data', (c: Buffer) => {
        if (headEnd < 0) {
          buffered = Buffer.concat([buffered, c]);
          headEnd = buffered.indexOf('\r\n\r\n');
          if (headEnd < 0) return;
          bytes = buffered.length - headEnd - 4;
        } else {
          bytes += c.length;
        }
        if (bytes >= BIG.length) {
          socket.destroy();
          resolve(bytes);
        }
      });
      socket.on('error', reject);
    });
    expect(received).toBe(BIG.length);
  });
});

describe('graceful stop', () => {
  it('answers a request sent on an idle keep-alive connection just after the stop began, then closes', async () => {
    const { port: up } = upstream.address() as AddressInfo;
    const own = await startTestGateway({ backends: `http://127.0.0.1:${up}` });
    const socket = net.connect(Number(new URL(own.url).port), '127.0.0.1');
    socket.setEncoding('latin1');
    let text = '';
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (c: string) => (text += c));
    socket.write('GET /v2/fast HTTP/1.1\r\nHost: gw\r\n\r\n');
    await waitFor(() => text.endsWith('fast'), { timeoutMs: 5000, what: 'the first answer' });
    const stopping = own.close();
    // The client did not know yet: it sends its next request on the idle connection.
    socket.write('GET /v2/fast HTTP/1.1\r\nHost: gw\r\n\r\n');
    await stopping;
    await closed;
    expect(count(text, 'HTTP/1.1 200 OK')).toBe(2);
    expect(text.slice(text.lastIndexOf('HTTP/1.1'))).toMatch(/connection: close\r\n/i);
  });
});
