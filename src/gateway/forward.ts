// The proxy hot path. One Exchange per client request and one Attempt (a dispatch handler of the
// replica's pool, wire/upstream.ts) per try on a replica. The answer streams through untouched: its
// head is copied line by line, its body chunks are written to the client as they come, never parsed.
//
// forward() is the single place a request goes to a replica; the other concerns are small wrappers
// around it, in the spirit of undici's interceptors:
//   - x-request-id: assigned once in the header scan, sent upstream and returned to the client;
//   - retry once: a failed attempt (connection error, reset, timeout, 503) goes to another replica,
//     predictions being idempotent, as long as nothing was sent to the client yet;
//   - attempt timeout (learned from observed latency, latency.ts), hedge delay and total deadline: FIFO
//     deadline lists swept by one shared interval;
//   - hedging: an idempotent request (/predict) with no answer after the hedge delay is also sent to
//     another replica, within a budget; the first answer wins and the other attempt is cancelled;
//   - a client that goes away cancels its attempts; a client body that stalls gets 408.
//
// The files: plan.ts (the types of the seam), exchange.ts (one client request), attempt.ts (one try).
import type { Attempt } from './attempt.js';
import { DeadlineList, DeadlineSweeper } from './deadlines.js';
import { Exchange } from './exchange.js';
import { scanRequestHeaders } from './headers.js';
import { LearnedTimeouts } from './latency.js';
import type { ForwarderOptions, ForwardRoute } from './plan.js';
import type { WireRequest } from '../wire/request.js';

export type {
  ExchangeObserver,
  ExchangeRecord,
  ForwarderOptions,
  ForwardPlan,
  ForwardRoute,
  Planner,
  RequestLine,
  RouteMeter,
} from './plan.js';

export class Forwarder {
  readonly attemptTimeouts: DeadlineList;
  /** Hedge delays of idempotent requests (entries: HedgeTimer). */
  readonly hedgeTimers: DeadlineList;
  readonly deadlines: DeadlineList;
  readonly learned: LearnedTimeouts;
  readonly options: ForwarderOptions;
  /** Client requests not finished yet (graceful shutdown waits for 0). */
  inFlight = 0;
  requests = 0;
  retries = 0;
  readonly #sweeper: DeadlineSweeper;
  #idleWaiters: (() => void)[] = [];

  constructor(options: ForwarderOptions) {
    this.options = options;
    this.learned = new LearnedTimeouts({
      ceilingMs: options.attemptTimeoutMs,
      floorMs: options.attemptTimeoutFloorMs,
      hedgeBudget: options.hedgeBudget,
    });
    this.attemptTimeouts = new DeadlineList(this.learned.attemptTimeoutMs);
    this.hedgeTimers = new DeadlineList(this.learned.hedgeDelayMs);
    this.deadlines = new DeadlineList(options.deadlineMs);
    this.#sweeper = new DeadlineSweeper([this.attemptTimeouts, this.hedgeTimers, this.deadlines], {
      // Hedges fire within 10 ms of their delay; without them, a twentieth of the floor.
      shortestMs: options.hedgeBudget > 0 ? 200 : Math.min(options.attemptTimeoutFloorMs, options.deadlineMs),
      beforeSweep: () => {
        this.learned.refresh();
        this.attemptTimeouts.timeoutMs = this.learned.attemptTimeoutMs;
        this.hedgeTimers.timeoutMs = this.learned.hedgeDelayMs;
      },
    });
    this.#sweeper.start();
  }

  /** Forwards one client request along `route`. Never throws; every outcome is a response. */
  handle(req: WireRequest, route: ForwardRoute): void {
    const ex = new Exchange(this, req, route);
    this.inFlight++;
    this.requests++;
    this.deadlines.add(ex, ex.startedAt);
    req.listener = ex;
    ex.headerLines = scanRequestHeaders(req.rawHeaders, req.remoteAddress, ex);
    if (ex.contentLength > this.options.bodyLimit) {
      ex.fail('FLY_ERR_BODY_TOO_LARGE', `request body is larger than ${this.options.bodyLimit} bytes`);
    }
    // The body (or, without one, its end right after the head) arrives through the listener.
  }

  /** Resolves when no request is in flight (or at once). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  close(): void {
    this.#sweeper.stop();
    // Attempts still waiting on a replica once the requests are done are losers of hedge races (or,
    // after a cut-short drain, attempts of cut requests): cancel them so the pools can close.
    for (const entry of this.attemptTimeouts.removeAll()) (entry as Attempt).cancel();
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
