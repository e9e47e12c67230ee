// The supervisor's state file (`<registry>/local/state.json`): what `flywheel status` prints and
// what `flywheel rollout restart` watches. Written atomically on every change by the one running
// supervisor; read by anyone, so reading validates the shape and never trusts it blindly.
import fs from 'node:fs/promises';
import { writeFileAtomic } from '../registry/fs.js';

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
  /** When the current process started (ISO time), null while none runs. */
  readonly started_at: string | null;
  readonly last_exit: {
    readonly code: number | null;
    readonly signal: string | null;
    readonly at: string;
  } | null;
  /** Why it was last restarted, e.g. `liveness check failed 3 times (...)`; null: never restarted. */
  readonly restart_reason?: string | null;
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

export async function writeState(file: string, state: StackState): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
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

/**
 * Serialises writes of a changing state: at most one write in flight, and the last snapshot asked
 * for is always the one left on disk. Callers just call `update()` whenever something changes.
 */
export class StateWriter {
  readonly #file: string;
  readonly #snapshot: () => StackState;
  readonly #onError: (err: unknown) => void;
  #writing: Promise<void> | null = null;
  #dirty = false;

  constructor(file: string, snapshot: () => StackState, onError: (err: unknown) => void) {
    this.#file = file;
    this.#snapshot = snapshot;
    this.#onError = onError;
  }

  update(): void {
    this.#dirty = true;
    if (this.#writing === null) this.#writing = this.#drain();
  }

  /** Resolves once everything asked for so far is on disk. */
  async flush(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#dirty) {
        this.#dirty = false;
        try {
          await writeState(this.#file, this.#snapshot());
        } catch (err) {
          this.#onError(err);
        }
      }
    } finally {
      this.#writing = null;
    }
  }
}
