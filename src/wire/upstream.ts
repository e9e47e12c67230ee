// The keep-alive connection pool of one replica on the data path: HTTP/1.1, one request per connection
// at a time, answers parsed by Node's llhttp in consume mode (llhttp.ts). It takes the place of undici's
// Pool there (undici still serves the health checks and shadow requests, off the data path): with the
// request already whole in a buffer and the answer's head wanted as a flat array of strings, undici's
// generality (its wasm parser fed from JavaScript, header buffers, per-request objects) measured at
// about 15 µs per request on this machine kind, a third of the target.
//
// The handler interface is undici's dispatch handler (onConnect/onHeaders/onData/onComplete/onError),
// so Attempt stays what it was; the raw headers are strings instead of buffers.
import net, { type Socket } from 'node:net';
import {
  consumeSocket,
  disposeParser,
  kOnBody,
  kOnExecute,
  kOnHeaders,
  kOnHeadersComplete,
  kOnMessageComplete,
  newParser,
  RESPONSE,
  setReading,
  type HeadCallback,
  type NativeParser,
} from './llhttp.js';

export interface UpstreamHandler {
  /** Called once, before anything else: `abort` cancels the request (queued or in flight). */
  onConnect(abort: (err?: Error) => void): void;
  /** False pauses the body until `resume` is called. */
  onHeaders(status: number, rawHeaders: string[], resume: () => void, statusText: string): boolean;
  /** False pauses the body until the `resume` given to onHeaders is called. */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(err: Error): void;
}

export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  /** Header lines ("name: value\r\n" each), without Host, Content-Length and hop-by-hop headers. */
  readonly headerLines: string;
  readonly body: Buffer | null;
}

export interface UpstreamOptions {
  /** Most connections open at once; further requests wait in order. */
  connections: number;
  /** An idle connection is closed after this long (below the replica's own keep-alive timeout). */
  idleTimeoutMs?: number;
}

/** An error with the code the forwarder's failure kinds read (attempt.ts failureKind). */
class UpstreamError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

const CLOSED = 'UND_ERR_SOCKET';
/** Requests up to this size go out as one latin1 string (written from stack storage, no Buffer). */
const STRING_WRITE_MAX = 16 * 1024;
/** Methods whose request carries a Content-Length even without a body (as undici sends them). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** One request in the pool: queued, then on a connection. */
class Pending {
  readonly handler: UpstreamHandler;
  /** The whole request: a latin1 string when small (written from stack storage, no Buffer). */
  readonly data: string | Buffer;
  readonly head: boolean;
  conn: UpstreamConnection | null = null;
  done = false;
  constructor(handler: UpstreamHandler, data: string | Buffer, head: boolean) {
    this.handler = handler;
    this.data = data;
    this.head = head;
  }
}

class UpstreamConnection {
  readonly pool: UpstreamPool;
  readonly socket: Socket;
  readonly parser: NativeParser;
  current: Pending | null = null;
  connected = false;
  closed = false;
  /** The answer in progress asked for the connection to close after it. */
  #keepAlive = true;
  #partHeaders: string[] | null = null;
  idleSince = 0;
  readonly #resume = () => setReading(this.socket, true);

