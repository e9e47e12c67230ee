// One client request from arrival to its last byte: its body, its plan, its tries and how it ends.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { ERRORS, FlywheelError, type ErrorCode } from '../errors.js';
import { Attempt, CLIENT_GONE, DEADLINE_PASSED } from './attempt.js';
import { Timed } from './deadlines.js';
import type { Forwarder } from './forward.js';
import type { RequestHead } from './headers.js';
import type { ForwardPlan, ForwardRoute } from './plan.js';
import type { FailureKind, Replica } from './replica.js';

const kExchange = Symbol('flywheel.exchange');
type RequestWithExchange = IncomingMessage & { [kExchange]?: Exchange };
type ResponseWithExchange = ServerResponse & { [kExchange]?: Exchange };

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
export class Exchange extends Timed implements RequestHead {
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

  /** Reads the request body through the shared listeners; it starts once the body is in. */
  readBody(): void {
    const req = this.req as RequestWithExchange;
    req[kExchange] = this;
    req.on('data', onRequestData);
    req.on('error', onRequestError);
    // With a Content-Length the request goes out with its last byte; only a chunked body waits
    // for 'end' (a tick later).
    if (this.chunked) req.on('end', onRequestEnd);
  }

  /** The client reads slower than the replica sends: the attempt resumes once the response drains. */
  resumeOnDrain(): void {
    (this.res as ResponseWithExchange)[kExchange] = this;
    this.res.once('drain', onResponseDrain);
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
          answeredBy: attempt?.answeredBy ?? null,
          prediction: attempt?.prediction ?? null,
          features: attempt?.features ?? null,
        });
      } catch (err) {
        this.fwd.options.log.error({ err, route: this.route.name }, 'exchange observer failed');
      }
    }
  }
}
