// The backend's Prometheus metrics, on a registry of its own (never prom-client's global one, so tests
// and several servers in one process do not share counters).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

type RequestLabels = 'route' | 'method' | 'status' | 'model_version';

export class BackendMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<RequestLabels>;
  readonly #duration: Histogram<RequestLabels>;
  readonly #predictions: Counter<'model_version'>;
  readonly #outOfRange: Counter<'model_version' | 'feature'>;
  readonly loadedVersions: Gauge<'version' | 'alias'>;
  readonly swaps: Counter<'alias'>;
  readonly loadFailures: Counter<'code'>;
  readonly ready: Gauge;
  /** Label children by key: prom-client hashes label objects on every call, which the hot path avoids. */
  readonly #children = new Map<
    string,
    { count: Counter.Internal; time: Histogram.Internal<RequestLabels> }
  >();
  readonly #predictionsBy = new Map<string, Counter.Internal>();

  constructor() {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'flywheel_backend_requests_total',
      help: 'HTTP requests answered, by route, method, status and the model version that answered',
      labelNames: ['route', 'method', 'status', 'model_version'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'flywheel_backend_request_duration_seconds',
      help: 'Time from request to response, by route, method, status and model version',
      labelNames: ['route', 'method', 'status', 'model_version'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#predictions = new Counter({
      name: 'flywheel_backend_predictions_total',
      help: 'Rows predicted (a batch counts each instance), by model version',
      labelNames: ['model_version'],
      registers,
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
    const key = `${route} ${method} ${status} ${version}`;
    let child = this.#children.get(key);
    if (child === undefined) {
      const labels = { route, method, status: String(status), model_version: version };
      child = { count: this.#requests.labels(labels), time: this.#duration.labels(labels) };
      this.#children.set(key, child);
    }
    child.count.inc();
    child.time.observe(seconds);
  }

  countPredictions(version: string, rows: number): void {
    let child = this.#predictionsBy.get(version);
    if (child === undefined) {
      child = this.#predictions.labels({ model_version: version });
      this.#predictionsBy.set(version, child);
    }
    child.inc(rows);
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
