// The gateway process: an HTTP/1.1 front (wire/front.ts) whose request handler is one route lookup,
// then either the forwarder (the hot path) or one of the gateway's own small routes (health, metrics,
// status), run on node:http's request and response objects (wire/local.ts). Also the wiring of
// balancer, health checks, discovery and metrics, and graceful shutdown.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:net';
import type { GatewayConfig } from '../config.js';
import { FlywheelError, isFlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { PACKAGE_VERSION } from '../version.js';
import { createBalancer, poolFactory, type Balancer, type DispatcherFactory } from './balancer.js';
import { createReplicaSource, type ReplicaSource } from './discovery.js';
import type { Registry } from 'prom-client';
import { Forwarder, type ForwardPlan, type ForwardRoute, type Planner } from './forward.js';
import { HealthChecker } from './health.js';
import { GatewayMetrics } from './metrics.js';
import { RouteTable, type LocalHandler, type LocalRoute } from './routes.js';
import { Front } from '../wire/front.js';
import { headerLines, httpDate, type WireRequest } from '../wire/request.js';
import { runNodeHandler } from '../wire/local.js';

export interface GatewayOptions {
  /** Makes each replica's undici pool for health checks and shadow requests (default: undici's Pool). */
  factory?: DispatcherFactory;
  /** Replica discovery (default: from `config.backends`). */
  source?: ReplicaSource;
}

/** Writes a JSON body with its length, on node:http's response (the gateway's local routes). */
export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  extraHeaders: string[] = [],
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, [
    'content-type',
    'application/json; charset=utf-8',
    'content-length',
    String(Buffer.byteLength(body)),
    ...extraHeaders,
  ]);
  res.end(body);
}

export function sendError(res: ServerResponse, err: FlywheelError): void {
  const allow =
    err.code === 'FLY_ERR_METHOD_NOT_ALLOWED' ? (err.details as { allow?: string[] }).allow : undefined;
  sendJson(res, err.status, err.toJSON(), allow ? ['allow', allow.join(', ')] : []);
}

function validate(config: GatewayConfig): void {
  const problems: string[] = [];
  const positive: [keyof GatewayConfig, string][] = [
    ['healthInterval', '--health-interval'],
    ['healthTimeout', '--health-timeout'],
    ['attemptTimeout', '--attempt-timeout'],
    ['attemptTimeoutFloor', '--attempt-timeout-floor'],
    ['deadline', '--deadline'],
    ['dnsInterval', '--dns-interval'],
    ['filePollInterval', '--file-poll-interval'],
  ];
  for (const [key, flag] of positive) {
    if ((config[key] as number) <= 0) problems.push(`${flag}: must be more than 0`);
  }
  if (config.keepAliveTimeout <= config.deadline) {
    problems.push(`--keep-alive-timeout: must be longer than --deadline (${config.deadline} ms)`);
  }
  if (problems.length > 0) {
    throw new FlywheelError('FLY_ERR_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`, {
      problems,
    });
  }
}

export class Gateway {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly balancer: Balancer;
  readonly forwarder: Forwarder;
  readonly metrics: GatewayMetrics;
  readonly health: HealthChecker;
  readonly source: ReplicaSource;
  readonly routes = new RouteTable();
  /** What the plain forwarding routes do: any replica, no extra header, nothing observed. */
  readonly defaultPlan: ForwardPlan;
  readonly front: Front;
  #startedAt = 0;
  #closing = false;
  #closed: Promise<void> | null = null;

