// The routes the gateway answers itself (health, metrics, status, dashboard, experiments, feedback,
// admin) keep node:http's IncomingMessage and ServerResponse: they are off the data path, and their
// handlers, the body reader and the dashboard are written against them. The request's head and body
// come from the front's parser; the response is given the client socket once every earlier answer
// on the connection has gone out, and writes to it as it would under node:http's own server.
import { IncomingMessage, ServerResponse } from 'node:http';
import type { WireRequest } from './request.js';

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

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Runs `handle` on node:http objects for `wire`, in its turn on the connection. */
export function runNodeHandler(wire: WireRequest, handle: NodeHandler): void {
  const socket = wire.socket;
  const req = new IncomingMessage(socket);
  req.method = wire.method;
  req.url = wire.url;
  req.httpVersionMajor = 1;
  req.httpVersionMinor = wire.httpMinor;
  req.httpVersion = `1.${wire.httpMinor}`;
  (req as unknown as IncomingInternals)._addHeaderLines(wire.rawHeaders, wire.rawHeaders.length);
  wire.listener = {
    onBody: (chunk) => {
      req.push(chunk);
    },
    onBodyEnd: () => {
      req.complete = true;
      req.push(null);
    },
    onClientGone: () => {
      if (!req.complete) req.destroy();
    },
    onDrain: () => undefined,
  };
  const start = () => {
    const res = new ServerResponse(req);
    res.shouldKeepAlive =
      wire.keepAlive && !wire.closeAfter && !wire.conn.closing && !wire.conn.front.closing;
    res.assignSocket(socket);
    res.on('finish', () => {
      res.detachSocket(socket);
      wire.finishedOutside(!res.shouldKeepAlive || (res as unknown as ResponseInternals)._last === true);
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
