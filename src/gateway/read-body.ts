// The one body reader of the routes the gateway answers itself (/feedback, /admin/*, ...). A body over
// the limit is refused with a 413 the client can read: the rest of it is drained (up to a bound), not
// cut off with a reset that would lose the answer.
import type { IncomingMessage } from 'node:http';
import { FlywheelError } from '../errors.js';

/** How much of an oversized body is read and discarded so the 413 reaches the client intact. */
const DRAIN_FACTOR = 4;

function tooLarge(limit: number, received?: number): FlywheelError {
  return new FlywheelError('FLY_ERR_BODY_TOO_LARGE', `the request body is over the limit of ${limit} bytes`, {
    limit,
    ...(received === undefined ? {} : { content_length: received }),
  });
}

/**
 * The whole body, or FLY_ERR_BODY_TOO_LARGE as soon as its Content-Length or the bytes received pass
 * `limit`. After a refusal the socket keeps being read (and the bytes dropped) until the body ends, so
 * the keep-alive connection survives; a client that sends more than DRAIN_FACTOR times the limit is
 * disconnected.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const drain = (already: number) => {
      let dropped = already;
      req.removeAllListeners('data');
      req.on('data', (c: Buffer) => {
        dropped += c.length;
        if (dropped > limit * DRAIN_FACTOR) req.destroy();
      });
      req.resume();
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(tooLarge(limit, declared));
      drain(0);
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > limit) {
        reject(tooLarge(limit));
        drain(bytes);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, bytes)));
    req.on('error', reject);
  });
}
