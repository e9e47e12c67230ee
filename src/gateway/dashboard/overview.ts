// Gathers what the dashboard shows: the gateway's live state (handed in by the gateway), the registry's
// versions, aliases and history, the routing state, the local stack's state file when there is one, and
// the sampled per-version series. A source that cannot be read becomes a sentence in `problems`, never
// a failed page.
import os from 'node:os';
import { stat } from 'node:fs/promises';
import { describeOrigin } from '../../registry/origin.js';
import { readRouting } from '../../registry/routing.js';
import { Registry } from '../../registry/registry.js';
import type { AliasChange, AliasState, Manifest } from '../../registry/types.js';
import { pidAlive, readState, stackStatePath, type StackState } from '../../registry/stack-state.js';
import { PACKAGE_VERSION } from '../../version.js';
import type {
  AliasChangeView,
  AliasName,
  AnalysisView,
  GatewayView,
  Overview,
  PeerGatewayView,
  ReplicaState,
  ReplicaView,
  RoutingView,
  StackView,
  TrainerRunView,
  VersionStatsView,
  VersionView,
} from './api-types.js';
import { Sampler, type SamplerOptions, type VersionCounters } from './series.js';

/** One backend replica as the gateway's balancer sees it. */
export interface ReplicaFacts {
  readonly url: string;
  readonly state: ReplicaState;
  readonly inFlight: number | null;
  /** Running total of requests sent to it, for its requests/s. */
  readonly requestsTotal: number | null;
  readonly failures: number | null;
  readonly detail: string | null;
}

/** The gateway's own state, read in-process on every sample. Must be cheap and must not throw. */
export interface GatewayFacts {
  readonly id: string;
  readonly startedAt: string | null;
  readonly ready: boolean;
  readonly balance: string | null;
  readonly discovery: string | null;
  readonly adminEnabled: boolean;
  readonly inFlight: number | null;
  readonly requestsTotal: number | null;
  readonly replicas: readonly ReplicaFacts[];
}

/** The per-version statistics and the canary analysis of this gateway. */
export interface ExperimentsFacts {
  /** Running totals per version, for the live series. */
  counters(): readonly VersionCounters[];
  /** Whole-run figures per version, for the comparison table. */
  stats(): readonly Omit<VersionStatsView, 'alias'>[];
  /** What the analysis says now about candidate vs production. */
  verdict(aliases: { production: string | null; candidate: string | null }): {
    verdict: string;
    reason: string;
  };
}

export interface DashboardSources {
  readonly registryDir: string;
  gateway(): GatewayFacts;
  /** The other live gateways on the registry (their published figures files); none when absent. */
  peers?(): readonly PeerGatewayView[];
  readonly experiments?: ExperimentsFacts;
  /** The local stack's state file; defaults to the one `flywheel up` writes in the registry folder. */
  readonly stackStateFile?: string;
}

