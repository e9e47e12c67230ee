// The operator dashboard: one page at `/` and `/dashboard`, its scripts and styles (all served from this
// process: the page makes no request elsewhere), and the JSON it polls, `GET /dashboard/api/overview`.
// The gateway mounts it with `registerDashboard(app, sources)`; nothing here is on the proxy's path.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FlywheelError } from '../../errors.js';
import { OverviewBuilder, type DashboardSources } from './overview.js';
import { DASHBOARD_CSS, INDEX_HTML } from './page.js';
import type { SamplerOptions } from './series.js';

export type { DashboardSources, ExperimentsFacts, GatewayFacts, ReplicaFacts } from './overview.js';
export { experimentsFacts } from './experiments-source.js';
export { OverviewBuilder } from './overview.js';

export interface DashboardOptions extends DashboardSources {
  readonly sampler?: Partial<SamplerOptions>;
  /** Folder of the compiled page scripts; by default where `npm run build` puts them. */
  readonly clientDir?: string;
}

/** The compiled page scripts (client/tsconfig.json writes them there). */
export const DEFAULT_CLIENT_DIR = fileURLToPath(new URL('./www/client/', import.meta.url));

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

// The page runs only its own scripts and talks only to this gateway: a string from the API that slipped
// into markup still could not load or send anything.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

function asset(body: string | Buffer, type: string): Asset {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const etag = `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"`;
  return { body: bytes, type, etag };
}

/**
 * Everything the page loads, read once at start: small files, and a missing one (an unbuilt checkout)
 * is reported by name instead of half-working.
 */
function loadAssets(clientDir: string): { assets: Map<string, Asset>; missing: string[] } {
  const assets = new Map<string, Asset>();
  const missing: string[] = [];
  assets.set('dashboard.css', asset(DASHBOARD_CSS, 'text/css; charset=utf-8'));
  const require = createRequire(import.meta.url);
  for (const [name, type] of [
    ['uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
    ['uPlot.min.css', 'text/css; charset=utf-8'],
  ] as const) {
    try {
      assets.set(name, asset(readFileSync(require.resolve(`uplot/dist/${name}`)), type));
    } catch {
      missing.push(`uplot/dist/${name} (npm install)`);
    }
  }
  let scripts: string[] = [];
  try {
    scripts = readdirSync(clientDir).filter((f) => f.endsWith('.js'));
  } catch {
    // reported below
  }
  for (const file of scripts) {
    assets.set(file, asset(readFileSync(path.join(clientDir, file)), 'text/javascript; charset=utf-8'));
  }
  if (!assets.has('app.js')) missing.push(`${path.join(clientDir, 'app.js')} (npm run build)`);
  return { assets, missing };
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset): FastifyReply {
  reply.headers(SECURITY_HEADERS).header('cache-control', 'no-cache').header('etag', a.etag);
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
  return reply.type(a.type).send(a.body);
}

/** Errors in the project's `{ error, code }` form whatever error handler the host server has. */
function fail(reply: FastifyReply, err: FlywheelError): FastifyReply {
  return reply.code(err.status).type('application/json; charset=utf-8').send(err.toJSON());
}

/**
 * Adds the dashboard's routes to the gateway's server and starts sampling the live series. Returns the
 * overview builder (its sampler stops when the server closes).
 */
export async function registerDashboard(
  app: FastifyInstance,
  options: DashboardOptions,
): Promise<OverviewBuilder> {
  const { assets, missing } = loadAssets(options.clientDir ?? DEFAULT_CLIENT_DIR);
  if (missing.length > 0) {
    app.log.warn({ missing }, 'dashboard assets missing: the page will not work until they are built');
  }
  const page = asset(INDEX_HTML, 'text/html; charset=utf-8');
  const builder = new OverviewBuilder(options, options.sampler);
  builder.start();
  app.addHook('onClose', async () => builder.stop());

  const servePage = async (req: FastifyRequest, reply: FastifyReply) => {
    if (missing.length > 0) {
      return fail(
        reply,
        new FlywheelError('FLY_ERR_INTERNAL', `dashboard assets missing: ${missing.join(', ')}`),
      );
    }
    return send(req, reply, page);
  };
  app.get('/', servePage);
  app.get('/dashboard', servePage);

  app.get<{ Params: { name: string } }>(
    '/dashboard/assets/:name',
    {
      schema: {
        params: {
          type: 'object',
          properties: { name: { type: 'string', pattern: '^[A-Za-z0-9._-]+$', maxLength: 100 } },
          required: ['name'],
        },
      },
    },
    async (req, reply) => {
      // Only files named in the map are served: no path from a request ever reaches the filesystem.
      const a = assets.get(req.params.name);
      if (!a)
        return fail(
          reply,
          new FlywheelError('FLY_ERR_NOT_FOUND', `no dashboard asset named ${req.params.name}`),
        );
      return send(req, reply, a);
    },
  );

  // The response's shape is api-types.ts, checked against the page's code at compile time.
  app.get<{ Querystring: { since?: number } }>(
    '/dashboard/api/overview',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { since: { type: 'number', minimum: 0 } },
        },
      },
    },
    async (req, reply) => {
      const overview = await builder.build(req.query.since ?? null);
      return reply.headers(SECURITY_HEADERS).header('cache-control', 'no-store').send(overview);
    },
  );
  return builder;
}
