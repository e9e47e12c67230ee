// Shapes stored in the registry: a version's manifest, the alias file and its history.
import type { DriftReference } from '../drift/types.js';
import type { ErrorCode } from '../errors.js';
import type { Algorithm, FeatureSchema, HoldoutMetrics } from '../model/types.js';

export const ALIASES = ['production', 'candidate'] as const;
export type AliasName = (typeof ALIASES)[number];

export interface DataProvenance {
  /** e.g. `synthetic`, `csv:/data/users.csv`, `feedback` */
  readonly source: string;
  readonly rows: number;
  /** sha256 of the data as read (hex) */
  readonly sha256: string;
}

/**
 * What produced a version. Absent in manifests written before it existed, and for the learner's own
 * models: read as `{ kind: 'flywheel' }`.
 */
export interface ModelOrigin {
  /** flywheel: Flywheel's learner; xgboost / scikit-learn: an imported model; interchange: a flywheel-trees file. */
  readonly kind: 'flywheel' | 'xgboost' | 'scikit-learn' | 'interchange';
  readonly library_version?: string;
  /** scikit-learn's estimator class, or `gbtree` for XGBoost. */
  readonly estimator?: string;
  /** The training objective or loss, when the library names one. */
  readonly objective?: string;
  /** The imported file's name and sha256. */
  readonly file?: string;
  readonly file_sha256?: string;
  /** Set when `flywheel train --command` produced the model. */
  readonly command?: string;
}

export interface Manifest {
  readonly format: 1;
  readonly version: string;
  readonly created_at: string;
  readonly trainer_host: string;
  readonly package_version: string;
  readonly algorithm: Algorithm;
  readonly data: DataProvenance;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Holdout metrics; null for an imported version that was given no evaluation data. */
  readonly metrics: HoldoutMetrics | null;
  readonly fit_seconds: number;
  readonly artifact: { readonly file: string; readonly sha256: string; readonly bytes: number };
  readonly features: readonly FeatureSchema[];
  readonly target: string;
  /** The training distribution drift is measured against; absent in manifests from before it existed. */
  readonly reference?: DriftReference;
  readonly origin?: ModelOrigin;
}

export interface AliasState {
  readonly production: string | null;
  readonly candidate: string | null;
  /** Increases by one on every change, so readers can tell a new state from an old one. */
  readonly generation: number;
  readonly updated_at: string | null;
}

export interface AliasChange {
  readonly at: string;
  readonly alias: AliasName;
  readonly from: string | null;
  readonly to: string | null;
  readonly by: string;
  readonly reason: string;
  /** Figures behind an automatic decision (holdout metrics, canary analysis). */
  readonly evidence?: Readonly<Record<string, unknown>>;
  /**
   * What kind of entry: `set` / `promote` / `rollback` change the alias; `decision` records a choice
   * that left it as it was (`from === to`, e.g. a trainer that did not promote), for the audit trail.
   * Absent in entries written before it existed: read as `set`.
   */
  readonly action?: AliasAction;
  /** The alias file's generation after this change. */
  readonly generation?: number;
}

export type AliasAction = 'set' | 'promote' | 'rollback' | 'decision';

/** Who changed an alias and why; the registry adds when, from and to. */
export interface ChangeInfo {
  /** Defaults to this host's name. */
  readonly by?: string;
  readonly reason: string;
  readonly evidence?: Readonly<Record<string, unknown>>;
  /**
   * Runs under the registry lock before anything is read or written; throwing refuses the change.
   * How an elected actor fences its decisions (see lease.ts `guard`).
   */
  readonly guard?: () => Promise<void>;
}

/** One entry of a version listing: a broken version is listed and marked, never thrown. */
export type VersionEntry =
  | { readonly version: string; readonly ok: true; readonly manifest: Manifest }
  | { readonly version: string; readonly ok: false; readonly error: string; readonly code: ErrorCode };
