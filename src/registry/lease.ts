// A lease in the registry folder that elects one actor among several processes (the gateway that runs
// the automatic canary analysis), after Kubernetes client-go's tools/leaderelection: a holder identity,
// a lease duration, a renew deadline shorter than it and a retry period. The record is a small JSON
// file changed by compare-and-set under the registry's one lock (lock.ts).
//
// Why it is safe without synchronised clocks: a contender never compares the record's timestamps with
// its own clock. It notes, on its own monotonic clock, when it last saw the record change, and takes
// the lease only once the record has stayed unchanged for a whole lease duration. The holder counts
// from when it *started* its last successful renewal and stops acting once the renew deadline has
// passed since then. The renew deadline is shorter than the lease duration and a contender's count
// starts only after that write, so a holder that cannot renew (a slow or lost registry, a paused
// process) stops acting before anyone else may start. Only clocks running at about the same rate are
// assumed. Every action also re-checks the record under the registry lock (`guard`), so a holder that
// resumes after a pause finds the record names someone else and refuses.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { errnoCode } from './fs.js';
import type { Registry } from './registry.js';
import { Repeater } from '../repeat.js';

export const LEASES_DIR = 'leases';

export interface LeaseRecord {
  /** Who holds it; '' when released. */
  readonly holder: string;
  /** Changes on every acquisition: a holder that lost the lease and took it again is a new term. */
  readonly term: string;
  readonly acquired_at: string;
  readonly renewed_at: string;
  /** Increases on every renewal, so a renewal is a change even if two wall clocks read the same. */
  readonly renewals: number;
  readonly duration_ms: number;
  /** How many times the lease changed hands. */
  readonly transitions: number;
}

export interface LeaseTimings {
  /** A record unchanged for this long may be taken over. */
  readonly durationMs: number;
  /** The holder stops acting when its last successful renewal started longer ago than this. */
  readonly renewDeadlineMs: number;
  /** How often the holder renews and contenders try. */
  readonly retryPeriodMs: number;
}

/** Problems of a set of timings, empty when they are consistent. */
export function leaseTimingProblems(t: LeaseTimings): string[] {
  const problems: string[] = [];
  if (!(t.renewDeadlineMs < t.durationMs))
    problems.push('the renew deadline must be shorter than the lease duration');
  if (!(t.retryPeriodMs < t.renewDeadlineMs))
    problems.push('the retry period must be shorter than the renew deadline');
  if (!(t.retryPeriodMs > 0)) problems.push('the retry period must be longer than 0');
  return problems;
}

function parseRecord(text: string): LeaseRecord | null {
  try {
    const v = JSON.parse(text) as Partial<LeaseRecord> | null;
    if (
      typeof v === 'object' &&
      v !== null &&
      typeof v.holder === 'string' &&
      typeof v.term === 'string' &&
      typeof v.renewals === 'number' &&
      typeof v.duration_ms === 'number' &&
      Number.isFinite(v.duration_ms) &&
      v.duration_ms > 0 &&
      typeof v.transitions === 'number'
    ) {
      return v as LeaseRecord;
    }
  } catch {
    // A record that does not parse is treated as none: it is replaced on the next acquisition.
  }
  return null;
}

export interface LeaseOptions extends LeaseTimings {
  readonly registry: Registry;
  /** The lease's name: `leases/<name>.json`. */
  readonly name: string;
  readonly identity: string;
  readonly log: Logger;
}

export class Lease {
  readonly #registry: Registry;
  readonly #file: string;
  readonly #relative: string;
  readonly #identity: string;
  readonly #timings: LeaseTimings;
  readonly #log: Logger;
  /** The record as last seen, and when (monotonic ms) it was seen to change. */
  #observed: { key: string; at: number; record: LeaseRecord | null } = { key: '', at: 0, record: null };
  /** The term this process holds, when it holds one. */
  #term: string | null = null;
  /** When the last successful renewal (or acquisition) started, monotonic ms. */
  #renewStartedAt = -Infinity;
  readonly #repeater: Repeater;
  #lastError = '';

