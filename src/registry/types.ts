// Shapes stored in the registry: a version's manifest, the alias file and its history.
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

export interface Manifest {
  readonly format: 1;
  readonly version: string;
  readonly created_at: string;
  readonly trainer_host: string;
  readonly package_version: string;
  readonly algorithm: Algorithm;
  readonly data: DataProvenance;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly metrics: HoldoutMetrics;
  readonly fit_seconds: number;
  readonly artifact: { readonly file: string; readonly sha256: string; readonly bytes: number };
  readonly features: readonly FeatureSchema[];
  readonly target: string;
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
}
