// The backend's Prometheus metrics, on a registry of its own (never prom-client's global one, so tests
// and several servers in one process do not share counters). Per-request figures are kept in plain
// arrays and written out when scraped: prom-client hashes the label object on every inc()/observe(),
// which cost about a tenth of a /predict request's CPU time (measured with bench/backend.mjs).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

type RequestLabels = 'route' | 'method' | 'status' | 'model_version';

const DURATION_NAME = 'flywheel_backend_request_duration_seconds';
const DURATION_HELP =
  'Time from request arrival until its answer is ready to write, by route, method, status and model version';
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** One (route, method, status, version) series: a count and a latency histogram. */
interface RequestSeries {
  readonly method: string;
  readonly status: number;
  readonly version: string;
  readonly labels: Record<RequestLabels, string>;
  /** `route="…",method="…",…` as written in the exposition. */
  readonly text: string;
  /** Observations per bucket (not cumulative); the last slot is above the largest bound. */
  readonly buckets: Float64Array;
  count: number;
  sum: number;
}

export class BackendMetrics {
  readonly registry = new Registry();
  readonly #outOfRange: Counter<'model_version' | 'feature'>;
  readonly loadedVersions: Gauge<'version' | 'alias'>;
  readonly swaps: Counter<'alias'>;
  readonly loadFailures: Counter<'code'>;
  readonly ready: Gauge;
  readonly #series = new Map<string, RequestSeries>();
  readonly #predictionCounts = new Map<string, number>();
  #laneAnswers = 0;

  constructor() {
    const registers = [this.registry];
    const series = this.#series;
    const predictionCounts = this.#predictionCounts;
    // Registered in the registry by construction; fed from #series when scraped.
    new Counter({
      name: 'flywheel_backend_requests_total',
      help: 'HTTP requests answered, by route, method, status and the model version that answered',
      labelNames: ['route', 'method', 'status', 'model_version'],
      registers,
      collect() {
        this.reset();
        for (const s of series.values()) this.inc(s.labels, s.count);
      },
    });
    new Counter({
      name: 'flywheel_backend_predictions_total',
      help: 'Rows predicted (a batch counts each instance), by model version',
      labelNames: ['model_version'],
      registers,
      collect() {
        this.reset();
        for (const [model_version, n] of predictionCounts) this.inc({ model_version }, n);
      },
    });
    const laneAnswers = () => this.#laneAnswers;
    new Counter({
      name: 'flywheel_backend_predict_fast_lane_total',
      help:
        'POST /predict answers written by the fast lane (single instance, application/json, valid, 200); ' +
        'the other /predict requests go through the full route',
      registers,
      collect() {
        this.reset();
        this.inc(laneAnswers());
      },
    });
    this.#outOfRange = new Counter({
      name: 'flywheel_backend_out_of_range_total',
      help: 'Feature values far outside the training range (answered and flagged), by feature',
      labelNames: ['model_version', 'feature'],
      registers,
    });
    this.loadedVersions = new Gauge({
      name: 'flywheel_backend_model_loaded',
      help: 'Model versions in memory: 1 per version, labelled with the alias it serves (or none)',
      labelNames: ['version', 'alias'],
      registers,
    });
    this.swaps = new Counter({
      name: 'flywheel_backend_model_swaps_total',
      help: 'Times an alias switched to another loaded version',
      labelNames: ['alias'],
      registers,
    });
    this.loadFailures = new Counter({
      name: 'flywheel_backend_model_load_failures_total',
      help: 'Model versions that failed to load (corrupt, missing, wrong format), by error code',
      labelNames: ['code'],
      registers,
    });
    this.ready = new Gauge({
      name: 'flywheel_backend_ready',
      help: '1 when the server is ready for traffic (a production model is loaded, not shutting down)',
      registers,
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'flywheel_backend_' });
  }

  observeRequest(route: string, method: string, status: number, version: string, seconds: number): void {
    record(this.#seriesOf(route, method, status, version), seconds);
  }

  /** The request figures of the route registered at `route`, for its handler to keep. */
  route(route: string): RouteRequests {
    return new RouteRequests((method, status, version) => this.#seriesOf(route, method, status, version));
  }

  #seriesOf(route: string, method: string, status: number, version: string): RequestSeries {
    const key = `${route} ${method} ${status} ${version}`;
    let s = this.#series.get(key);
    if (s === undefined) {
      const labels = { route, method, status: String(status), model_version: version };
      const text = Object.entries(labels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(',');
      s = {
        method,
        status,
        version,
        labels,
        text,
        buckets: new Float64Array(DURATION_BUCKETS.length + 1),
        count: 0,
        sum: 0,
      };
      this.#series.set(key, s);
    }
    return s;
  }

  /** The Prometheus text exposition: prom-client's registry plus the request latency histogram. */
  async render(): Promise<string> {
    const lines = [`# HELP ${DURATION_NAME} ${DURATION_HELP}`, `# TYPE ${DURATION_NAME} histogram`];
    for (const s of this.#series.values()) {
      let cumulative = 0;
      for (let b = 0; b <= DURATION_BUCKETS.length; b++) {
        cumulative += s.buckets[b];
        const le = b < DURATION_BUCKETS.length ? String(DURATION_BUCKETS[b]) : '+Inf';
        lines.push(`${DURATION_NAME}_bucket{le="${le}",${s.text}} ${cumulative}`);
      }
      lines.push(`${DURATION_NAME}_sum{${s.text}} ${s.sum}`, `${DURATION_NAME}_count{${s.text}} ${s.count}`);
    }
    return `${await this.registry.metrics()}\n${lines.join('\n')}\n`;
  }

  countPredictions(version: string, rows: number): void {
    this.#predictionCounts.set(version, (this.#predictionCounts.get(version) ?? 0) + rows);
  }

  countLaneAnswer(): void {
    this.#laneAnswers++;
  }

  countOutOfRange(version: string, feature: string): void {
    this.#outOfRange.inc({ model_version: version, feature });
  }

  /** Replaces the loaded-versions gauge with the holder's current picture. */
  setLoaded(versions: Iterable<{ version: string; alias: string }>): void {
    this.loadedVersions.reset();
    for (const v of versions) this.loadedVersions.set({ version: v.version, alias: v.alias }, 1);
  }
}

/**
 * The request figures of one route, held by its handler. The series of the last answer is reused while
 * method, status and version repeat (nearly always), so a request builds no key and hashes no string:
 * the lookup by key cost about 1% of a /predict request's CPU time.
 */
export class RouteRequests {
  readonly #seriesOf: (method: string, status: number, version: string) => RequestSeries;
  #last: RequestSeries | undefined;

  constructor(seriesOf: (method: string, status: number, version: string) => RequestSeries) {
    this.#seriesOf = seriesOf;
  }

  observe(method: string, status: number, version: string, seconds: number): void {
    let s = this.#last;
    if (s === undefined || s.status !== status || s.version !== version || s.method !== method) {
      s = this.#last = this.#seriesOf(method, status, version);
    }
    record(s, seconds);
  }
}

function record(s: RequestSeries, seconds: number): void {
  let b = 0;
  while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]) b++;
  s.buckets[b]++;
  s.count++;
  s.sum += seconds;
}

/** Label values in the text format escape backslash, double quote and newline. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
