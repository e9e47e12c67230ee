// The JSON of the gateway's `GET /drift` (see src/gateway/drift/). Types only: the server code and the
// dashboard's drift panel (compiled by client/tsconfig.json, which only sees this folder) both import
// this file, so they cannot drift apart. Keep it free of values.

/** `insufficient`: fewer requests in the window than `min_requests`, so no verdict is given. */
export type DriftLevel = 'ok' | 'warn' | 'alert' | 'insufficient';

export interface DriftSeriesView {
  /** Population Stability Index against the reference; null below `min_requests`. */
  readonly psi: number | null;
  /** Share of the window outside the training [min, max]; null below `min_requests`. */
  readonly out_of_range: number | null;
  readonly level: DriftLevel;
  /**
   * Shares of the window per bin, then below min, then above max (`edges.length + 3` entries); all
   * zero while the window is empty.
   */
  readonly live: readonly number[];
  /** The training shares in the same layout (0 below min and above max). */
  readonly reference: readonly number[];
  readonly edges: readonly number[];
  readonly min: number;
  readonly max: number;
}

export interface VersionDriftView {
  /** Single-row /predict answers (200) of this version counted since this gateway started. */
  readonly requests: number;
  /** Of those, the ones in the sliding window now (at most `thresholds.window` per gateway). */
  readonly window: number;
  /** `none`: the manifest has no reference (published before drift monitoring, or unreadable). */
  readonly reference: 'training' | 'none';
  /** Why there is no reference, or why the version is not measured yet; null when measured. */
  readonly note: string | null;
  /** By feature name, in the model's feature order. */
  readonly features: Readonly<Record<string, DriftSeriesView>>;
  readonly prediction: DriftSeriesView | null;
  /** Features whose PSI is at or over the alert threshold. */
  readonly drifted: readonly string[];
}

export interface DriftThresholdsView {
  readonly window: number;
  readonly min_requests: number;
  readonly warn: number;
  readonly alert: number;
}

export interface DriftDocument {
  readonly generated_at: string;
  /** How many gateways' traffic the figures cover. */
  readonly gateways: number;
  /** `this gateway`, or `merged across N gateways` when live peers' counts were added. */
  readonly scope: string;
  readonly thresholds: DriftThresholdsView;
  readonly versions: Readonly<Record<string, VersionDriftView>>;
}