  constructor(pool: UpstreamPool) {
    this.pool = pool;
    const socket = net.connect({ host: pool.host, port: pool.port, noDelay: true });
    this.socket = socket;
    const parser = newParser(RESPONSE);
    this.parser = parser;
    parser[kOnHeaders] = (headers: string[]) => {
      (this.#partHeaders ??= []).push(...headers);
    };
    parser[kOnHeadersComplete] = this.#onHead;
    parser[kOnBody] = (chunk: Buffer) => {
      const p = this.current;
      if (p !== null && !p.done && !p.handler.onData(chunk)) setReading(this.socket, false);
    };
    parser[kOnMessageComplete] = () => this.#onComplete();
    parser[kOnExecute] = (ret: number | Error) => {
      if (typeof ret !== 'number')
        this.fail(new UpstreamError(`invalid answer: ${ret.message}`, 'FLY_UPSTREAM_PARSE'));
    };
    socket.once('connect', () => {
      this.connected = true;
      consumeSocket(parser, socket);
      const p = this.current;
      if (p !== null) this.#write(p.data);
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('end', () => {
      // Close-delimited answers end here; otherwise the replica closed the connection.
      const r = this.connected ? this.parser.finish() : undefined;
      if (r instanceof Error || this.current !== null)
        this.fail(new UpstreamError('other side closed', CLOSED));
      socket.destroy();
    });
    socket.on('close', () => {
      if (this.current !== null) this.fail(new UpstreamError('other side closed', CLOSED));
      this.#closed();
    });
  }

  send(p: Pending): void {
    this.current = p;
    p.conn = this;
    this.#keepAlive = true;
    if (this.connected) this.#write(p.data);
  }

  #write(data: string | Buffer): void {
    if (typeof data === 'string') this.socket.write(data, 'latin1');
    else this.socket.write(data);
  }

  #onHead: HeadCallback = (_maj, _min, headers, _method, _url, status, message, _upgrade, keepAlive) => {
    if (headers === undefined) {
      headers = this.#partHeaders ?? [];
      this.#partHeaders = null;
    }
    const p = this.current;
    const code = status ?? 0;
    if (p === null) {
      // An answer nobody asked for: the connection cannot be trusted any more.
      this.socket.destroy();
      return 0;
    }
    // 1xx interim answers are skipped; the final one follows on the same request.
    if (code < 200) return 0;
    this.#keepAlive = keepAlive;
    if (!p.done && !p.handler.onHeaders(code, headers, this.#resume, message ?? ''))
      setReading(this.socket, false);
    return p.head ? 1 : 0;
  };

  #onComplete(): void {
    const p = this.current;
    if (p === null) return;
    this.current = null;
    const reuse = this.#keepAlive && !this.pool.closing;
    if (!reuse) this.socket.destroy();
    if (!p.done) {
      p.done = true;
      this.pool.settled();
      p.handler.onComplete();
    }
    setReading(this.socket, true);
    if (reuse && !this.closed) this.pool.idle(this);
  }

  /** The connection failed: the request on it (if any) fails, and the connection is dropped. */
  fail(err: Error): void {
    const p = this.current;
    this.current = null;
    if (!this.socket.destroyed) this.socket.destroy();
    if (p !== null && !p.done) {
      p.done = true;
      this.pool.settled();
      p.handler.onError(err);
    }
  }

  #closed(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.dropped(this);
    if (this.connected) disposeParser(this.parser, true);
    else this.parser.close();
  }
}

export class UpstreamPool {
  readonly origin: string;
  readonly host: string;
  readonly port: number;
  readonly #max: number;
  readonly #idleTimeoutMs: number;
  readonly #hostLine: string;
  readonly #all = new Set<UpstreamConnection>();
  /** Idle connections, most recently used last (reused first: the others can time out). */
  readonly #idle: UpstreamConnection[] = [];
  readonly #queue: Pending[] = [];
  /** Requests dispatched and not settled, queued ones included. */
  #running = 0;
  closing = false;
  #closedWaiters: (() => void)[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(origin: string, options: UpstreamOptions) {
    const url = new URL(origin);
    if (url.protocol !== 'http:') throw new Error(`${origin}: only http:// replicas are supported`);
    this.origin = origin;
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port === '' ? 80 : Number(url.port);
    this.#hostLine = `host: ${url.host}\r\n`;
    this.#max = Math.max(1, options.connections);
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 4000;
  }

