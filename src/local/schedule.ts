// The trainer on a cron schedule, the local twin of the seed's CronJob with
// `concurrencyPolicy: Forbid`: a tick that comes while a run is still going is skipped (and logged
// and recorded), never started beside it. Keeps the last runs for `flywheel status`.
import { Cron } from 'croner';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RunRecord } from './state.js';

export interface TrainResult {
  readonly outcome: 'succeeded' | 'failed' | 'cancelled';
  readonly version: string | null;
  readonly promoted: boolean | null;
  readonly exitCode: number | null;
  readonly message: string | null;
}

/** Runs the trainer once; aborting the signal must stop the run (it is then `cancelled`). */
export type TrainRunner = (signal: AbortSignal) => Promise<TrainResult>;

// 5 fields as in a CronJob, or 6 with seconds first (tests and demos want runs every few seconds).
const MODE = '5-or-6-parts';

/** Parses a schedule or throws FLY_ERR_SCHEDULE with croner's reason and the accepted forms. */
export function validateSchedule(pattern: string): void {
  try {
    const probe = new Cron(pattern, { paused: true, mode: MODE });
    const next = probe.nextRun();
    probe.stop();
    if (next === null) throw new Error('it never fires');
  } catch (err) {
    const reason = (err as Error).message.replace(/^CronPattern:\s*/, '').replace(/\.+$/, '');
    throw new FlywheelError(
      'FLY_ERR_SCHEDULE',
      `invalid --schedule ${JSON.stringify(pattern)}: ${reason}. Use 5 cron fields (minute hour day month weekday, e.g. '*/2 * * * *') or 6 with seconds first ('*/10 * * * * *')`,
      { schedule: pattern, reason },
    );
  }
}

export interface TrainingScheduleOptions {
  readonly cron: string;
  readonly run: TrainRunner;
  readonly log: Logger;
  /** Called whenever runs, the running run or the next time change. */
  readonly onChange: () => void;
  /** How many past runs are kept. */
  readonly keep?: number;
}

export class TrainingSchedule {
  readonly cron: string;
  readonly #opts: TrainingScheduleOptions;
  #job: Cron | null = null;
  #current: Promise<RunRecord> | null = null;
  #currentStartedAt: string | null = null;
  #abort: AbortController | null = null;
  #runs: RunRecord[] = [];

  constructor(opts: TrainingScheduleOptions) {
    validateSchedule(opts.cron);
    this.cron = opts.cron;
    this.#opts = opts;
  }

  /** Newest first. */
  get runs(): readonly RunRecord[] {
    return this.#runs;
  }

  get runningSince(): string | null {
    return this.#currentStartedAt;
  }

  nextRun(): Date | null {
    return this.#job?.nextRun() ?? null;
  }

  start(): void {
    if (this.#job !== null) return;
    this.#job = new Cron(this.cron, { mode: MODE }, () => this.#tick());
    this.#opts.onChange();
  }

  /** Runs now (the first training at startup), or returns the running run's promise. */
  runNow(trigger: RunRecord['trigger']): Promise<RunRecord> {
    return this.#current ?? this.#begin(trigger);
  }

  /** Stops the schedule and cancels a run in progress (the trainer publishes atomically, so a cut run leaves nothing behind). */
  async stop(): Promise<void> {
    this.#job?.stop();
    this.#job = null;
    this.#abort?.abort();
    if (this.#current !== null) await this.#current;
  }

  #tick(): void {
    if (this.#current !== null) {
      const record: RunRecord = {
        started_at: new Date().toISOString(),
        duration_ms: 0,
        outcome: 'skipped',
        trigger: 'schedule',
        version: null,
        promoted: null,
        exit_code: null,
        message: `previous run (started ${this.#currentStartedAt}) is still going`,
      };
      this.#opts.log.warn(
        { schedule: this.cron, runningSince: this.#currentStartedAt },
        'training run skipped: the previous run is still going (concurrencyPolicy Forbid)',
      );
      this.#record(record);
      return;
    }
    void this.#begin('schedule');
  }

  #begin(trigger: RunRecord['trigger']): Promise<RunRecord> {
    const startedMs = Date.now();
    const startedAt = new Date(startedMs).toISOString();
    const abort = new AbortController();
    this.#abort = abort;
    this.#currentStartedAt = startedAt;
    this.#opts.log.info({ trigger, schedule: this.cron }, 'training run started');
    const run = (async (): Promise<RunRecord> => {
      let result: TrainResult;
      try {
        result = await this.#opts.run(abort.signal);
      } catch (err) {
        result = {
          outcome: 'failed',
          version: null,
          promoted: null,
          exitCode: null,
          message: (err as Error).message,
        };
      }
      const record: RunRecord = {
        started_at: startedAt,
        duration_ms: Date.now() - startedMs,
        outcome: result.outcome,
        trigger,
        version: result.version,
        promoted: result.promoted,
        exit_code: result.exitCode,
        message: result.message,
      };
      const fields = {
        trigger,
        outcome: record.outcome,
        durationMs: record.duration_ms,
        version: record.version,
        promoted: record.promoted,
      };
      if (record.outcome === 'failed')
        this.#opts.log.error({ ...fields, message: record.message }, 'training run failed');
      else this.#opts.log.info(fields, 'training run finished');
      this.#current = null;
      this.#currentStartedAt = null;
      this.#abort = null;
      this.#record(record);
      return record;
    })();
    this.#current = run;
    this.#opts.onChange();
    return run;
  }

  #record(record: RunRecord): void {
    this.#runs = [record, ...this.#runs].slice(0, this.#opts.keep ?? 10);
    this.#opts.onChange();
  }
}
