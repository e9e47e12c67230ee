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
//
// The files: plan.ts (the types of the seam), exchange.ts (one client request), attempt.ts (one try).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DeadlineList, DeadlineSweeper } from './deadlines.js';
import { Exchange } from './exchange.js';
import { scanRequestHeaders } from './headers.js';
import type { ForwarderOptions, ForwardRoute } from './plan.js';

export type {
  BodyRewrite,
  ExchangeObserver,
  ExchangeRecord,
  ForwarderOptions,
  ForwardPlan,
  ForwardRoute,
  Planner,
  RouteMeter,
} from './plan.js';

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
      ex.readBody();
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
