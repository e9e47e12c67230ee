// The proxy hot path. One Exchange per client request and one Attempt (an undici dispatch handler) per
// try on a replica. The response streams through untouched: undici hands over the replica's raw header
// and body buffers and they are written to the client as they are, never parsed.
//
// forward() is the single place a request goes to a replica; the other concerns are small wrappers
// around it, in the spirit of undici's interceptors:
//   - x-request-id: assigned once in the header scan, sent upstream and returned to the client;
//   - retry once: a failed attempt (connection error, reset, timeout, 503) goes to another replica,
//     predictions being idempotent, as long as nothing was sent to the client yet;
//   - attempt timeout and total deadline: two FIFO deadline lists swept by one shared interval.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { ERRORS, FlywheelError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { Balancer } from './balancer.js';
import { DeadlineList, DeadlineSweeper, Timed } from './deadlines.js';
import { responseHeaders, scanRequestHeaders, type RequestHead } from './headers.js';
import type { FailureKind, Replica } from './replica.js';

/**
 * Per-request choices of a forwarding route. The plain routes share one frozen plan, so the common
 * path allocates nothing for it; a version router returns its own plan per request.
 */
export interface ForwardPlan {
  /** Replica set to pick from. */
  readonly balancer: Balancer;
  /** Extra upstream request headers, flat [name, value, ...] (e.g. `x-model-version`). */
  readonly headers: readonly string[] | null;
  /** Sees every finished exchange with the whole response body; the body is kept only when set. */
  readonly observer: ExchangeObserver | null;
  /**
   * Replaces the response body before the client gets it (e.g. to add a `request_id` member). The
   * response is then buffered whole and its Content-Length recomputed; null streams it untouched.
   */
  readonly rewrite: BodyRewrite | null;
  /**
   * Where to go when a replica answers 404 to this plan (e.g. it has not loaded the version named in
   * `headers` yet): the request is sent once more with the fallback plan. Followed at most once.
   */
  readonly fallback?: ForwardPlan;
}

export type BodyRewrite = (body: Buffer, status: number, requestId: string) => Buffer;

/** Chooses the plan of one request once its body is in (a sticky split may read `user_id` from it). */
export type Planner = (req: IncomingMessage, body: Buffer | null, requestId: string) => ForwardPlan;

export interface ExchangeRecord {
  readonly requestId: string;
  readonly route: string;
  readonly method: string;
  readonly url: string;
  /** The replica that answered (or last failed). */
  readonly replica: string | null;
  readonly status: number;
  readonly attempts: number;
  readonly durationMs: number;
  readonly requestBody: Buffer | null;
  /** The replica's raw response headers (null when the gateway answered with an error itself). */
  readonly responseHeaders: readonly Buffer[] | null;
  readonly responseBody: Buffer;
}

export type ExchangeObserver = (record: ExchangeRecord) => void;

/** What the forwarder reports per request; see metrics.ts. */
export interface RouteMeter {
  done(status: number, seconds: number): void;
}

export interface ForwardRoute {
  readonly kind: 'forward';
  readonly name: string;
  /** Used when there is no planner. */
  readonly plan: ForwardPlan;
  readonly planner: Planner | null;
  readonly meter: RouteMeter;
}

export interface ForwarderOptions {
  attemptTimeoutMs: number;
  deadlineMs: number;
  /** Largest request body buffered (bodies are buffered so that a retry can resend them). */
  bodyLimit: number;
  onRetry: (kind: FailureKind) => void;
  onFailure: (replica: Replica, kind: FailureKind) => void;
  log: Logger;
}

const kExchange = Symbol('flywheel.exchange');
type RequestWithExchange = IncomingMessage & { [kExchange]?: Exchange };
type ResponseWithExchange = ServerResponse & { [kExchange]?: Exchange };

/** The reason an abandoned attempt is cancelled with (its later onError is ignored). */
class AttemptTimeoutError extends Error {
  readonly code = 'FLY_ATTEMPT_TIMEOUT';
}
const ATTEMPT_TIMEOUT = new AttemptTimeoutError('attempt timed out');
const DEADLINE_PASSED = new AttemptTimeoutError('request deadline passed');
const CLIENT_GONE = new Error('client closed the connection');

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

export class Forwarder {
  readonly attemptTimeouts: DeadlineList;
  readonly deadlines: DeadlineList;
  readonly options: ForwarderOptions;
  /** Client requests not finished yet (graceful shutdown waits for 0). */
  inFlight = 0;
  requests = 0;
  retries = 0;
  readonly #sweeper: DeadlineSweeper;
  #idleWaiters: (() => void)[] = [];

