// `flywheel serve`: wires the registry watcher (source), the model holder (manager) and the HTTP
// server, and shuts down gracefully: readiness fails at once, no new connections, in-flight requests
// finish within the grace period, one summary line is logged, and the promise resolves (exit 0).
import os from 'node:os';
import net, { type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { ServeConfig } from '../config.js';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { Registry, watchRegistry } from '../registry/index.js';
import { ModelHolder } from './holder.js';
import { registryLoader } from './loader.js';
import { BackendMetrics } from './metrics.js';
import { buildServer } from './server.js';

export async function runServe(config: ServeConfig, log: Logger): Promise<void> {
  const metrics = new BackendMetrics();
  const holder = new ModelHolder({ load: registryLoader(new Registry(config.registry)), log, metrics });
  let shuttingDown = false;
  // The replica's name in every answer: the host name (the pod name in Kubernetes) and the port, so
  // replicas on one machine (`flywheel up`) can be told apart too.
  let host = os.hostname();

  const app = buildServer({
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

  try {
    await app.listen({ host: config.host, port: config.port });
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
  const { port } = app.server.address() as AddressInfo;
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
  const graceExpired = await drain(app.server, config.gracePeriod, () => {
    // From here on readiness answers 503 and every response closes its connection.
    shuttingDown = true;
    metrics.ready.set(0);
  });
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
 * How long connections that are idle at the signal stay open. A request a client wrote just before
 * the signal may still sit unread in the socket; closing "idle" connections at once (what
 * `server.close()` does) would drop it. Within this time such requests are read and answered.
 */
const LINGER_MS = 500;

/**
 * Graceful stop of an HTTP server: stop listening, answer what arrives on open connections with
 * `Connection: close`, close the connections that stay idle after LINGER_MS, wait for the rest, and
 * cut whatever is left when the grace period ends (or on a second signal). Resolves true when it
 * had to cut.
 */
async function drain(server: Server, graceMs: number, onStart: () => void): Promise<boolean> {
  onStart();
  // Added only now, before fastify's own listener, so the hot path carries no shutdown check.
  server.prependListener('request', (_req, res) => res.setHeader('connection', 'close'));
  // net.Server's close: stop accepting without http.Server's immediate closing of idle connections.
  const drained = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
  let cut = false;
  const cutAll = () => {
    cut = true;
    server.closeAllConnections();
  };
  const graceTimer = setTimeout(cutAll, graceMs);
  process.once('SIGTERM', cutAll).once('SIGINT', cutAll);
  let sweep: NodeJS.Timeout | undefined;
  try {
    let lingerTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      drained,
      new Promise<void>((resolve) => (lingerTimer = setTimeout(resolve, Math.min(LINGER_MS, graceMs)))),
    ]);
    clearTimeout(lingerTimer);
    // Sweep again until done: a request that was already running at the signal was answered without
    // `Connection: close`, and its connection turns idle only afterwards.
    server.closeIdleConnections();
    sweep = setInterval(() => server.closeIdleConnections(), 50);
    await drained;
  } finally {
    clearInterval(sweep);
    clearTimeout(graceTimer);
    process.removeListener('SIGTERM', cutAll).removeListener('SIGINT', cutAll);
  }
  return cut;
}
