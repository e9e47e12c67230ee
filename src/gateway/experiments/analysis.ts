// The automated canary analysis: a pure verdict from the per-version figures and the thresholds, and
// the loop that applies it (promote or roll back) and records its figures in the alias history. With
// several gateways the loop reads the merge of all live gateways' figures and acts only while this
// gateway holds the analysis lease (src/registry/lease.ts), so one decision is made per candidate.
import type { GatewayConfig } from '../../config.js';
import type { Logger } from '../../log.js';
import { compareVersions, type Comparison, type StatsView } from './stats.js';

export interface Thresholds {
  readonly minRequests: number;
  readonly minDurationMs: number;
  /** 0 decides on errors and latency alone. */
  readonly minFeedback: number;
  readonly maxErrorRateIncrease: number;
  readonly maxP99Ratio: number;
  readonly maxMaeRatio: number;
  readonly alpha: number;
}

export function thresholdsFromConfig(config: GatewayConfig): Thresholds {
  return {
    minRequests: config.analysisMinRequests,
    minDurationMs: config.analysisMinDuration,
    minFeedback: config.analysisMinFeedback,
    maxErrorRateIncrease: config.analysisMaxErrorIncrease,
    maxP99Ratio: config.analysisMaxLatencyRatio,
    maxMaeRatio: config.analysisMaxMaeRatio,
    alpha: config.analysisAlpha,
  };
}

export type Decision = 'promote' | 'rollback' | 'wait';

export interface Verdict {
  readonly decision: Decision;
  /** Why, one line per rule that decided (or per missing piece of evidence). */
  readonly reasons: readonly string[];
  readonly comparison: Comparison | null;
  /** How long the candidate has been observed, ms. */
  readonly observed_ms: number;
}

const fmt = (x: number | null, digits = 3) => (x === null ? 'n/a' : x.toFixed(digits));

/**
 * The decision on what this gateway has seen. Rollback on any threshold breached (the MAE rule only
 * when the Welch test says the candidate is significantly worse, so noise on a few feedback records
 * does not kill a good model); promote when every check passes; otherwise wait for more evidence.
 */
export function analyse(
  stats: StatsView,
  versions: { candidate: string; production: string },
  thresholds: Thresholds,
  now: number,
): Verdict {
  const c = stats.get(versions.candidate);
  const p = stats.get(versions.production);
  if (!c || !p) {
    return {
      decision: 'wait',
      reasons: [`no traffic seen yet for ${!c ? 'the candidate' : 'production'}`],
      comparison: null,
      observed_ms: c ? now - c.firstSeen : 0,
    };
  }
  const comparison = compareVersions(c, p);
  const observed = now - c.firstSeen;
  const waits: string[] = [];
  if (c.requests < thresholds.minRequests || p.requests < thresholds.minRequests) {
    waits.push(
      `requests: candidate ${c.requests}, production ${p.requests}, need ${thresholds.minRequests} each`,
    );
  }
  if (observed < thresholds.minDurationMs) {
    waits.push(`observed ${Math.round(observed / 1000)}s of ${Math.round(thresholds.minDurationMs / 1000)}s`);
  }
  if (waits.length > 0) return { decision: 'wait', reasons: waits, comparison, observed_ms: observed };

  const failures: string[] = [];
  const inc = comparison.error_rate.increase;
  if (inc > thresholds.maxErrorRateIncrease) {
    failures.push(
      `error rate ${fmt(c.errorRate, 4)} vs ${fmt(p.errorRate, 4)}: +${fmt(inc, 4)} > ${thresholds.maxErrorRateIncrease}`,
    );
  }
  const p99 = comparison.latency.p99_ratio;
  if (p99 !== null && p99 > thresholds.maxP99Ratio) {
    failures.push(
      `p99 latency ${fmt(comparison.latency.p99_candidate_ms, 2)}ms vs ${fmt(comparison.latency.p99_production_ms, 2)}ms: ratio ${fmt(p99, 2)} > ${thresholds.maxP99Ratio}`,
    );
  }
  if (thresholds.minFeedback > 0) {
    if (c.feedback < thresholds.minFeedback || p.feedback < thresholds.minFeedback) {
      waits.push(
        `feedback: candidate ${c.feedback}, production ${p.feedback}, need ${thresholds.minFeedback} each`,
      );
    } else {
      const maeRatio = comparison.mae.ratio;
      const pWorse = comparison.mae.welch?.p_greater ?? 1;
      if (maeRatio !== null && maeRatio > thresholds.maxMaeRatio) {
        const line = `MAE ${fmt(comparison.mae.candidate)} vs ${fmt(comparison.mae.production)}: ratio ${fmt(maeRatio, 2)} > ${thresholds.maxMaeRatio}, Welch p=${pWorse.toPrecision(3)}`;
        if (pWorse < thresholds.alpha) failures.push(line);
        else waits.push(`${line} is not significant at ${thresholds.alpha} yet`);
      }
    }
  }
  if (failures.length > 0)
    return { decision: 'rollback', reasons: failures, comparison, observed_ms: observed };
  if (waits.length > 0) return { decision: 'wait', reasons: waits, comparison, observed_ms: observed };
  return {
    decision: 'promote',
    reasons: [
      `error rate +${fmt(inc, 4)} ≤ ${thresholds.maxErrorRateIncrease}`,
      `p99 ratio ${fmt(p99, 2)} ≤ ${thresholds.maxP99Ratio}`,
      thresholds.minFeedback > 0
        ? `MAE ratio ${fmt(comparison.mae.ratio, 2)} ≤ ${thresholds.maxMaeRatio} (or not significantly worse)`
        : 'MAE not required (min feedback 0)',
    ],
    comparison,
    observed_ms: observed,
  };
}

