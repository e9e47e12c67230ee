// The operator dashboard: one page at `/` and `/dashboard`, its scripts and styles (all served from this
// process: the page makes no request elsewhere), and the JSON it polls, `GET /dashboard/api/overview`.
// Plain node:http handlers, so the gateway adds them to its route table (see mount.ts); nothing here
// runs on the proxy's path.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlywheelError, isFlywheelError } from '../../errors.js';
import { OverviewBuilder, type DashboardSources } from './overview.js';
import { ASSET_PREFIX, DASHBOARD_CSS, INDEX_HTML } from './page.js';
import type { SamplerOptions } from './series.js';

export type { DashboardSources, ExperimentsFacts, GatewayFacts, ReplicaFacts } from './overview.js';

export interface DashboardOptions extends DashboardSources {
  readonly sampler?: Partial<SamplerOptions>;
  /** Folder of the compiled page scripts; by default where `npm run build` puts them. */
  readonly clientDir?: string;
}

/**
 * The compiled page scripts: beside this module once built (client/tsconfig.json writes them there);
 * when this module runs from its TypeScript source (the tests), in the built tree of the same checkout.
 */
export const DEFAULT_CLIENT_DIR =
  [
    fileURLToPath(new URL('./www/client/', import.meta.url)),
    fileURLToPath(new URL('../../../dist/gateway/dashboard/www/client/', import.meta.url)),
  ].find((dir) => existsSync(path.join(dir, 'app.js'))) ??
  fileURLToPath(new URL('./www/client/', import.meta.url));

export const OVERVIEW_PATH = '/dashboard/api/overview';

export type DashboardHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface DashboardRoute {
  readonly path: string;
  /** True: every path starting with `path`. */
  readonly prefix: boolean;
  readonly handle: DashboardHandler;
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

// The page runs only its own scripts and talks only to this gateway: a string from the API that slipped
// into markup still could not load or send anything.
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

function asset(body: string | Buffer, type: string): Asset {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const etag = `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 22)}"`;
  return { body: bytes, type, etag };
}

/**
 * Everything the page loads, read once at start (small files). A missing one (an unbuilt checkout) is
 * reported by name instead of half-working.
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
      missing.push(`uplot/dist/${name} (run npm install)`);
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
  if (!assets.has('app.js')) missing.push(`${path.join(clientDir, 'app.js')} (run npm run build)`);
  return { assets, missing };
}

function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string>,
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

function sendAsset(req: IncomingMessage, res: ServerResponse, a: Asset): void {
  const headers = { ...SECURITY_HEADERS, 'cache-control': 'no-cache', etag: a.etag };
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': a.type, 'content-length': String(a.body.length) });
  res.end(req.method === 'HEAD' ? undefined : a.body);
}

function getOnly(req: IncomingMessage): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new FlywheelError('FLY_ERR_NOT_FOUND', `${req.method} ${req.url} is not a route`);
  }
}

/** `?since=<seconds since the epoch>`: the newest sample the page already has. */
function parseSince(url: string): number | null {
  const q = url.indexOf('?');
  if (q === -1) return null;
  const raw = new URLSearchParams(url.slice(q + 1)).get('since');
  if (raw === null) return null;
  const since = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(since) || since < 0) {
    throw new FlywheelError('FLY_ERR_BAD_REQUEST', 'since must be a time in seconds since the epoch', {
      since: raw.slice(0, 100),
    });
  }
  return since;
}

/** Answers errors in the project's `{ error, code }` form whoever hosts the handler. */
function guarded(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void,
): DashboardHandler {
  return async (req, res) => {
    try {
      await handle(req, res);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const e = isFlywheelError(err) ? err : new FlywheelError('FLY_ERR_INTERNAL');
      sendJson(res, e.status, e.toJSON(), { 'cache-control': 'no-store' });
    }
  };
}

/** The dashboard of one gateway: its routes, and the sampler behind the live series. */
export class Dashboard {
  readonly routes: readonly DashboardRoute[];
  readonly overview: OverviewBuilder;
  /** Files the page needs that could not be found; empty when the dashboard works. */
  readonly missing: readonly string[];

  constructor(options: DashboardOptions) {
    const { assets, missing } = loadAssets(options.clientDir ?? DEFAULT_CLIENT_DIR);
    this.missing = missing;
    this.overview = new OverviewBuilder(options, options.sampler);
    const page = asset(INDEX_HTML, 'text/html; charset=utf-8');

    const servePage = guarded((req, res) => {
      getOnly(req);
      if (missing.length > 0) {
        throw new FlywheelError('FLY_ERR_INTERNAL', `dashboard files missing: ${missing.join(', ')}`);
      }
      sendAsset(req, res, page);
    });
    const serveAsset = guarded((req, res) => {
      getOnly(req);
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const name = (q === -1 ? url : url.slice(0, q)).slice(ASSET_PREFIX.length);
      // Only the files loaded above are served: no part of a request ever reaches the filesystem.
      const a = assets.get(name);
      if (!a) throw new FlywheelError('FLY_ERR_NOT_FOUND', `no dashboard file named ${JSON.stringify(name)}`);
      sendAsset(req, res, a);
    });
    const serveOverview = guarded(async (req, res) => {
      getOnly(req);
      const overview = await this.overview.build(parseSince(req.url ?? ''));
      sendJson(res, 200, overview, { ...SECURITY_HEADERS, 'cache-control': 'no-store' });
    });
    this.routes = [
      { path: '/', prefix: false, handle: servePage },
      { path: '/dashboard', prefix: false, handle: servePage },
      { path: '/dashboard/', prefix: false, handle: servePage },
      { path: ASSET_PREFIX, prefix: true, handle: serveAsset },
      { path: OVERVIEW_PATH, prefix: false, handle: serveOverview },
    ];
  }

  /** Starts sampling the live series (an unref'd timer: it never keeps the process alive). */
  start(): void {
    this.overview.start();
  }

  stop(): void {
    this.overview.stop();
  }
}
