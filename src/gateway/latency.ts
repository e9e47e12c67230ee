// Timeouts learned from observed latency, so that a replica that stops answering (a hung process, a
// SIGSTOP, a GC storm) holds a request for a few hundred milliseconds instead of the configured worst
// case. The estimator is TCP's retransmission timer (RFC 6298): a smoothed time to the response head
// and its mean deviation, two multiply-adds per answer. From it:
//   - the attempt timeout: srtt + 4·rttvar, times 4, between the floor and the configured ceiling;
//   - the hedge delay: srtt + 4·rttvar (about the tail of normal answers), at least HEDGE_FLOOR_MS;
//     a hedge is a second attempt of an idempotent request on another replica, the first answer wins.
// Hedges are rationed by a token bucket (`budget` percent of requests, bursts of BUCKET_SIZE), as gRPC's
// hedging throttle and Envoy's retry budget do, so a slow stack never doubles its own load.

/** Answers observed before the learned values replace the configured ceiling. */
const MIN_SAMPLES = 20;
const HEDGE_FLOOR_MS = 20;
const BUCKET_SIZE = 10;

export interface LearnedTimeoutOptions {
  /** The configured attempt timeout: the longest a learned timeout may be, and the one used until learned. */
  readonly ceilingMs: number;
  readonly floorMs: number;
  /** Percent of requests that may be hedged (0: never). */
  readonly hedgeBudget: number;
}

export class LearnedTimeouts {
  readonly ceilingMs: number;
  readonly floorMs: number;
  /** Smoothed time to the response head and its mean deviation (ms). */
  srtt = 0;
  rttvar = 0;
  samples = 0;
  /** Current values, recomputed by refresh() (on each deadline sweep), read per request. */
  attemptTimeoutMs: number;
  hedgeDelayMs: number;
  readonly #credit: number;
  #tokens = BUCKET_SIZE;
  hedges = 0;

  constructor(options: LearnedTimeoutOptions) {
    this.ceilingMs = options.ceilingMs;
    this.floorMs = Math.min(options.floorMs, options.ceilingMs);
    this.#credit = options.hedgeBudget / 100;
    this.attemptTimeoutMs = this.ceilingMs;
    this.hedgeDelayMs = this.#credit > 0 ? this.ceilingMs / 2 : Infinity;
  }

  /** Time from sending an attempt to its response head, for an answer that was not a failure. */
  observe(ms: number): void {
    if (this.samples === 0) {
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar += (Math.abs(this.srtt - ms) - this.rttvar) / 4;
      this.srtt += (ms - this.srtt) / 8;
    }
    this.samples++;
  }

  refresh(): void {
    if (this.samples < MIN_SAMPLES) return;
    const rto = this.srtt + 4 * this.rttvar;
    this.attemptTimeoutMs = Math.min(this.ceilingMs, Math.max(this.floorMs, 4 * rto));
    if (this.#credit > 0) {
      this.hedgeDelayMs = Math.min(this.attemptTimeoutMs / 2, Math.max(HEDGE_FLOOR_MS, rto));
    }
  }

  /** Every request earns a share of a hedge. */
  credit(): void {
    if (this.#tokens < BUCKET_SIZE) this.#tokens += this.#credit;
  }

  /** Takes a hedge from the budget; false when it is spent. */
  takeHedge(): boolean {
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    this.hedges++;
    return true;
  }
}
