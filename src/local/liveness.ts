// The liveness check of one child of `flywheel up`, as a kubelet's liveness probe: GET its
// /v2/health/live every interval while it runs; after `failures` failed checks in a row (no answer
// within the timeout, an error, a status other than 200) the child is declared hung. A crashed process
// is noticed by its exit; a hung one (deadlocked, stopped with SIGSTOP, an endless loop) only this way.
// One check at a time: a slow answer delays the next check rather than piling checks up.
import { httpGet } from './http.js';

export interface LivenessPolicy {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Failed checks in a row that declare the child hung. */
  readonly failures: number;
}

/** The policy of `flywheel up`'s settings (--liveness-interval, --liveness-timeout, --liveness-failures). */
export function livenessPolicy(config: {
  livenessInterval: number;
  livenessTimeout: number;
  livenessFailures: number;
}): LivenessPolicy {
  return {
    intervalMs: config.livenessInterval,
    timeoutMs: config.livenessTimeout,
    failures: config.livenessFailures,
  };
}

export class LivenessCheck {
  readonly #url: string;
  readonly #policy: LivenessPolicy;
  readonly #onHung: (reason: string) => void;
  #timer: NodeJS.Timeout | null = null;
  #failed = 0;
  #lastError = '';
  #stopped = false;

  constructor(url: string, policy: LivenessPolicy, onHung: (reason: string) => void) {
    this.#url = url;
    this.#policy = policy;
    this.#onHung = onHung;
  }

  start(): void {
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#check(), this.#policy.intervalMs);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    this.#timer = null;
    let ok = false;
    try {
      const reply = await httpGet(this.#url, this.#policy.timeoutMs);
      ok = reply.status === 200;
      if (!ok) this.#lastError = `answered ${reply.status}`;
    } catch (err) {
      this.#lastError = (err as Error).message;
    }
    if (this.#stopped) return;
    this.#failed = ok ? 0 : this.#failed + 1;
    if (this.#failed >= this.#policy.failures) {
      this.stop();
      this.#onHung(`liveness check failed ${this.#failed} times (${this.#lastError})`);
      return;
    }
    this.#schedule();
  }
}
