// Writing the supervisor's state file (`<registry>/local/state.json`): what `flywheel status` prints,
// what `flywheel rollout restart` watches and what the dashboard shows. Written atomically on every
// change by the one running supervisor; its shape and reader are in src/registry/stack-state.ts.
import { writeFileAtomic } from '../registry/fs.js';
import type { StackState } from '../registry/stack-state.js';

// The file's shape and its reader live with the registry, so that readers outside src/local (the
// gateway's dashboard) need not import the local stack; re-exported here for the stack's own modules.
export {
  pidAlive,
  readState,
  type ComponentRole,
  type ComponentState,
  type ComponentStatus,
  type RolloutState,
  type RolloutStatus,
  type RunOutcome,
  type RunRecord,
  type StackState,
  type SupervisorState,
} from '../registry/stack-state.js';

export async function writeState(file: string, state: StackState): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
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
