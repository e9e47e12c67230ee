// The experiment layer's own HTTP routes, answered by the gateway itself: `GET /experiments`,
// `POST /feedback` and the admin API (`GET|PUT /admin/traffic`, `POST /admin/promote|rollback`, behind
// a bearer token compared in constant time).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { GatewayConfig } from '../../config.js';
import { FlywheelError, isFlywheelError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Registry } from '../../registry/registry.js';
import { routingChangeProblems, updateRouting, type RoutingChange } from '../../registry/routing.js';
import { promoteCandidate, rollbackCandidate } from './actions.js';
import type { Experiments } from './experiments.js';
import { compareVersions } from './stats.js';

export interface AdminResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function errorResponse(err: FlywheelError, headers?: Record<string, string>): AdminResponse {
  return { status: err.status, body: err.toJSON(), ...(headers ? { headers } : {}) };
}

export class ExperimentRoutes {
  readonly #ex: Experiments;
  readonly #config: GatewayConfig;
  readonly #log: Logger;
  readonly #registry: Registry;
  /** sha256 of the admin token: compared in constant time with the presented token's digest. */
  readonly #tokenDigest: Buffer | null;

  constructor(ex: Experiments, options: { config: GatewayConfig; log: Logger; registry: Registry }) {
    this.#ex = ex;
    this.#config = options.config;
    this.#log = options.log;
    this.#registry = options.registry;
    this.#tokenDigest = options.config.adminToken ? digest(options.config.adminToken) : null;
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
      if (pathname === '/experiments') {
        if (method !== 'GET')
          throw new FlywheelError('FLY_ERR_NOT_FOUND', `${method} /experiments is not a route`);
        return { status: 200, body: this.#ex.report() };
      }
      if (pathname === '/feedback') {
        if (method !== 'POST')
          throw new FlywheelError('FLY_ERR_NOT_FOUND', `${method} /feedback is not a route`);
        return await this.#postFeedback(body);
      }
      if (!pathname.startsWith('/admin/')) return null;
      const denied = this.#authorise(headers.authorization);
      if (denied) return denied;
      const route = `${method} ${pathname}`;
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
      if (isFlywheelError(err)) return errorResponse(err);
      this.#log.error({ err, method, url }, 'experiment route failed');
      return errorResponse(new FlywheelError('FLY_ERR_INTERNAL'));
    }
  }

  /** null when allowed; else the 401/403 answer. Nothing is read or changed before this passes. */
  #authorise(header: string | string[] | undefined): AdminResponse | null {
    if (this.#tokenDigest === null) {
      return errorResponse(
        new FlywheelError(
          'FLY_ERR_ADMIN_DISABLED',
          'admin routes are off: start the gateway with --admin-token or FLYWHEEL_ADMIN_TOKEN',
        ),
      );
    }
    const value = Array.isArray(header) ? header[0] : header;
    const m = value === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
    // Digests have equal length whatever was sent, so timingSafeEqual never throws and the time taken
    // says nothing about how much of the token matched.
    if (m === null || !timingSafeEqual(digest(m[1]), this.#tokenDigest)) {
      return errorResponse(
        new FlywheelError(
          'FLY_ERR_UNAUTHORIZED',
          'admin token missing or wrong: send Authorization: Bearer <token>',
        ),
        { 'www-authenticate': 'Bearer realm="flywheel-admin"' },
      );
    }
    return null;
  }

  #trafficBody(): Record<string, unknown> {
    return { ...this.#ex.publicRouting(), production: this.#ex.aliases.production };
  }

  async #postFeedback(body: string): Promise<AdminResponse> {
    const parsed = parseJson(body);
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
    const parsed = parseJson(body);
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
    const parsed = body.trim() === '' ? {} : parseJson(body);
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
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new FlywheelError('FLY_ERR_BAD_JSON', 'request body is not valid JSON');
  }
}
