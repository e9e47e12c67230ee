// Shared by the registry and trainer tests: a fresh registry folder per test, a manifest for publishing
// bytes (the registry does not interpret artifacts, so its own tests publish small byte strings; the
// process tests publish real models), and running the real `flywheel` executable.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PublishInput } from '../../src/registry/index.js';

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `flywheel-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function publishInput(n: number, overrides: Partial<PublishInput['manifest']> = {}): PublishInput {
  return {
    artifact: new TextEncoder().encode(JSON.stringify({ model: n, pad: 'x'.repeat(64) })),
    manifest: {
      trainer_host: 'test-host',
      package_version: '0.0.0-test',
      algorithm: 'random-forest',
      data: { source: 'synthetic', rows: 100 + n, sha256: 'a'.repeat(64) },
      parameters: { trees: n },
      metrics: { r2: 0.5 + n / 100, mae: 1, rmse: 1.5 },
      fit_seconds: 0.01,
      features: [{ name: 'x', type: 'number', min: 0, max: 1 }],
      target: 'y',
      ...overrides,
    },
  };
}

/** The built CLI: `npm test` builds before vitest; for a local run, `npm run build` first. */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment without FLYWHEEL_* settings of whoever runs the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FLYWHEEL_')) env[k] = v;
  return { ...env, ...extra };
}

/** Starts `node dist/cli.js ...args`, collecting its output. */
export function startFlywheel(
  args: readonly string[],
  options: { env?: Record<string, string> } = {},
): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function runFlywheel(args: readonly string[], options: { env?: Record<string, string> } = {}) {
  return startFlywheel(args, options).done;
}

/** Every file under `dir` with its bytes' sha256 (or `dir` for folders): to prove nothing changed. */
export async function treeSnapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isDirectory()) {
        out[rel] = 'dir';
        await walk(p);
      } else {
        out[rel] = createHash('sha256')
          .update(await readFile(p))
          .digest('hex');
      }
    }
  };
  await walk(dir);
  return out;
}
