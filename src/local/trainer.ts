// One `flywheel train --json` run as a child process: its stderr (logs) is forwarded like any
// child's, its stdout is the run summary, from which the supervisor learns the version produced.
import { spawn } from 'node:child_process';
import type { Launch } from './child.js';
import { forEachLine, type LogSink } from './logs.js';
import type { TrainResult } from './schedule.js';

export interface TrainerRunOptions {
  readonly launch: Launch;
  readonly logs: LogSink;
  readonly signal: AbortSignal;
  /** Time a cancelled run gets to exit after SIGTERM before SIGKILL. */
  readonly killAfterMs?: number;
}

export function runTrainer(opts: TrainerRunOptions): Promise<TrainResult> {
  return new Promise((resolve) => {
    const proc = spawn(opts.launch.file, opts.launch.args, {
      env: opts.launch.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const stdout: string[] = [];
    let lastProblem: string | null = null;
    forEachLine(proc.stdout, (line) => {
      if (line.trim() !== '') stdout.push(line);
    });
    forEachLine(proc.stderr, (line) => {
      opts.logs('trainer', line);
      const problem = problemOf(line);
      if (problem !== null) lastProblem = problem;
    });
    let killTimer: NodeJS.Timeout | null = null;
    const onAbort = () => {
      proc.kill('SIGTERM');
      killTimer = setTimeout(() => proc.kill('SIGKILL'), opts.killAfterMs ?? 5000);
    };
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    const finish = (code: number | null, spawnError: Error | null) => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener('abort', onAbort);
      if (killTimer !== null) clearTimeout(killTimer);
      if (opts.signal.aborted) {
        resolve({
          outcome: 'cancelled',
          version: null,
          promoted: null,
          exitCode: code,
          message: 'stopped with the stack',
        });
        return;
      }
      if (spawnError !== null || code !== 0) {
        resolve({
          outcome: 'failed',
          version: null,
          promoted: null,
          exitCode: code,
          message: spawnError?.message ?? lastProblem ?? `trainer exited with code ${code}`,
        });
        return;
      }
      const summary = parseSummary(stdout);
      resolve({
        outcome: 'succeeded',
        version: summary.version,
        promoted: summary.promoted,
        exitCode: 0,
        message: null,
      });
    };
    // 'close' rather than 'exit': the summary on stdout must be read to its end first.
    proc.once('close', (code) => finish(code, null));
    proc.once('error', (err) => finish(null, err));
  });
}

/** A line worth showing as the reason of a failed run: the CLI's error line, or an error-level log. */
function problemOf(line: string): string | null {
  const trimmed = line.trim();
  if (trimmed.startsWith('flywheel ')) return trimmed;
  if (trimmed.startsWith('{')) {
    try {
      const rec = JSON.parse(trimmed) as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
      if (typeof rec.level === 'number' && rec.level >= 50 && typeof rec.msg === 'string') {
        return typeof rec.err?.message === 'string' ? `${rec.msg}: ${rec.err.message}` : rec.msg;
      }
    } catch {
      return null;
    }
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The version and promotion out of the trainer's `--json` summary (its last JSON line on stdout). */
export function parseSummary(lines: readonly string[]): { version: string | null; promoted: boolean | null } {
  for (let i = lines.length - 1; i >= 0; i--) {
    let value: unknown;
    try {
      value = JSON.parse(lines[i]);
    } catch {
      continue;
    }
    if (!isObject(value)) continue;
    return { version: versionOf(value), promoted: promotedOf(value) };
  }
  return { version: null, promoted: null };
}

function versionOf(summary: Record<string, unknown>): string | null {
  if (typeof summary.version === 'string') return summary.version;
  for (const key of ['manifest', 'published', 'model']) {
    const inner = summary[key];
    if (isObject(inner) && typeof inner.version === 'string') return inner.version;
  }
  return null;
}

function promotedOf(summary: Record<string, unknown>): boolean | null {
  if (typeof summary.promoted === 'boolean') return summary.promoted;
  const promotion = summary.promotion;
  if (isObject(promotion) && typeof promotion.promoted === 'boolean') return promotion.promoted;
  return null;
}
