// One request on a client connection of the front (front.ts), and the writer of its answer:
// the head is held until the first body bytes so that a small answer is one write, the body is framed
// as the client's HTTP version needs (Content-Length, chunked, or close-delimited), and an answer that
// is ready before the earlier ones on its connection waits in memory.
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { Connection } from './front.js';

/** Who a request's events go to (the forwarder's exchange, or the local-route adapter). */
export interface RequestListener {
  onBody(chunk: Buffer): void;
  /** The whole body is in (right after the head for a request without one). */
  onBodyEnd(): void;
  /** The connection closed before this request's answer was complete. */
  onClientGone(): void;
  /** Output that had backed up in the socket has been written out. */
  onDrain(): void;
}

export type RequestHandler = (req: WireRequest) => void;

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
/** Writes up to this size go out as one latin1 string (see WireRequest #frame). */
const STRING_WRITE_MAX = 16 * 1024;

/** `[name, value, ...]` as header lines ("name: value\r\n" each). */
export function headerLines(flat: readonly string[]): string {
  let lines = '';
  for (let i = 0; i < flat.length; i += 2) lines += `${flat[i]}: ${flat[i + 1]}${CRLF}`;
  return lines;
}

/** The `Date` header value, refreshed once a second by the front's sweep (as node:http caches it). */
let dateValue = new Date().toUTCString();

export function httpDate(): string {
  return dateValue;
}

/** @internal the front's sweep, once a second. */
export function refreshDate(now: number): void {
  dateValue = new Date(now).toUTCString();
}

/** One request on a client connection, and the writer of its answer. */
export class WireRequest {
  readonly conn: Connection;
  readonly method: string;
  readonly url: string;
  /** Flat `[name, value, ...]`, as received (latin1 strings: every byte kept). */
  readonly rawHeaders: string[];
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly httpMinor: number;
  /** The client allows the connection to stay open after this answer. */
  readonly keepAlive: boolean;
  readonly startedAt: number;
  listener: RequestListener | null = null;
  /** The answer's head has been given (it may still wait to go out with the first body bytes). */
  headSent = false;
  /** The answer is complete. */
  finished = false;
  /** The connection closed before the answer was complete. */
  gone = false;
  /** Close the connection after this answer (e.g. a request body left unread). */
  closeAfter = false;
  /** `Expect: 100-continue` to answer once the answers before this one are out. */
  continueDue = false;
  /** Set by a route that writes to the socket itself (local.ts): started when head of line. */
  onHeadOfLine: (() => void) | null = null;
  #head: string | null = null;
  #chunked = false;
  #noBody = false;
  #last = false;
  /** Output held while an earlier answer on the connection is still going out. */
  #held: (string | Buffer)[] | null = null;

  constructor(
    conn: Connection,
    method: string,
    url: string,
    rawHeaders: string[],
    httpMinor: number,
    keepAlive: boolean,
  ) {
    this.conn = conn;
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.httpMinor = httpMinor;
    this.keepAlive = keepAlive;
    this.startedAt = conn.front.now;
  }

  get remoteAddress(): string | undefined {
    return this.conn.remoteAddress;
  }

  get socket(): Socket {
    return this.conn.socket;
  }

  /**
   * Gives the answer's head; it goes out with the first body bytes (one write for a small answer).
   * `lines` are header lines without hop-by-hop headers; `hasLength` says whether they carry a
   * Content-Length (else the body is sent chunked, or close-delimited to an HTTP/1.0 client).
   * `announceKeepAlive` says `Connection: keep-alive` to an HTTP/1.1 client too (node:http's habit,
   * for answers that must match its own byte for byte).
   */
  writeHead(
    status: number,
    statusText: string | null,
    lines: string,
    hasLength: boolean,
    announceKeepAlive = false,
  ): void {
    if (this.headSent || this.gone) return;
    this.headSent = true;
    let keep = this.keepAlive && !this.closeAfter && !this.conn.closing && !this.conn.front.closing;
    const noBody = this.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    if (!noBody && !hasLength) {
      if (this.httpMinor >= 1) {
        this.#chunked = true;
        lines += `transfer-encoding: chunked${CRLF}`;
      } else {
        keep = false;
      }
    }
    this.#noBody = noBody;
    this.#last = !keep;
    if (!keep) lines += `Connection: close${CRLF}`;
    else if (this.httpMinor === 0 || announceKeepAlive) lines += `Connection: keep-alive${CRLF}`;
    this.#head = `HTTP/1.1 ${status} ${statusText ?? STATUS_CODES[status] ?? 'Unknown'}${CRLF}${lines}${CRLF}`;
  }