  /** Requests running or queued. */
  get pending(): number {
    return this.#running;
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const body = req.body;
    const length = body !== null ? body.length : BODY_METHODS.has(req.method) ? 0 : -1;
    const head = `${req.method} ${req.path} HTTP/1.1\r\n${this.#hostLine}${req.headerLines}${
      length >= 0 ? `content-length: ${length}\r\n` : ''
    }\r\n`;
    const data =
      body === null
        ? head
        : body.length <= STRING_WRITE_MAX
          ? head + body.toString('latin1')
          : Buffer.concat([Buffer.from(head, 'latin1'), body]);
    const p = new Pending(handler, data, req.method === 'HEAD');
    handler.onConnect((err) =>
      this.#abort(p, err ?? new UpstreamError('request aborted', 'UND_ERR_ABORTED')),
    );
    if (p.done) return; // aborted from onConnect
    if (this.closing) {
      p.done = true;
      handler.onError(new UpstreamError('the pool is closed', 'UND_ERR_CLOSED'));
      return;
    }
    this.#running++;
    const conn = this.#idle.pop();
    if (conn !== undefined) conn.send(p);
    else if (this.#all.size < this.#max) this.#open().send(p);
    else this.#queue.push(p);
  }

  #open(): UpstreamConnection {
    const conn = new UpstreamConnection(this);
    this.#all.add(conn);
    this.#startSweep();
    return conn;
  }

  #abort(p: Pending, err: Error): void {
    if (p.done) return;
    if (p.conn !== null) {
      // In flight: the connection is closed (its answer can no longer be told apart).
      p.conn.fail(err);
      return;
    }
    p.done = true;
    const i = this.#queue.indexOf(p);
    if (i !== -1) {
      this.#queue.splice(i, 1);
      this.#running--;
    }
    p.handler.onError(err);
  }

  /** @internal a request ended (complete or failed). */
  settled(): void {
    this.#running--;
    if (this.#running === 0 && this.#queue.length === 0) this.#notifyIdle();
  }

  /** @internal a connection is free again. */
  idle(conn: UpstreamConnection): void {
    const next = this.#queue.shift();
    if (next !== undefined) {
      conn.send(next);
      return;
    }
    conn.idleSince = Date.now();
    this.#idle.push(conn);
  }

  /** @internal a connection closed. */
  dropped(conn: UpstreamConnection): void {
    this.#all.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    // Requests waiting for a connection get a new one.
    if (!this.closing && this.#queue.length > 0 && this.#all.size < this.#max) {
      const next = this.#queue.shift();
      if (next !== undefined) this.#open().send(next);
    }
    if (this.#all.size === 0) this.#notifyIdle();
  }

  #notifyIdle(): void {
    if (!this.closing || this.#running > 0) return;
    for (const conn of [...this.#idle]) conn.socket.destroy();
    if (this.#all.size > 0) return;
    const waiters = this.#closedWaiters;
    this.#closedWaiters = [];
    for (const w of waiters) w();
  }

  #startSweep(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.#sweep(), Math.min(1000, this.#idleTimeoutMs));
    this.#timer.unref();
  }

  /** No new requests; the queued ones fail with `code`. */
  #shut(message: string, code: string): void {
    this.closing = true;
    for (const p of this.#queue.splice(0)) {
      this.#running--;
      p.done = true;
      p.handler.onError(new UpstreamError(message, code));
    }
  }

  #stopSweep(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #sweep(): void {
    const now = Date.now();
    for (const conn of [...this.#idle]) {
      if (now - conn.idleSince > this.#idleTimeoutMs) conn.socket.destroy();
    }
    if (this.#all.size === 0) this.#stopSweep();
  }

  /** Lets running requests finish, then closes every connection. */
  close(): Promise<void> {
    this.#shut('the pool is closed', 'UND_ERR_CLOSED');
    const done = new Promise<void>((resolve) => this.#closedWaiters.push(resolve));
    this.#notifyIdle();
    return done.then(() => this.#stopSweep());
  }

  /** Closes every connection now; running requests fail. */
  destroy(): Promise<void> {
    this.#shut('the pool was destroyed', 'UND_ERR_DESTROYED');
    for (const conn of [...this.#all])
      conn.fail(new UpstreamError('the pool was destroyed', 'UND_ERR_DESTROYED'));
    this.#stopSweep();
    return Promise.resolve();
  }
}
