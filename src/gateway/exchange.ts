// One client request from arrival to its last byte: its body, its plan, its tries and how it ends.
import { performance } from 'node:perf_hooks';
import { ERRORS, FlywheelError, type ErrorCode } from '../errors.js';
import { Attempt, CLIENT_GONE, DEADLINE_PASSED } from './attempt.js';
import { Timed } from './deadlines.js';
import type { Forwarder } from './forward.js';
import type { RequestHead } from './headers.js';
import type { ExchangeRecord, ForwardPlan, ForwardRoute } from './plan.js';
import type { FailureKind, Replica } from './replica.js';
import { headerLines, httpDate, type RequestListener, type WireRequest } from '../wire/request.js';

/** The hedge delay of an exchange: its own list entry, as the exchange is in the deadline list. */
class HedgeTimer extends Timed {
  readonly ex: Exchange;
  constructor(ex: Exchange) {
    super();
    this.ex = ex;
  }
  expire(): void {
    this.ex.hedgeDue();
  }
}

/** One client request from arrival to its last byte. The total deadline is its own Timed entry. */
export class Exchange extends Timed implements RequestHead, RequestListener, ExchangeRecord {
  readonly fwd: Forwarder;
  readonly req: WireRequest;
  readonly route: ForwardRoute;
  readonly startedAt = performance.now();
  /** The upstream request's header lines from the client's (headers.ts scanRequestHeaders). */
  headerLines = '';
  /** The plan's own header lines (e.g. `x-model-version`), sent after `headerLines`. */
  planLines = '';
  requestId = '';
  correlationId = '';
  contentLength = -1;
  body: Buffer | null = null;
  bodyParts: Buffer[] | null = null;
  bodyBytes = 0;
  plan: ForwardPlan;
  fellBack = false;
  /** The attempt the exchange follows; with a hedge in flight, the first of the two. */
  attempt: Attempt | null = null;
  /** The second attempt of a hedged request, until one of the two answers or fails. */
  hedge: Attempt | null = null;
  hedgeTimer: HedgeTimer | null = null;
  tries = 0;
  /** Response headers went to the client: from here on a failure cannot be retried. */
  responded = false;
  done = false;
  /** Reasons of failed attempts, for the error body; allocated only on failure. */
  failures: string[] | null = null;
  /** How it ended (set by end(), for the plan's observer). */
  status = 0;
  durationMs = 0;
  answer: Attempt | null = null;

  constructor(fwd: Forwarder, req: WireRequest, route: ForwardRoute) {
    super();
    this.fwd = fwd;
    this.req = req;
    this.route = route;
    this.plan = route.plan;
  }

