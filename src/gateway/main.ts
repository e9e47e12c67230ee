// `flywheel gateway`: the load balancer in front of the backend replicas. Runs until SIGTERM or
// SIGINT, then stops gracefully (see Gateway.close) and resolves.
import type { GatewayConfig } from '../config.js';
import type { Logger } from '../log.js';
import { mountDashboard } from './dashboard/mount.js';
import { attachDrift } from './drift/attach.js';
import { driftThresholdsFromConfig } from './drift/monitor.js';
import { attachExperiments } from './experiments/wire.js';
import { Gateway, type GatewayOptions } from './server.js';

export { Gateway } from './server.js';
export type { GatewayOptions } from './server.js';

/** Starts a gateway and resolves once it listens (tests and `flywheel up` embed it this way). */
export async function startGateway(
  config: GatewayConfig,
  log: Logger,
  options?: GatewayOptions,
): Promise<Gateway> {
  const gateway = new Gateway(config, log, options);
  // Checked before anything starts, like the gateway's own settings.
  const driftThresholds = driftThresholdsFromConfig(config);
  // Version routing, feedback, analysis and admin (/predict planner, /experiments, /feedback,
  // /admin/*), then the dashboard (/ and /dashboard), are layers on the balancer's route table.
  const experiments = await attachExperiments(gateway);
  // Drift (GET /drift, gauges) counts what the experiment layer observes; --drift-window 0 turns it off.
  if (driftThresholds.window > 0) attachDrift(gateway, experiments, driftThresholds);
  gateway.server.once('close', () => {
    experiments.close().catch((err: unknown) => log.error({ err }, 'experiments close failed'));
  });
  mountDashboard(gateway, { experiments });
  try {
    await gateway.start();
  } catch (err) {
    await experiments.close();
    throw err;
  }
  return gateway;
}

export async function runGateway(config: GatewayConfig, log: Logger): Promise<void> {
  const gateway = await startGateway(config, log);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'signal received');
  await gateway.close();
}
