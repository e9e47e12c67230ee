// Handlers off the data path keep node:http's IncomingMessage and ServerResponse: the routes the
// gateway answers itself (health, metrics, status, dashboard, experiments, feedback, admin), written
// against them, and the backend's fastify (every route but the /predict fast lane). The request's head and body
// come from the front's parser; the response is given the client socket once every earlier answer
// on the connection has gone out, and writes to it as it would under node:http's own server.
import { IncomingMessage, ServerResponse } from 'node:http';
import { setReading } from './llhttp.js';
import type { RequestListener, WireRequest } from './request.js';

/** What node:http's parser callback calls to set a message's headers (not in the public typings). */
interface IncomingInternals {
  _addHeaderLines(headers: string[], n: number): void;
}
/** Set by ServerResponse when the body's end can only be told by closing the connection. */
interface ResponseInternals {
  _last?: boolean;
}

// Checked when the module loads, like llhttp.ts's binding: a Node release without it fails at start.
if (
  typeof (IncomingMessage.prototype as unknown as Partial<IncomingInternals>)._addHeaderLines !== 'function'
) {
  throw new Error(
    `this Node.js release (${process.version}) has no IncomingMessage._addHeaderLines; the gateway's local routes need updating`,
  );
}

/** Whether a request head announces a body (a non-zero Content-Length, or a Transfer-Encoding). */
function declaresBody(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'transfer-encoding') return true;
    if (name === 'content-length' && Number(raw[i + 1]) !== 0) return true;
  }
  return false;
}

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Runs `handle` on node:http objects for `wire`, in its turn on the connection. `body`: the whole body,
 * already read from the front by someone who then passed the request on (the backend's /predict lane).
 */
export function runNodeHandler(wire: WireRequest, handle: NodeHandler, body?: Buffer): void {
  const socket = wire.socket;
  const req = new IncomingMessage(socket);
  req.method = wire.method;
  req.url = wire.url;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = wire.httpMinor;
  req.httpVersion = `1.${wire.httpMinor}`;
  (req as unknown as IncomingInternals)._addHeaderLines(wire.rawHeaders, wire.rawHeaders.length);
  /** The answer went out before the body was read: the rest is dropped as it arrives. */
  let discard = false;
  const listener: RequestListener = {
    onBody: (chunk) => {
      if (discard) return;
      // A handler that reads slower than the client sends pauses the connection (as node:http does);
      // reading resumes when it asks for more.
      if (!req.push(chunk)) setReading(socket, false);
    },
    onBodyEnd: () => {
      if (req.complete) return;
      req.complete = true;
      req.push(null);
    },
    onClientGone: () => {
      if (!req.complete) req.destroy();
    },
    onDrain: () => undefined,
  };
  wire.listener = listener;
  // A request without a body is complete from its head on (the parser says so only after the head's
  // handler ran, and an answer that starts on an incomplete request closes the connection).
  if (body === undefined && !declaresBody(wire.rawHeaders)) listener.onBodyEnd();
  const read = req._read;
  req._read = function (size: number) {
    setReading(socket, true);
    read.call(this, size);
  };
  if (body !== undefined) {
    req.push(body);
    listener.onBodyEnd();
  }
  const start = () => {
    const res = new ServerResponse(req);
    res.shouldKeepAlive =
      wire.keepAlive && !wire.closeAfter && !wire.conn.closing && !wire.conn.front.closing;
    res.assignSocket(socket);
    // An answer that starts before the body is read to its end says it closes the connection: the
    // rest of the body is not read (see 'finish').
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
      if (!req.complete) this.shouldKeepAlive = false;
      return writeHead.apply(this, args);
    } as ServerResponse['writeHead'];
    res.on('finish', () => {
      res.detachSocket(socket);
      // A body left unread (an answer given before it was needed, e.g. 415 or 413) is not read into
      // memory, and the connection closes after this answer rather than parse what follows.
      const unread = !req.complete;
      if (unread) {
        discard = true;
        setReading(socket, true);
      }
      wire.finishedOutside(
        unread || !res.shouldKeepAlive || (res as unknown as ResponseInternals)._last === true,
      );
      process.nextTick(() => res.emit('close'));
    });
    if (wire.gone) {
      res.destroy();
      return;
    }
    handle(req, res);
  };
  if (wire.conn.isHeadOfLine(wire)) start();
  else wire.onHeadOfLine = start;
}
