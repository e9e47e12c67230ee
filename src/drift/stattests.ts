// Drift statistics, one pure function per statistic with its default threshold, registered by name
// (the way Evidently's `stattests` are). Each compares a reference's bin shares with live bin counts
// laid out as `[bin 0, ..., bin k-1, below min, above max]`; the reference has no rows outside its own
// range, so its share there is 0.

/**
 * The share a bin with no rows counts as in PSI, on either side: ln(0) would make one empty bin
 * infinite. 0.0001 is Evidently's choice; a live share that really is 0 next to a reference share of
 * 0.1 then adds (0.1 − 0.0001) · ln(1000) ≈ 0.69 — a clear signal, not an infinity.
 */
export const PSI_EPSILON = 0.0001;

export interface StatTest {
  readonly name: string;
  /** What a value at or over `threshold` means, for people reading /drift and the docs. */
  readonly description: string;
  readonly threshold: number;
  /** NaN when there is nothing to compare (no live values). */
  compute(referenceShares: readonly number[], live: ArrayLike<number>): number;
}

function total(live: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < live.length; i++) n += live[i];
  return n;
}

/**
 * Population Stability Index: Σ (live − reference) · ln(live / reference) over the reference's bins
 * and the two out-of-range bins, shares of 0 counted as PSI_EPSILON. Symmetric, 0 for identical
 * shares. The usual reading (Siddiqi, credit scoring): below 0.1 no significant change, 0.1–0.25 a
 * moderate shift worth watching, 0.25 and over a major shift.
 */
export function psi(referenceShares: readonly number[], live: ArrayLike<number>): number {
  const k = referenceShares.length;
  const n = total(live);
  if (n === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < k + 2; i++) {
    const e = i < k ? referenceShares[i] : 0;
    const a = live[i] / n;
    const ee = e > 0 ? e : PSI_EPSILON;
    const aa = a > 0 ? a : PSI_EPSILON;
    sum += (aa - ee) * Math.log(aa / ee);
  }
  return sum;
}

/** Share of live values below the reference's minimum or above its maximum. */
export function outOfRangeShare(referenceShares: readonly number[], live: ArrayLike<number>): number {
  const k = referenceShares.length;
  const n = total(live);
  if (n === 0) return NaN;
  return (live[k] + live[k + 1]) / n;
}

export const STATTESTS = {
  psi: {
    name: 'psi',
    description: 'Population Stability Index over the quantile bins plus below-min and above-max',
    threshold: 0.1,
    compute: psi,
  },
  out_of_range: {
    name: 'out_of_range',
    description: 'share of live values outside the training range [min, max]',
    threshold: 0.05,
    compute: outOfRangeShare,
  },
} as const satisfies Record<string, StatTest>;

export type StatTestName = keyof typeof STATTESTS;
