// The gateway's experiment layer: which version answers each request (from the routing state and the
// aliases in the registry), what each version did (stats, prediction log), feedback, the figures shared
// with the other gateways (peers.ts), the analysis lease and loop (its HTTP routes are in routes.ts).
// The proxy calls `route()` before forwarding a /predict and `observe()` after; everything else here
// runs off the hot path.
import type { Registry as MetricsRegistry } from 'prom-client';
import type { GatewayConfig } from '../../config.js';
import type { Logger } from '../../log.js';
import { FeedbackStore } from '../../registry/feedback.js';
import type { DriftMonitor } from '../drift/monitor.js';
import { FeedbackPruner, registerFeedbackMetrics } from './feedback-upkeep.js';
import type { Lease } from '../../registry/lease.js';
import { Registry } from '../../registry/registry.js';
import { DEFAULT_ROUTING, readRouting, type RoutingState } from '../../registry/routing.js';
import type { AliasState } from '../../registry/types.js';
import { watchRegistry, type RegistryWatcher } from '../../registry/watch.js';
import { promoteCandidate, rollbackCandidate } from './actions.js';
import { ExperimentRoutes, type AdminResponse } from './routes.js';
import { FeatureNames } from './feature-names.js';
import { AnalysisLoop, thresholdsFromConfig, type Evidence, type Thresholds } from './analysis.js';
import type { PeerDescription, Peers } from './peers.js';
import { SharedFigures } from './shared.js';
import type { ExchangeRecord } from '../plan.js';
import { predictionOf } from './body.js';
import { pickVersion } from './router.js';
import { ExperimentStats, type Column } from './stats.js';

/** What the proxy does with one /predict. */
export interface Route {
  /** Version to ask for with `x-model-version`; null: no header, the backend answers with production. */
  readonly version: string | null;
  readonly target: 'production' | 'candidate';
  /** Mirror the request to this version after answering the client (shadow mode), else null. */
  readonly shadowVersion: string | null;
}

const PLAIN: Route = Object.freeze({ version: null, target: 'production', shadowVersion: null });

export interface Observed {
  readonly requestId: string;
  readonly route: Route;
  /** `x-model-version` of the answer; absent when no backend answered. */
  readonly answeredBy: string | undefined;
  /** 0 when no backend answered (timeout, connection failure). */
  readonly status: number;
  readonly latencyMs: number;
  /** The answer's prediction (its `x-flywheel-prediction`); NaN when none (batch, error). */
  readonly prediction: number;
  /** The answer's `x-flywheel-features`, raw: drift counts it, the prediction log names it. */
  readonly features: string | undefined;
  readonly shadow?: boolean;
  /** The client chose the version itself (`x-model-version`): its own column, never the comparison. */
  readonly pinned?: boolean;
}

export interface ExperimentsOptions {
  readonly config: GatewayConfig;
  readonly log: Logger;
  readonly metrics: MetricsRegistry;
  /** Thresholds override (tests); default from config. */
  readonly thresholds?: Thresholds;
  /** What this gateway balances, published beside its figures for the other gateways' dashboards. */
  readonly describe?: () => PeerDescription;
}

export class Experiments {
  readonly stats: ExperimentStats;
  readonly feedback: FeedbackStore;
  readonly analysis: AnalysisLoop;
  /** Counts each successful single-row /predict for drift (src/gateway/drift), once attached. */
  drift: DriftMonitor | null = null;
  readonly pruner: FeedbackPruner;
  /** Feature names of the versions that answer, for the prediction log (read off the proxy's path). */
  readonly featureNames: FeatureNames;
  /** The other gateways' figures, this one's published for them, and the analysis lease. */
  readonly shared: SharedFigures;
  readonly #registry: Registry;
  readonly #config: GatewayConfig;
  readonly #log: Logger;
  readonly #routes: ExperimentRoutes;
  /** Who this replica is in the alias and routing history. */
  readonly by: string;
  #routing: RoutingState = DEFAULT_ROUTING;
  #aliases: AliasState = { production: null, candidate: null, generation: 0, updated_at: null };
  /** True when requests may go anywhere but production: route() is then more than a constant. */
  #active = false;
  #watcher: RegistryWatcher | null = null;
  #routingTimer: NodeJS.Timeout | null = null;
  #routingText = '';
  #closed = false;

