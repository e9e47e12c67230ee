// The gateway's Prometheus metrics, in a prom-client registry of its own. The hot path only bumps plain
// numbers in a per-route object (a counter per status code, a bucket array for latency); prom-client
// reads them when /metrics is scraped. prom-client's own observe()/inc() hash their labels on every
// call, which showed up at a few percent of the proxy's CPU under load.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Balancer } from './balancer.js';
import type { RouteMeter } from './forward.js';
import { REPLICA_STATES, type FailureKind, type Replica } from './replica.js';

export const LATENCY_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Non-cumulative counts over fixed upper bounds (the last slot is +Inf), with their sum and count. */
export class BucketCounts {
  readonly bounds: readonly number[];
  readonly buckets: Float64Array;
  count = 0;
  sum = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.buckets = new Float64Array(bounds.length + 1);
  }

  add(x: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && x > bounds[i]) i++;
    this.buckets[i]++;
    this.count++;
    this.sum += x;
  }
}

/** Counts and times the requests of one route. */
export class RouteMetrics implements RouteMeter {
  readonly route: string;
  /** Requests by the status code the client got (sparse, indexed by status). */
  readonly byStatus: number[] = [];
  readonly latency = new BucketCounts(LATENCY_BUCKETS);

  constructor(route: string) {
    this.route = route;
  }

  done(status: number, seconds: number): void {
    this.byStatus[status] = (this.byStatus[status] ?? 0) + 1;
    this.latency.add(seconds);
  }
}

interface HistogramExport {
  name: string;
  help: string;
  type: 'histogram';
  aggregator: 'sum';
  values: {
    metricName: string;
    labels: Record<string, string | number>;
    sharedLabels: Record<string, string>;
    value: number;
  }[];
}

export interface ArrayHistogramOptions {
  readonly name: string;
  readonly help: string;
  /** The one label the series differ by. */
  readonly label: string;
  readonly bounds: readonly number[];
  readonly registry: Registry;
  /** The series at scrape time: label value and counts. */
  readonly series: () => Iterable<readonly [string, BucketCounts]>;
}

/**
 * A prom-client Histogram whose values are read from BucketCounts when scraped rather than fed by
 * observe(), which hashes its labels on every call (a few percent of the proxy's CPU under load).
 */
export class ArrayHistogram extends Histogram {
  readonly #options: ArrayHistogramOptions;

  constructor(options: ArrayHistogramOptions) {
    super({
      name: options.name,
      help: options.help,
      labelNames: [options.label],
      buckets: [...options.bounds],
      registers: [options.registry],
    });
    this.#options = options;
  }

  /**
   * What prom-client's registry reads (and what the inherited get() builds its JSON from): bucket, sum
   * and count series for every label value, in prom-client's own value shape.
   */
  async getForPromString(): Promise<HistogramExport> {
    const { name, help, label, bounds } = this.#options;
    const values: HistogramExport['values'] = [];
    const series = (metricName: string, labels: Record<string, string | number>, value: number) =>
      values.push({ metricName, labels, sharedLabels: {}, value });
    for (const [value, counts] of this.#options.series()) {
      let cumulative = 0;
      for (let i = 0; i < bounds.length; i++) {
        cumulative += counts.buckets[i];
        series(`${name}_bucket`, { le: bounds[i], [label]: value }, cumulative);
      }
      series(`${name}_bucket`, { le: '+Inf', [label]: value }, counts.count);
      series(`${name}_sum`, { [label]: value }, counts.sum);
      series(`${name}_count`, { [label]: value }, counts.count);
    }
    return { name, help, type: 'histogram', aggregator: 'sum', values };
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #retries: Counter<'reason'>;
  readonly #failures: Counter<'replica' | 'reason'>;
  readonly #ejections: Counter<'replica'>;
  readonly #routes = new Map<string, RouteMetrics>();

  constructor(balancer: Balancer) {
    const registers = [this.registry];
    const routes = () => this.#routes.values();
    new Counter({
      name: 'flywheel_gateway_requests_total',
      help: 'Client requests by route and the status code the client got',
      labelNames: ['route', 'code'] as const,
      registers,
      collect() {
        this.reset();
        for (const m of routes()) {
          m.byStatus.forEach((n, code) => this.inc({ route: m.route, code }, n));
        }
      },
    });
    new ArrayHistogram({
      name: 'flywheel_gateway_request_duration_seconds',
      help: 'Time from a request’s arrival to its last response byte, retries included',
      label: 'route',
      bounds: LATENCY_BUCKETS,
      registry: this.registry,
      series: () => [...routes()].map((m) => [m.route, m.latency] as const),
    });
    this.#retries = new Counter({
      name: 'flywheel_gateway_retries_total',
      help: 'Requests retried on another replica, by what failed',
      labelNames: ['reason'] as const,
      registers,
    });
    this.#failures = new Counter({
      name: 'flywheel_gateway_upstream_failures_total',
      help: 'Failed attempts on a replica, by kind',
      labelNames: ['replica', 'reason'] as const,
      registers,
    });
    this.#ejections = new Counter({
      name: 'flywheel_gateway_ejections_total',
      help: 'Times a replica was taken out of rotation after consecutive failures',
      labelNames: ['replica'] as const,
      registers,
    });
    new Gauge({
      name: 'flywheel_gateway_replica_state',
      help: 'State of each replica: 1 for its current state, 0 for the others',
      labelNames: ['replica', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const r of balancer.stats().replicas) {
          for (const state of REPLICA_STATES) this.set({ replica: r.url, state }, r.state === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'flywheel_gateway_replica_in_flight',
      help: 'Requests in flight to each replica',
      labelNames: ['replica'] as const,
      registers,
      collect() {
        this.reset();
        for (const r of balancer.stats().replicas) this.set({ replica: r.url }, r.in_flight);
      },
    });
    new Gauge({
      name: 'flywheel_gateway_healthy_replicas',
      help: 'Replicas in rotation',
      registers,
      collect() {
        this.set(balancer.healthyCount);
      },
    });
    balancer.onStateChange(({ replica, to }) => {
      if (to === 'ejected') this.#ejections.inc({ replica: replica.url });
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** The meter of a route name; routes sharing a name share it. */
  route(name: string): RouteMetrics {
    let m = this.#routes.get(name);
    if (m === undefined) {
      m = new RouteMetrics(name);
      this.#routes.set(name, m);
    }
    return m;
  }

  retry(kind: FailureKind): void {
    this.#retries.inc({ reason: kind });
  }

  failure(replica: Replica, kind: FailureKind): void {
    this.#failures.inc({ replica: replica.url, reason: kind });
  }
}
