// Reads the gateway's per-version statistics and canary analysis (src/gateway/experiments) for the
// dashboard: running totals for the live series, whole-run figures, and the verdict as of now.
import { analyse, type Thresholds } from '../experiments/analysis.js';
import { LatencyHistogram, type ExperimentStats } from '../experiments/stats.js';
import type { ExperimentsFacts } from './overview.js';
import type { VersionCounters } from './series.js';

export interface ExperimentsSourceOptions {
  readonly stats: ExperimentStats;
  readonly thresholds: Thresholds;
  /** Whether the analysis loop applies its verdicts; when off, the operator decides. */
  readonly automatic: boolean;
}

export function experimentsFacts(options: ExperimentsSourceOptions): ExperimentsFacts {
  const { stats, thresholds, automatic } = options;
  return {
    counters(): VersionCounters[] {
      const out: VersionCounters[] = [];
      for (const snap of stats.snapshot()) {
        const s = stats.get(snap.version);
        if (!s) continue;
        out.push({
          version: s.version,
          requests: s.requests,
          errors: s.errors,
          latencyCounts: s.latencyHistogram.counts,
          latencyBound: LatencyHistogram.bound,
          predictionCount: s.predictions.n,
          predictionSum: s.predictions.n > 0 ? s.predictions.n * s.predictions.mean : 0,
          feedbackCount: s.absErrors.n,
          absErrorSum: s.absErrors.n > 0 ? s.absErrors.n * s.absErrors.mean : 0,
        });
      }
      return out;
    },
    stats() {
      return stats.snapshot().map((s) => ({
        version: s.version,
        requests: s.requests,
        errors: s.errors,
        p50_ms: s.latency_ms.p50,
        p99_ms: s.latency_ms.p99,
        mean_prediction: s.prediction.mean,
        feedback: s.feedback.count,
        mae: s.feedback.mae,
        rmse: s.feedback.rmse,
      }));
    },
    verdict({ production, candidate }) {
      const manual = automatic ? '' : ' Automatic analysis is off: promote or roll back by hand.';
      if (production === null) return { verdict: 'none', reason: `No production model yet.${manual}` };
      if (candidate === null) {
        return { verdict: 'none', reason: `No candidate: nothing to compare.${manual}` };
      }
      const v = analyse(stats, { candidate, production }, thresholds, Date.now());
      return { verdict: v.decision, reason: `${v.reasons.join('; ')}.${manual}` };
    },
  };
}
