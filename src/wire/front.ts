// The HTTP/1.1 server of the gateway and the backend: a net.Server whose connections are parsed by
// Node's own llhttp in consume mode (llhttp.ts). It replaces node:http's server on the data path, where
// node:http's IncomingMessage/ServerResponse streams cost more than the rest of the gateway together
// (the issue-13 note has the profile). What node:http did for us and is done here instead:
//   - keep-alive and `Connection: close`, HTTP/1.0 clients, HEAD/204/304 answers without a body, a
//     chunked answer when the length is unknown, `Expect: 100-continue`;
//   - pipelined requests: answers leave in request order (a later answer waits, buffered, for the
//     earlier ones);
//   - a malformed request gets 400 (431 for an oversized head) and the connection is closed;
//   - idle keep-alive connections, and heads or bodies that never finish, are closed by one sweep a
//     second (a per-socket timer re-armed per request measured at several percent of the CPU);
//   - a client that half-closes still gets its answers; graceful close answers what is in flight with
//     `Connection: close` and ends idle connections after a short linger.
// Each request and the writer of its answer: request.ts. Handlers off the data path (the gateway's own
// routes, the backend's fastify routes) still get node:http's IncomingMessage/ServerResponse (local.ts).
import net, { type AddressInfo, type Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import {
  consumeSocket,
  disposeParser,
  kOnBody,
  kOnExecute,
  kOnHeaders,
  kOnHeadersComplete,
  kOnMessageComplete,
  METHODS,
  newParser,
  REQUEST,
  setReading,
  type HeadCallback,
  type NativeParser,
} from './llhttp.js';
import { refreshDate, WireRequest, type RequestHandler } from './request.js';

export interface FrontOptions {
  /** Idle keep-alive connections, and heads or bodies that stall, are closed after this long. */
  keepAliveTimeoutMs: number;
  /** Largest request head (llhttp's limit; 0: Node's default of 16 KiB). */
  maxHeaderSize?: number;
  handler: RequestHandler;
}

/**
 * How long connections that are idle when a graceful stop begins stay open. A request a client wrote
 * just before the stop may still sit unread in the socket; closing "idle" connections at once would
 * drop it. Within this time such requests are read and answered.
 */
export const LINGER_MS = 500;
/** More requests than this queued on one connection (pipelining) pauses reading it. */
const MAX_QUEUED = 16;
const CRLF = '\r\n';
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** The value of an `Expect` header, or null (a length test rules out nearly every name first). */
function expectation(headers: readonly string[]): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length === 6 && name.toLowerCase() === 'expect') return headers[i + 1];
  }
  return null;
}

/** One client connection. */
export class Connection {
  readonly front: Front;
  readonly socket: Socket;
  readonly parser: NativeParser;
  /** Requests in arrival order; the first is the one whose answer goes out. */
  readonly queue: WireRequest[] = [];
  /** The request whose body is being parsed. */
  reading: WireRequest | null = null;
  lastActive: number;
  /** Read once: the socket's getter asks the handle on every call. */
  readonly remoteAddress: string | undefined;
  /** No more answers after the current ones (an answer said close, or the client ended). */
  closing = false;
  closed = false;
  /** A head longer than 32 lines arrives in parts (kOnHeaders). */
  #partHeaders: string[] | null = null;
  #partUrl = '';

  constructor(front: Front, socket: Socket) {
    this.front = front;
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.lastActive = front.now;
    const parser = newParser(REQUEST, front.maxHeaderSize);
    this.parser = parser;
    parser[kOnHeaders] = (headers: string[], url: string) => {
      (this.#partHeaders ??= []).push(...headers);
      this.#partUrl += url;
    };
    parser[kOnHeadersComplete] = this.#onHead;
    parser[kOnBody] = (chunk: Buffer) => this.reading?.listener?.onBody(chunk);
    parser[kOnMessageComplete] = () => {
      const req = this.reading;
      this.reading = null;
      req?.listener?.onBodyEnd();
    };
    parser[kOnExecute] = (ret: number | Error) => {
      if (typeof ret !== 'number') this.#malformed(ret);
    };
    consumeSocket(parser, socket);
    socket.on('end', () => this.#onEnd());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#onClose());
    socket.on('drain', () => this.queue[0]?.listener?.onDrain());
  }

  #onHead: HeadCallback = (_major, minor, headers, method, url, _s, _m, upgrade, keepAlive) => {
    if (headers === undefined) {
      headers = this.#partHeaders ?? [];
      url = this.#partUrl + (url ?? '');
      this.#partHeaders = null;
      this.#partUrl = '';
    }
    const req = new WireRequest(this, METHODS[method ?? 0] ?? 'GET', url ?? '/', headers, minor, keepAlive);
    this.queue.push(req);
    this.reading = req;
    this.lastActive = this.front.now;
    if (this.queue.length > MAX_QUEUED) setReading(this.socket, false);
    if (upgrade) {
      // No protocol upgrades (WebSocket, CONNECT): llhttp stops parsing after such a head.
      this.closing = true;
      this.reading = null;
      req.respond(501, `content-type: text/plain${CRLF}`, 'protocol upgrades are not supported\n');
      return 0;
    }
    const expect = expectation(headers);
    if (expect !== null && minor >= 1) {
      if (expect.toLowerCase() !== '100-continue') {
        // An expectation the gateway cannot meet (RFC 9110 §10.1.1); the body, if any, is left unread.
        req.closeAfter = true;
        req.respond(417, `content-type: text/plain${CRLF}`, `unsupported expectation: ${expect}\n`);
        return 0;
      }
      // The client waits for this before it sends its body (curl does for bodies over 1 KiB).
      if (this.queue[0] === req) this.socket.write(CONTINUE);
      else req.continueDue = true;
    }
    this.front.handler(req);
    return 0;
  };

  /** `req` finished its answer: the next queued answer goes out, or the connection closes. */
  answered(req: WireRequest): void {
    if (this.queue[0] !== req) return; // written ahead of its turn: flushed when it comes
    this.lastActive = this.front.now;
    for (;;) {
      const first = this.queue[0];
      if (first === undefined || !first.finished) break;
      this.queue.shift();
      if (first.last) {
        this.#endAfterWrites();
        return;
      }
      const next = this.queue[0];
      if (next === undefined) break;
      if (next.continueDue) {
        next.continueDue = false;
        this.socket.write(CONTINUE);
      }
      next.flushHeld();
      if (next.onHeadOfLine !== null) {
        const start = next.onHeadOfLine;
        next.onHeadOfLine = null;
        start();
      }
    }
    if (this.queue.length <= MAX_QUEUED) setReading(this.socket, true);
    if (this.queue.length === 0 && (this.closing || this.front.closing)) this.#endAfterWrites();
  }

  /** Whether a route that writes to the socket itself may start now. */
  isHeadOfLine(req: WireRequest): boolean {
    return this.queue[0] === req;
  }

  #endAfterWrites(): void {
    this.closing = true;
    // The rest of the queue (pipelined after an answer that closes) is never answered.
    for (const req of this.queue.splice(0)) this.#gone(req);
    this.socket.end();
  }

