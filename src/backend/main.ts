// `flywheel serve`: wires the registry watcher (source), the model holder (manager) and the HTTP
// server, and shuts down gracefully: readiness fails at once, no new connections, in-flight requests
// finish within the grace period, one summary line is logged, and the promise resolves (exit 0).
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import type { ServeConfig } from '../config.js';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { Registry, watchRegistry } from '../registry/index.js';
import { ModelHolder } from './holder.js';
import { registryLoader } from './loader.js';
import { BackendMetrics } from './metrics.js';
import { buildServer } from './server.js';
import { Front, LINGER_MS } from '../wire/front.js';

export async function runServe(config: ServeConfig, log: Logger): Promise<void> {
  const metrics = new BackendMetrics();
  const holder = new ModelHolder({ load: registryLoader(new Registry(config.registry)), log, metrics });
  let shuttingDown = false;
  // The replica's name in every answer: the host name (the pod name in Kubernetes) and the port, so
  // replicas on one machine (`flywheel up`) can be told apart too.
  let host = os.hostname();

  const { app, handler } = buildServer({
    holder,
    metrics,
    log,
    modelName: config.modelName,
    bodyLimit: config.bodyLimit,
    batchLimit: config.batchLimit,
    host: () => host,
    shuttingDown: () => shuttingDown,
  });

  let lastWatchError = '';
  const watcher = watchRegistry(config.registry, {
    pollMs: config.pollInterval,
    onChange: (snapshot) => {
      lastWatchError = '';
      holder.setAspired(snapshot.aliases);
    },
    onError: (err) => {
      // Polling repeats the same failure every interval; say it once until it changes.
      const message = err instanceof Error ? err.message : String(err);
      if (message === lastWatchError) return;
      lastWatchError = message;
      log.warn({ registry: config.registry, err: message }, 'registry unreadable');
    },
  });

  await app.ready();
  const front = new Front({ keepAliveTimeoutMs: KEEP_ALIVE_MS, handler });
  try {
    await front.listen(config.port, config.host);
  } catch (err) {
    holder.close();
    await watcher.close();
    const code = (err as { code?: unknown }).code;
    if (code === 'EADDRINUSE') {
      throw new FlywheelError(
        'FLY_ERR_PORT_IN_USE',
        `port ${config.port} on ${config.host} is already in use`,
        {
          host: config.host,
          port: config.port,
        },
      );
    }
    throw err;
  }
  const { port } = front.address() as AddressInfo;
  host = `${os.hostname()}:${port}`;
  log.info({ host: config.host, port, registry: config.registry, model_name: config.modelName }, 'listening');

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (s: NodeJS.Signals) => {
      process.removeListener('SIGTERM', onSignal).removeListener('SIGINT', onSignal);
      resolve(s);
    };
    process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
  });
  const started = performance.now();
  const graceExpired = await drain(front, config.gracePeriod, () => {
    // From here on readiness answers 503 and every response closes its connection.
    shuttingDown = true;
    metrics.ready.set(0);
  });
  front.close();
  await app.close();
  holder.close();
  await watcher.close();

  const served = holder.servingVersions();
  log.info(
    {
      signal,
      host,
      served_versions: served,
      loaded_versions: holder.loadedVersions(),
      last_training_time: holder.production?.trainingTime ?? null,
      drain_ms: Math.round(performance.now() - started),
      grace_expired: graceExpired,
    },
    'backend stopped',
  );
}

/**
 * Idle keep-alive connections are closed after this long: fastify's default, which the backend kept
 * while it served on fastify's own server. It is longer than the gateway's upstream idle timeout and
 * undici's default (4 s each), so an idle connection is closed by the client side first.
 */
const KEEP_ALIVE_MS = 72_000;

/**
 * Graceful stop of the front: stop listening, answer what arrives on open connections with
 * `Connection: close` (each connection closes after its last answer), close the connections that stay
 * idle after the front's LINGER_MS (or the grace period, if shorter), and cut whatever is left when
 * the grace period ends (or on a second signal). Resolves true when it had to cut.
 */
async function drain(front: Front, graceMs: number, onStart: () => void): Promise<boolean> {
  onStart();
  const drained = front.stopAccepting(Math.min(LINGER_MS, graceMs));
  let cut = false;
  const cutAll = () => {
    cut = true;
    front.destroyAll();
  };
  const graceTimer = setTimeout(cutAll, graceMs);
  process.once('SIGTERM', cutAll).once('SIGINT', cutAll);
  try {
    await drained;
  } finally {
    clearTimeout(graceTimer);
    process.removeListener('SIGTERM', cutAll).removeListener('SIGINT', cutAll);
  }
  return cut;
}
