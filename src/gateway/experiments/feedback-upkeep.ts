// Upkeep of this gateway's feedback log: its /metrics (storage faults by kind and prediction lines
// lost, read from the store's counters at scrape time, nothing counted on the request path) and the
// retention pass (--feedback-retention, --feedback-retention-bytes) run every few minutes.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { GatewayConfig } from '../../config.js';
import type { Logger } from '../../log.js';
import type { FeedbackStore } from '../../registry/feedback.js';
import { pruneFeedback, type PruneResult } from '../../registry/feedback-retention.js';
import type { Registry as ModelRegistry } from '../../registry/registry.js';

/** How often retention runs (and once shortly after start). */
const PRUNE_EVERY_MS = 10 * 60_000;
/** A file modified this long after the rotation age can no longer be another gateway's open file. */
const ACTIVE_MARGIN_MS = 60_000;

export function registerFeedbackMetrics(
  registry: Registry,
  store: FeedbackStore,
  unlogged: () => number,
): void {
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
  new Counter({
    name: 'flywheel_feedback_log_unnamed_total',
    help: 'Successful predictions not logged for the feedback join: their version’s feature names were not read yet, or the answer had no feature row',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(unlogged());
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

/** Deletes old feedback files now and then; a failure is logged and retried next time. */
export class FeedbackPruner {
  readonly #store: FeedbackStore;
  readonly #registry: ModelRegistry;
  readonly #config: GatewayConfig;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;

  constructor(options: {
    store: FeedbackStore;
    registry: ModelRegistry;
    config: GatewayConfig;
    log: Logger;
  }) {
    this.#store = options.store;
    this.#registry = options.registry;
    this.#config = options.config;
    this.#log = options.log;
  }

  start(firstInMs = 5000): void {
    const next = (ms: number) => {
      this.#timer = setTimeout(() => {
        this.#running = this.prune()
          .catch((err: unknown) => this.#log.warn({ err }, 'feedback retention failed; retrying later'))
          .finally(() => {
            this.#running = null;
            if (this.#timer !== null) next(PRUNE_EVERY_MS);
          });
      }, ms);
      this.#timer.unref();
    };
    next(firstInMs);
  }

  /** One retention pass. */
  async prune(): Promise<PruneResult> {
    const c = this.#config;
    const result = await pruneFeedback(c.registry, (fn) => this.#registry.withLock(() => fn()), {
      maxAgeMs: c.feedbackRetention,
      maxBytes: c.feedbackRetentionBytes,
      activeMs: c.feedbackRotateAge + ACTIVE_MARGIN_MS,
      keep: new Set([this.#store.currentFile]),
    });
    if (result.deleted.length > 0) {
      this.#log.info(
        { files: result.deleted.length, freedBytes: result.freedBytes },
        'feedback files pruned',
      );
    } else if (result.readerActive) {
      this.#log.debug({}, 'feedback retention skipped: a training run is reading the feedback');
    }
    return result;
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
