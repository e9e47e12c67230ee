// `flywheel up --retrain-on-drift`: reads the gateway's GET /drift every few seconds and starts a
// training run when the production version has a drifted feature (PSI at or over the gateway's
// --drift-alert), at most once per --drift-cooldown and never beside a run already going. The run is
// recorded with the trigger `drift`. On Kubernetes the same signal is an alert rule on the gauge
// (docs/kubernetes.md), not a gateway allowed to create Jobs.
import type { UpConfig } from '../config.js';
import type { Logger } from '../log.js';
import { Registry } from '../registry/index.js';
import { httpGet } from './http.js';
import type { TrainingSchedule } from './schedule.js';

/** How often the gateway's /drift is read. */
export const DRIFT_POLL_MS = 2000;

export interface DriftFacts {
  /** Drifted features of the production version; empty when none (or no verdict yet). */
  readonly drifted: readonly string[];
  /** When the last drift-triggered run started (ms since the epoch), null if never. */
  readonly lastTriggeredAt: number | null;
  readonly now: number;
  readonly cooldownMs: number;
  /** A training run is going (scheduled or not). */
  readonly running: boolean;
}

/** Whether to start a run now, and why not when not. Pure, so it is tested from a table. */
export function retrainDecision(f: DriftFacts): { readonly start: boolean; readonly why: string } {
  if (f.drifted.length === 0) return { start: false, why: 'no drift' };
  if (f.running) return { start: false, why: 'a training run is already going' };
  if (f.lastTriggeredAt !== null && f.now - f.lastTriggeredAt < f.cooldownMs) {
    return { start: false, why: 'cooling down after the last drift-triggered run' };
  }
  return { start: true, why: `production drifted: ${f.drifted.join(', ')}` };
}

export interface DriftRetrainerOptions {
  /** The gateway (null while it is not running). */
  readonly gatewayUrl: () => string | null;
  /** The production version now. */
  readonly production: () => Promise<string | null>;
  readonly running: () => boolean;
  /** Starts a run with the trigger `drift`. */
  readonly startRun: () => void;
  readonly cooldownMs: number;
  readonly pollMs: number;
  readonly log: Logger;
}

export class DriftRetrainer {
  readonly #o: DriftRetrainerOptions;
  #timer: NodeJS.Timeout | null = null;
  #lastTriggeredAt: number | null = null;
  #lastProblem = '';

  constructor(options: DriftRetrainerOptions) {
    this.#o = options;
  }

  start(): void {
    if (this.#timer !== null) return;
    const tick = () => {
      this.#timer = setTimeout(
        () => void this.check().finally(() => this.#timer !== null && tick()),
        this.#o.pollMs,
      );
      this.#timer.unref();
    };
    tick();
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** One look at the gateway's figures; starts a run when the decision says so. */
  async check(): Promise<void> {
    const url = this.#o.gatewayUrl();
    const production = await this.#o.production().catch(() => null);
    if (url === null || production === null) return;
    let drifted: readonly string[];
    try {
      const reply = await httpGet(`${url}/drift`, 2000);
      if (reply.status !== 200) throw new Error(`GET /drift answered ${reply.status}`);
      drifted = driftedOf(JSON.parse(reply.body), production);
      this.#lastProblem = '';
    } catch (err) {
      // Said once per distinct problem: the gateway may be restarting or run with drift off.
      const text = (err as Error).message;
      if (text !== this.#lastProblem)
        this.#o.log.warn({ err: text }, 'drift figures unreadable; no drift retraining meanwhile');
      this.#lastProblem = text;
      return;
    }
    const now = Date.now();
    const decision = retrainDecision({
      drifted,
      lastTriggeredAt: this.#lastTriggeredAt,
      now,
      cooldownMs: this.#o.cooldownMs,
      running: this.#o.running(),
    });
    if (!decision.start) return;
    this.#lastTriggeredAt = now;
    this.#o.log.info(
      { production, drifted, cooldownMs: this.#o.cooldownMs },
      'production drifted: starting a training run',
    );
    this.#o.startRun();
  }
}

/** The stack's retrainer when `--retrain-on-drift` is set, else null. */
export function driftRetrainer(
  config: UpConfig,
  registry: string,
  schedule: TrainingSchedule,
  log: Logger,
  gatewayUrl: () => string | null,
): DriftRetrainer | null {
  if (!config.retrainOnDrift) return null;
  return new DriftRetrainer({
    gatewayUrl,
    production: async () => (await new Registry(registry).readAliases()).production,
    running: () => schedule.runningSince !== null,
    startRun: () => void schedule.runNow('drift'),
    cooldownMs: config.driftCooldown,
    pollMs: DRIFT_POLL_MS,
    log: log.child({ component: 'drift-retrain' }),
  });
}

/**
 * The drifted features of `version` in a GET /drift answer (docs/drift.md). Read over HTTP like any
 * client would, so checked rather than typed from the gateway's code: the local stack does not import
 * the gateway. A version the answer does not list has drifted nothing (yet).
 */
export function driftedOf(doc: unknown, version: string): string[] {
  const versions = (doc as { versions?: unknown } | null)?.versions;
  if (typeof versions !== 'object' || versions === null) throw new Error('GET /drift: no versions');
  const entry: unknown = Object.hasOwn(versions, version)
    ? (versions as Record<string, unknown>)[version]
    : undefined;
  if (entry === undefined) return [];
  const drifted = (entry as { drifted?: unknown } | null)?.drifted;
  if (!Array.isArray(drifted) || !drifted.every((d): d is string => typeof d === 'string'))
    throw new Error(`GET /drift: ${version} has no list of drifted features`);
  return drifted;
}
