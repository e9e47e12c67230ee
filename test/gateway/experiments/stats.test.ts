import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { analyse, type Thresholds } from '../../../src/gateway/experiments/analysis.js';
import {
  compareVersions,
  ExperimentStats,
  LatencyHistogram,
} from '../../../src/gateway/experiments/stats.js';

describe('LatencyHistogram', () => {
  it('estimates percentiles within the bucket resolution', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.add(i / 10); // 0.1 … 100 ms, uniform
    expect(h.quantile(0.5) / 50).toBeGreaterThan(0.95);
    expect(h.quantile(0.5) / 50).toBeLessThan(1.05);
    expect(h.quantile(0.9) / 90).toBeGreaterThan(0.95);
    expect(h.quantile(0.9) / 90).toBeLessThan(1.05);
    expect(h.quantile(0.99) / 99).toBeGreaterThan(0.95);
    expect(h.quantile(0.99) / 99).toBeLessThan(1.05);
    expect(Number.isNaN(new LatencyHistogram().quantile(0.5))).toBe(true);
  });
});

describe('ExperimentStats', () => {
  it('keeps per-version counts, prediction moments and feedback errors', async () => {
    const registry = new Registry();
    const stats = new ExperimentStats({ registry });
    for (const [p, ms] of [
      [1, 2],
      [2, 4],
      [3, 6],
    ]) {
      stats.observe('v1', { latencyMs: ms, error: false, prediction: p });
    }
    stats.observe('v1', { latencyMs: 50, error: true });
    stats.observe('v2', { latencyMs: 3, error: false, prediction: 10, kind: 'shadow' });
    stats.observe('v2', { latencyMs: 4, error: true, kind: 'pinned' });
    // Hand computation: errors 1 − 1.5 = −0.5, 2 − 1 = 1, 3 − 5 = −2 → MAE 3.5/3, RMSE √(5.25/3).
    stats.observeFeedback('v1', 1, 1.5);
    stats.observeFeedback('v1', 2, 1);
    stats.observeFeedback('v1', 3, 5);
    const v1 = stats.get('v1')!;
    expect(v1.requests).toBe(4);
    expect(v1.errors).toBe(1);
    expect(v1.errorRate).toBe(0.25);
    expect(v1.served.predictions.mean).toBeCloseTo(2, 12);
    expect(v1.served.predictions.stddev).toBeCloseTo(1, 12);
    expect(v1.mae).toBeCloseTo(3.5 / 3, 12);
    expect(v1.rmse).toBeCloseTo(Math.sqrt(5.25 / 3), 12);
    const snap = stats.snapshot();
    expect(snap.map((s) => s.version)).toEqual(['v1', 'v2']);
    expect(snap[1].shadow_requests).toBe(1);
    expect(snap[1].pinned_requests).toBe(1);
    // Neither a shadow copy nor a pinned request is in the served column the comparison reads.
    expect(snap[1].requests).toBe(0);
    expect(snap[1].errors).toBe(0);
    expect(snap[1].pinned.errors).toBe(1);
    expect(snap[0].feedback).toEqual({ count: 3, mae: v1.mae, rmse: v1.rmse });

    const text = await registry.metrics();
    expect(text).toContain('flywheel_version_requests_total{version="v1",kind="served"} 4');
    expect(text).toContain('flywheel_version_requests_total{version="v2",kind="shadow"} 1');
    expect(text).toContain('flywheel_version_requests_total{version="v2",kind="pinned"} 1');
    expect(text).toContain('flywheel_version_errors_total{version="v1"} 1');
    // Errors and feedback are summed over the served, pinned and shadow columns.
    expect(text).toContain('flywheel_version_errors_total{version="v2"} 1');
    expect(text).toContain('flywheel_version_feedback_total{version="v1"} 3');
    expect(text).toMatch(/flywheel_version_mae\{version="v1"\} 1\.1666/);
    expect(text).toContain('flywheel_version_latency_seconds_count{version="v1"} 4');
  });

  it('forgets old versions and their series', async () => {
    const registry = new Registry();
    const stats = new ExperimentStats({ registry });
    for (let i = 0; i < 10; i++) stats.observe(`v${i}`, { latencyMs: 1, error: false, prediction: 1 });
    expect(stats.get('v0')).toBeUndefined();
    expect(stats.get('v9')).toBeDefined();
    expect(await registry.metrics()).not.toContain('version="v0"');
  });
});

const thresholds: Thresholds = {
  minRequests: 50,
  minDurationMs: 0,
  minFeedback: 20,
  maxErrorRateIncrease: 0.02,
  maxP99Ratio: 2,
  maxMaeRatio: 1.1,
  alpha: 0.05,
};

