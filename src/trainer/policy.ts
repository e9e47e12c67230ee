// The promotion decision, as a pure function of what the trainer measured: tested from tables, and
// the reason it returns is what the history and the trainer's summary say.
import type { HoldoutMetrics } from '../model/types.js';
import type { AliasName } from '../registry/types.js';

export const PROMOTION_POLICIES = ['auto', 'canary', 'manual'] as const;
export type PromotionPolicy = (typeof PROMOTION_POLICIES)[number];

/** What the trainer knows about the current production version. */
export type ProductionView =
  | { readonly kind: 'none' }
  /** Loaded and scored on the new version's holdout. */
  | { readonly kind: 'scored'; readonly version: string; readonly metrics: HoldoutMetrics }
  /** Loaded, but it uses other features or another target: the holdout cannot score it. */
  | { readonly kind: 'incomparable'; readonly version: string; readonly why: string }
  /** Missing, corrupt or unreadable: it cannot serve either. */
  | { readonly kind: 'broken'; readonly version: string; readonly why: string };

export interface Decision {
  /** The alias to point at the new version, or null to leave the aliases as they are. */
  readonly alias: AliasName | null;
  readonly reason: string;
}

const f4 = (n: number) => n.toFixed(4);

export function decidePromotion(input: {
  readonly policy: PromotionPolicy;
  /** Largest holdout R² drop against production that `auto` still accepts. */
  readonly tolerance: number;
  /** Null for a version that was not evaluated (an import without evaluation data). */
  readonly metrics: HoldoutMetrics | null;
  readonly production: ProductionView;
}): Decision {
  const { policy, tolerance, metrics, production } = input;
  if (policy === 'manual') return { alias: null, reason: 'published only (policy manual)' };
  // Without a working production nothing is served; a candidate alone would never get traffic.
  if (production.kind === 'none') {
    return { alias: 'production', reason: `first version: no production yet (policy ${policy})` };
  }
  if (production.kind === 'broken') {
    return {
      alias: 'production',
      reason: `production ${production.version} cannot be loaded (${production.why}) (policy ${policy})`,
    };
  }
  if (policy === 'canary') {
    const vs =
      production.kind === 'scored' && metrics !== null
        ? `holdout r2 ${f4(metrics.r2)} vs production ${f4(production.metrics.r2)}`
        : `not comparable with production: ${production.kind === 'scored' ? 'the new version was not evaluated' : production.why}`;
    return { alias: 'candidate', reason: `canary: candidate for the gateway's analysis (${vs})` };
  }
  if (production.kind === 'incomparable' || metrics === null) {
    if (production.kind === 'scored') {
      return {
        alias: null,
        reason: `not promoted: the new version was not evaluated (no evaluation data), so it cannot be compared with production ${production.version}; promote by hand if intended`,
      };
    }
    return {
      alias: null,
      reason: `not promoted: production ${production.version} cannot be compared on this holdout (${production.why}); promote by hand if intended`,
    };
  }
  const floor = production.metrics.r2 - tolerance;
  const comparison = `holdout r2 ${f4(metrics.r2)} vs production ${production.version} ${f4(production.metrics.r2)}, tolerance ${tolerance}`;
  return metrics.r2 >= floor
    ? { alias: 'production', reason: `promoted: not worse than production (${comparison})` }
    : { alias: null, reason: `not promoted: worse than production (${comparison})` };
}
