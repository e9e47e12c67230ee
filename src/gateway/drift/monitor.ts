// The gateway's drift monitor: one DriftWindow per version that answered, made when the version is
// first seen from its manifest's reference (read from the registry off the proxy's path), the counts
// snapshot that merges across gateways, the GET /drift document, and a periodic check that logs every
// feature crossing a threshold either way.
import type { GatewayConfig } from '../../config.js';
import { FlywheelError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { isVersionId } from '../../registry/index.js';
import type { Manifest } from '../../registry/types.js';
import type { DriftDocument, DriftLevel, VersionDriftView } from '../dashboard/drift-types.js';
import { readFeatureRow } from '../experiments/body.js';
import { peerDriftCounts, type CountsShape } from './peer-counts.js';
import {
  driftReport,
  mergeDriftCounts,
  nameMap,
  thresholdsView,
  type DriftCounts,
  type DriftThresholds,
} from './report.js';
import { DriftWindow } from './window.js';

/**
 * Versions measured at once; the one unused longest makes room for a new one. Production and a
 * candidate are two; the rest is room for versions pinned with `x-model-version` and recent history.
 */
export const MAX_VERSIONS = 16;

/** How the monitor reads a version's manifest (the registry; a map in unit tests). */
export type ManifestSource = (version: string) => Promise<Manifest>;

/** Another live gateway's drift snapshot as read from its figures file (untrusted). */
export interface PeerDrift {
  readonly gateway: string;
  readonly drift: unknown;
}

export interface DriftMonitorOptions {
  readonly thresholds: DriftThresholds;
  readonly manifests: ManifestSource;
  readonly log: Logger;
}

export function driftThresholdsFromConfig(config: GatewayConfig): DriftThresholds {
  const t = {
    window: config.driftWindow,
    minRequests: config.driftMinRequests,
    warn: config.driftWarn,
    alert: config.driftAlert,
  };
  const problems: string[] = [];
  if (t.window > 0 && t.minRequests > t.window)
    problems.push(
      `--drift-min-requests: ${t.minRequests} can never be reached in a --drift-window of ${t.window}`,
    );
  if (t.warn > t.alert) problems.push(`--drift-warn: ${t.warn} is above --drift-alert ${t.alert}`);
  if (problems.length > 0) {
    throw new FlywheelError('FLY_ERR_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`, {
      problems,
    });
  }
  return t;
}

export class DriftMonitor {
  readonly thresholds: DriftThresholds;
  readonly #manifests: ManifestSource;
  readonly #log: Logger;
  readonly #windows = new Map<string, DriftWindow>();
  /** Versions whose manifest is being read: their rows are not counted until it is in. */
  readonly #loading = new Set<string>();
  /** Last level logged per `version\0feature`, so only crossings are logged. */
  readonly #levels = new Map<string, DriftLevel>();
  /** The reason last warned about, per peer gateway: one warning per bad snapshot, not one per read. */
  readonly #peerWarned = new Map<string, string>();
  #tick = 0;
  /**
   * The other live gateways' snapshots, merged into GET /drift; none until the shared figures are
   * attached (experiments/shared.ts).
   */
  peers: () => readonly PeerDrift[] = () => [];
  /** Answers not counted: no row in the body, or a version id that is not one. */
  skipped = 0;

  constructor(options: DriftMonitorOptions) {
    this.thresholds = options.thresholds;
    this.#manifests = options.manifests;
    this.#log = options.log;
  }

  /**
   * Counts one successful single-row /predict answered by `version`. `text` is the backend's
   * `x-flywheel-features` header (the row the model used, comma-separated in its feature order; without
   * a row of the version's length the answer is skipped); `prediction` is the answer's prediction (NaN
   * when there is none). `parsed`: the row the caller already read from `text` with the version's names
   * (the experiment layer reads each header once for drift and the prediction log), counted as it is;
   * else `text` is read here. On the proxy's path.
   */
  observe(version: string, text: string, prediction: number, parsed: Float64Array | null = null): void {
    const w = this.#windows.get(version);
    if (w === undefined) {
      this.#firstSight(version);
      return;
    }
    let row = w.row;
    if (parsed !== null && parsed.length === w.names.length) row = parsed;
    else if (!readFeatureRow(text, w.names.length, row)) {
      this.skipped++;
      return;
    }
    w.lastSeen = ++this.#tick;
    w.add(row, prediction);
  }

