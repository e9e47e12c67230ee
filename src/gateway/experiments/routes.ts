// The experiment layer's own HTTP routes, answered by the gateway itself: `GET /experiments`,
// `POST /feedback` (behind the feedback token when one is set) and the admin API (`GET|PUT
// /admin/traffic`, `POST /admin/promote|rollback`, behind the admin token).
import type { GatewayConfig } from '../../config.js';
import { FlywheelError, isFlywheelError } from '../../errors.js';
import { parseJsonBody } from '../../json-body.js';
import type { Logger } from '../../log.js';
import type { Registry } from '../../registry/registry.js';
import { routingChangeProblems, updateRouting, type RoutingChange } from '../../registry/routing.js';
import { promoteCandidate, rollbackCandidate } from './actions.js';
import { BearerToken } from './bearer.js';
import type { Experiments } from './experiments.js';
import { analyse } from './analysis.js';
import { compareVersions, snapshotOf } from './stats.js';

export interface AdminResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The methods of each path these routes answer: another method gets 405 with `Allow`. */
const METHODS: Readonly<Record<string, readonly string[]>> = {
  '/experiments': ['GET', 'HEAD'],
  '/feedback': ['POST'],
  '/admin/traffic': ['GET', 'HEAD', 'PUT'],
  '/admin/promote': ['POST'],
  '/admin/rollback': ['POST'],
};

/** 405 for a known path asked with another method; null when the method is allowed or the path unknown. */
export function methodNotAllowed(method: string, pathname: string): AdminResponse | null {
  const allowed = Object.hasOwn(METHODS, pathname) ? METHODS[pathname] : undefined;
  if (allowed === undefined || allowed.includes(method)) return null;
  const allow = allowed.join(', ');
  return errorResponse(
    new FlywheelError('FLY_ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on ${pathname}; use ${allow}`, {
      method,
      path: pathname,
      allow: allowed,
    }),
    { allow },
  );
}

function errorResponse(err: FlywheelError, headers?: Record<string, string>): AdminResponse {
  return { status: err.status, body: err.toJSON(), ...(headers ? { headers } : {}) };
}

export class ExperimentRoutes {
  readonly #ex: Experiments;
  readonly #config: GatewayConfig;
  readonly #log: Logger;
  readonly #registry: Registry;
  readonly #adminToken: BearerToken | null;
  /** When set, POST /feedback needs it: ground truth then comes from a back office, not from clients. */
  readonly #feedbackToken: BearerToken | null;

  constructor(ex: Experiments, options: { config: GatewayConfig; log: Logger; registry: Registry }) {
    this.#ex = ex;
    this.#config = options.config;
    this.#log = options.log;
    this.#registry = options.registry;
    this.#adminToken = options.config.adminToken
      ? new BearerToken(options.config.adminToken, 'flywheel-admin', 'admin token')
      : null;
    this.#feedbackToken = options.config.feedbackToken
      ? new BearerToken(options.config.feedbackToken, 'flywheel-feedback', 'feedback token')
      : null;
  }

  /**
   * Handles the experiment routes: `GET /experiments`, `POST /feedback`, `GET|PUT /admin/traffic`,
   * `POST /admin/promote`, `POST /admin/rollback`. Returns null for any other path. `body` is the raw
   * request body (JSON text or empty).
   */
  async handle(
    method: string,
    url: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    body: string,
  ): Promise<AdminResponse | null> {
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    try {
      const wrongMethod = methodNotAllowed(method, pathname);
      if (wrongMethod) return wrongMethod;
      if (pathname === '/experiments') return { status: 200, body: this.#report() };
      if (pathname === '/feedback') {
        const denied = this.#feedbackToken?.check(headers.authorization);
        if (denied) return errorResponse(denied.error, denied.headers);
        return await this.#postFeedback(body);
      }
      if (!pathname.startsWith('/admin/')) return null;
      const denied = this.#authorise(headers.authorization);
      if (denied) return denied;
      const route = `${method === 'HEAD' ? 'GET' : method} ${pathname}`;
      switch (route) {
        case 'GET /admin/traffic':
          return { status: 200, body: this.#trafficBody() };
        case 'PUT /admin/traffic':
          return await this.#putTraffic(body);
        case 'POST /admin/promote':
          return await this.#decide('promote', body);
        case 'POST /admin/rollback':
          return await this.#decide('rollback', body);
        default:
          throw new FlywheelError('FLY_ERR_NOT_FOUND', `${route} is not a route`);
      }
    } catch (err) {
      if (isFlywheelError(err)) {
        // The log retries every second: a client can come back in a few.
        return errorResponse(
          err,
          err.code === 'FLY_ERR_FEEDBACK_UNAVAILABLE' ? { 'retry-after': '5' } : undefined,
        );
      }
      this.#log.error({ err, method, url }, 'experiment route failed');
      return errorResponse(new FlywheelError('FLY_ERR_INTERNAL'));
    }
  }

  /** null when allowed; else the 401/403 answer. Nothing is read or changed before this passes. */
  #authorise(header: string | string[] | undefined): AdminResponse | null {
    if (this.#adminToken === null) {
      return errorResponse(
        new FlywheelError(
          'FLY_ERR_ADMIN_DISABLED',
          'admin routes are off: start the gateway with --admin-token or FLYWHEEL_ADMIN_TOKEN',
        ),
      );
    }
    const denied = this.#adminToken.check(header);
    return denied === null ? null : errorResponse(denied.error, denied.headers);
  }

  #trafficBody(): Record<string, unknown> {
    return { ...this.#publicRouting(), production: this.#ex.aliases.production };
  }

  async #postFeedback(body: string): Promise<AdminResponse> {
    const parsed = parseJsonBody(body);
    const accepted = await this.#ex.feedback.recordFeedback(parsed);
    for (const f of accepted) {
      for (const p of f.predictions) {
        this.#ex.stats.observeFeedback(p.version, p.prediction, f.actual, p.shadow ? 'shadow' : 'served');
      }
    }
    return {
      status: 200,
      body: {
        recorded: accepted.length,
        feedback: accepted.map((f) => ({
          request_id: f.request_id,
          actual: f.actual,
          predictions: f.predictions,
        })),
      },
    };
  }

