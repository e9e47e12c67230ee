// Real parts for the backend's tests: tiny models fitted by the real learner, a real registry in a
// temp folder, and `flywheel serve` run as a real process (dist/cli.js) on 127.0.0.1 port 0, its port
// read from its `listening` log line.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { encodeArtifact, featureSchema, fitModel, regressionMetrics } from '../../src/model/index.js';
import type { FeatureSchema, HoldoutMetrics } from '../../src/model/types.js';
import { Registry } from '../../src/registry/index.js';
import { generateSynthetic } from '../../src/trainer/data/index.js';
import { CLI, cleanEnv } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

export { LAB_PREDICT_BODY } from '../helpers/load.js';

/** The lab's Postman request body, byte for byte. */
export const LAB_PREDICT_TEXT =
  '{"avg_session_duration":30,"visits_per_week":14,"response_rate":4,"feature_usage_depth":6,"user_id":34}';

export interface TrainedModel {
  readonly artifact: Uint8Array;
  readonly features: FeatureSchema[];
  readonly metrics: HoldoutMetrics;
  readonly seed: number;
}

/** Fits `count` small forests on synthetic data (different seeds), on this thread: ~tens of ms each. */
export async function trainModels(count: number, rows = 250, trees = 8): Promise<TrainedModel[]> {
  const out: TrainedModel[] = [];
  for (let seed = 1; seed <= count; seed++) {
    const ds = generateSynthetic(rows, seed);
    const { model } = await fitModel(
      ds,
      {
        algorithm: 'random-forest',
        trees,
        maxDepth: 8,
        minSamplesLeaf: 1,
        maxFeatures: 1,
        maxLeaves: 31,
        learningRate: 0.1,
        earlyStopping: false,
        seed,
      },
      { threads: 1 },
    );
    const holdout = generateSynthetic(50, seed + 1000);
    const predicted = holdout.target.map((_, r) => model.predictRow(holdout.columns.map((c) => c[r])));
    out.push({
      artifact: encodeArtifact(model),
      features: featureSchema(ds),
      metrics: regressionMetrics(holdout.target, predicted),
      seed,
    });
  }
  return out;
}

/** Publishes a model as a new version (nothing promoted) and returns its id. */
export async function publish(registry: Registry, m: TrainedModel, artifact = m.artifact): Promise<string> {
  const manifest = await registry.publish({
    artifact,
    manifest: {
      trainer_host: 'test',
      package_version: '0.0.0-test',
      algorithm: 'random-forest',
      data: { source: 'synthetic', rows: 250, sha256: 'f'.repeat(64) },
      parameters: { seed: m.seed },
      metrics: m.metrics,
      fit_seconds: 0.01,
      features: m.features,
      target: 'engagement_score',
    },
  });
  return manifest.version;
}

export async function tempRegistry(): Promise<{
  dir: string;
  registry: Registry;
  cleanup: () => Promise<void>;
}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-backend-'));
  const registry = new Registry(dir);
  await registry.init();
  return { dir, registry, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface LogLine {
  readonly msg: string;
  readonly level: number;
  readonly [field: string]: unknown;
}

export interface Backend {
  readonly url: string;
  readonly port: number;
  readonly proc: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs(): LogLine[];
  /** Resolves with the exit code and signal when the process ends. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after 15 s. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startBackend(registryDir: string, args: readonly string[] = []): Promise<Backend> {
  const proc = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--registry',
      registryDir,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--poll-interval',
      '200ms',
      ...args,
    ],
    { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const lines: LogLine[] = [];
  let rest = '';
  let raw = '';
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
    rest += chunk;
    const parts = rest.split('\n');
    rest = parts.pop()!;
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        lines.push({ msg: p, level: 0 });
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  const listening = await waitFor(
    () => {
      if (exitedEarly) throw new Error(`flywheel serve exited: ${raw}`);
      return lines.find((l) => l.msg === 'listening');
    },
    { timeoutMs: 15_000, what: 'flywheel serve to listen' },
  ).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
  const port = Number(listening.port);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    proc,
    logs: () => [...lines],
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export interface JsonResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
  readonly text: string;
}

/** One request; the body is sent as given when it is a string (byte-exact), else as JSON. */
export async function call(
  url: string,
  options: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const body =
    options.body === undefined || typeof options.body === 'string'
      ? options.body
      : JSON.stringify(options.body);
  const res = await request(url, {
    method: (options.method ?? (body === undefined ? 'GET' : 'POST')) as 'GET' | 'POST',
    body,
    headers: {
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...options.headers,
    },
  });
  const text = await res.body.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (e.g. /metrics)
  }
  return { status: res.statusCode, headers: res.headers, body: parsed, text };
}

/** Waits until `GET /v2/health/ready` answers 200 and production is `version` (when given). */
export async function waitServing(url: string, version?: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    async () => {
      const r = await call(`${url}/model-info`);
      return r.status === 200 && (version === undefined || r.body.version === version);
    },
    { timeoutMs, intervalMs: 20, what: `${url} to serve ${version ?? 'a model'}` },
  );
}