/** The figures a decision rests on: the merge of every live gateway's, and which gateways those are. */
export interface Evidence {
  readonly stats: StatsView;
  readonly gateways: readonly string[];
}

/** What the loop needs from the gateway: the figures, the lease, the current versions and the actions. */
export interface AnalysisTarget {
  evidence(): Evidence;
  /** True while this gateway may decide (it holds the analysis lease). */
  mayAct(): boolean;
  /** Candidate and production now, or null when there is nothing to analyse (no candidate, routing off). */
  current(): { candidate: string; production: string } | null;
  promote(expected: string, evidence: Record<string, unknown>, reason: string): Promise<void>;
  rollback(expected: string, evidence: Record<string, unknown>, reason: string): Promise<void>;
}

export interface DecisionRecord {
  readonly at: string;
  readonly decision: Exclude<Decision, 'wait'>;
  readonly candidate: string;
  readonly production: string;
  readonly reasons: readonly string[];
  readonly comparison: Comparison | null;
  /** The gateways whose figures were merged for it. */
  readonly gateways: readonly string[];
  readonly ok: boolean;
  readonly error?: string;
}

/**
 * Runs `analyse` every `intervalMs` (0: never; decisions are then manual) and applies its decision.
 * Runs are never concurrent: the next one is scheduled when the last has finished.
 */
export class AnalysisLoop {
  readonly #gateway: string;
  readonly #target: AnalysisTarget;
  readonly #thresholds: Thresholds;
  readonly #intervalMs: number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<Verdict | null> | null = null;
  #stopped = false;
  last: Verdict | null = null;
  readonly decisions: DecisionRecord[] = [];

  constructor(options: {
    /** This gateway's id, recorded with every decision it makes. */
    gateway: string;
    target: AnalysisTarget;
    thresholds: Thresholds;
    intervalMs: number;
    log: Logger;
  }) {
    this.#gateway = options.gateway;
    this.#target = options.target;
    this.#thresholds = options.thresholds;
    this.#intervalMs = options.intervalMs;
    this.#log = options.log;
  }

  get thresholds(): Thresholds {
    return this.#thresholds;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  start(): void {
    if (this.#intervalMs <= 0 || this.#stopped) return;
    this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      void this.runOnce().finally(() => {
        if (!this.#stopped) this.#schedule();
      });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** One analysis (also what a manual trigger or a test calls). Returns the verdict, null if idle. */
  runOnce(): Promise<Verdict | null> {
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #run(): Promise<Verdict | null> {
    // Only the lease holder decides; the others answer reports from the same merged figures.
    if (!this.#target.mayAct()) return null;
    const versions = this.#target.current();
    if (versions === null) return null;
    const { stats, gateways } = this.#target.evidence();
    const verdict = analyse(stats, versions, this.#thresholds, Date.now());
    this.last = verdict;
    if (verdict.decision === 'wait') {
      this.#log.debug({ ...versions, reasons: verdict.reasons }, 'canary analysis: waiting');
      return verdict;
    }
    const evidence: Record<string, unknown> = {
      decision: verdict.decision,
      reasons: verdict.reasons,
      observed_ms: verdict.observed_ms,
      thresholds: this.#thresholds,
      comparison: verdict.comparison,
      // Which gateway decided, on the figures of which gateways (the merge it read).
      gateway: this.#gateway,
      merged: { gateways, count: gateways.length },
    };
    const reason = `canary analysis: ${verdict.decision} (${verdict.reasons.join('; ')})`;
    const record = { at: new Date().toISOString(), decision: verdict.decision, ...versions, gateways };
    try {
      if (verdict.decision === 'promote') await this.#target.promote(versions.candidate, evidence, reason);
      else await this.#target.rollback(versions.candidate, evidence, reason);
      this.#log.info(
        { ...versions, decision: verdict.decision, reasons: verdict.reasons, comparison: verdict.comparison },
        'canary analysis decided',
      );
      this.#remember({ ...record, reasons: verdict.reasons, comparison: verdict.comparison, ok: true });
    } catch (err) {
      // Another gateway may have decided first (the candidate changed under us): logged, not fatal.
      const message = err instanceof Error ? err.message : String(err);
      this.#log.warn(
        { ...versions, decision: verdict.decision, err: message },
        'canary decision not applied',
      );
      this.#remember({
        ...record,
        reasons: verdict.reasons,
        comparison: verdict.comparison,
        ok: false,
        error: message,
      });
    }
    return verdict;
  }

  #remember(d: DecisionRecord): void {
    this.decisions.push(d);
    if (this.decisions.length > 20) this.decisions.shift();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }
}