  onBody(chunk: Buffer): void {
    if (this.done) return;
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.fwd.options.bodyLimit) {
      this.fail('FLY_ERR_BODY_TOO_LARGE', `request body is larger than ${this.fwd.options.bodyLimit} bytes`);
      return;
    }
    if (this.body === null) this.body = chunk;
    else (this.bodyParts ??= [this.body]).push(chunk);
  }

  /** The whole body is in (right after the head without one): the request starts. */
  onBodyEnd(): void {
    if (this.done || this.attempt !== null) return;
    if (this.bodyParts !== null) this.body = Buffer.concat(this.bodyParts, this.bodyBytes);
    this.bodyParts = null;
    this.start();
  }

  /** A client that closes its connection before its answer cancels the attempts (and any retry). */
  onClientGone(): void {
    if (this.done) return;
    this.abandonAttempts(CLIENT_GONE);
    this.end(499, null);
  }

  /** The client read what had backed up: the attempt streaming the answer resumes. */
  onDrain(): void {
    this.attempt?.resumeUpstream();
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
    if (this.plan.headers !== null) this.planLines = headerLines(this.plan.headers);
    const replica = this.plan.balancer.pick(null);
    if (replica === null) {
      this.fail('FLY_ERR_NO_UPSTREAM', 'no healthy backend replica to answer');
      return;
    }
    this.forward(replica);
  }

  /** Switches to the plan's fallback (the attempt already sent keeps the bytes it sent). */
  useFallback(fallback: ForwardPlan): void {
    this.fellBack = true;
    this.plan = fallback;
    this.planLines = fallback.headers !== null ? headerLines(fallback.headers) : '';
  }

  /** The one place a request is sent to a replica. A fallback is not a retry: it uses no try. */
  forward(replica: Replica, isTry = true): void {
    // The deadline list must stay in time order: the arrival time is reused for the first attempt of
    // a request without a body, sent before anything else could run.
    const now = this.attempt === null && this.body === null ? this.startedAt : performance.now();
    if (isTry) this.tries++;
    const attempt = new Attempt(this, replica, now);
    this.attempt = attempt;
    this.#dispatch(attempt, now);
    // Only a first try is hedged: a retry already runs on another replica.
    if (this.route.hedge && this.tries === 1 && isTry && this.fwd.options.hedgeBudget > 0) {
      this.fwd.learned.credit();
      const timer = (this.hedgeTimer ??= new HedgeTimer(this));
      this.fwd.hedgeTimers.add(timer, now);
    }
  }

  /** The hedge delay passed with no answer: the same request goes to another replica too. */
  hedgeDue(): void {
    const first = this.attempt;
    if (this.done || this.responded || this.tries !== 1 || first === null || !first.live) return;
    const replica = this.plan.balancer.pick(first.replica);
    if (replica === null || !this.fwd.learned.takeHedge()) return;
    this.tries++;
    this.fwd.options.onRetry('hedge');
    const now = performance.now();
    const hedge = new Attempt(this, replica, now);
    this.hedge = hedge;
    this.#dispatch(hedge, now);
  }

  #dispatch(attempt: Attempt, now: number): void {
    this.plan.balancer.onRequestStart(attempt.replica);
    this.fwd.attemptTimeouts.add(attempt, now);
    attempt.replica.upstream.dispatch(
      {
        method: this.req.method,
        path: this.req.url,
        headerLines: this.planLines === '' ? this.headerLines : this.headerLines + this.planLines,
        body: this.body,
      },
      attempt,
    );
  }

  /** The other attempt still in flight beside `attempt`, if the request was hedged. */
  other(attempt: Attempt): Attempt | null {
    const other = attempt === this.attempt ? this.hedge : attempt === this.hedge ? this.attempt : null;
    return other !== null && other.live ? other : null;
  }

  /** `attempt` answers the client: the hedge race (if any) is over; the slower one runs on detached. */
  answeredBy(attempt: Attempt): void {
    if (this.hedgeTimer !== null) this.fwd.hedgeTimers.remove(this.hedgeTimer);
    const other = this.other(attempt);
    this.attempt = attempt;
    this.hedge = null;
    other?.detach();
  }

  /** A failed attempt can be replaced: the other hedge is still running, or a retry is possible. */
  canReplace(attempt: Attempt): boolean {
    if (this.other(attempt) !== null) return true;
    return this.tries < 2 && !this.responded && performance.now() < this.expiresAt;
  }

  /** Retry-once wrapper: another replica if this was the first try, time is left and none was sent. */
  attemptFailed(attempt: Attempt, kind: FailureKind, message: string): void {
    if (this.done || (attempt !== this.attempt && attempt !== this.hedge)) return;
    (this.failures ??= []).push(`${attempt.replica.url}: ${message}`);
    // Hedged: the other attempt carries on alone.
    const other = this.other(attempt);
    if (other !== null) {
      this.attempt = other;
      this.hedge = null;
      return;
    }
    this.hedge = null;
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
    const readingBody = this.attempt === null && this.tries === 0;
    this.abandonAttempts(DEADLINE_PASSED);
    if (readingBody) {
      // Still reading the client's body: no replica was asked, the client is what stalled.
      this.fail(
        'FLY_ERR_REQUEST_TIMEOUT',
        `the request body did not arrive within ${this.fwd.options.deadlineMs} ms`,
      );
    } else if (this.responded) {
      // Part of the answer is out: cut the connection so the client sees a truncated response.
      this.req.abort();
      this.end(504, null);
    } else {
      this.fail(
        'FLY_ERR_UPSTREAM_TIMEOUT',
        `no answer within the ${this.fwd.options.deadlineMs} ms deadline`,
      );
    }
  }

  abandonAttempts(reason: Error): void {
    const attempt = this.attempt;
    const hedge = this.hedge;
    this.attempt = null;
    this.hedge = null;
    attempt?.abandon(reason);
    hedge?.abandon(reason);
  }

  /** Answers with a gateway error (JSON `{ error, code, details }`), unless a response already started. */
  fail(code: ErrorCode, message: string): void {
    if (this.done) return;
    const status = ERRORS[code].status;
    const req = this.req;
    if (!req.headSent && !req.gone) {
      const details: Record<string, unknown> = { request_id: this.requestId };
      if (this.failures !== null) details.attempts = this.failures;
      const body = JSON.stringify(new FlywheelError(code, message, details).toJSON());
      let head = `content-type: application/json; charset=utf-8\r\ndate: ${httpDate()}\r\nx-request-id: ${this.requestId}\r\n`;
      if (this.correlationId !== '') head += `x-correlation-id: ${this.correlationId}\r\n`;
      // A body too large or stalled is left unread: close the connection rather than parse what follows.
      if (code === 'FLY_ERR_BODY_TOO_LARGE' || code === 'FLY_ERR_REQUEST_TIMEOUT') req.closeAfter = true;
      req.respond(status, head, body);
    } else if (!req.gone) {
      req.abort();
    }
    this.end(status, null);
  }

  /** Bookkeeping shared by every way an exchange ends. */
  end(status: number, attempt: Attempt | null): void {
    if (this.done) return;
    this.done = true;
    this.fwd.deadlines.remove(this);
    if (this.hedgeTimer !== null) this.fwd.hedgeTimers.remove(this.hedgeTimer);
    const seconds = (performance.now() - this.startedAt) / 1000;
    this.status = status;
    this.durationMs = seconds * 1000;
    this.answer = attempt;
    this.route.meter.done(status, seconds);
    this.fwd.exchangeEnded();
    const observer = this.plan.observer;
    if (observer !== null) {
      try {
        observer(this);
      } catch (err) {
        this.fwd.options.log.error({ err, route: this.route.name }, 'exchange observer failed');
      }
    }
  }
}
