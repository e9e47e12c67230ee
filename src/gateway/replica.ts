// One backend replica as the balancer sees it: its connection pool, the requests it has in flight and
// its health. The health rules live here, in one place, so passive ejection (failed traffic) and active
// checks (GET /v2/health/ready) cannot disagree about what a state means.
import type { Dispatcher } from 'undici';
import type { UpstreamPool } from '../wire/upstream.js';

/**
 * - `unknown`: discovered, not checked yet (used only when no replica is healthy)
 * - `healthy`: takes traffic
 * - `unhealthy`: failing active health checks
 * - `ejected`: taken out after `ejectAfter` consecutive failed requests
 * - `draining`: gone from discovery; finishes what it has in flight, then its pool closes
 */
export type ReplicaState = 'unknown' | 'healthy' | 'unhealthy' | 'ejected' | 'draining';

export const REPLICA_STATES: readonly ReplicaState[] = [
  'unknown',
  'healthy',
  'unhealthy',
  'ejected',
  'draining',
];

/**
 * Why one attempt or one check failed; also the `reason` label of the failure and retry metrics
 * (`hedge`: a retry sent because the first attempt was slow, not because it failed).
 */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'status_503' | 'check_failed' | 'hedge';

export interface ReplicaSnapshot {
  readonly url: string;
  readonly state: ReplicaState;
  readonly in_flight: number;
  readonly requests_total: number;
  readonly failures_total: number;
  readonly ejections_total: number;
  readonly consecutive_failures: number;
  readonly last_error: string | null;
  readonly last_check_at: string | null;
  readonly since: string;
}

export class Replica {
  readonly url: string;
  /** undici's pool: health checks and shadow requests. */
  readonly dispatcher: Dispatcher;
  /** The data path's pool (wire/upstream.ts). */
  readonly upstream: UpstreamPool;
  state: ReplicaState = 'unknown';
  /** Requests dispatched and not yet finished (includes ones queued inside the pool). */
  inFlight = 0;
  requests = 0;
  failures = 0;
  ejections = 0;
  /** Failed requests or checks in a row; any success resets it. */
  consecutiveFailures = 0;
  /** Passing checks in a row while out of rotation. */
  consecutivePasses = 0;
  lastError: string | null = null;
  lastCheckAt: number | null = null;
  stateSince = Date.now();
  /** Set while an active check is running, so a slow replica never has two at once. */
  checking = false;

  constructor(url: string, dispatcher: Dispatcher, upstream: UpstreamPool) {
    this.url = url;
    this.dispatcher = dispatcher;
    this.upstream = upstream;
  }

  /** A getter rather than a state comparison so it reads fresh after an await. */
  get draining(): boolean {
    return this.state === 'draining';
  }

  snapshot(): ReplicaSnapshot {
    return {
      url: this.url,
      state: this.state,
      in_flight: this.inFlight,
      requests_total: this.requests,
      failures_total: this.failures,
      ejections_total: this.ejections,
      consecutive_failures: this.consecutiveFailures,
      last_error: this.lastError,
      last_check_at: this.lastCheckAt === null ? null : new Date(this.lastCheckAt).toISOString(),
      since: new Date(this.stateSince).toISOString(),
    };
  }
}
