// The set of backend replicas and the choice of one per request, shaped like undici's pool-base /
// balanced-pool: the base class holds the replicas, their in-flight counts and health state and gives a
// stats() snapshot; a policy subclass overrides only pick().
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import { UpstreamPool } from '../wire/upstream.js';
import { Replica, type FailureKind, type ReplicaSnapshot, type ReplicaState } from './replica.js';

export type BalancePolicy = 'least-outstanding' | 'round-robin';

/**
 * Makes the undici pool of one replica (health checks, shadow requests: off the data path, which has
 * its own pool, wire/upstream.ts); tests pass their own, like undici's `factory` option.
 */
export type DispatcherFactory = (origin: string) => Dispatcher;

export interface BalancerOptions {
  factory: DispatcherFactory;
  /** Connections per replica on the data path (`--upstream-connections`). */
  upstreamConnections: number;
  /** Consecutive failed requests (or failed checks) that take a replica out of rotation. */
  ejectAfter: number;
  /** Consecutive passing checks that bring an ejected or unhealthy replica back. */
  readmitAfter: number;
  log: Logger;
}

export interface StateChange {
  readonly replica: Replica;
  readonly from: ReplicaState;
  readonly to: ReplicaState;
  readonly reason: string;
}

export interface BalancerStats {
  readonly policy: BalancePolicy;
  readonly healthy: number;
  readonly in_flight: number;
  readonly replicas: readonly ReplicaSnapshot[];
}