  #firstSight(version: string): void {
    if (this.#loading.has(version)) return;
    if (!isVersionId(version)) {
      this.skipped++;
      return;
    }
    this.#loading.add(version);
    const size = this.thresholds.window;
    void this.#manifests(version)
      .then(
        (m) =>
          m.reference === undefined
            ? new DriftWindow(
                version,
                size,
                null,
                m.features.map((f) => f.name),
                'no reference: the version was published before drift monitoring',
              )
            : new DriftWindow(
                version,
                size,
                m.reference,
                m.features.map((f) => f.name),
              ),
        (err: unknown) => {
          this.#log.warn(
            { version, err: (err as Error).message },
            'drift: manifest unreadable; no reference',
          );
          return new DriftWindow(version, size, null, [], `no reference: ${(err as Error).message}`);
        },
      )
      .then((w) => {
        this.#loading.delete(version);
        this.#evictFor();
        w.lastSeen = ++this.#tick;
        this.#windows.set(version, w);
      });
  }

  #evictFor(): void {
    if (this.#windows.size < MAX_VERSIONS) return;
    let oldest: DriftWindow | null = null;
    for (const w of this.#windows.values()) if (oldest === null || w.lastSeen < oldest.lastSeen) oldest = w;
    if (oldest !== null) this.#windows.delete(oldest.version);
  }

  /** The measured versions, newest first by id. */
  versions(): string[] {
    return [...this.#windows.keys()].sort().reverse();
  }

  /** Plain counts of this gateway, mergeable by addition with other gateways' (see report.ts). */
  snapshot(): DriftCounts {
    const versions = nameMap<ReturnType<DriftWindow['counts']>>();
    for (const v of this.versions()) versions[v] = (this.#windows.get(v) as DriftWindow).counts();
    return { gateways: 1, versions };
  }

  /**
   * What a peer's counts of `version` must look like, from the reference this gateway loaded. A version
   * only other gateways have seen gets its manifest read here as if it had answered (off the request
   * path: 'loading' until it is in, and the version is left out of the merge until then).
   */
  #shape(version: string): CountsShape | 'loading' {
    const w = this.#windows.get(version);
    if (w === undefined) {
      this.#firstSight(version);
      return 'loading';
    }
    const ref = w.reference;
    return {
      features: new Map(ref === null ? [] : ref.features.map((f) => [f.name, f.shares.length + 2])),
      prediction: ref === null || ref.prediction === null ? null : ref.prediction.shares.length + 2,
    };
  }

  /**
   * This gateway's counts plus every live peer's valid snapshot (`gateways` says how many were
   * summed). A snapshot that fails validation is left out whole, with one warning per gateway and reason.
   */
  merged(): DriftCounts {
    let counts = this.snapshot();
    const seen = new Set<string>();
    for (const peer of this.peers()) {
      seen.add(peer.gateway);
      let theirs: DriftCounts;
      try {
        theirs = peerDriftCounts(peer.drift, (v) => this.#shape(v), MAX_VERSIONS);
      } catch (err) {
        const reason = (err as Error).message;
        if (this.#peerWarned.get(peer.gateway) !== reason) {
          this.#peerWarned.set(peer.gateway, reason);
          this.#log.warn({ gateway: peer.gateway, reason }, 'drift: peer snapshot skipped');
        }
        continue;
      }
      this.#peerWarned.delete(peer.gateway);
      counts = mergeDriftCounts(counts, theirs);
    }
    for (const gateway of this.#peerWarned.keys()) if (!seen.has(gateway)) this.#peerWarned.delete(gateway);
    return counts;
  }

  /** One version's figures from this gateway's counts; undefined when it has not been seen. */
  versionReport(version: string): VersionDriftView | undefined {
    const w = this.#windows.get(version);
    return w === undefined ? undefined : driftReport(w.counts(), w.reference, this.thresholds, w.note);
  }

  /**
   * The JSON of GET /drift: the merge of every live gateway's counts, judged with this gateway's
   * thresholds and minimum sample (the gauges and the crossing log stay per process).
   */
  document(): DriftDocument {
    const merged = this.merged();
    const versions = nameMap<VersionDriftView>();
    for (const v of this.versions()) {
      const w = this.#windows.get(v) as DriftWindow;
      const counts = merged.versions[v] ?? w.counts();
      versions[v] = driftReport(counts, w.reference, this.thresholds, w.note);
    }
    return {
      generated_at: new Date().toISOString(),
      gateways: merged.gateways,
      scope: merged.gateways === 1 ? 'this gateway' : `merged across ${merged.gateways} gateways`,
      thresholds: thresholdsView(this.thresholds),
      versions,
    };
  }

  /** Logs each feature (and prediction) whose level changed since the last check. */
  check(): void {
    for (const version of this.versions()) {
      const r = this.versionReport(version);
      if (r === undefined || r.reference === 'none') continue;
      const series = Object.entries(r.features);
      if (r.prediction !== null) series.push(['(prediction)', r.prediction]);
      for (const [feature, s] of series) {
        if (s.level === 'insufficient') continue;
        const key = `${version}\0${feature}`;
        const before = this.#levels.get(key) ?? 'ok';
        if (before === s.level) continue;
        this.#levels.set(key, s.level);
        const fields = {
          version,
          feature,
          from: before,
          to: s.level,
          psi: s.psi,
          out_of_range: s.out_of_range,
          window: r.window,
          threshold: s.level === 'ok' ? this.thresholds.warn : this.thresholds[s.level],
        };
        if (s.level === 'alert') this.#log.warn(fields, 'feature drift alert');
        else this.#log.info(fields, s.level === 'warn' ? 'feature drift warning' : 'feature drift cleared');
      }
    }
  }
}
