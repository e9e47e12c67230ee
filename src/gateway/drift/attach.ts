// Plugs the drift monitor into a running gateway: `GET /drift`, the Prometheus gauges (computed when
// /metrics is scraped, never per request), the periodic check that logs threshold crossings, and the
// hook through which the experiment layer hands over each successful /predict.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Gauge } from 'prom-client';
import { FlywheelError } from '../../errors.js';
import type { Experiments } from '../experiments/experiments.js';
import type { GatewaySeam } from '../experiments/wire.js';
import { Registry } from '../../registry/registry.js';
import { DriftMonitor, driftThresholdsFromConfig } from './monitor.js';
import type { DriftThresholds } from './report.js';

export const DRIFT_PATH = '/drift';

/**
 * The gauges of every measured version with a verdict; versions below the minimum have none. They are
 * this process’s own counts, one series per gateway scraped; GET /drift is the merge of all gateways.
 */
export function registerDriftGauges(monitor: DriftMonitor, seam: Pick<GatewaySeam, 'metricsRegistry'>): void {
  const registers = [seam.metricsRegistry];
  // Each collect() reads the same figures: compute them once per scrape.
  let cache: { at: number; reports: [string, ReturnType<DriftMonitor['versionReport']>][] } | null = null;
  const reports = () => {
    const now = Date.now();
    if (cache === null || now - cache.at > 100) {
      cache = { at: now, reports: monitor.versions().map((v) => [v, monitor.versionReport(v)]) };
    }
    return cache.reports;
  };
  const featureGauge = (name: string, help: string, pick: 'psi' | 'out_of_range') =>
    new Gauge({
      name,
      help,
      labelNames: ['version', 'feature'] as const,
      registers,
      collect() {
        this.reset();
        for (const [version, r] of reports()) {
          for (const [feature, s] of Object.entries(r?.features ?? {})) {
            const value = s[pick];
            if (value !== null) this.set({ version, feature }, value);
          }
        }
      },
    });
  const predictionGauge = (name: string, help: string, pick: 'psi' | 'out_of_range') =>
    new Gauge({
      name,
      help,
      labelNames: ['version'] as const,
      registers,
      collect() {
        this.reset();
        for (const [version, r] of reports()) {
          const value = r?.prediction?.[pick] ?? null;
          if (value !== null) this.set({ version }, value);
        }
      },
    });
  featureGauge(
    'flywheel_feature_drift_psi',
    'Population Stability Index of a feature over the drift window against the version’s training data (absent below --drift-min-requests)',
    'psi',
  );
  featureGauge(
    'flywheel_feature_out_of_range_ratio',
    'Share of a feature’s values in the drift window outside the version’s training range',
    'out_of_range',
  );
  predictionGauge(
    'flywheel_prediction_drift_psi',
    'Population Stability Index of the predictions over the drift window against the version’s holdout predictions',
    'psi',
  );
  predictionGauge(
    'flywheel_prediction_out_of_range_ratio',
    'Share of predictions in the drift window outside the range of the version’s holdout predictions',
    'out_of_range',
  );
  new Gauge({
    name: 'flywheel_drift_window_requests',
    help: 'Requests of a version in this gateway’s drift window',
    labelNames: ['version'] as const,
    registers,
    collect() {
      this.reset();
      for (const [version, r] of reports()) if (r) this.set({ version }, r.window);
    },
  });
}

function driftHandler(monitor: DriftMonitor) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new FlywheelError('FLY_ERR_NOT_FOUND', `${req.method} ${DRIFT_PATH} is not a route`);
    }
    const body = JSON.stringify(monitor.document());
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/**
 * Starts drift monitoring on a gateway whose experiment layer is attached: every single-row /predict
 * answered 200 is counted for the version that answered. Stops with the gateway's server.
 */
export function attachDrift(
  seam: GatewaySeam & { readonly server: { once(event: 'close', cb: () => void): unknown } },
  experiments: Experiments,
  thresholds: DriftThresholds = driftThresholdsFromConfig(seam.config),
): DriftMonitor {
  const registry = new Registry(seam.config.registry);
  const monitor = new DriftMonitor({
    thresholds,
    manifests: (version) => registry.readManifest(version),
    log: seam.log.child({ component: 'drift' }),
  });
  experiments.drift = monitor;
  // GET /drift answers with every live gateway's counts, as /experiments does with its figures.
  monitor.peers = () => experiments.shared.peerDriftSnapshots();
  registerDriftGauges(monitor, seam);
  seam.routes.exact(DRIFT_PATH, seam.localRoute('drift', driftHandler(monitor)));
  const timer = setInterval(() => monitor.check(), seam.config.driftCheckInterval);
  timer.unref();
  seam.server.once('close', () => clearInterval(timer));
  return monitor;
}