  constructor(options: ForwarderOptions) {
    this.options = options;
    this.attemptTimeouts = new DeadlineList(options.attemptTimeoutMs);
    this.deadlines = new DeadlineList(options.deadlineMs);
    this.#sweeper = new DeadlineSweeper([this.attemptTimeouts, this.deadlines]);
    this.#sweeper.start();
  }

  /** Forwards one client request along `route`. Never throws; every outcome is a response. */
  handle(req: IncomingMessage, res: ServerResponse, route: ForwardRoute): void {
    const ex = new Exchange(this, req, res, route);
    this.inFlight++;
    this.requests++;
    this.deadlines.add(ex, ex.startedAt);
    scanRequestHeaders(req.rawHeaders, req.socket.remoteAddress, ex, ex.headers);
    if (ex.contentLength > 0 || ex.chunked) {
      if (ex.contentLength > this.options.bodyLimit) {
        ex.fail('FLY_ERR_BODY_TOO_LARGE', `request body is larger than ${this.options.bodyLimit} bytes`);
        return;
      }
      (req as RequestWithExchange)[kExchange] = ex;
      req.on('data', onRequestData);
      req.on('error', onRequestError);
      // With a Content-Length the request goes out with its last byte; only a chunked body waits
      // for 'end' (a tick later).
      if (ex.chunked) req.on('end', onRequestEnd);
    } else {
      ex.start();
    }
  }

