// How the experiment layer plugs into the gateway's seam (forward.ts ForwardPlan / Planner, routes.ts
// LocalRoute): a planner for /predict that picks the version, an observer that records each answer
// from its head (the backend puts `request_id` in the body itself and the prediction and features in
// `x-flywheel-*` headers, so the answer streams through untouched), shadow mirroring after the client
// has its answer, and the local handlers of /experiments, /feedback and /admin/*.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { FlywheelError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Balancer } from '../balancer.js';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { GatewayConfig } from '../../config.js';
import type {
  ExchangeObserver,
  ExchangeRecord,
  ForwardPlan,
  ForwardRoute,
  Planner,
  RequestLine,
} from '../forward.js';
import { readBody } from '../read-body.js';
import type { LocalHandler, LocalRoute, RouteTable } from '../routes.js';
import { predictionOf, userIdOf } from './body.js';
import { Experiments, type Route } from './experiments.js';

const PLAIN_ROUTE: Route = Object.freeze({ version: null, target: 'production', shadowVersion: null });

function toText(b: Buffer | null): string {
  return b === null || b.length === 0 ? '' : b.toString('utf8');
}

/** The client asked for a version itself (header): the split must not override it. */
function clientChoseVersion(req: RequestLine): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 15 && raw[i].toLowerCase() === 'x-model-version') return true;
  }
  return false;
}

function userIdHeader(req: RequestLine): string | undefined {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 9 && raw[i].toLowerCase() === 'x-user-id' && raw[i + 1] !== '') return raw[i + 1];
  }
  return undefined;
}

export interface PredictWiring {
  /** Used when no experiment runs: one frozen plan, nothing allocated per request. */
  readonly plan: ForwardPlan;
  readonly planner: Planner;
}

/**
 * The /predict plans. With no experiment running (routing off or no candidate) every request shares
 * `plan`; otherwise a plan per request carries the `x-model-version` to ask for and an observer that
 * knows the route (and mirrors the request to the candidate in shadow mode).
 */
export function predictWiring(options: {
  experiments: Experiments;
  balancer: Balancer;
  attemptTimeoutMs: number;
  log: Logger;
}): PredictWiring {
  const { experiments, balancer } = options;
  const shadow = new ShadowSender(experiments, balancer, options.attemptTimeoutMs, options.log);
  const observerFor =
    (route: Route): ExchangeObserver =>
    (ex) => {
      experiments.observeExchange(route, ex, false);
      if (route.shadowVersion !== null && ex.status === 200 && ex.body !== null) {
        shadow.send(route.shadowVersion, ex.requestId, ex.body);
      }
    };
  const plan: ForwardPlan = Object.freeze({
    balancer,
    headers: null,
    observer: observerFor(PLAIN_ROUTE),
  });
  // The client chose the version: forwarded as asked, counted in the version's pinned column only.
  const pinned: ForwardPlan = Object.freeze({
    balancer,
    headers: null,
    observer: (ex: ExchangeRecord) => experiments.observeExchange(PLAIN_ROUTE, ex, true),
  });
  const planner: Planner = (req, body) => {
    if (clientChoseVersion(req)) return pinned;
    if (!experiments.active) return plan;
    const userId = experiments.needsUserId ? (userIdHeader(req) ?? userIdOf(toText(body))) : undefined;
    const route = experiments.route(userId);
    if (route.version === null && route.shadowVersion === null) return plan;
    const observer = observerFor(route);
    if (route.version === null) return { balancer, headers: null, observer };
    return {
      balancer,
      headers: ['x-model-version', route.version],
      observer,
      // A replica still loading the candidate (or done unloading it) answers 404: production answers.
      fallback: { balancer, headers: null, observer },
    };
  };
  return { plan, planner };
}

/**
 * Mirrors requests to the candidate after the client has been answered: fire and forget, bounded
 * by the attempt timeout and by a cap on mirrors in flight (shadow traffic must never crowd out
 * served traffic); its answer is only recorded.
 */
export class ShadowSender {
  static readonly MAX_IN_FLIGHT = 64;
  readonly #experiments: Experiments;
  readonly #balancer: Balancer;
  readonly #timeoutMs: number;
  readonly #log: Logger;
  inFlight = 0;
  dropped = 0;