/** Keep-alive pool per replica: one request per connection at a time (no pipelining head-of-line). */
export function poolFactory(connections: number): DispatcherFactory {
  return (origin) =>
    new Pool(origin, {
      connections,
      pipelining: 1,
      // The forwarder enforces the attempt timeout and the deadline itself with one shared sweep;
      // undici's own per-request timers would do the same work twice on the hot path.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
}

export abstract class Balancer {
  abstract readonly policy: BalancePolicy;
  /** Replicas in rotation, rebuilt on every state change so pick() only reads an array. */
  protected healthy: Replica[] = [];
  /** Replicas not checked yet: tried only when nothing is healthy (e.g. the first second after start). */
  protected standby: Replica[] = [];

  readonly #replicas = new Map<string, Replica>();
  readonly #draining = new Set<Replica>();
  readonly #options: BalancerOptions;
  readonly #listeners: ((change: StateChange) => void)[] = [];
  readonly #addedListeners: ((replica: Replica) => void)[] = [];
  #closed = false;

  constructor(options: BalancerOptions) {
    this.#options = options;
  }

  /**
   * The replica for the next attempt, or null when none can take it. `exclude` is the replica a
   * retried request already failed on.
   */
  abstract pick(exclude: Replica | null): Replica | null;

  /** Replicas known to discovery (not draining). */
  get replicas(): readonly Replica[] {
    return [...this.#replicas.values()];
  }

  get healthyCount(): number {
    return this.healthy.length;
  }

  get(url: string): Replica | undefined {
    return this.#replicas.get(url);
  }

  onStateChange(listener: (change: StateChange) => void): void {
    this.#listeners.push(listener);
  }

  onReplicaAdded(listener: (replica: Replica) => void): void {
    this.#addedListeners.push(listener);
  }

  /**
   * Makes the replica set equal to `urls`: new ones are added (state `unknown` until checked), ones
   * that vanished drain — they leave the rotation at once, finish their in-flight requests, then their
   * pool closes.
   */
  setReplicas(urls: Iterable<string>): void {
    if (this.#closed) return;
    const wanted = new Set(urls);
    for (const [url, replica] of this.#replicas) {
      if (!wanted.has(url)) this.#drain(replica);
    }
    for (const url of wanted) {
      if (this.#replicas.has(url)) continue;
      const replica = new Replica(
        url,
        this.#options.factory(url),
        new UpstreamPool(url, { connections: this.#options.upstreamConnections }),
      );
      this.#replicas.set(url, replica);
      this.#options.log.info({ replica: url }, 'replica added');
      this.#rebuild();
      for (const listener of this.#addedListeners) listener(replica);
    }
  }

  // Outcomes, reported by the forwarder (traffic) and the health checker (checks).

  onRequestStart(replica: Replica): void {
    replica.inFlight++;
    replica.requests++;
  }

  onRequestEnd(replica: Replica): void {
    replica.inFlight--;
  }

  recordSuccess(replica: Replica): void {
    replica.consecutiveFailures = 0;
    if (replica.state === 'unknown') this.#setState(replica, 'healthy', 'request succeeded');
  }

  recordFailure(replica: Replica, kind: FailureKind, message: string): void {
    replica.failures++;
    replica.consecutiveFailures++;
    replica.lastError = message;
    // Slowness is not proof of death: when the whole machine is overloaded every replica times out,
    // and ejecting the last one in rotation would turn slow answers into 503s for everyone (the
    // panic threshold of Envoy's outlier detection). Connection failures still eject it.
    if (kind === 'timeout' && replica.state === 'healthy' && this.healthy.length <= 1) return;
    if (
      (replica.state === 'healthy' || replica.state === 'unknown') &&
      replica.consecutiveFailures >= this.#options.ejectAfter
    ) {
      replica.ejections++;
      replica.consecutivePasses = 0;
      this.#setState(
        replica,
        'ejected',
        `${replica.consecutiveFailures} consecutive failures, last: ${kind}`,
      );
    }
  }

  checkPassed(replica: Replica): void {
    replica.lastCheckAt = Date.now();
    switch (replica.state) {
      case 'unknown':
        replica.consecutiveFailures = 0;
        this.#setState(replica, 'healthy', 'health check passed');
        break;
      case 'healthy':
        replica.consecutiveFailures = 0;
        break;
      case 'unhealthy':
      case 'ejected':
        replica.consecutivePasses++;
        if (replica.consecutivePasses >= this.#options.readmitAfter) {
          replica.consecutiveFailures = 0;
          replica.consecutivePasses = 0;
          this.#setState(replica, 'healthy', `${this.#options.readmitAfter} health checks passed`);
        }
        break;
      case 'draining':
        break;
    }
  }

  /**
   * `notReady` is an explicit answer from the replica (its readiness endpoint said no, e.g. while it
   * shuts down): it leaves the rotation at once. A check that could not reach the replica counts
   * toward `ejectAfter` like a failed request.
   */
  checkFailed(replica: Replica, message: string, notReady: boolean): void {
    replica.lastCheckAt = Date.now();
    replica.lastError = message;
    replica.consecutivePasses = 0;
    if (replica.state === 'unknown') {
      this.#setState(replica, 'unhealthy', message);
    } else if (replica.state === 'healthy') {
      replica.consecutiveFailures++;
      if (notReady || replica.consecutiveFailures >= this.#options.ejectAfter) {
        this.#setState(replica, 'unhealthy', message);
      }
    }
  }

  stats(): BalancerStats {
    const replicas: ReplicaSnapshot[] = [];
    let inFlight = 0;
    for (const r of this.#replicas.values()) {
      replicas.push(r.snapshot());
      inFlight += r.inFlight;
    }
    for (const r of this.#draining) {
      replicas.push(r.snapshot());
      inFlight += r.inFlight;
    }
    return { policy: this.policy, healthy: this.healthy.length, in_flight: inFlight, replicas };
  }

  /** Closes every pool; in-flight requests finish first unless `force`. */
  async close(force = false): Promise<void> {
    this.#closed = true;
    const all = [...this.#replicas.values(), ...this.#draining];
    this.#replicas.clear();
    this.healthy = [];
    this.standby = [];
    await Promise.all(
      all.flatMap((r) => [
        (force ? r.dispatcher.destroy() : r.dispatcher.close()).catch(() => undefined),
        force ? r.upstream.destroy() : r.upstream.close(),
      ]),
    );
  }

  #drain(replica: Replica): void {
    this.#replicas.delete(replica.url);
    this.#draining.add(replica);
    this.#setState(replica, 'draining', 'gone from discovery');
    // Both pools let queued and in-flight requests finish before their connections close.
    Promise.all([replica.dispatcher.close(), replica.upstream.close()])
      .catch((err: unknown) =>
        this.#options.log.warn({ replica: replica.url, err: String(err) }, 'replica pool close failed'),
      )
      .finally(() => {
        this.#draining.delete(replica);
        this.#options.log.info({ replica: replica.url }, 'replica drained');
      });
  }

  #setState(replica: Replica, to: ReplicaState, reason: string): void {
    const from = replica.state;
    if (from === to) return;
    replica.state = to;
    replica.stateSince = Date.now();
    this.#rebuild();
    const level = to === 'healthy' || to === 'draining' ? 'info' : 'warn';
    this.#options.log[level]({ replica: replica.url, from, to, reason }, 'replica state');
    const change: StateChange = { replica, from, to, reason };
    for (const listener of this.#listeners) listener(change);
  }

  #rebuild(): void {
    const healthy: Replica[] = [];
    const standby: Replica[] = [];
    for (const r of this.#replicas.values()) {
      if (r.state === 'healthy') healthy.push(r);
      else if (r.state === 'unknown') standby.push(r);
    }
    this.healthy = healthy;
    this.standby = standby;
  }
}

/** Fewest requests in flight wins; ties rotate so equal replicas share the load evenly. */
export class LeastOutstandingBalancer extends Balancer {
  readonly policy = 'least-outstanding';
  #cursor = 0;

  pick(exclude: Replica | null): Replica | null {
    return this.#leastLoaded(this.healthy, exclude) ?? this.#leastLoaded(this.standby, exclude);
  }

  #leastLoaded(list: readonly Replica[], exclude: Replica | null): Replica | null {
    const n = list.length;
    if (n === 0) return null;
    let start = this.#cursor + 1;
    if (start >= n) start = 0;
    this.#cursor = start;
    let best: Replica | null = null;
    let bestLoad = Infinity;
    for (let i = 0, idx = start; i < n; i++, idx++) {
      if (idx === n) idx = 0;
      const r = list[idx];
      if (r !== exclude && r.inFlight < bestLoad) {
        best = r;
        bestLoad = r.inFlight;
      }
    }
    return best;
  }
}

/** Each replica in turn, whatever its load. */
export class RoundRobinBalancer extends Balancer {
  readonly policy = 'round-robin';
  #cursor = -1;

  pick(exclude: Replica | null): Replica | null {
    return this.#next(this.healthy, exclude) ?? this.#next(this.standby, exclude);
  }

  #next(list: readonly Replica[], exclude: Replica | null): Replica | null {
    const n = list.length;
    for (let i = 0; i < n; i++) {
      this.#cursor = this.#cursor + 1 >= n ? 0 : this.#cursor + 1;
      const r = list[this.#cursor];
      if (r !== exclude) return r;
    }
    return null;
  }
}

export function createBalancer(policy: BalancePolicy, options: BalancerOptions): Balancer {
  return policy === 'round-robin' ? new RoundRobinBalancer(options) : new LeastOutstandingBalancer(options);
}