  /** Resolves when no request is in flight (or at once). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  close(): void {
    this.#sweeper.stop();
  }

  /** @internal called by Exchange when it ends */
  exchangeEnded(): void {
    this.inFlight--;
    if (this.inFlight === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

// Listeners shared by every request (`this` is the emitter), so none is allocated per request.
function onRequestData(this: RequestWithExchange, chunk: Buffer): void {
  this[kExchange]?.addBody(chunk);
}
function onRequestEnd(this: RequestWithExchange): void {
  this[kExchange]?.bodyComplete();
}
function onRequestError(this: RequestWithExchange): void {
  this[kExchange]?.clientGone();
}
function onResponseDrain(this: ResponseWithExchange): void {
  this[kExchange]?.attempt?.resumeUpstream();
}

/** One client request from arrival to its last byte. The total deadline is its own Timed entry. */
class Exchange extends Timed implements RequestHead {
  readonly fwd: Forwarder;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: ForwardRoute;
  readonly startedAt = performance.now();
  readonly headers: string[] = [];
  requestId = '';
  contentLength = -1;
  chunked = false;
  body: Buffer | null = null;
  bodyParts: Buffer[] | null = null;
  bodyBytes = 0;
  plan: ForwardPlan;
  /** Length of `headers` before a plan appended its own, so a fallback plan can replace them. */
  baseHeaders = 0;
  fellBack = false;
  attempt: Attempt | null = null;
  tries = 0;
  /** Response headers went to the client: from here on a failure cannot be retried. */
  responded = false;
  done = false;
  /** Reasons of failed attempts, for the error body; allocated only on failure. */
  failures: string[] | null = null;

  constructor(fwd: Forwarder, req: IncomingMessage, res: ServerResponse, route: ForwardRoute) {
    super();
    this.fwd = fwd;
    this.req = req;
    this.res = res;
    this.route = route;
    this.plan = route.plan;
  }

  addBody(chunk: Buffer): void {
    if (this.done) return;
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.fwd.options.bodyLimit) {
      this.fail('FLY_ERR_BODY_TOO_LARGE', `request body is larger than ${this.fwd.options.bodyLimit} bytes`);
      return;
    }
    if (this.body === null) this.body = chunk;
    else (this.bodyParts ??= [this.body]).push(chunk);
    if (this.bodyBytes === this.contentLength && !this.chunked) this.bodyComplete();
  }

  bodyComplete(): void {
    if (this.done || this.attempt !== null) return;
    if (this.bodyParts !== null) this.body = Buffer.concat(this.bodyParts, this.bodyBytes);
    this.bodyParts = null;
    this.start();
  }

  clientGone(): void {
    if (this.done) return;
    this.abandonAttempt(CLIENT_GONE);
    this.end(499, null);
  }

  start(): void {
    if (this.route.planner !== null) {
      try {
        this.plan = this.route.planner(this.req, this.body, this.requestId);
      } catch (err) {
        this.fwd.options.log.error({ err, route: this.route.name }, 'route planner failed');
        this.fail('FLY_ERR_INTERNAL', 'the gateway could not route this request');
        return;
      }
    }
    this.baseHeaders = this.headers.length;
    if (this.plan.headers !== null) for (const h of this.plan.headers) this.headers.push(h);
    const replica = this.plan.balancer.pick(null);
    if (replica === null) {
      this.fail('FLY_ERR_NO_UPSTREAM', 'no healthy backend replica to answer');
      return;
    }
    this.forward(replica);
  }

  /** Switches to the plan's fallback (undici copied the headers of the attempt already sent). */
  useFallback(fallback: ForwardPlan): void {
    this.fellBack = true;
    this.plan = fallback;
    this.headers.length = this.baseHeaders;
    if (fallback.headers !== null) for (const h of fallback.headers) this.headers.push(h);
  }

  /** The one place a request is sent to a replica. A fallback is not a retry: it uses no try. */
  forward(replica: Replica, isTry = true): void {
    // The deadline list must stay in time order: the arrival time is reused for the first attempt of
    // a request without a body, sent before anything else could run.
    const now = this.attempt === null && this.body === null ? this.startedAt : performance.now();
    if (isTry) this.tries++;
    const attempt = new Attempt(this, replica);
    this.attempt = attempt;
    this.plan.balancer.onRequestStart(replica);
    this.fwd.attemptTimeouts.add(attempt, now);
    const opts: Dispatcher.DispatchOptions = {
      path: this.req.url ?? '/',
      method: this.req.method as Dispatcher.HttpMethod,
      headers: this.headers,
      body: this.body,
    };
    replica.dispatcher.dispatch(opts, attempt);
  }

  /** Retry-once wrapper: another replica if this was the first try, time is left and none was sent. */
  attemptFailed(attempt: Attempt, kind: FailureKind, message: string): void {
    if (this.done || attempt !== this.attempt) return;
    (this.failures ??= []).push(`${attempt.replica.url}: ${message}`);
    if (this.tries < 2 && !this.responded && performance.now() < this.expiresAt) {
      const next = this.plan.balancer.pick(attempt.replica);
      if (next !== null) {
        this.fwd.retries++;
        this.fwd.options.onRetry(kind);
        this.forward(next);
        return;
      }
    }
    if (kind === 'timeout') this.fail('FLY_ERR_UPSTREAM_TIMEOUT', 'no backend replica answered in time');
    else this.fail('FLY_ERR_UPSTREAM_FAILED', `backend replica failed to answer: ${message}`);
  }

  /** Total deadline passed. */
  expire(): void {
    if (this.done) return;
    this.abandonAttempt(DEADLINE_PASSED);
    if (this.responded) {
      // Part of the answer is out: cut the connection so the client sees a truncated response.
      this.res.destroy();
      this.end(504, null);
    } else {
      this.fail(
        'FLY_ERR_UPSTREAM_TIMEOUT',
        `no answer within the ${this.fwd.options.deadlineMs} ms deadline`,
      );
    }
  }

  abandonAttempt(reason: Error): void {
    const attempt = this.attempt;
    this.attempt = null;
    attempt?.abandon(reason);
  }

  /** Answers with a gateway error (JSON `{ error, code, details }`), unless a response already started. */
  fail(code: ErrorCode, message: string): void {
    if (this.done) return;
    const status = ERRORS[code].status;
    const res = this.res;
    if (!res.headersSent && !res.destroyed) {
      const details: Record<string, unknown> = { request_id: this.requestId };
      if (this.failures !== null) details.attempts = this.failures;
      const body = JSON.stringify(new FlywheelError(code, message, details).toJSON());
      const headers = [
        'content-type',
        'application/json; charset=utf-8',
        'content-length',
        String(Buffer.byteLength(body)),
        'x-request-id',
        this.requestId,
      ];
      // A body too large is left unread: close the connection rather than parse what follows.
      if (code === 'FLY_ERR_BODY_TOO_LARGE') headers.push('connection', 'close');
      res.writeHead(status, headers);
      res.end(body);
    } else if (!res.destroyed) {
      res.destroy();
    }
    this.end(status, null);
  }

  /** Bookkeeping shared by every way an exchange ends. */
  end(status: number, attempt: Attempt | null): void {
    if (this.done) return;
    this.done = true;
    this.fwd.deadlines.remove(this);
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.route.meter.done(status, seconds);
    this.fwd.exchangeEnded();
    const observer = this.plan.observer;
    if (observer !== null) {
      try {
        observer({
          requestId: this.requestId,
          route: this.route.name,
          method: this.req.method ?? 'GET',
          url: this.req.url ?? '/',
          replica: attempt?.replica.url ?? null,
          status,
          attempts: this.tries,
          durationMs: seconds * 1000,
          requestBody: this.body,
          responseHeaders: attempt?.rawHeaders ?? null,
          responseBody: attempt?.collected() ?? Buffer.alloc(0),
        });
      } catch (err) {
        this.fwd.options.log.error({ err, route: this.route.name }, 'exchange observer failed');
      }
    }
  }
}

/**
 * One try on one replica: undici's dispatch handler (its raw-buffer callback set, the one undici's own
 * core calls, so no header object is built). Also its own attempt-timeout entry.
 */
class Attempt extends Timed implements Dispatcher.DispatchHandler {
  readonly ex: Exchange;
  readonly replica: Replica;
  abortUpstream: ((err?: Error) => void) | null = null;
  resumeFn: (() => void) | null = null;
  /** False once the exchange stopped listening (timed out, retried elsewhere, client gone). */
  live = true;
  /** undici is done with it (complete or error): the in-flight count has been released. */
  settled = false;
  /** The first body chunk is held until the next one or the end, so small answers go out in one end(). */
  held: Buffer | null = null;
  rawHeaders: Buffer[] | null = null;
  chunks: Buffer[] | null = null;
  status = 0;

  constructor(ex: Exchange, replica: Replica) {
    super();
    this.ex = ex;
    this.replica = replica;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    // Abandoned while still queued in the pool: cancel now that undici lets us.
    if (!this.live) abort(ATTEMPT_TIMEOUT);
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    if (!this.live) return true;
    const ex = this.ex;
    this.status = statusCode;
    if (statusCode === 503) {
      this.ex.fwd.options.onFailure(this.replica, 'status_503');
      ex.plan.balancer.recordFailure(this.replica, 'status_503', 'answered 503');
      if (ex.tries < 2 && performance.now() < ex.expiresAt) {
        const next = ex.plan.balancer.pick(this.replica);
        if (next !== null) {
          // Its body is read and dropped (onData ignores it) so the connection stays reusable.
          this.stopListening();
          (ex.failures ??= []).push(`${this.replica.url}: answered 503`);
          ex.fwd.retries++;
          ex.fwd.options.onRetry('status_503');
          ex.forward(next);
          return true;
        }
      }
    }
    if (statusCode === 404 && ex.plan.fallback !== undefined && !ex.fellBack) {
      const fallback = ex.plan.fallback;
      const next = fallback.balancer.pick(null);
      if (next !== null) {
        this.stopListening();
        ex.plan.balancer.recordSuccess(this.replica); // it answered: a 404 is not a replica failure
        ex.useFallback(fallback);
        ex.forward(next, false);
        return true;
      }
    }
    ex.fwd.attemptTimeouts.remove(this);
    ex.responded = true;
    this.resumeFn = resume;
    const plan = ex.plan;
    if (plan.observer !== null || plan.rewrite !== null) {
      this.rawHeaders = raw;
      this.chunks = [];
      // A rewritten body changes the length: the head goes out with the body, in onComplete.
      if (plan.rewrite !== null) return true;
    }
    const res = ex.res;
    if (res.destroyed) return true;
    const headers = responseHeaders(raw, ex.requestId);
    // A standard reason phrase is what node:http writes anyway; passing it costs a validation.
    if (statusText === '' || STATUS_CODES[statusCode] === statusText) res.writeHead(statusCode, headers);
    else res.writeHead(statusCode, statusText, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (!this.live) return true;
    if (this.chunks !== null) {
      this.chunks.push(chunk);
      if (this.ex.plan.rewrite !== null) return true;
    }
    const held = this.held;
    this.held = chunk;
    if (held === null) return true;
    const res = this.ex.res;
    if (res.destroyed) return true;
    if (res.write(held)) return true;
    // The client reads slower than the replica sends: pause the upstream socket until it drains.
    (res as ResponseWithExchange)[kExchange] = this.ex;
    res.once('drain', onResponseDrain);
    return false;
  }

  onComplete(): void {
    this.release();
    if (!this.live) return;
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
    const headers = responseHeaders(this.rawHeaders ?? [], ex.requestId, true);
    headers.push('content-length', String(body.length));
    ex.res.writeHead(this.status, headers);
    ex.res.end(body);
  }

  onError(err: Error): void {
    this.release();
    if (!this.live) return;
    this.live = false;
    const ex = this.ex;
    const kind = failureKind(err);
    const message = describe(err);
    ex.fwd.options.onFailure(this.replica, kind);
    ex.plan.balancer.recordFailure(this.replica, kind, message);
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
    if (!this.live) return;
    const message = `no answer within ${this.ex.fwd.options.attemptTimeoutMs} ms`;
    this.ex.fwd.options.onFailure(this.replica, 'timeout');
    this.ex.plan.balancer.recordFailure(this.replica, 'timeout', message);
    const ex = this.ex;
    this.abandon(ATTEMPT_TIMEOUT);
    ex.attemptFailed(this, 'timeout', message);
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