  constructor(experiments: Experiments, balancer: Balancer, timeoutMs: number, log: Logger) {
    this.#experiments = experiments;
    this.#balancer = balancer;
    this.#timeoutMs = timeoutMs;
    this.#log = log;
  }

  send(version: string, requestId: string, body: Buffer): void {
    const replica = this.#balancer.pick(null);
    if (replica === null || this.inFlight >= ShadowSender.MAX_IN_FLIGHT) {
      this.dropped++;
      return;
    }
    this.inFlight++;
    this.#balancer.onRequestStart(replica);
    const started = performance.now();
    const route: Route = { version, target: 'candidate', shadowVersion: null };
    replica.dispatcher
      .request({
        path: '/predict',
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-model-version': version,
          'x-request-id': requestId,
          'x-flywheel-shadow': '1',
        },
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
      .then(async (res) => {
        await res.body.dump();
        const answeredBy = res.headers['x-model-version'];
        const prediction = res.headers['x-flywheel-prediction'];
        const features = res.headers['x-flywheel-features'];
        this.#experiments.observe({
          requestId,
          route,
          answeredBy: typeof answeredBy === 'string' ? answeredBy : undefined,
          status: res.statusCode,
          latencyMs: performance.now() - started,
          prediction:
            res.statusCode === 200 && typeof prediction === 'string' ? predictionOf(prediction) : NaN,
          features: res.statusCode === 200 && typeof features === 'string' ? features : undefined,
          shadow: true,
        });
      })
      .catch((err: unknown) => {
        this.#experiments.observe({
          requestId,
          route,
          answeredBy: undefined,
          status: 0,
          latencyMs: performance.now() - started,
          prediction: NaN,
          features: undefined,
          shadow: true,
        });
        this.#log.debug({ err, version, requestId }, 'shadow request failed');
      })
      .finally(() => {
        this.inFlight--;
        this.#balancer.onRequestEnd(replica);
      });
  }
}

/** The local handler of `/experiments`, `/feedback` and `/admin/*`. */
export function experimentsHandler(experiments: Experiments, bodyLimit: number): LocalHandler {
  return async (req: IncomingMessage, res: ServerResponse) => {
    let status: number;
    let payload: unknown;
    let headers: Readonly<Record<string, string>> | undefined;
    try {
      const body = (await readBody(req, bodyLimit)).toString('utf8');
      const answer = await experiments.handle(req.method ?? 'GET', req.url ?? '/', req.headers, body);
      if (answer === null) {
        throw new FlywheelError('FLY_ERR_NOT_FOUND', `no route ${req.method ?? 'GET'} ${req.url ?? '/'}`);
      }
      ({ status, body: payload, headers } = answer);
    } catch (err) {
      const e = err instanceof FlywheelError ? err : new FlywheelError('FLY_ERR_INTERNAL');
      status = e.status;
      payload = e.toJSON();
    }
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(payload);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(text);
  };
}

/** What the experiment layer needs of the gateway (the Gateway class is one). */
export interface GatewaySeam {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly balancer: Balancer;
  readonly metricsRegistry: MetricsRegistry;
  readonly routes: RouteTable;
  forwardRoute(name: string, planner?: Planner | null, plan?: ForwardPlan): ForwardRoute;
  localRoute(name: string, handle: LocalHandler): LocalRoute;
}

/**
 * Starts the experiment layer and plugs it in: /predict gets the version planner and the observer; /experiments, /feedback and /admin/* are answered by the gateway.
 */
export async function attachExperiments(seam: GatewaySeam): Promise<Experiments> {
  const experiments = await Experiments.start({
    config: seam.config,
    log: seam.log.child({ component: 'experiments' }),
    metrics: seam.metricsRegistry,
    describe: () => ({
      replicas: seam.balancer.stats().replicas.map((r) => ({ url: r.url, state: r.state })),
    }),
  });
  const { plan, planner } = predictWiring({
    experiments,
    balancer: seam.balancer,
    attemptTimeoutMs: seam.config.attemptTimeout,
    log: seam.log,
  });
  const local = seam.localRoute('experiments', experimentsHandler(experiments, seam.config.bodyLimit));
  seam.routes
    .exact('/predict', seam.forwardRoute('predict', planner, plan))
    .exact('/experiments', local)
    .exact('/feedback', local)
    .prefix('/admin/', local);
  return experiments;
}
