// Restart delays for crashed children, like Kubernetes' CrashLoopBackOff but scaled for a laptop:
// the first restart is quick (a killed replica is back within a second), a child that keeps
// crashing waits longer and longer, and one that stayed up for a while starts over from the
// shortest delay.

export interface BackoffPolicy {
  /** Delay before the first restart. */
  readonly initialMs: number;
  /** Each consecutive crash multiplies the delay by this. */
  readonly factor: number;
  readonly maxMs: number;
  /** A child that ran at least this long before crashing counts as healthy: the delay resets. */
  readonly resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 500,
  factor: 2,
  maxMs: 30_000,
  resetAfterMs: 30_000,
};

/** Delay before restart number `consecutive` (1 for the first crash in a row). */
export function backoffDelay(policy: BackoffPolicy, consecutive: number): number {
  const n = Math.max(1, Math.floor(consecutive));
  // Math.min before the power would overflow to Infinity for long crash loops; clamp the exponent.
  const exponent = Math.min(n - 1, 64);
  return Math.min(policy.maxMs, Math.round(policy.initialMs * policy.factor ** exponent));
}

/** Consecutive crash count after a crash of a child that ran for `uptimeMs`. */
export function nextConsecutive(policy: BackoffPolicy, previous: number, uptimeMs: number): number {
  return uptimeMs >= policy.resetAfterMs ? 1 : previous + 1;
}
