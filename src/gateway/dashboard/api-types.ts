// The JSON the dashboard page reads from `GET /dashboard/api/overview`. Types only: the server module
// and the browser code (compiled by client/tsconfig.json) both import this file, so they cannot drift.
// Keep it free of values: the browser never loads it, its imports are erased.

export type AliasName = 'production' | 'candidate';

export interface Overview {
  readonly generated_at: string;
  readonly gateway: GatewayView;
  /** Backend replicas as the gateway's balancer sees them. */
  readonly replicas: readonly ReplicaView[];
  /** The local stack (`flywheel up`): its processes and trainer schedule. Null elsewhere (Kubernetes). */
  readonly stack: StackView | null;
  /**
   * The other live gateways on this registry, from the figures files they publish (this one is
   * `gateway`): how the page shows a deployment with no local stack, such as Kubernetes.
   */
  readonly peers: readonly PeerGatewayView[];
  readonly registry: RegistryView;
  /** Null when the routing state cannot be read (the reason is in `problems`). */
  readonly routing: RoutingView | null;
  /** The canary analysis. Null when this gateway has no analysis to report. */
  readonly analysis: AnalysisView | null;
  readonly series: SeriesView;
  /** Data that could not be gathered this time, said plainly; the page shows them in a banner. */
  readonly problems: readonly string[];
}

export interface GatewayView {
  readonly id: string;
  readonly package_version: string;
  readonly started_at: string | null;
  readonly ready: boolean;
  readonly balance: string | null;
  /** Where the replica list comes from: a static list, a DNS name, the local stack's file. */
  readonly discovery: string | null;
  /** False when the gateway runs without an admin token: the operator actions are off. */
  readonly admin_enabled: boolean;
  readonly in_flight: number | null;
  readonly requests_per_s: number | null;
}

export type ReplicaState = 'healthy' | 'ejected' | 'unhealthy' | 'draining' | 'unknown';

export interface ReplicaView {
  readonly url: string;
  readonly state: ReplicaState;
  readonly in_flight: number | null;
  readonly requests_per_s: number | null;
  readonly requests_total: number | null;
  readonly failures: number | null;
  readonly detail: string | null;
}

export interface PeerGatewayView {
  readonly id: string;
  readonly host: string;
  /** Age of its figures file when last read: how fresh what it says is. */
  readonly age_s: number;
  /** The backend replicas it balances, with their state as it sees them. */
  readonly replicas: readonly { readonly url: string; readonly state: string }[];
}

export interface StackView {
  readonly components: readonly ComponentView[];
  readonly schedule: string | null;
  readonly next_run: string | null;
  /** Newest first. */
  readonly runs: readonly TrainerRunView[];
}

export interface ComponentView {
  readonly name: string;
  readonly role: string;
  readonly state: string;
  readonly pid: number | null;
  readonly port: number | null;
  readonly restarts: number;
  readonly started_at: string | null;
}

export type RunOutcome = 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

export interface TrainerRunView {
  readonly started_at: string;
  readonly duration_s: number | null;
  readonly outcome: RunOutcome;
  readonly version: string | null;
  readonly detail: string | null;
}

export interface RegistryView {
  readonly production: string | null;
  readonly candidate: string | null;
  /** Newest first. */
  readonly versions: readonly VersionView[];
  /** Alias changes, newest first. */
  readonly history: readonly AliasChangeView[];
}

export interface VersionView {
  readonly version: string;
  readonly created_at: string | null;
  readonly algorithm: string | null;
  /** What produced it: `Flywheel learner`, `XGBoost 1.7.4 (reg:squarederror)`, ... (registry/origin.ts). */
  readonly origin: string | null;
  readonly source: string | null;
  readonly rows: number | null;
  readonly r2: number | null;
  readonly mae: number | null;
  readonly rmse: number | null;
  readonly aliases: readonly AliasName[];
  /** Set when the version cannot be loaded (corrupt artifact, unreadable manifest). */
  readonly problem: string | null;
}

export interface AliasChangeView {
  readonly at: string;
  readonly alias: string;
  readonly from: string | null;
  readonly to: string | null;
  readonly by: string;
  readonly reason: string;
  /** `set`, `promote`, `rollback`, or `decision` (a choice that left the alias where it was). */
  readonly action: string;
}

export type RoutingModeName = 'off' | 'canary' | 'sticky' | 'shadow';

export interface RoutingView {
  readonly mode: RoutingModeName;
  /** The candidate's share in percent (of mirrored traffic in shadow mode). */
  readonly weight: number;
  readonly updated_at: string | null;
}

export interface AnalysisView {
  /** What the analysis would do now: e.g. `promote`, `rollback`, `wait`, `none`. */
  readonly verdict: string;
  readonly reason: string;
  readonly versions: readonly VersionStatsView[];
}

export interface VersionStatsView {
  readonly version: string;
  readonly alias: AliasName | null;
  readonly requests: number;
  readonly errors: number;
  readonly p50_ms: number | null;
  readonly p99_ms: number | null;
  readonly mean_prediction: number | null;
  readonly feedback: number;
  readonly mae: number | null;
  readonly rmse: number | null;
}

/** Live per-version figures, one point per sampling interval; `null` where a figure has no data. */
export interface SeriesView {
  readonly interval_s: number;
  /** Sample times in seconds since the epoch, oldest first; only those after `?since=` when given. */
  readonly t: readonly number[];
  readonly versions: readonly VersionSeries[];
}

export type SeriesMetric = 'rps' | 'p50_ms' | 'p99_ms' | 'error_rate' | 'mean_prediction' | 'mae';

export type VersionSeries = {
  readonly version: string;
  readonly alias: AliasName | null;
} & { readonly [M in SeriesMetric]: readonly (number | null)[] };
