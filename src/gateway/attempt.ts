// One try of one request on one replica: undici's dispatch handler, streaming the answer to the client,
// and the failure handling of a try (retry on 503, fallback on 404, reset, attempt timeout).
import { STATUS_CODES } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { Timed } from './deadlines.js';
import type { Exchange } from './exchange.js';
import { responseHeaders, type AnswerHead } from './headers.js';
import type { BodyRewrite } from './plan.js';
import type { FailureKind, Replica } from './replica.js';

/** The reason an abandoned attempt is cancelled with (its later onError is ignored). */
class AttemptTimeoutError extends Error {
  readonly code = 'FLY_ATTEMPT_TIMEOUT';
}
export const ATTEMPT_TIMEOUT = new AttemptTimeoutError('attempt timed out');
export const DEADLINE_PASSED = new AttemptTimeoutError('request deadline passed');
const GATEWAY_CLOSING = new AttemptTimeoutError('the gateway is closing');
export const CLIENT_GONE = new Error('client closed the connection');

function failureKind(err: Error): FailureKind {
  const code = (err as { code?: unknown }).code;
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH')
    return 'connect';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENETUNREACH') return 'connect';
  return 'reset';
}

function describe(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

/**
 * One try on one replica: undici's dispatch handler (its raw-buffer callback set, the one undici's own
 * core calls, so no header object is built). Also its own attempt-timeout entry.
 */
export class Attempt extends Timed implements Dispatcher.DispatchHandler, AnswerHead {
  readonly ex: Exchange;
  readonly replica: Replica;
  abortUpstream: ((err?: Error) => void) | null = null;
  resumeFn: (() => void) | null = null;
  /** False once the exchange stopped listening (timed out, retried elsewhere, client gone). */
  live = true;
  /**
   * Lost a hedge race: nobody listens, but it runs on until it answers (a success of its replica, and
   * its connection stays reusable) or its attempt timeout (a failure: that is how a hung replica that
   * only ever loses races still gets ejected).
   */
  detached = false;
  /** undici is done with it (complete or error): the in-flight count has been released. */
  settled = false;
  /** The first body chunk is held until the next one or the end, so small answers go out in one end(). */
  held: Buffer | null = null;
  rawHeaders: Buffer[] | null = null;
  /** The client's response headers, kept only while a rewritten body is collected. */
  headers: string[] | null = null;
  /** The body, collected only for a plan with a rewrite. */
  chunks: Buffer[] | null = null;
  answeredBy: string | null = null;
  prediction: string | null = null;
  features: string | null = null;
  status = 0;
  /** When it was sent (performance.now()), for the learned timeouts. */
  readonly sentAt: number;

  constructor(ex: Exchange, replica: Replica, sentAt: number) {
    super();
    this.ex = ex;
    this.replica = replica;
    this.sentAt = sentAt;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    // Abandoned while still queued in the pool: cancel now that undici lets us.
    if (!this.live && !this.detached) abort(ATTEMPT_TIMEOUT);
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    this.status = statusCode;
    const ex = this.ex;
    // A detached loser's time counts too: leaving the slow answers out would shrink the estimate.
    if (statusCode < 500 && (this.live || this.detached))
      ex.fwd.learned.observe(performance.now() - this.sentAt);
    if (!this.live) return true;
    if (statusCode === 503) {
      this.ex.fwd.options.onFailure(this.replica, 'status_503');
      ex.plan.balancer.recordFailure(this.replica, 'status_503', 'answered 503');
      // Hedged, or another replica to retry on: its body is read and dropped (onData ignores it) so
      // the connection stays reusable. Otherwise the 503 goes to the client as it is.
      if (ex.other(this) !== null || (ex.canReplace(this) && ex.plan.balancer.pick(this.replica) !== null)) {
        this.stopListening();
        ex.attemptFailed(this, 'status_503', 'answered 503');
        return true;
      }
    }
    if (statusCode === 404 && ex.plan.fallback !== undefined && !ex.fellBack) {
      const fallback = ex.plan.fallback;
      const next = fallback.balancer.pick(null);
      if (next !== null) {
        ex.answeredBy(this);
        this.stopListening();
        ex.plan.balancer.recordSuccess(this.replica); // it answered: a 404 is not a replica failure
        ex.useFallback(fallback);
        ex.forward(next, false);
        return true;
      }
    }
    ex.answeredBy(this);
    ex.fwd.attemptTimeouts.remove(this);
    ex.responded = true;
    this.resumeFn = resume;
    this.rawHeaders = raw;
    const rewrite = ex.plan.rewrite !== null;
    const headers = responseHeaders(raw, ex, this, rewrite);
    if (rewrite) {
      // A rewritten body changes the length: the head goes out with the body, in onComplete.
      this.headers = headers;
      this.chunks = [];
      return true;
    }
    const res = ex.res;
    if (res.destroyed) return true;
    // A standard reason phrase is what node:http writes anyway; passing it costs a validation.
    if (statusText === '' || STATUS_CODES[statusCode] === statusText) res.writeHead(statusCode, headers);
    else res.writeHead(statusCode, statusText, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (!this.live) return true;
    if (this.chunks !== null) {
      this.chunks.push(chunk);
      return true;
    }
    const held = this.held;
    this.held = chunk;
    if (held === null) return true;
    const res = this.ex.res;
    if (res.destroyed) return true;
    if (res.write(held)) return true;
    // The client reads slower than the replica sends: pause the upstream socket until it drains.
    this.ex.resumeOnDrain();
    return false;
  }

  onComplete(): void {
    this.release();
    if (!this.live) {
      if (this.detached && this.status !== 503) this.ex.plan.balancer.recordSuccess(this.replica);
      return;
    }
    this.live = false;
    const ex = this.ex;
    if (this.status !== 503) ex.plan.balancer.recordSuccess(this.replica);
    const res = ex.res;
    if (ex.plan.rewrite !== null) this.#sendRewritten(ex.plan.rewrite);
    else if (!res.destroyed) {
      if (this.held !== null) res.end(this.held);
      else res.end();
    }
    ex.end(this.status, this);
  }

  #sendRewritten(rewrite: BodyRewrite): void {
    const ex = this.ex;
    const original = this.collected();
    let body = original;
    try {
      body = rewrite(original, this.status, ex.requestId);
    } catch (err) {
      ex.fwd.options.log.error({ err, route: ex.route.name }, 'response rewrite failed; body sent unchanged');
    }
    if (ex.res.destroyed) return;
    const headers = this.headers ?? [];
    headers.push('content-length', String(body.length));
    ex.res.writeHead(this.status, headers);
    ex.res.end(body);
  }

  onError(err: Error): void {
    this.release();
    if (!this.live && !this.detached) return;
    const ex = this.ex;
    const kind = failureKind(err);
    const message = describe(err);
    ex.fwd.options.onFailure(this.replica, kind);
    ex.plan.balancer.recordFailure(this.replica, kind, message);
    if (!this.live) return; // detached: only its replica's record
    this.live = false;
    if (ex.responded) {
      // Mid-body failure: nothing can be retried; a truncated response must look truncated.
      if (!ex.res.destroyed) ex.res.destroy();
      ex.end(502, this);
    } else if ((err as { code?: unknown }).code === 'UND_ERR_INVALID_ARG') {
      ex.fail('FLY_ERR_BAD_REQUEST', `the request cannot be forwarded: ${err.message}`);
    } else {
      ex.attemptFailed(this, kind, message);
    }
  }

  /** Attempt timeout. */
  expire(): void {
    if (!this.live && !this.detached) return;
    const message = `no answer within ${Math.round(this.expiresAt - this.sentAt)} ms`;
    this.ex.fwd.options.onFailure(this.replica, 'timeout');
    this.ex.plan.balancer.recordFailure(this.replica, 'timeout', message);
    if (this.detached) {
      this.detached = false;
      if (!this.settled && this.abortUpstream !== null) this.abortUpstream(ATTEMPT_TIMEOUT);
      return;
    }
    const ex = this.ex;
    this.abandon(ATTEMPT_TIMEOUT);
    ex.attemptFailed(this, 'timeout', message);
  }

  /** The gateway closes: nobody listens any more and the upstream request is cancelled. */
  cancel(): void {
    this.live = false;
    this.detached = false;
    if (!this.settled && this.abortUpstream !== null) this.abortUpstream(GATEWAY_CLOSING);
  }

  /** Lost a hedge race (see `detached`); keeps its attempt timeout. */
  detach(): void {
    if (!this.live) return;
    this.live = false;
    this.detached = true;
  }

  /** The exchange stops listening; the upstream request is cancelled (its connection closed). */
  abandon(reason: Error): void {
    if (!this.live) return;
    this.stopListening();
    if (!this.settled && this.abortUpstream !== null) this.abortUpstream(reason);
  }

  resumeUpstream(): void {
    this.resumeFn?.();
  }

  collected(): Buffer {
    const chunks = this.chunks;
    if (chunks === null || chunks.length === 0) return Buffer.alloc(0);
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  }

  private stopListening(): void {
    this.live = false;
    this.ex.fwd.attemptTimeouts.remove(this);
  }

  private release(): void {
    if (this.settled) return;
    this.settled = true;
    this.ex.fwd.attemptTimeouts.remove(this);
    this.ex.plan.balancer.onRequestEnd(this.replica);
  }
}
