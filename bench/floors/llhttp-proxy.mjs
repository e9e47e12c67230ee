// A floor for bench/gateway.mjs --reference: the least an HTTP/1.1 proxy on net.Socket and Node's own
// llhttp binding (consume mode, as src/wire/ uses it) can do: parse, rebuild both heads, pool
// upstream connections, round robin. No timeouts, retries, metrics or anything else the gateway does;
// not for use. FLOOR_UPSTREAM=undici sends upstream through undici's Pool instead (the other half).
//
//   node bench/gateway.mjs --reference llhttp=bench/floors/llhttp-proxy.mjs
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { createRequire } from 'node:module';
import { URL } from 'node:url';
import { Pool } from 'undici';

const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common');
const { kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete, kOnExecute } = HTTPParser;
const port = Number(process.env.FLYWHEEL_BENCH_PORT);
const urls = process.env.FLYWHEEL_BENCH_BACKENDS.split(',');
const useUndici = process.env.FLOOR_UPSTREAM === 'undici';
const MAX_CONNECTIONS = 64;
const DROP = new Set(['connection', 'keep-alive', 'x-flywheel-features', 'x-flywheel-prediction']);

function parser(type) {
  const p = new HTTPParser();
  p.initialize(type, {}, 0, 0);
  p[kOnHeaders] = () => {};
  return p;
}

const pools = urls.map((u) => {
  const url = new URL(u);
  return { host: url.hostname, port: Number(url.port), idle: [], open: 0, queue: [], undici: new Pool(u) };
});
let next = 0;

function answerHead(status, message, headers, id) {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i].toString('latin1');
    if (!DROP.has(name.toLowerCase())) head += `${name}: ${headers[i + 1].toString('latin1')}\r\n`;
  }
  return `${head}x-request-id: ${id}\r\n\r\n`;
}

function connection(pool) {
  const socket = net.connect({ host: pool.host, port: pool.port, noDelay: true });
  const p = parser(HTTPParser.RESPONSE);
  const conn = { socket, pool, job: null, head: '', body: null };
  p[kOnHeadersComplete] = (_maj, _min, headers, _m, _u, status, message) => {
    conn.head = answerHead(status, message, headers, conn.job.id);
    return 0;
  };
  p[kOnBody] = (b) => (conn.body = conn.body === null ? b : Buffer.concat([conn.body, b]));
  p[kOnMessageComplete] = () => {
    const job = conn.job;
    conn.job = null;
    job.client.write(conn.head + (conn.body === null ? '' : conn.body.toString('latin1')), 'latin1');
    conn.body = null;
    const queued = pool.queue.shift();
    if (queued) send(conn, queued);
    else pool.idle.push(conn);
  };
  p[kOnExecute] = (ret) => {
    if (ret instanceof Error) socket.destroy();
  };
  socket.on('connect', () => {
    p.consume(socket._handle);
    if (conn.job) socket.write(conn.job.data, 'latin1');
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    pool.open--;
    conn.job?.client.destroy();
  });
  pool.open++;
  return conn;
}

function send(conn, job) {
  conn.job = job;
  if (!conn.socket.connecting) conn.socket.write(job.data, 'latin1');
}

function viaUndici(pool, job) {
  let head = '';
  let body = null;
  pool.undici.dispatch(
    { path: job.url, method: job.method, headers: job.headers, body: job.body },
    {
      onConnect() {},
      onHeaders(status, raw, _resume, message) {
        head = answerHead(status, message, raw, job.id);
        return true;
      },
      onData(b) {
        body = body === null ? b : Buffer.concat([body, b]);
        return true;
      },
      onComplete() {
        job.client.write(head + (body === null ? '' : body.toString('latin1')), 'latin1');
      },
      onError() {
        job.client.destroy();
      },
    },
  );
}

let ids = 0;
net
  .createServer({ noDelay: true }, (client) => {
    const p = parser(HTTPParser.REQUEST);
    let job = null;
    p[kOnHeadersComplete] = (_maj, _min, headers, method, url) => {
      let head = `${methods[method]} ${url} HTTP/1.1\r\n`;
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i].toLowerCase() !== 'connection') head += `${headers[i]}: ${headers[i + 1]}\r\n`;
      }
      const id = `r${++ids}`;
      job = { client, id, method: methods[method], url, headers, body: null, head };
      job.head += `x-request-id: ${id}\r\nx-forwarded-for: 127.0.0.1\r\n\r\n`;
      return 0;
    };
    p[kOnBody] = (b) => (job.body = job.body === null ? b : Buffer.concat([job.body, b]));
    p[kOnMessageComplete] = () => {
      job.data = job.head + (job.body === null ? '' : job.body.toString('latin1'));
      const pool = pools[next++ % pools.length];
      if (useUndici) viaUndici(pool, job);
      else {
        const conn = pool.idle.pop();
        if (conn) send(conn, job);
        else if (pool.open < MAX_CONNECTIONS) send(connection(pool), job);
        else pool.queue.push(job);
      }
      job = null;
    };
    p[kOnExecute] = (ret) => {
      if (ret instanceof Error) client.destroy();
    };
    p.consume(client._handle);
    client.on('error', () => {});
    client.on('end', () => client.end());
  })
  .listen(port, '127.0.0.1');