  /** A body chunk; false when the socket's buffer is full (wait for the listener's onDrain). */
  write(chunk: Buffer): boolean {
    if (this.finished || this.gone) return true;
    return this.#emit(this.#frame(chunk, false));
  }

  /**
   * The last body bytes (or none); the answer is complete. A string is taken as latin1: one byte per
   * character, as `Buffer.toString('latin1')` gives (a UTF-8 answer that is all ASCII qualifies).
   */
  end(chunk: Buffer | string | null = null): void {
    if (this.finished || this.gone) return;
    this.finished = true;
    this.#emit(this.#frame(chunk, true));
    this.conn.answered(this);
  }

  /** A whole answer with a known body, in one write. */
  respond(status: number, lines: string, body: Buffer | string): void {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    this.writeHead(status, null, `${lines}content-length: ${data.length}${CRLF}`, true);
    this.end(data);
  }

  /** Cuts the connection: a client that got part of an answer must see it truncated. */
  abort(): void {
    this.conn.socket.destroy();
  }

  /** The answer written by a route that wrote to the socket itself is complete. */
  finishedOutside(closeConnection: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.#last = closeConnection;
    this.conn.answered(this);
  }

  get last(): boolean {
    return this.#last;
  }

  /**
   * The bytes of one write: the head (if still due), the chunk (framed when chunked) and the last
   * chunk marker. A small write goes as one latin1 string: the socket writes a string from stack
   * storage, where a Buffer would be allocated and copied into first.
   */
  #frame(chunk: Buffer | string | null, last: boolean): string | Buffer | null {
    const head = this.#head;
    this.#head = null;
    const body = this.#noBody || chunk === null || chunk.length === 0 ? null : chunk;
    const tail = last && this.#chunked && !this.#noBody ? LAST_CHUNK : '';
    if (body === null) return head === null ? (tail === '' ? null : tail) : head + tail;
    if (head === null && !this.#chunked) return body;
    if (body.length > STRING_WRITE_MAX) {
      const parts: Buffer[] = [];
      if (head !== null) parts.push(Buffer.from(head, 'latin1'));
      if (this.#chunked) parts.push(Buffer.from(`${body.length.toString(16)}${CRLF}`, 'latin1'));
      parts.push(typeof body === 'string' ? Buffer.from(body, 'latin1') : body);
      if (this.#chunked) parts.push(Buffer.from(CRLF + tail, 'latin1'));
      return Buffer.concat(parts);
    }
    const text = typeof body === 'string' ? body : body.toString('latin1');
    const framed = this.#chunked ? `${body.length.toString(16)}${CRLF}${text}${CRLF}${tail}` : text;
    return head === null ? framed : head + framed;
  }

  #emit(data: string | Buffer | null): boolean {
    if (data === null) return true;
    if (this.conn.queue[0] !== this) {
      (this.#held ??= []).push(data);
      return true;
    }
    return typeof data === 'string' ? this.conn.socket.write(data, 'latin1') : this.conn.socket.write(data);
  }

  /** @internal this answer is now the connection's first: what it held goes out. */
  flushHeld(): void {
    const held = this.#held;
    this.#held = null;
    if (held !== null) {
      for (const data of held) {
        if (typeof data === 'string') this.conn.socket.write(data, 'latin1');
        else this.conn.socket.write(data);
      }
    }
  }
}