  async #putTraffic(body: string): Promise<AdminResponse> {
    const parsed = parseJsonBody(body);
    const problems = routingChangeProblems(parsed);
    if (problems.length > 0) {
      throw new FlywheelError('FLY_ERR_BAD_REQUEST', `invalid traffic change: ${problems.join('; ')}`, {
        problems,
      });
    }
    const change = parsed as RoutingChange;
    const next = await updateRouting(this.#config.registry, change, {
      by: this.#ex.by,
      reason: `admin API: ${change.mode ?? this.#ex.routing.mode} ${change.weight ?? this.#ex.routing.weight}%`,
    });
    // This replica applies it at once; the others within --routing-poll-interval.
    this.#ex.applyRouting(next);
    return { status: 200, body: this.#trafficBody() };
  }

  async #decide(decision: 'promote' | 'rollback', body: string): Promise<AdminResponse> {
    const parsed = body.trim() === '' ? {} : parseJsonBody(body);
    const reason =
      typeof parsed === 'object' && parsed !== null && 'reason' in parsed && typeof parsed.reason === 'string'
        ? parsed.reason
        : `manual ${decision} via the admin API`;
    const { production, candidate } = await this.#registry.readAliases();
    const { stats, gateways } = this.#ex.evidence();
    const c = candidate ? stats.get(candidate) : undefined;
    const p = production ? stats.get(production) : undefined;
    const evidence = {
      decision,
      gateway: this.#config.gatewayId,
      merged: { gateways, count: gateways.length },
      comparison: c && p ? compareVersions(c, p) : null,
    };
    const info = {
      by: `${this.#ex.by} (admin)`,
      reason,
      evidence,
      ...(candidate ? { expected: candidate } : {}),
    };
    const aliases =
      decision === 'promote'
        ? await promoteCandidate(this.#registry, info)
        : await rollbackCandidate(this.#registry, info);
    this.#ex.applyAliases(aliases);
    this.#log.info(
      { decision, candidate, production: aliases.production, reason },
      'manual decision applied',
    );
    return {
      status: 200,
      body: {
        decision,
        candidate,
        aliases: { production: aliases.production, candidate: aliases.candidate },
      },
    };
  }

  /**
   * JSON of GET /experiments: the split, the versions' figures merged over every live gateway, the
   * comparison and verdict (the same on every gateway, up to one publish interval), the lease.
   */
  #report(): Record<string, unknown> {
    const ex = this.#ex;
    const { production, candidate } = ex.aliases;
    const thresholds = ex.analysis.thresholds;
    const { stats, gateways } = ex.evidence();
    const c = candidate ? stats.get(candidate) : undefined;
    const p = production ? stats.get(production) : undefined;
    const verdict =
      candidate && production ? analyse(stats, { candidate, production }, thresholds, Date.now()) : null;
    return {
      gateway: this.#config.gatewayId,
      merged: { gateways, count: gateways.length },
      routing: this.#publicRouting(),
      aliases: { production, candidate },
      versions: snapshotOf(stats),
      comparison: c && p ? compareVersions(c, p) : null,
      verdict: verdict ? { decision: verdict.decision, reasons: verdict.reasons } : null,
      analysis: {
        interval_ms: ex.analysis.intervalMs,
        automatic: ex.analysis.intervalMs > 0,
        thresholds,
        lease: { holder: ex.lease?.holder ?? null, leading: ex.lease?.isLeading() ?? false },
        decisions: ex.analysis.decisions,
      },
      feedback: { file: ex.feedback.currentFile, ...ex.feedback.counts },
    };
  }

  /** The routing state as clients see it: what each version gets now. */
  #publicRouting(): Record<string, unknown> {
    const r = this.#ex.routing;
    const { candidate } = this.#ex.aliases;
    const active = this.#ex.active;
    const share = active && r.mode !== 'shadow' ? r.weight : 0;
    return {
      mode: r.mode,
      weight: r.weight,
      generation: r.generation,
      updated_at: r.updated_at,
      candidate,
      // What clients get now: with no candidate every mode means 100% production.
      effective: {
        production: 100 - share,
        candidate: share,
        shadow: active && r.mode === 'shadow' ? r.weight : 0,
      },
    };
  }
}
