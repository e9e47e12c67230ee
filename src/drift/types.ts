// The reference distribution a version's live traffic is compared with: stored in the version's
// manifest by the trainer (see src/trainer/reference.ts), read by the gateway's drift monitor.

/**
 * One variable's training distribution in quantile bins. Bin i holds the values v with
 * `edges[i-1] < v <= edges[i]` (the first bin starts at `min`, the last ends at `max`), so
 * `edges.length === shares.length - 1`. Values below `min` or above `max` fall outside every bin: they
 * are the live traffic's out-of-range share.
 */
export interface Distribution {
  /** Inner cut points, strictly increasing, each in [min, max). */
  readonly edges: readonly number[];
  /** Share of the reference rows in each bin; sums to 1. */
  readonly shares: readonly number[];
  readonly min: number;
  readonly max: number;
  /** Rows the distribution was computed from. */
  readonly rows: number;
}

export interface FeatureDistribution extends Distribution {
  readonly name: string;
}

/** The manifest's `reference` field (absent in manifests written before drift monitoring). */
export interface DriftReference {
  readonly format: 1;
  /** Bins asked for; a variable with fewer distinct values (or few rows) gets fewer. */
  readonly bins: number;
  /** Training rows, in the manifest's feature order. */
  readonly features: readonly FeatureDistribution[];
  /** The model's predictions on its holdout; null when there was no holdout (an import without data). */
  readonly prediction: Distribution | null;
}
