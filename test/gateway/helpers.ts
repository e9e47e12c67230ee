// Real parts for the gateway's tests: the gateway itself in this process on 127.0.0.1 port 0 (its
// config built by the real loadConfig), real `flywheel serve` processes on a trained temp registry,
// and — for the fault shapes a real backend cannot be made to show on demand (reset a connection,
// hang, answer 503, flip readiness) — small real node:http servers standing in for a replica.
import { spawn, type ChildProcess } from 'node:child_process';
import http, { type IncomingHttpHeaders } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { loadConfig, type GatewayConfig } from '../../src/config.js';
import { Gateway, startGateway, type GatewayOptions } from '../../src/gateway/main.js';
import { createLogger } from '../../src/log.js';
import { Registry } from '../../src/registry/registry.js';
import { CLI, cleanEnv, runCli } from '../helpers/stack.js';
import { publishInput } from '../registry/helpers.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

export const quiet = createLogger({ role: 'gateway-test', level: 'silent', pretty: false });

/**
 * A registry folder for this test process's gateways (routing state, prediction log), so that no
 * test writes into the checkout's ./.flywheel; removed when the process exits.
 */
let testRegistry: string | undefined;
export function gatewayTestRegistry(): string {
  if (testRegistry === undefined) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flywheel-gateway-test-'));
    testRegistry = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return testRegistry;
}

/** The gateway's config from flags, as `flywheel gateway` would build it (camelCase flag names). */
export function gatewayConfig(flags: Record<string, string>): GatewayConfig {
  return loadConfig(
    'gateway',
    {
      host: '127.0.0.1',
      port: '0',
      logLevel: 'silent',
      healthInterval: '100ms',
      registry: gatewayTestRegistry(),
      ...flags,
    },
    {},
  );
}

