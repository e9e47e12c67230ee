// Runs the real `flywheel` executable (dist/cli.js, built by `npm test` before vitest) for end-to-end
// tests: one-shot commands with `runCli`, and a whole local stack (`flywheel up`) with `startStack`,
// in a fresh temp registry on free ports of 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, freePortRange } from './ports.js';
import { waitFor } from './wait.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
}

/** The environment without the caller's FLYWHEEL_* settings, so a developer's shell cannot change a test. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FLYWHEEL_')) env[k] = v;
  return { ...env, ...extra };
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `flywheel <args>` to completion (killed after timeoutMs). */
export function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  assertBuilt();
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], {
      env: cleanEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    proc.once('error', reject);
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface StackOptions {
  readonly replicas?: number;
  /** Cron (5 or 6 fields). Default: once a year, i.e. no scheduled run during a test. */
  readonly schedule?: string;
  readonly trainArgs?: string;
  /** Use this registry folder (kept afterwards) instead of a fresh temp one (removed by cleanup()). */
  readonly registry?: string;
  readonly logLevel?: string;
  readonly env?: Record<string, string>;
  readonly extraArgs?: readonly string[];
  /** Gateway port (default: a free one). */
  readonly port?: number;
  /** First backend port (default: the first of replicas × 2 free consecutive ports, room for a rollout). */
  readonly backendPort?: number;
  /** How long startup may take (first training, replicas, gateway). */
  readonly startTimeoutMs?: number;
}

/** Parsed `<registry>/local/state.json` (see src/local/state.ts for the full shape). */
export interface StackStateView {
  readonly supervisor: { readonly pid: number; readonly state: string; readonly url: string };
  readonly components: readonly {
    readonly name: string;
    readonly role: string;
    readonly replica: number | null;
    readonly pid: number | null;
    readonly port: number;
    readonly url: string;
    readonly state: string;
    readonly restarts: number;
  }[];
  readonly schedule: {
    readonly cron: string;
    readonly last_runs: readonly {
      readonly outcome: string;
      readonly trigger: string;
      readonly version: string | null;
      readonly started_at: string;
    }[];
  };
  readonly rollout: { readonly generation: number; readonly status: string; readonly message: string | null };
}

export interface Stack {
  /** The gateway (the stack's entry point), e.g. http://127.0.0.1:23456. */
  readonly url: string;
  readonly registry: string;
  readonly port: number;
  readonly backendPort: number;
  readonly proc: ChildProcess;
  /** The supervisor's stderr so far (its logs and its children's, one JSON line each). */
  logs(): string;
  state(): Promise<StackStateView>;
  /** The current running backend components, by replica. */
  backends(): Promise<StackStateView['components']>;
  /** SIGTERM the supervisor and wait for it; returns its exit. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stop() if running, then remove the temp registry (when the helper made it). */
  cleanup(): Promise<void>;
}

/** Starts `flywheel up` and resolves once its state file says `running`; throws with its logs if it exits. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  assertBuilt();
  const replicas = options.replicas ?? 2;
  const ownRegistry = options.registry === undefined;
  const registry = options.registry ?? (await mkdtemp(path.join(os.tmpdir(), 'flywheel-stack-')));
  const port = options.port ?? (await freePort());
  const backendPort = options.backendPort ?? (await freePortRange(replicas * 2));
  const args = [
    CLI,
    'up',
    '--registry',
    registry,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--backend-port',
    String(backendPort),
    '--replicas',
    String(replicas),
    '--schedule',
    options.schedule ?? '0 0 1 1 *',
    '--log-level',
    options.logLevel ?? 'info',
    ...(options.trainArgs !== undefined ? ['--train-args', options.trainArgs] : []),
    ...(options.extraArgs ?? []),
  ];
  const proc = spawn(process.execPath, args, {
    env: cleanEnv(options.env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    }),
  );
  let partial = '';
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) {
      lines.push(l);
      // Keep memory bounded in long runs: drop the oldest half.
      if (lines.length > 20_000) lines.splice(0, 10_000);
      if (process.env.FLYWHEEL_TEST_ECHO === '1') process.stderr.write(`${l}\n`);
    }
  });
  const logs = () => lines.join('\n');
  const statePath = path.join(registry, 'local', 'state.json');
  const state = async (): Promise<StackStateView> =>
    JSON.parse(await readFile(statePath, 'utf8')) as StackStateView;

  const stop = async (timeoutMs = 40_000) => {
    if (exit !== null) return exit;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    const result = await exited;
    clearTimeout(timer);
    return result;
  };
  const stack: Stack = {
    url: `http://127.0.0.1:${port}`,
    registry,
    port,
    backendPort,
    proc,
    logs,
    state,
    backends: async () =>
      (await state()).components.filter((c) => c.role === 'backend' && c.state === 'running'),
    stop,
    cleanup: async () => {
      await stop();
      if (ownRegistry) await rm(registry, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(
      async () => {
        if (exit !== null) throw new Error(`flywheel up exited (${JSON.stringify(exit)})`);
        // This supervisor's own state: a reused registry may hold a dead one's `running`.
        const { supervisor } = await state();
        return supervisor.pid === proc.pid && supervisor.state === 'running';
      },
      { timeoutMs: options.startTimeoutMs ?? 60_000, intervalMs: 100, what: 'flywheel up to be running' },
    );
  } catch (err) {
    await stack.cleanup();
    throw new Error(`${(err as Error).message}\n--- flywheel up logs ---\n${logs().slice(-6000)}`, {
      cause: err,
    });
  }
  return stack;
}
