// One try of one request on one replica: a dispatch handler of the replica's pool (wire/upstream.ts),
// streaming the answer to the client, and the failure handling of a try (retry on 503, fallback on
// 404, reset, attempt timeout).
import { performance } from 'node:perf_hooks';
import { Timed } from './deadlines.js';
import type { Exchange } from './exchange.js';
import { responseHeaderLines, type AnswerHead } from './headers.js';
import type { FailureKind, Replica } from './replica.js';
import type { UpstreamHandler } from '../wire/upstream.js';

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

/** One try on one replica: the pool's dispatch handler, and its own attempt-timeout entry. */
export class Attempt extends Timed implements UpstreamHandler, AnswerHead {
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
  rawHeaders: string[] | null = null;
  answeredBy: string | null = null;
  prediction: string | null = null;
  features: string | null = null;
  hasLength = false;
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

  onHeaders(statusCode: number, raw: string[], resume: () => void, statusText: string): boolean {
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
    const lines = responseHeaderLines(raw, ex, this);
    // The head goes out with the first body bytes (one write for a small answer).
    ex.req.writeHead(statusCode, statusText === '' ? null : statusText, lines, this.hasLength);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (!this.live) return true;
    const held = this.held;
    this.held = chunk;
    if (held === null) return true;
    // false: the client reads slower than the replica sends; the pool pauses the replica's socket
    // until the client's drains (Exchange.onDrain resumes it).
    return this.ex.req.write(held);
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
    ex.req.end(this.held);
    this.held = null;
    ex.end(this.status, this);
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
      if (!ex.req.gone) ex.req.abort();
      ex.end(502, this);
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