/** File reads are shared by every page polling within this long. */
const FILE_CACHE_MS = 500;
const HISTORY_SHOWN = 50;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function finite(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

interface FileView {
  readonly aliases: AliasState | null;
  readonly versions: VersionView[];
  readonly history: AliasChangeView[];
  readonly routing: RoutingView | null;
  readonly stack: StackView | null;
  readonly problems: string[];
}

export class OverviewBuilder {
  readonly #sources: DashboardSources;
  readonly #registry: Registry;
  readonly #sampler: Sampler;
  readonly #stackFile: string;
  /** Manifests never change once published: each is read once. */
  readonly #manifests = new Map<string, Manifest>();
  #history: { key: string; entries: AliasChange[] } | null = null;
  #files: { at: number; view: Promise<FileView> } | null = null;
  #aliases: AliasState | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(sources: DashboardSources, sampler: Partial<SamplerOptions> = {}) {
    this.#sources = sources;
    this.#registry = new Registry(sources.registryDir);
    this.#sampler = new Sampler(sampler);
    this.#stackFile = sources.stackStateFile ?? stackStatePath(sources.registryDir);
  }

  /** Starts sampling; the timer does not keep the process alive. */
  start(): void {
    if (this.#timer) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.#sampler.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Takes one sample now (the timer calls this; tests may too). */
  sample(now = Date.now()): void {
    try {
      const gw = this.#sources.gateway();
      this.#sampler.record(now, this.#sources.experiments?.counters() ?? [], {
        requests: gw.requestsTotal,
        replicas: gw.replicas.map((r) => ({ url: r.url, requests: r.requestsTotal })),
      });
    } catch {
      // A sample missed is a gap in the charts, not a reason to stop sampling.
    }
  }

  async build(since: number | null): Promise<Overview> {
    const files = await this.#readFiles();
    const problems = [...files.problems];
    const gw = this.#sources.gateway();
    const rates = this.#sampler.rates();
    const aliases = files.aliases;
    const aliasOf = (version: string): AliasName | null =>
      aliases?.production === version ? 'production' : aliases?.candidate === version ? 'candidate' : null;

    const gateway: GatewayView = {
      id: gw.id,
      package_version: PACKAGE_VERSION,
      started_at: gw.startedAt,
      ready: gw.ready,
      balance: gw.balance,
      discovery: gw.discovery,
      admin_enabled: gw.adminEnabled,
      in_flight: gw.inFlight,
      requests_per_s: rates.gateway,
    };
    const replicas: ReplicaView[] = gw.replicas.map((r) => ({
      url: r.url,
      state: r.state,
      in_flight: r.inFlight,
      requests_per_s: rates.replicas.get(r.url) ?? null,
      requests_total: r.requestsTotal,
      failures: r.failures,
      detail: r.detail,
    }));

    let analysis: AnalysisView | null = null;
    const experiments = this.#sources.experiments;
    if (experiments) {
      try {
        const current = {
          production: aliases?.production ?? null,
          candidate: aliases?.candidate ?? null,
        };
        analysis = {
          ...experiments.verdict(current),
          versions: experiments
            .stats()
            .map((s) => ({ ...s, alias: aliasOf(s.version) }))
            // Production and candidate first, then the rest newest first (version ids sort by time).
            .sort((a, b) => rank(a.alias) - rank(b.alias) || b.version.localeCompare(a.version)),
        };
      } catch (err) {
        problems.push(`canary analysis: ${errorText(err)}`);
      }
    }

    return {
      generated_at: new Date().toISOString(),
      gateway,
      replicas,
      stack: files.stack,
      peers: this.#peers(problems),
      registry: {
        production: aliases?.production ?? null,
        candidate: aliases?.candidate ?? null,
        versions: files.versions,
        history: files.history,
      },
      routing: files.routing,
      analysis,
      series: this.#sampler.series(since, aliasOf),
      problems,
    };
  }

  #peers(problems: string[]): readonly PeerGatewayView[] {
    try {
      return this.#sources.peers?.() ?? [];
    } catch (err) {
      problems.push(`other gateways: ${errorText(err)}`);
      return [];
    }
  }

  /** The registry, routing and stack files, read at most once per FILE_CACHE_MS for all pages. */
  #readFiles(): Promise<FileView> {
    const now = Date.now();
    if (this.#files && now - this.#files.at < FILE_CACHE_MS) return this.#files.view;
    const view = this.#readFilesNow();
    this.#files = { at: now, view };
    return view;
  }

  async #readFilesNow(): Promise<FileView> {
    const problems: string[] = [];
    const [aliases, versions, history, routing, stack] = await Promise.all([
      this.#registry.readAliases().then(
        (a) => (this.#aliases = a),
        (err: unknown) => {
          problems.push(`registry aliases: ${errorText(err)}`);
          return this.#aliases; // the last good one, rather than claiming there is no production
        },
      ),
      this.#readVersions().catch((err: unknown) => {
        problems.push(`registry versions: ${errorText(err)}`);
        return [] as VersionView[];
      }),
      this.#readHistory().catch((err: unknown) => {
        problems.push(`alias history: ${errorText(err)}`);
        return [] as AliasChangeView[];
      }),
      readRouting(this.#sources.registryDir).then(
        (r): RoutingView => ({ mode: r.mode, weight: r.weight, updated_at: r.updated_at }),
        (err: unknown) => {
          problems.push(`routing state: ${errorText(err)}`);
          return null;
        },
      ),
      this.#readStack().catch((err: unknown) => {
        problems.push(`local stack: ${errorText(err)}`);
        return null;
      }),
    ]);
    const withAliases = versions.map((v) => ({
      ...v,
      aliases: (['production', 'candidate'] as const).filter((a) => aliases?.[a] === v.version),
    }));
    return { aliases, versions: withAliases, history, routing, stack, problems };
  }

  async #readVersions(): Promise<VersionView[]> {
    const ids = await this.#registry.versionIds();
    const live = new Set(ids);
    for (const id of this.#manifests.keys()) if (!live.has(id)) this.#manifests.delete(id);
    return Promise.all(
      ids.map(async (version): Promise<VersionView> => {
        let manifest = this.#manifests.get(version);
        if (!manifest) {
          try {
            manifest = await this.#registry.readManifest(version);
            this.#manifests.set(version, manifest);
          } catch (err) {
            return {
              version,
              created_at: null,
              algorithm: null,
              origin: null,
              source: null,
              rows: null,
              r2: null,
              mae: null,
              rmse: null,
              aliases: [],
              problem: errorText(err),
            };
          }
        }
        return {
          version,
          created_at: manifest.created_at,
          algorithm: manifest.algorithm,
          origin: describeOrigin(manifest),
          source: manifest.data.source,
          rows: finite(manifest.data.rows),
          r2: finite(manifest.metrics?.r2),
          mae: finite(manifest.metrics?.mae),
          rmse: finite(manifest.metrics?.rmse),
          aliases: [],
          problem: null,
        };
      }),
    );
  }

  async #readHistory(): Promise<AliasChangeView[]> {
    // The history only grows: it is re-read when its size or time changes, not on every poll.
    const st = await stat(this.#registry.paths.history).catch(() => null);
    const key = st ? `${st.size}:${st.mtimeMs}` : 'none';
    if (this.#history?.key !== key) {
      this.#history = { key, entries: st ? await this.#registry.history() : [] };
    }
    return this.#history.entries
      .slice(-HISTORY_SHOWN)
      .reverse()
      .map((h) => ({
        at: h.at,
        alias: h.alias,
        from: h.from,
        to: h.to,
        by: h.by,
        reason: h.reason,
        action: h.action ?? 'set',
      }));
  }

  async #readStack(): Promise<StackView | null> {
    const state = await readState(this.#stackFile);
    if (state === null || !stackIsLive(state)) return null;
    return stackView(state);
  }
}