  private constructor(options: ExperimentsOptions, feedback: FeedbackStore) {
    this.#config = options.config;
    this.#log = options.log;
    // A registry lock left by a gateway that hangs (SIGSTOP, a stalled mount) is broken after the lease's
    // renew deadline rather than the default 10 s: otherwise a paused holder caught inside the lock would
    // hold every other gateway up for longer than the lease itself. Holders keep the lock for
    // milliseconds, and one whose lock was broken notices before it commits (lock.ts).
    this.#registry = new Registry(options.config.registry, {
      lockStaleMs: Math.min(10_000, options.config.leaseRenewDeadline),
    });
    this.by = `gateway:${options.config.gatewayId}`;
    this.feedback = feedback;
    this.pruner = new FeedbackPruner({
      store: feedback,
      registry: this.#registry,
      config: options.config,
      log: options.log,
    });
    this.stats = new ExperimentStats({ registry: options.metrics });
    this.featureNames = FeatureNames.fromRegistry(this.#registry, options.log);
    const config = options.config;
    this.shared = new SharedFigures({
      config,
      registry: this.#registry,
      stats: this.stats,
      log: options.log,
      // What it balances, and its drift counts (plain bin counts that merge by addition) once attached.
      describe: () => {
        const d = options.describe?.() ?? { replicas: [] };
        return this.drift === null ? d : { ...d, drift: this.drift.snapshot() };
      },
    });
    const lease = this.lease;
    const guard = lease ? () => lease.guard() : undefined;
    this.analysis = new AnalysisLoop({
      gateway: config.gatewayId,
      thresholds: options.thresholds ?? thresholdsFromConfig(options.config),
      intervalMs: options.config.analysisInterval,
      log: options.log,
      target: {
        evidence: () => this.evidence(),
        mayAct: () => lease?.isLeading() ?? false,
        current: () => {
          const { production, candidate } = this.#aliases;
          if (this.#routing.mode === 'off' || candidate === null || production === null) return null;
          return { candidate, production };
        },
        promote: async (expected, evidence, reason) => {
          this.#setAliases(
            await promoteCandidate(this.#registry, {
              expected,
              by: `analysis:${this.by}`,
              reason,
              evidence,
              ...(guard ? { guard } : {}),
            }),
          );
        },
        rollback: async (expected, evidence, reason) => {
          this.#setAliases(
            await rollbackCandidate(this.#registry, {
              expected,
              by: `analysis:${this.by}`,
              reason,
              evidence,
              ...(guard ? { guard } : {}),
            }),
          );
        },
      },
    });
    this.#routes = new ExperimentRoutes(this, {
      config: options.config,
      log: options.log,
      registry: this.#registry,
    });
  }

  /** Reads the registry's routing state and aliases, opens this replica's feedback log, starts the loops. */
  static async start(options: ExperimentsOptions): Promise<Experiments> {
    const { config } = options;
    const feedback = await FeedbackStore.open({
      registryDir: config.registry,
      gatewayId: config.gatewayId,
      maxFileBytes: config.feedbackMaxBytes,
      maxFileAgeMs: config.feedbackRotateAge,
      maxAgeMs: config.feedbackMaxAge,
      indexSize: config.feedbackIndexSize,
      onFault: (kind, err, first) => {
        // Once per kind until writing works again: a full disk must not flood the log.
        if (first) options.log.error({ kind, err: err.message }, 'feedback log cannot be written; retrying');
      },
      onRecovered: (file, failedMs) => options.log.info({ file, failedMs }, 'feedback log writes again'),
    });
    const ex = new Experiments(options, feedback);
    registerFeedbackMetrics(options.metrics, feedback, () => ex.featureNames.unnamed);
    ex.pruner.start();
    await ex.#pollRouting();
    await ex.#registry
      .readAliases()
      .then((a) => ex.#setAliases(a))
      .catch((err: unknown) => ex.#log.warn({ err }, 'aliases unreadable; routing everything to production'));
    ex.#watcher = watchRegistry(config.registry, {
      pollMs: config.routingPollInterval,
      onChange: (snap) => ex.#setAliases(snap.aliases),
      onError: (err) => ex.#log.warn({ err }, 'registry watch failed; keeping the last aliases'),
    });
    const tick = () => {
      if (ex.#closed) return;
      ex.#routingTimer = setTimeout(() => void ex.#pollRouting().finally(tick), config.routingPollInterval);
      ex.#routingTimer.unref();
    };
    tick();
    await ex.featureNames.preload([ex.#aliases.production, ex.#aliases.candidate]);
    await ex.shared.start();
    ex.analysis.start();
    options.log.info(
      {
        routing: { mode: ex.#routing.mode, weight: ex.#routing.weight, generation: ex.#routing.generation },
        aliases: { production: ex.#aliases.production, candidate: ex.#aliases.candidate },
        feedbackFile: feedback.currentFile,
        analysisIntervalMs: config.analysisInterval,
        peers: ex.peers.peers.map((p) => p.gateway),
        admin: config.adminToken !== undefined,
      },
      'experiments ready',
    );
    return ex;
  }

  /** Re-reads routing.json; a malformed file keeps the last good state (logged once per content). */
  async #pollRouting(): Promise<void> {
    try {
      const next = await readRouting(this.#config.registry);
      this.#setRouting(next);
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (text !== this.#routingText)
        this.#log.error({ err: text }, 'routing state unreadable; keeping the last one');
      this.#routingText = text;
    }
  }

  #setRouting(next: RoutingState): void {
    const prev = this.#routing;
    if (next.generation === prev.generation && next.updated_at === prev.updated_at) return;
    this.#routing = next;
    this.#routingText = '';
    this.#log.info({ mode: next.mode, weight: next.weight, generation: next.generation }, 'routing changed');
    this.#refreshActive();
  }

  #setAliases(next: AliasState): void {
    const prev = this.#aliases;
    if (next.production === prev.production && next.candidate === prev.candidate) {
      this.#aliases = next;
      return;
    }
    this.#aliases = next;
    this.#log.info({ production: next.production, candidate: next.candidate }, 'aliases changed');
    this.#refreshActive();
    void this.featureNames.preload([next.production, next.candidate]);
  }

  #refreshActive(): void {
    const { production, candidate } = this.#aliases;
    this.#active = this.#routing.mode !== 'off' && candidate !== null && candidate !== production;
  }

  get routing(): RoutingState {
    return this.#routing;
  }

  get aliases(): AliasState {
    return this.#aliases;
  }

  /** An experiment runs: routing is on and there is a candidate other than production. */
  get active(): boolean {
    return this.#active;
  }

  /** Sticky mode reads a user id: the proxy extracts one (header or body) only when this is true. */
  get needsUserId(): boolean {
    return this.#active && this.#routing.mode === 'sticky';
  }

  /** The version of one /predict. A constant when no experiment runs. */
  route(userId: string | undefined): Route {
    if (!this.#active) return PLAIN;
    const choice = pickVersion(this.#routing, userId, Math.random);
    const candidate = this.#aliases.candidate as string;
    if (choice.target === 'candidate')
      return { version: candidate, target: 'candidate', shadowVersion: null };
    return choice.shadow ? { version: null, target: 'production', shadowVersion: candidate } : PLAIN;
  }

  /** Records one answer (or failure) of a /predict, and logs a successful single prediction. */
  observe(o: Observed): void {
    const version =
      o.answeredBy ??
      o.route.version ??
      (o.shadow ? o.route.shadowVersion : this.#aliases.production) ??
      'unknown';
    const kind: Column = o.shadow === true ? 'shadow' : o.pinned === true ? 'pinned' : 'served';
    this.#record(version, kind, o.requestId, o.status, o.latencyMs, o.prediction, o.features);
  }

  /**
   * `observe` for a /predict the proxy forwarded (the plan's observer, wire.ts): read straight from
   * the exchange and its answering attempt, with no Observed made per request.
   */
  observeExchange(route: Route, ex: ExchangeRecord, pinned: boolean): void {
    const answer = ex.answer;
    // A gateway-made error (no replica answered) has no response headers.
    const status = (answer === null || answer.rawHeaders === null) && ex.status >= 500 ? 0 : ex.status;
    const version = answer?.answeredBy ?? route.version ?? this.#aliases.production ?? 'unknown';
    const ok = status === 200 && answer !== null;
    this.#record(
      version,
      pinned ? 'pinned' : 'served',
      ex.requestId,
      status,
      ex.durationMs,
      ok ? predictionOf(answer.prediction) : NaN,
      ok ? answer.features : null,
    );
  }

  #record(
    version: string,
    kind: Column,
    requestId: string,
    status: number,
    latencyMs: number,
    prediction: number,
    features: string | null | undefined,
  ): void {
    const error = status === 0 || status >= 500;
    if (status !== 200) prediction = NaN;
    this.stats.count(version, kind, latencyMs, error, prediction);
    if (!Number.isFinite(prediction) || features === null || features === undefined) {
      if (kind !== 'pinned' && Number.isFinite(prediction)) this.featureNames.unnamed++;
      return;
    }
    // The backend's x-flywheel-features header (the row the model used, no body parse here), read
    // once with the version's names for both drift and the prediction log.
    const row = this.featureNames.read(version, features);
    if (this.drift !== null) this.drift.observe(version, features, prediction, row?.values ?? null);
    // A pinned prediction is not logged for the join: the log has no column for it yet, and its
    // feedback must not reach the served column's error (a client could vote for the version it pins).
    if (kind === 'pinned') return;
    const members = this.featureNames.members(row);
    if (members !== null)
      this.feedback.logPrediction({
        requestId,
        version,
        prediction,
        features: members,
        shadow: kind === 'shadow',
      });
  }

  /** The other live gateways, as last read from their figures files. */
  get peers(): Peers {
    return this.shared.peers;
  }

  /** The analysis lease; null when this gateway never decides (--analysis-interval 0). */
  get lease(): Lease | null {
    return this.shared.lease;
  }

  /** The merge of every live gateway's figures (see shared.ts). */
  evidence(): Evidence {
    return this.shared.evidence();
  }

  /**
   * Handles the experiment routes (`GET /experiments`, `POST /feedback`, `/admin/*`); null for any
   * other path. `body` is the raw request body (JSON text or empty).
   */
  handle(
    method: string,
    url: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    body: string,
  ): Promise<AdminResponse | null> {
    return this.#routes.handle(method, url, headers, body);
  }

  /** Applies a routing state this replica wrote itself at once (the others read it within a poll). */
  applyRouting(next: RoutingState): void {
    this.#setRouting(next);
  }

  /** Applies aliases this replica changed itself at once. */
  applyAliases(next: AliasState): void {
    this.#setAliases(next);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#routingTimer) clearTimeout(this.#routingTimer);
    this.#routingTimer = null;
    await this.analysis.stop();
    await this.pruner.stop();
    await this.shared.stop();
    await this.#watcher?.close();
    await this.feedback.close();
  }
}