  constructor(config: GatewayConfig, log: Logger, options: GatewayOptions = {}) {
    validate(config);
    this.config = config;
    this.log = log;
    this.balancer = createBalancer(config.balance, {
      factory: options.factory ?? poolFactory(config.upstreamConnections),
      upstreamConnections: config.upstreamConnections,
      ejectAfter: config.ejectAfter,
      readmitAfter: config.readmitAfter,
      log,
    });
    this.metrics = new GatewayMetrics(this.balancer);
    this.forwarder = new Forwarder({
      attemptTimeoutMs: config.attemptTimeout,
      attemptTimeoutFloorMs: config.attemptTimeoutFloor,
      hedgeBudget: config.hedgeBudget,
      deadlineMs: config.deadline,
      bodyLimit: config.bodyLimit,
      onRetry: (kind) => this.metrics.retry(kind),
      onFailure: (replica, kind) => this.metrics.failure(replica, kind),
      log,
    });
    this.health = new HealthChecker(this.balancer, {
      intervalMs: config.healthInterval,
      timeoutMs: config.healthTimeout,
      log,
    });
    this.source = options.source ?? createReplicaSource(config, log);
    this.defaultPlan = Object.freeze({
      balancer: this.balancer,
      headers: null,
      observer: null,
    });

    const predict = this.forwardRoute('predict');
    this.routes
      .exact('/predict', predict)
      .exact('/model-info', this.forwardRoute('model-info'))
      .exact('/v2', this.forwardRoute('v2'))
      .prefix('/v2/', this.forwardRoute('v2'))
      .exact(
        '/v2/health/live',
        this.localRoute('health', (req, res) => this.#live(req, res)),
      )
      .exact(
        '/v2/health/ready',
        this.localRoute('health', (req, res) => this.#ready(req, res)),
      )
      .exact(
        '/metrics',
        this.localRoute('metrics', (req, res) => this.#metrics(req, res)),
      )
      .exact(
        '/status',
        this.localRoute('status', (req, res) => this.#status(req, res)),
      );

    this.front = new Front({
      keepAliveTimeoutMs: config.keepAliveTimeout,
      handler: (req) => this.#onRequest(req),
    });
  }

  /** A forwarding route; `planner` chooses a plan per request (else the default plan). */
  forwardRoute(
    name: string,
    planner: Planner | null = null,
    plan: ForwardPlan = this.defaultPlan,
  ): ForwardRoute {
    return {
      kind: 'forward',
      name,
      plan,
      planner,
      // Predictions are idempotent: a slow one may be hedged on another replica.
      hedge: name === 'predict',
      meter: this.metrics.route(name),
    };
  }

  /** A route the gateway answers itself (GET only unless the handler checks the method). */
  localRoute(name: string, handle: LocalHandler): LocalRoute {
    return { kind: 'local', name, handle };
  }

  /** The listening socket server ('listening' and 'close' events). */
  get server(): Server {
    return this.front.server;
  }

  get url(): string {
    const address = this.front.address();
    if (address === null) throw new Error('gateway is not listening');
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${address.port}`;
  }

  /** The Prometheus registry /metrics serves; other layers add their metrics to it. */
  get metricsRegistry(): Registry {
    return this.metrics.registry;
  }

  get ready(): boolean {
    return !this.#closing && this.balancer.healthyCount > 0;
  }

  /** Discovers the replicas, checks them once, then listens. */
  async start(): Promise<void> {
    await this.source.start((urls) => this.balancer.setReplicas(urls));
    await this.health.start();
    await this.front.listen(this.config.port, this.config.host).catch(async (err: NodeJS.ErrnoException) => {
      await this.#stopBackground(true);
      throw err.code === 'EADDRINUSE'
        ? new FlywheelError(
            'FLY_ERR_PORT_IN_USE',
            `port ${this.config.port} on ${this.config.host} is already in use (choose another with --port)`,
          )
        : new FlywheelError(
            'FLY_ERR_CONFIG',
            `cannot listen on ${this.config.host}:${this.config.port}: ${err.message}`,
          );
    });
    this.#startedAt = Date.now();
    this.log.info(
      {
        url: this.url,
        policy: this.balancer.policy,
        discovery: this.source.description,
        replicas: this.balancer.stats().replicas.map((r) => `${r.url} ${r.state}`),
      },
      'gateway listening',
    );
  }

  /**
   * Graceful stop: readiness turns 503 at once, no new connections, responses ask clients to close,
   * in-flight requests get up to `gracePeriod` to finish, then pools and timers close.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    const inFlight = this.forwarder.inFlight;
    this.log.info({ in_flight: inFlight }, 'gateway stopping');
    const serverClosed = this.front.stopAccepting();
    let timer: NodeJS.Timeout | undefined;
    // Every connection closes once its last answer is out (idle ones after a short linger).
    const finished = await Promise.race([
      serverClosed.then(() => this.forwarder.idle()).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), this.config.gracePeriod);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.log.warn(
        { in_flight: this.forwarder.inFlight },
        'grace period over; cutting the remaining requests',
      );
    }
    this.front.destroyAll();
    await serverClosed;
    await this.#stopBackground(!finished);
    this.log.info(
      { requests: this.forwarder.requests, retries: this.forwarder.retries, drained: finished },
      'gateway stopped',
    );
  }

  async #stopBackground(force: boolean): Promise<void> {
    this.front.close();
    this.source.close();
    await this.health.stop();
    this.forwarder.close();
    await this.balancer.close(force);
  }

  #onRequest(req: WireRequest): void {
    // While stopping, every answer asks the client to close its connection and go elsewhere (the
    // front adds `Connection: close` once it stops accepting).
    const url = req.url;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const route = this.routes.match(path);
    if (route === undefined) {
      const err = new FlywheelError('FLY_ERR_NOT_FOUND', `no route for ${req.method} ${path}`);
      const lines = headerLines(['content-type', 'application/json; charset=utf-8', 'date', httpDate()]);
      req.respond(err.status, lines, JSON.stringify(err.toJSON()));
    } else if (route.kind === 'forward') {
      this.forwarder.handle(req, route);
    } else {
      runNodeHandler(req, (nreq, res) => this.#runLocal(route, nreq, res));
    }
  }

  #runLocal(route: LocalRoute, req: IncomingMessage, res: ServerResponse): void {
    const failed = (err: unknown) => {
      if (!isFlywheelError(err)) this.log.error({ err, route: route.name }, 'route handler failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, isFlywheelError(err) ? err : new FlywheelError('FLY_ERR_INTERNAL'));
    };
    try {
      const result = route.handle(req, res);
      if (result instanceof Promise) result.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  /** The gateway's own read-only routes: another method is 405 with `Allow`. */
  #getOnly(req: IncomingMessage): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const path = (req.url ?? '/').split('?')[0];
      throw new FlywheelError(
        'FLY_ERR_METHOD_NOT_ALLOWED',
        `${req.method} is not allowed on ${path}; use GET, HEAD`,
        {
          method: req.method,
          path,
          allow: ['GET', 'HEAD'],
        },
      );
    }
  }

  #live(req: IncomingMessage, res: ServerResponse): void {
    this.#getOnly(req);
    sendJson(res, 200, { live: true });
  }

  #ready(req: IncomingMessage, res: ServerResponse): void {
    this.#getOnly(req);
    if (this.ready) {
      sendJson(res, 200, { ready: true, healthy_replicas: this.balancer.healthyCount });
    } else if (this.#closing) {
      sendError(res, new FlywheelError('FLY_ERR_SHUTTING_DOWN', 'the gateway is shutting down'));
    } else {
      sendError(
        res,
        new FlywheelError('FLY_ERR_NO_UPSTREAM', 'no healthy backend replica', {
          replicas: this.balancer
            .stats()
            .replicas.map((r) => ({ url: r.url, state: r.state, last_error: r.last_error })),
        }),
      );
    }
  }

  async #metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#getOnly(req);
    const text = await this.metrics.registry.metrics();
    res.writeHead(200, [
      'content-type',
      this.metrics.registry.contentType,
      'content-length',
      String(Buffer.byteLength(text)),
    ]);
    res.end(text);
  }

  /** JSON of GET /status: the gateway, its discovery and every replica with health and load. */
  statusDocument(): Record<string, unknown> {
    const stats = this.balancer.stats();
    return {
      gateway: {
        id: this.config.gatewayId,
        version: PACKAGE_VERSION,
        started_at: this.#startedAt === 0 ? null : new Date(this.#startedAt).toISOString(),
        uptime_s: this.#startedAt === 0 ? 0 : Math.round((Date.now() - this.#startedAt) / 1000),
        ready: this.ready,
        shutting_down: this.#closing,
        policy: stats.policy,
        in_flight: this.forwarder.inFlight,
        requests_total: this.forwarder.requests,
        retries_total: this.forwarder.retries,
        attempt_timeout_ms: this.config.attemptTimeout,
        learned_attempt_timeout_ms: Math.round(this.forwarder.learned.attemptTimeoutMs),
        hedge_delay_ms: Number.isFinite(this.forwarder.learned.hedgeDelayMs)
          ? Math.round(this.forwarder.learned.hedgeDelayMs)
          : null,
        hedges_total: this.forwarder.learned.hedges,
        deadline_ms: this.config.deadline,
        health_interval_ms: this.config.healthInterval,
        eject_after: this.config.ejectAfter,
        readmit_after: this.config.readmitAfter,
      },
      discovery: this.source.description,
      healthy: stats.healthy,
      replicas: stats.replicas,
      routes: this.routes.list(),
    };
  }

  #status(req: IncomingMessage, res: ServerResponse): void {
    this.#getOnly(req);
    sendJson(res, 200, this.statusDocument());
  }
}
