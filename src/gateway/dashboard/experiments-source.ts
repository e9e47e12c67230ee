// Reads the gateway's per-version statistics and canary analysis (src/gateway/experiments) for the
// dashboard: running totals for the live series, whole-run figures, and the verdict as of now. The
// figures are the merge of every live gateway's (the served column: what the comparison reads), so the
// page reads the same whichever gateway the Service sent it to.
import { analyse, type Evidence, type Thresholds } from '../experiments/analysis.js';
import { LatencyHistogram, snapshotOf } from '../experiments/stats.js';
import type { ExperimentsFacts } from './overview.js';
import type { VersionCounters } from './series.js';

export interface ExperimentsSourceOptions {
  /** The merged figures of every live gateway, taken fresh on each call. */
  readonly evidence: () => Evidence;
  readonly thresholds: Thresholds;
  /** Whether the analysis loop applies its verdicts; when off, the operator decides. */
  readonly automatic: boolean;
}

export function experimentsFacts(options: ExperimentsSourceOptions): ExperimentsFacts {
  const { evidence, thresholds, automatic } = options;
  return {
    counters(): VersionCounters[] {
      const out: VersionCounters[] = [];
      for (const s of evidence().stats.all()) {
        const f = s.served;
        out.push({
          version: s.version,
          requests: f.requests,
          errors: f.errors,
          latencyCounts: f.latencyHistogram.counts,
          latencyBound: LatencyHistogram.bound,
          predictionCount: f.predictions.n,
          predictionSum: f.predictions.sum,
          feedbackCount: f.absErrors.n,
          absErrorSum: f.absErrors.sum,
        });
      }
      return out;
    },
    stats() {
      return snapshotOf(evidence().stats).map((s) => ({
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
      const v = analyse(evidence().stats, { candidate, production }, thresholds, Date.now());
      return { verdict: v.decision, reason: `${v.reasons.join('; ')}.${manual}` };
    },
  };
}
