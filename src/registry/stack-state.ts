// The status `flywheel up` publishes in the registry folder (`<registry>/local/state.json`): its
// processes, trainer schedule, last runs and rollout. Written atomically on every change by the one
// running supervisor (src/local/state.ts); read by anyone who shares the registry — `flywheel status`,
// and the gateway's dashboard, which must not depend on the local stack's code — so reading validates
// the shape and never trusts it blindly.
import fs from 'node:fs/promises';
import path from 'node:path';

/** Where the local stack's status lives, relative to the registry folder. */
export const STACK_STATE_FILE = path.join('local', 'state.json');

export function stackStatePath(registry: string): string {
  return path.join(registry, STACK_STATE_FILE);
}

export type ComponentRole = 'gateway' | 'backend';

/**
 * starting: spawned, not ready yet · running: ready · backoff: crashed, waiting to be restarted ·
 * terminating: asked to stop, draining · stopped: exited on purpose.
 */
export type ComponentState = 'starting' | 'running' | 'backoff' | 'terminating' | 'stopped';

export interface ComponentStatus {
  /** `gateway`, `backend-0`, `backend-1`, ... (a replica keeps its name across restarts and rollouts) */
  readonly name: string;
  readonly role: ComponentRole;
  readonly replica: number | null;
  readonly pid: number | null;
  readonly port: number;
  readonly url: string;
  readonly state: ComponentState;
  readonly restarts: number;
  /** Why it was last restarted, e.g. `liveness check failed 3 times (...)`; null: never restarted. */
  readonly restart_reason?: string | null;
  /** When the current process started (ISO time), null while none runs. */
  readonly started_at: string | null;
  readonly last_exit: {
    readonly code: number | null;
    readonly signal: string | null;
    readonly at: string;
  } | null;
}

export type RunOutcome = 'succeeded' | 'failed' | 'skipped' | 'cancelled';

export interface RunRecord {
  readonly started_at: string;
  readonly duration_ms: number;
  readonly outcome: RunOutcome;
  /** Why: the first training, a schedule tick, production drifting (`--retrain-on-drift`). */
  readonly trigger: 'startup' | 'schedule' | 'drift';
  /** The version the run published (from the trainer's `--json` summary). */
  readonly version: string | null;
  /** Whether the run moved `production` to its version. */
  readonly promoted: boolean | null;
  readonly exit_code: number | null;
  /** One line for a person: the trainer's error, or why a run was skipped. */
  readonly message: string | null;
}

export type RolloutStatus = 'idle' | 'progressing' | 'complete' | 'failed';

export interface RolloutState {
  /** Increases by one when a rollout starts; `flywheel rollout restart` waits for a newer one. */
  readonly generation: number;
  readonly status: RolloutStatus;
  readonly started_at: string | null;
  readonly finished_at: string | null;
  /** Replicas replaced so far in this rollout. */
  readonly replaced: number;
  readonly total: number;
  readonly message: string | null;
}

export type SupervisorState = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

export interface StackState {
  readonly format: 1;
  readonly supervisor: {
    readonly pid: number;
    readonly state: SupervisorState;
    readonly started_at: string;
    readonly host: string;
    /** The stack's entry point (the gateway). */
    readonly url: string;
  };
  readonly components: readonly ComponentStatus[];
  readonly schedule: {
    readonly cron: string;
    readonly next_run: string | null;
    readonly running_since: string | null;
    readonly last_runs: readonly RunRecord[];
  };
  readonly rollout: RolloutState;
  readonly updated_at: string;
}

/**
 * Reads the state file; null when there is none. A file that does not parse or has the wrong shape
 * is reported as an Error naming the file (it is only ever written whole, so that means someone
 * edited it or it is from another program).
 */
export async function readState(file: string): Promise<StackState | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON`);
  }
  if (!isStackState(value)) throw new Error(`${file} is not a flywheel up state file (format 1)`);
  return value;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Checks the fields that readers rely on; the rest is display data.
function isStackState(v: unknown): v is StackState {
  if (!isObject(v) || v.format !== 1) return false;
  const sup = v.supervisor;
  if (!isObject(sup) || typeof sup.pid !== 'number' || typeof sup.state !== 'string') return false;
  if (typeof sup.url !== 'string' || typeof sup.started_at !== 'string') return false;
  if (!Array.isArray(v.components)) return false;
  for (const c of v.components) {
    if (!isObject(c) || typeof c.name !== 'string' || typeof c.port !== 'number') return false;
    if (c.pid !== null && typeof c.pid !== 'number') return false;
    if (typeof c.state !== 'string' || typeof c.restarts !== 'number') return false;
  }
  const sched = v.schedule;
  if (!isObject(sched) || typeof sched.cron !== 'string' || !Array.isArray(sched.last_runs)) return false;
  const ro = v.rollout;
  if (!isObject(ro) || typeof ro.generation !== 'number' || typeof ro.status !== 'string') return false;
  return true;
}

/** Whether a process with that pid exists (signal 0 checks without sending anything). */
export function pidAlive(pid: number | null | undefined): boolean {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