  #gone(req: WireRequest): void {
    if (req.finished || req.gone) return;
    req.gone = true;
    req.listener?.onClientGone();
  }

  #malformed(err: Error): void {
    const code = (err as { code?: unknown }).code;
    const answering = this.queue.some((r) => r.headSent);
    for (const req of this.queue.splice(0)) this.#gone(req);
    this.reading = null;
    this.closing = true;
    if (answering || this.socket.destroyed) {
      this.socket.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    this.socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}${CRLF}connection: close${CRLF}${CRLF}`,
      'latin1',
    );
  }

  #onEnd(): void {
    // The client closed its side: as node:http's server does by default, what it has not been
    // answered yet is abandoned (its attempts cancelled) and the connection closes.
    this.#endAfterWrites();
  }

  #onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.front.connections.delete(this);
    for (const req of this.queue.splice(0)) this.#gone(req);
    if (this.reading !== null) this.#gone(this.reading);
    this.reading = null;
    disposeParser(this.parser, true);
  }
}

/** The listening server. */
export class Front {
  readonly server: net.Server;
  readonly connections = new Set<Connection>();
  readonly handler: RequestHandler;
  readonly keepAliveTimeoutMs: number;
  readonly maxHeaderSize: number;
  /** Milliseconds, advanced by the sweep: stamping reads it instead of the clock. */
  now = Date.now();
  closing = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: FrontOptions) {
    this.handler = options.handler;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs;
    this.maxHeaderSize = options.maxHeaderSize ?? 0;
    // allowHalfOpen: a client that half-closes after its request still reads the answer.
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
      if (this.closing) {
        socket.destroy();
        return;
      }
      this.connections.add(new Connection(this, socket));
    });
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        this.server.off('listening', onListening);
        reject(err);
      };
      const onListening = () => {
        this.server.off('error', onError);
        this.#startSweep();
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen(port, host);
    });
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /**
   * Graceful stop: no new connections; every answer from now on carries `Connection: close`; idle
   * connections close after `lingerMs`. Resolves once every connection has closed.
   */
  stopAccepting(lingerMs = LINGER_MS): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // A request a client sent just before the stop may still sit unread in an "idle" connection:
    // those are closed only after a moment in which such requests are read and answered (with
    // `Connection: close`, as every answer from now on). Busy connections close after their answer.
    const linger = setTimeout(() => {
      for (const conn of this.connections) if (conn.queue.length === 0) conn.socket.end();
    }, lingerMs);
    return closed.finally(() => clearTimeout(linger));
  }

  /** Cuts every connection (after the grace period). */
  destroyAll(): void {
    for (const conn of this.connections) conn.socket.destroy();
    this.#stopSweep();
  }

  sweep(now: number): void {
    this.now = now;
    refreshDate(now);
    const limit = this.keepAliveTimeoutMs + 1000;
    for (const conn of this.connections) {
      // Idle since its last answer (or since it connected without finishing a head), or a request
      // whose body has not finished arriving: closed. A stamp lags by up to one sweep period.
      const reading = conn.reading;
      if (
        reading !== null
          ? now - reading.startedAt > limit
          : conn.queue.length === 0 && now - conn.lastActive > limit
      )
        conn.socket.destroy();
    }
  }

  #startSweep(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.sweep(Date.now()), 1000);
    this.#timer.unref();
  }

  #stopSweep(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  close(): void {
    this.#stopSweep();
  }
}