  constructor(options: LeaseOptions) {
    const problems = leaseTimingProblems(options);
    if (problems.length > 0)
      throw new FlywheelError('FLY_ERR_CONFIG', `lease timings: ${problems.join('; ')}`);
    this.#registry = options.registry;
    this.#relative = path.join(LEASES_DIR, `${options.name}.json`);
    this.#file = path.join(options.registry.root, this.#relative);
    this.#identity = options.identity;
    this.#timings = {
      durationMs: options.durationMs,
      renewDeadlineMs: options.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs,
    };
    this.#repeater = new Repeater(() => this.tryAcquireOrRenew(), options.retryPeriodMs);
    this.#log = options.log;
  }

  get identity(): string {
    return this.#identity;
  }

  /** True while this process may act: it holds the lease and renewed it within the renew deadline. */
  isLeading(): boolean {
    return this.#term !== null && performance.now() - this.#renewStartedAt < this.#timings.renewDeadlineMs;
  }

  /** Who holds the lease as last seen ('' or null: nobody). */
  get holder(): string | null {
    return this.#observed.record?.holder || null;
  }

  /** Tries at once, then every retry period. */
  start(): void {
    this.#repeater.start();
  }

  /** Stops renewing and, when holding, hands the lease back so another process need not wait it out. */
  async stop(): Promise<void> {
    await this.#repeater.stop();
    if (this.#term === null) return;
    const term = this.#term;
    this.#term = null;
    try {
      await this.#registry.withLock(async (assertHeld) => {
        const current = await this.#read();
        if (current?.holder !== this.#identity || current.term !== term) return;
        await assertHeld();
        await this.#write({ ...current, holder: '', renewals: current.renewals + 1 });
      });
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'could not release the lease; it expires on its own');
    }
  }

  /** One round of the election: renew when holding, take over an expired or free lease. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const started = performance.now();
    let ok: boolean;
    try {
      ok = await this.#registry.withLock(async (assertHeld) => {
        const current = await this.#read();
        const now = performance.now();
        this.#observe(current, now);
        const mine = current !== null && current.holder === this.#identity && current.term === this.#term;
        if (!mine && current !== null && current.holder !== '') {
          const duration = current.duration_ms;
          if (now - this.#observed.at < duration) return false;
        }
        const at = new Date().toISOString();
        const next: LeaseRecord = mine
          ? {
              ...current,
              renewed_at: at,
              renewals: current.renewals + 1,
              duration_ms: this.#timings.durationMs,
            }
          : {
              holder: this.#identity,
              term: randomBytes(9).toString('base64url'),
              acquired_at: at,
              renewed_at: at,
              renewals: (current?.renewals ?? 0) + 1,
              duration_ms: this.#timings.durationMs,
              transitions: (current?.transitions ?? 0) + (current?.holder === this.#identity ? 0 : 1),
            };
        await assertHeld();
        await this.#write(next);
        this.#observe(next, performance.now());
        if (!mine)
          this.#log.info({ holder: this.#identity, previous: current?.holder || null }, 'lease acquired');
        this.#term = next.term;
        return true;
      });
      this.#lastError = '';
    } catch (err) {
      const text = (err as Error).message;
      if (text !== this.#lastError) this.#log.warn({ err: text }, 'lease renewal failed');
      this.#lastError = text;
      // Still holding until the renew deadline passes (isLeading); another try comes after the retry period.
      return false;
    }
    if (ok) this.#renewStartedAt = started;
    else if (this.#term !== null) {
      this.#log.warn({ holder: this.holder }, 'lease lost to another process; no longer acting');
      this.#term = null;
    }
    return ok;
  }

  /**
   * Throws FLY_ERR_LEASE_LOST unless this process leads and the record in the registry still names
   * its term. Call inside the registry lock right before an action commits (fencing).
   */
  async guard(): Promise<void> {
    if (!this.isLeading()) {
      throw new FlywheelError('FLY_ERR_LEASE_LOST', `${this.#identity} did not renew the lease in time`);
    }
    const current = await this.#read();
    if (current?.holder !== this.#identity || current.term !== this.#term) {
      throw new FlywheelError(
        'FLY_ERR_LEASE_LOST',
        `the lease is held by ${current?.holder || 'nobody'}, not ${this.#identity}`,
      );
    }
  }

  #observe(record: LeaseRecord | null, now: number): void {
    const key = record === null ? '' : `${record.holder}\u0000${record.term}\u0000${record.renewals}`;
    if (key !== this.#observed.key || this.#observed.at === 0) this.#observed = { key, at: now, record };
  }

  async #read(): Promise<LeaseRecord | null> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    }
    return parseRecord(text);
  }

  async #write(record: LeaseRecord): Promise<void> {
    await this.#registry.writeFile(this.#relative, `${JSON.stringify(record, null, 2)}\n`);
  }
}