function fill(
  stats: ExperimentStats,
  version: string,
  n: number,
  opts: {
    errorEvery?: number;
    latency?: (i: number) => number;
    absError?: (i: number) => number;
    feedback?: number;
  },
) {
  for (let i = 0; i < n; i++) {
    const error = opts.errorEvery !== undefined && i % opts.errorEvery === 0;
    stats.observe(version, { latencyMs: opts.latency?.(i) ?? 5 + (i % 5), error, prediction: 50 });
  }
  for (let i = 0; i < (opts.feedback ?? 0); i++)
    stats.observeFeedback(version, 50, 50 + (opts.absError?.(i) ?? 5));
}

describe('analyse', () => {
  const versions = { candidate: 'c', production: 'p' };

  it('waits for enough requests and feedback', () => {
    const stats = new ExperimentStats({ registry: new Registry() });
    expect(analyse(stats, versions, thresholds, Date.now()).decision).toBe('wait');
    fill(stats, 'p', 100, { feedback: 30 });
    fill(stats, 'c', 10, { feedback: 30 });
    const v = analyse(stats, versions, thresholds, Date.now());
    expect(v.decision).toBe('wait');
    expect(v.reasons[0]).toMatch(/requests: candidate 10/);
    fill(stats, 'c', 100, { feedback: 0 });
    expect(analyse(stats, versions, thresholds, Date.now()).decision).toBe('promote');
    const strict = { ...thresholds, minFeedback: 100 };
    expect(analyse(stats, versions, strict, Date.now()).reasons.join()).toMatch(/feedback: candidate 30/);
  });

  it('waits for the minimum duration', () => {
    const stats = new ExperimentStats({ registry: new Registry() });
    fill(stats, 'p', 100, { feedback: 30 });
    fill(stats, 'c', 100, { feedback: 30 });
    const v = analyse(stats, versions, { ...thresholds, minDurationMs: 60_000 }, Date.now());
    expect(v.decision).toBe('wait');
    expect(v.reasons[0]).toMatch(/observed 0s of 60s/);
  });

  it('rolls back on an error-rate increase', () => {
    const stats = new ExperimentStats({ registry: new Registry() });
    fill(stats, 'p', 200, { feedback: 30 });
    fill(stats, 'c', 200, { feedback: 30, errorEvery: 10 });
    const v = analyse(stats, versions, thresholds, Date.now());
    expect(v.decision).toBe('rollback');
    expect(v.reasons[0]).toMatch(/^error rate/);
    expect(v.comparison!.error_rate.increase).toBeCloseTo(0.1, 12);
  });

  it('rolls back on a slow p99', () => {
    const stats = new ExperimentStats({ registry: new Registry() });
    fill(stats, 'p', 200, { feedback: 30 });
    fill(stats, 'c', 200, { feedback: 30, latency: (i) => (i % 20 === 0 ? 100 : 5) });
    const v = analyse(stats, versions, thresholds, Date.now());
    expect(v.decision).toBe('rollback');
    expect(v.reasons.join()).toMatch(/p99 latency/);
    expect(v.comparison!.latency.welch!.p_greater).toBeLessThan(0.05);
  });

  it('rolls back a significantly worse MAE but only waits on a noisy one', () => {
    const worse = new ExperimentStats({ registry: new Registry() });
    fill(worse, 'p', 200, { feedback: 42, absError: (i) => 4 + (i % 3) });
    fill(worse, 'c', 200, { feedback: 42, absError: (i) => 9 + (i % 3) });
    const v = analyse(worse, versions, thresholds, Date.now());
    expect(v.decision).toBe('rollback');
    expect(v.reasons[0]).toMatch(/^MAE 10\.000 vs 5\.000: ratio 2\.00/);

    const noisy = new ExperimentStats({ registry: new Registry() });
    fill(noisy, 'p', 200, { feedback: 20, absError: (i) => (i % 2 === 0 ? 0 : 10) });
    fill(noisy, 'c', 200, { feedback: 20, absError: (i) => (i % 2 === 0 ? 0 : 12) });
    const w = analyse(noisy, versions, thresholds, Date.now());
    expect(w.decision).toBe('wait');
    expect(w.reasons.join()).toMatch(/not significant/);
  });

  it('compares the same version with itself as equal', () => {
    const stats = new ExperimentStats({ registry: new Registry() });
    fill(stats, 'p', 100, { feedback: 30 });
    const c = compareVersions(stats.get('p')!, stats.get('p')!);
    expect(c.mae.ratio).toBe(1);
    expect(c.latency.p99_ratio).toBe(1);
    expect(c.latency.welch!.p_two_sided).toBeCloseTo(1, 12);
  });
});
