// Node's own llhttp binding: the HTTP/1.1 parser node:http itself runs on (`_http_common`'s
// HTTPParser). The data paths of the gateway and the backend parse with it directly instead of going
// through node:http's IncomingMessage/ServerResponse streams and undici's client, which measured at
// about 2.5× HAProxy's CPU per proxied request on this machine kind (bench/gateway.mjs; the issue-13
// note has the figures):
//
//   - in "consume" mode the parser reads the socket in C++ and calls into JavaScript once per event
//     (head complete, body chunk, message complete), never once per read;
//   - header names and values arrive as one flat array of strings, the form both directions need.
//
// The binding is not a documented API. Everything that touches it is in this file, and `checkBinding()`
// runs a request and a response through it when the module loads: a Node release that changes its
// shape fails loudly at start (and in the tests) rather than mis-parsing traffic.
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/** The subset of the binding's parser the front and the upstream pool use. */
export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  consume(handle: unknown): void;
  unconsume(): void;
  close(): void;
  free(): void;
  remove(): void;
  [callback: number]: unknown;
}

interface Binding {
  HTTPParser: {
    new (): NativeParser;
    REQUEST: number;
    RESPONSE: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
    kLenientNone?: number;
  };
  methods: string[];
}

const binding = createRequire(import.meta.url)('_http_common') as Binding;
const Parser = binding.HTTPParser;

export const REQUEST = Parser.REQUEST;
export const RESPONSE = Parser.RESPONSE;
export const kOnHeaders = Parser.kOnHeaders;
export const kOnHeadersComplete = Parser.kOnHeadersComplete;
export const kOnBody = Parser.kOnBody;
export const kOnMessageComplete = Parser.kOnMessageComplete;
export const kOnExecute = Parser.kOnExecute;
/** Method names by the index the head callback gets. */
export const METHODS: readonly string[] = binding.methods;

/** Strict parsing (no lenient flags): request smuggling shapes are errors, as in node:http by default. */
const STRICT = Parser.kLenientNone ?? 0;

/**
 * The head callback: (versionMajor, versionMinor, headers, method, url, statusCode, statusMessage,
 * upgrade, shouldKeepAlive). `headers` and `url` are undefined when the head was long enough to be
 * flushed earlier through kOnHeaders (more than 32 header lines). Returning 1 tells the parser the
 * message has no body (a response to HEAD).
 */
export type HeadCallback = (
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number | undefined,
  url: string | undefined,
  statusCode: number | undefined,
  statusMessage: string | undefined,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number;

/** A parser for `type` (REQUEST or RESPONSE); `maxHeaderSize` 0 is Node's default (16 KiB). */
export function newParser(type: number, maxHeaderSize = 0): NativeParser {
  const parser = new Parser();
  parser.initialize(type, {}, maxHeaderSize, STRICT);
  return parser;
}

interface StreamHandle {
  reading?: boolean;
  readStart(): number;
  readStop(): number;
}

function handleOf(socket: Socket): StreamHandle | null {
  return ((socket as unknown as { _handle?: StreamHandle | null })._handle ?? null) as StreamHandle | null;
}

/**
 * Lets `parser` read `socket` in C++ (node:http does the same for its server sockets). The socket then
 * emits no 'data'; its 'end', 'error' and 'close' still come.
 */
export function consumeSocket(parser: NativeParser, socket: Socket): void {
  const handle = handleOf(socket) as (StreamHandle & { _consumed?: boolean }) | null;
  if (handle === null) throw new Error('socket has no handle to consume');
  handle._consumed = true;
  parser.consume(handle);
}

/**
 * Stops or restarts reading a consumed socket (back-pressure: a stream pause() does not reach a socket
 * whose reads go to the parser). The `reading` flag is the one net.Socket keeps, so a later pause() or
 * resume() of the stream stays consistent.
 */
export function setReading(socket: Socket, reading: boolean): void {
  const handle = handleOf(socket);
  if (handle === null || socket.destroyed) return;
  if (reading && handle.reading !== true) {
    handle.reading = true;
    handle.readStart();
  } else if (!reading && handle.reading !== false) {
    handle.reading = false;
    handle.readStop();
  }
}

/**
 * Releases a parser once its socket is gone. The native object is deleted after the current stack
 * unwinds, as node:http does: a callback of this very parser may be what closed the socket.
 */
export function disposeParser(parser: NativeParser, consumed: boolean): void {
  if (consumed) parser.unconsume();
  parser.remove();
  setImmediate(() => parser.close());
}

/** Runs a request and a response through the binding and checks what the callbacks get. */
export function checkBinding(): void {
  const seen: string[] = [];
  const fail = (what: string) => {
    throw new Error(
      `this Node.js release (${process.version}) changed its HTTP parser binding (${what}); the gateway's data path needs updating`,
    );
  };
  const req = newParser(REQUEST);
  req[kOnHeaders] = () => undefined;
  req[kOnHeadersComplete] = ((_maj, minor, headers, method, url, _s, _m, _u, keepAlive) => {
    if (minor !== 1 || METHODS[method ?? -1] !== 'POST' || url !== '/p?q=1') fail('request line');
    if (headers?.[0] !== 'Content-Length' || headers[1] !== '2' || keepAlive !== true) fail('headers');
    seen.push('head');
    return 0;
  }) satisfies HeadCallback;
  req[kOnBody] = (chunk: unknown) => {
    if (!Buffer.isBuffer(chunk) || chunk.toString() !== 'ok') fail('body chunk');
    seen.push('body');
  };
  req[kOnMessageComplete] = () => seen.push('end');
  const r = req.execute(Buffer.from('POST /p?q=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nok'));
  req.close();
  if (r instanceof Error || seen.join() !== 'head,body,end') fail(`request events: ${seen.join()}`);

  seen.length = 0;
  const res = newParser(RESPONSE);
  res[kOnHeaders] = () => undefined;
  res[kOnHeadersComplete] = ((_maj, _min, headers, _method, _url, status, message) => {
    if (status !== 503 || message !== 'Service Unavailable' || headers?.[0] !== 'Content-Length')
      fail('status line');
    seen.push('head');
    return 0;
  }) satisfies HeadCallback;
  res[kOnBody] = () => seen.push('body');
  res[kOnMessageComplete] = () => seen.push('end');
  const s = res.execute(Buffer.from('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 1\r\n\r\nx'));
  res.close();
  if (s instanceof Error || seen.join() !== 'head,body,end') fail(`response events: ${seen.join()}`);
}

checkBinding();
