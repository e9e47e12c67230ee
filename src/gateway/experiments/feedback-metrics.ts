// /metrics of the feedback log: storage faults by kind and prediction lines lost, read from the store's
// counters at scrape time (nothing is counted twice on the request path).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { FeedbackStore } from '../../registry/feedback.js';

export function registerFeedbackMetrics(registry: Registry, store: FeedbackStore): void {
  new Counter({
    name: 'flywheel_feedback_log_errors_total',
    help: 'Storage faults of the prediction/feedback log, by kind (errno code, or vanished)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      for (const [kind, n] of Object.entries(store.logCounts.errors)) {
        this.reset();
        this.inc({ kind }, n);
      }
    },
  });
  new Counter({
    name: 'flywheel_feedback_log_dropped_lines_total',
    help: 'Prediction lines the log lost: dropped from a full queue while storage failed, or written to a deleted file',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(store.logCounts.dropped_lines);
    },
  });
  new Gauge({
    name: 'flywheel_feedback_log_failing',
    help: '1 while the prediction/feedback log cannot be written (POST /feedback answers 503)',
    registers: [registry],
    collect() {
      this.set(store.failing === null ? 0 : 1);
    },
  });
}
