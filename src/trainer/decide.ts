// After a version is published, the trainer and `flywheel import` decide the same way: score
// production on the same rows, apply the promotion policy with a compare-and-set on production,
// record the decision, then apply retention.
import { isFlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { decodeArtifact } from '../model/index.js';
import type { Dataset, HoldoutMetrics } from '../model/types.js';
import type { Registry } from '../registry/index.js';
import { scoreOn } from './evaluate.js';
import { decidePromotion, type Decision, type ProductionView, type PromotionPolicy } from './policy.js';

/** How many times the decision is re-made when another writer changes production meanwhile. */
const DECISION_ATTEMPTS = 5;

export interface PolicyOptions {
  readonly promote: PromotionPolicy;
  readonly tolerance: number;
  readonly keep: number;
}

export interface Outcome {
  readonly decision: Decision;
  readonly production: ProductionView;
  readonly pruned: string[];
}

/** The summary fields `train` and `import` print that come from the decision. */
export function outcomeFields(outcome: Outcome) {
  return {
    production_version: outcome.production.kind === 'none' ? null : outcome.production.version,
    production_metrics: outcome.production.kind === 'scored' ? outcome.production.metrics : null,
    promoted: outcome.decision.alias === 'production',
    alias: outcome.decision.alias,
    reason: outcome.decision.reason,
    pruned: outcome.pruned,
  };
}

/**
 * Applies the policy to a published version and prunes. `holdout` null: the version was not evaluated
 * (an import without evaluation data), so production cannot be compared with it.
 */
export async function decideAndPrune(
  registry: Registry,
  options: PolicyOptions,
  version: string,
  metrics: HoldoutMetrics | null,
  holdout: Dataset | null,
  log: Logger,
): Promise<Outcome> {
  const outcome = await applyPolicy(registry, options, version, metrics, holdout, log);
  let pruned: string[] = [];
  try {
    pruned = await registry.prune(options.keep);
    if (pruned.length > 0) log.info({ pruned, keep: options.keep }, 'old versions pruned');
  } catch (err) {
    // The version is published and the decision made: retention can wait for the next run.
    log.warn({ err }, 'retention failed; old versions kept until the next run');
  }
  return { ...outcome, pruned };
}

/** What the current production version scores on the same rows, or why it cannot. */
async function viewProduction(
  registry: Registry,
  holdout: Dataset | null,
  log: Logger,
): Promise<ProductionView> {
  const { production } = await registry.readAliases();
  if (production === null) return { kind: 'none' };
  let model;
  try {
    model = decodeArtifact((await registry.loadArtifact(production)).bytes);
  } catch (err) {
    const why = isFlywheelError(err) ? err.message : String(err);
    log.warn({ production, err }, 'production version cannot be loaded');
    return { kind: 'broken', version: production, why };
  }
  if (holdout === null) {
    return { kind: 'incomparable', version: production, why: 'no evaluation data was given (--eval)' };
  }
  const score = scoreOn(model, holdout);
  if ('mismatch' in score) return { kind: 'incomparable', version: production, why: score.mismatch };
  log.info({ production, ...score.metrics }, 'production scored on the same holdout');
  return { kind: 'scored', version: production, metrics: score.metrics };
}

async function applyPolicy(
  registry: Registry,
  options: PolicyOptions,
  version: string,
  metrics: HoldoutMetrics | null,
  holdout: Dataset | null,
  log: Logger,
): Promise<{ decision: Decision; production: ProductionView }> {
  for (let attempt = 1; ; attempt++) {
    const production = await viewProduction(registry, holdout, log);
    const decision = decidePromotion({
      policy: options.promote,
      tolerance: options.tolerance,
      metrics,
      production,
    });
    const expected = production.kind === 'none' ? null : production.version;
    const change = {
      reason: decision.reason,
      evidence: {
        version,
        policy: options.promote,
        tolerance: options.tolerance,
        metrics,
        holdout_rows: holdout === null ? 0 : holdout.rows,
        production: expected,
        production_metrics: production.kind === 'scored' ? production.metrics : null,
      },
    };
    try {
      if (decision.alias === 'production') {
        // Compare-and-set: the decision holds only against the production it was measured against.
        await registry.promote(version, { ...change, expectProduction: expected });
      } else if (decision.alias === 'candidate') {
        await registry.setAlias('candidate', version, change);
      } else {
        await registry.recordDecision('production', change);
      }
      log.info(
        { version, policy: options.promote, alias: decision.alias, reason: decision.reason },
        'promotion decision',
      );
      return { decision, production };
    } catch (err) {
      const conflict =
        isFlywheelError(err) && (err.details as { conflict?: boolean } | undefined)?.conflict === true;
      if (!conflict || attempt >= DECISION_ATTEMPTS) throw err;
      log.info({ version, attempt }, 'production changed while deciding; deciding again');
    }
  }
}
