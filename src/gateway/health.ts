// Active health checks: GET /v2/health/ready on every replica each interval, and at once on a replica
// that discovery just added. The balancer turns the results into state changes.
import type { Logger } from '../log.js';
import type { Balancer } from './balancer.js';
import type { Replica } from './replica.js';

export const READINESS_PATH = '/v2/health/ready';

export interface HealthCheckerOptions {
  intervalMs: number;
  timeoutMs: number;
  log: Logger;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}

export class HealthChecker {
  readonly #balancer: Balancer;
  readonly #options: HealthCheckerOptions;
  #timer: NodeJS.Timeout | null = null;
  #running = new Set<Promise<void>>();
  #stopped = false;

  constructor(balancer: Balancer, options: HealthCheckerOptions) {
    this.#balancer = balancer;
    this.#options = options;
    balancer.onReplicaAdded((replica) => {
      if (this.#timer !== null) void this.#track(this.check(replica));
    });
  }

  /** Checks every replica now, then every interval. Resolves when the first round is done. */
  async start(): Promise<void> {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => void this.checkAll(), this.#options.intervalMs);
    this.#timer.unref();
    await this.checkAll();
  }

  checkAll(): Promise<void> {
    return this.#track(Promise.all(this.#balancer.replicas.map((r) => this.check(r))).then(() => undefined));
  }

  /** One check of one replica; a replica with a check still running is skipped. */
  async check(replica: Replica): Promise<void> {
    if (replica.checking || replica.draining || this.#stopped) return;
    replica.checking = true;
    const timeout = this.#options.timeoutMs;
    try {
      const { statusCode, body } = await replica.dispatcher.request({
        path: READINESS_PATH,
        method: 'GET',
        headers: { 'user-agent': 'flywheel-gateway-health' },
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.timeout(timeout),
      });
      await body.dump();
      if (this.#stopped || replica.draining) return;
      if (statusCode === 200) this.#balancer.checkPassed(replica);
      else this.#balancer.checkFailed(replica, `readiness check answered ${statusCode}`, true);
    } catch (err) {
      if (this.#stopped || replica.draining) return;
      const message =
        err instanceof Error && err.name === 'TimeoutError'
          ? `readiness check took longer than ${timeout} ms`
          : `readiness check failed: ${describe(err)}`;
      this.#balancer.checkFailed(replica, message, false);
    } finally {
      replica.checking = false;
    }
  }

  /** Stops checking and waits for the checks in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.allSettled([...this.#running]);
  }

  #track(p: Promise<void>): Promise<void> {
    const tracked = p.catch((err: unknown) => this.#options.log.error({ err }, 'health check crashed'));
    this.#running.add(tracked);
    void tracked.finally(() => this.#running.delete(tracked));
    return tracked;
  }
}