function rank(alias: AliasName | null): number {
  return alias === 'production' ? 0 : alias === 'candidate' ? 1 : 2;
}

/** A state file left by a stack that has stopped describes nothing running: it is not shown. */
function stackIsLive(state: StackState): boolean {
  if (state.supervisor.state === 'stopped' || state.supervisor.state === 'failed') return false;
  // The pid only means something on the host that wrote it.
  return state.supervisor.host !== os.hostname() || pidAlive(state.supervisor.pid);
}

function stackView(state: StackState): StackView {
  const runs: TrainerRunView[] = [...state.schedule.last_runs]
    .sort((a, b) => Date.parse(b.started_at) - Date.parse(a.started_at))
    .map((r) => ({
      started_at: r.started_at,
      duration_s: finite(r.duration_ms) === null ? null : r.duration_ms / 1000,
      outcome: r.outcome,
      version: r.version,
      detail: r.message ?? (r.promoted === true ? 'promoted' : r.promoted === false ? 'not promoted' : null),
    }));
  if (state.schedule.running_since) {
    runs.unshift({
      started_at: state.schedule.running_since,
      duration_s: null,
      outcome: 'running',
      version: null,
      detail: null,
    });
  }
  return {
    components: state.components.map((c) => ({
      name: c.name,
      role: c.role,
      state: c.state,
      pid: c.pid,
      port: c.port,
      restarts: c.restarts,
      started_at: c.started_at,
    })),
    schedule: state.schedule.cron,
    next_run: state.schedule.next_run,
    runs,
  };
}