export async function startTestGateway(
  flags: Record<string, string>,
  options?: GatewayOptions,
): Promise<Gateway> {
  return startGateway(gatewayConfig(flags), quiet, options);
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

// One agent for every test request; its connections are per origin, so tests do not disturb each other.
const agent = new Agent({ connections: 64, headersTimeout: 30_000, bodyTimeout: 30_000 });

export async function call(
  url: string,
  options: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const res = await request(url, {
    method: (options.method ?? (options.body === undefined ? 'GET' : 'POST')) as 'GET',
    body: options.body,
    headers:
      options.body === undefined
        ? options.headers
        : { 'content-type': 'application/json', ...options.headers },
    dispatcher: agent,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  const text = body.toString('utf8');
  return {
    status: res.statusCode,
    headers: res.headers as IncomingHttpHeaders,
    body,
    text,
    json: <T>() => JSON.parse(text) as T,
  };
}

export type FakeMode = 'ok' | 'reset' | 'hang' | '503' | 'slow';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: string;
}

/** The feature names of the row a FakeReplica answers with (its `x-flywheel-features`). */
export const FAKE_FEATURES = [
  'avg_session_duration',
  'visits_per_week',
  'response_rate',
  'feature_usage_depth',
];

/**
 * Publishes and promotes a version whose manifest names the FakeReplica's features: the gateway's
 * prediction log names the answer's row from the answering version's manifest, so without one a
 * fake replica's predictions are not logged for feedback.
 */
export async function publishFakeModel(registryDir: string): Promise<string> {
  const reg = new Registry(registryDir);
  const features = FAKE_FEATURES.map((name) => ({ name, type: 'number' as const, min: 0, max: 100 }));
  const { version } = await reg.publish(publishInput(1, { features }));
  await reg.promote(version, { reason: 'fake replica model' });
  return version;
}

/**
 * A stand-in replica: a real HTTP server on a real socket whose behaviour a test switches: `ok` answers
 * JSON naming itself, `reset` destroys the connection, `hang` never answers, `503` refuses, `slow`
 * answers after `slowMs`. Its readiness (`/v2/health/ready`) is switched separately.
 */
export class FakeReplica {
  readonly name: string;
  mode: FakeMode = 'ok';
  /** Readiness: answers 200, 503, or (`hang`) never answers. */
  ready: boolean | 'hang' = true;
  slowMs = 300;
  /** When set, a request asking for another `x-model-version` gets 404 (a version not loaded here). */
  versions: string[] | null = null;
  readonly seen: SeenRequest[] = [];
  /** Requests left hanging (`hang`) whose connection the gateway closed: cancelled attempts. */
  cancelled = 0;
  readonly host: string;
  port = 0;
  #server: http.Server | null = null;
  readonly #sockets = new Set<Socket>();

  private constructor(name: string, host: string) {
    this.name = name;
    this.host = host;
  }

  static async start(name: string, options: { host?: string; port?: number } = {}): Promise<FakeReplica> {
    const replica = new FakeReplica(name, options.host ?? '127.0.0.1');
    await replica.listen(options.port ?? 0);
    return replica;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Requests other than health checks. */
  get traffic(): SeenRequest[] {
    return this.seen.filter((r) => r.url !== '/v2/health/ready');
  }

  async listen(port: number): Promise<void> {
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  /** Like a crashed process: the port closes and every open connection is cut. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (server === null) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  async restart(): Promise<void> {
    await this.listen(this.port);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      this.seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      if (req.url === '/v2/health/ready') {
        if (this.ready === 'hang') return;
        const status = this.ready ? 200 : 503;
        res
          .writeHead(status, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ready: this.ready }));
        return;
      }
      if (req.url === '/v2/big') {
        // 4 MiB of a repeating pattern, written in 64 KiB chunks: a response far larger than a socket
        // buffer, to exercise streaming and backpressure through the gateway.
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-replica': this.name });
        let sent = 0;
        const chunk = Buffer.alloc(64 * 1024, this.name);
        const pump = () => {
          while (sent < 64) {
            sent++;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      const version = req.headers['x-model-version'];
      if (this.versions !== null && typeof version === 'string' && !this.versions.includes(version)) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(
            JSON.stringify({ error: `version ${version} is not loaded`, code: 'FLY_ERR_MODEL_NOT_FOUND' }),
          );
        return;
      }
      const answer = () => {
        const payload = JSON.stringify({
          replica: this.name,
          method: req.method,
          url: req.url,
          body,
          version: version ?? null,
        });
        // The side channel a real backend sends the gateway (src/backend/context.ts).
        res
          .writeHead(200, {
            'content-type': 'application/json',
            'x-replica': this.name,
            'X-Flywheel-Prediction': '41.5',
            'x-flywheel-features': '30,14,4,6',
          })
          .end(payload);
      };
      switch (this.mode) {
        case 'ok':
          answer();
          break;
        case 'reset':
          req.socket.destroy();
          break;
        case 'hang':
          res.once('close', () => this.cancelled++);
          break;
        case '503':
          res
            .writeHead(503, { 'content-type': 'application/json', 'x-replica': this.name })
            .end(JSON.stringify({ error: `${this.name} is unavailable`, code: 'FLY_ERR_NO_MODEL' }));
          break;
        case 'slow':
          setTimeout(answer, this.slowMs);
          break;
      }
    });
  }
}

/** A registry with a trained production model, made by the real `flywheel train`. */
export async function trainedRegistry(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-gateway-'));
  const result = await runCli([
    'train',
    '--registry',
    dir,
    '--rows',
    '200',
    '--trees',
    '5',
    '--log-level',
    'warn',
  ]);
  if (result.code !== 0) throw new Error(`flywheel train failed: ${result.stderr}`);
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A real `flywheel serve` process on a fixed port (so it can be killed and started again there). */
export class BackendProcess {
  readonly registry: string;
  readonly port: number;
  proc: ChildProcess | null = null;
  #stderr = '';

  constructor(registry: string, port: number) {
    this.registry = registry;
    this.port = port;
  }

  static async start(registry: string): Promise<BackendProcess> {
    const backend = new BackendProcess(registry, await freePort());
    await backend.start();
    return backend;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.#stderr = '';
    const proc = spawn(
      process.execPath,
      [
        CLI,
        'serve',
        '--registry',
        this.registry,
        '--host',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--log-level',
        'warn',
      ],
      { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => (this.#stderr += c));
    this.proc = proc;
    let exited = false;
    proc.once('exit', () => (exited = true));
    await waitFor(
      async () => {
        if (exited) throw new Error(`flywheel serve exited: ${this.#stderr}`);
        return (await call(`${this.url}/v2/health/ready`)).status === 200;
      },
      { timeoutMs: 20_000, what: `flywheel serve on ${this.port} to be ready` },
    );
  }

  /** Sends `signal` and waits for the process to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await exited;
  }
}

export { waitFor };
