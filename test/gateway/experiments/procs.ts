// Real `flywheel` processes for the experiment tests: start a role on a free port and wait for it to be
// ready, call its JSON routes, send predictions, train versions into a registry folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Pool, request } from 'undici';
import type { Dataset } from '../../../src/model/types.js';
import { freePort } from '../../helpers/ports.js';
import { CLI, cleanEnv, runCli } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/wait.js';

export const TOKEN = 'e2e-admin-token';

/**
 * `flywheel gateway` arguments shared by the multi-process experiment tests: the registry, the
 * backends, the admin token, an id, fast routing and health polls; `extra` adds or overrides (a later
 * flag wins).
 */
export function gatewayArgs(
  registry: string,
  backends: readonly Proc[],
  id: string,
  extra: string[] = [],
): string[] {
  return [
    'gateway',
    '--registry',
    registry,
    '--backends',
    backends.map((b) => b.url).join(','),
    '--admin-token',
    TOKEN,
    '--gateway-id',
    id,
    '--routing-poll-interval',
    '100ms',
    '--health-interval',
    '200ms',
    '--log-level',
    'warn',
    ...extra,
  ];
}

export interface Proc {
  readonly url: string;
  readonly port: number;
  readonly proc: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

/** Starts `flywheel <args>` on a free port (`env`: extra environment) and waits until it is ready. */
export async function startRole(args: string[], env: Record<string, string> = {}): Promise<Proc> {
  const port = await freePort();
  const proc = spawn(process.execPath, [CLI, ...args, '--host', '127.0.0.1', '--port', String(port)], {
    env: cleanEnv(env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let logs = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => {
    logs = (logs + c).slice(-200_000);
  });
  let exited = false;
  const gone = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (exited) throw new Error(`flywheel ${args[0]} exited:\n${logs}`);
      const res = await request(`${url}/v2/health/ready`);
      await res.body.dump();
      return res.statusCode === 200;
    },
    { timeoutMs: 20_000, what: `flywheel ${args[0]} on ${port} to be ready` },
  );
  return {
    url,
    port,
    proc,
    logs: () => logs,
    stop: async () => {
      if (exited) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

export async function call(
  base: string,
  method: 'GET' | 'PUT' | 'POST',
  route: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}> {
  const res = await request(`${base}${route}`, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...options.headers,
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/** Row i of a data set as a /predict body. */
export function rowBody(
  ds: Dataset,
  i: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const body: Record<string, unknown> = { ...extra };
  ds.featureNames.forEach((name, j) => (body[name] = ds.columns[j][i]));
  return body;
}

export interface Answer {
  readonly status: number;
  readonly version: string;
  readonly requestId: string;
  readonly body: Record<string, unknown>;
}

export async function predict(
  pool: Pool,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const res = await pool.request({
    path: '/predict',
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const json = (await res.body.json()) as Record<string, unknown>;
  return {
    status: res.statusCode,
    version: String(res.headers['x-model-version']),
    requestId: String(res.headers['x-request-id']),
    body: json,
  } satisfies Answer;
}

export async function aliases(
  registry: string,
): Promise<{ production: string | null; candidate: string | null }> {
  return JSON.parse(await readFile(path.join(registry, 'aliases.json'), 'utf8')) as {
    production: string | null;
    candidate: string | null;
  };
}

export async function storedFeedbackLines(registry: string): Promise<number> {
  const dir = path.join(registry, 'feedback');
  let n = 0;
  for (const name of await readdir(dir)) {
    const text = await readFile(path.join(dir, name), 'utf8');
    n += text.split('\n').filter((l) => l.includes('"type":"feedback"')).length;
  }
  return n;
}

export async function train(registry: string, args: string[]): Promise<string> {
  const r = await runCli([
    'train',
    '--registry',
    registry,
    '--trees',
    '20',
    '--json',
    '--log-level',
    'warn',
    ...args,
  ]);
  if (r.code !== 0) throw new Error(`flywheel train failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { version: string }).version;
}
