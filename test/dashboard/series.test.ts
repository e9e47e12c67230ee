// The dashboard's live figures: percentiles from histogram buckets and rates from running totals,
// checked against hand computations and against the real per-version statistics of the gateway.
import { Registry as PromRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { experimentsFacts } from '../../src/gateway/dashboard/experiments-source.js';
import { histogramQuantile, Sampler, type VersionCounters } from '../../src/gateway/dashboard/series.js';
import { ExperimentStats } from '../../src/gateway/experiments/stats.js';

const unitBounds = (i: number) => i + 1; // bucket i holds (i, i + 1]

function counters(version: string, c: Partial<Omit<VersionCounters, 'version'>>): VersionCounters {
  return {
    version,
    requests: 0,
    errors: 0,
    latencyCounts: [0, 0, 0, 0],
    latencyBound: unitBounds,
    predictionCount: 0,
    predictionSum: 0,
    feedbackCount: 0,
    absErrorSum: 0,
    ...c,
  };
}

const NO_TRAFFIC = { requests: null, replicas: [] };

describe('histogramQuantile', () => {
  it('interpolates inside the bucket the rank falls in', () => {
    // 10 values in (1, 2], 10 in (3, 4]
    const counts = [0, 10, 0, 10];
    expect(histogramQuantile(counts, unitBounds, 0.5)).toBeCloseTo(2, 10);
    expect(histogramQuantile(counts, unitBounds, 0.25)).toBeCloseTo(1.5, 10);
    expect(histogramQuantile(counts, unitBounds, 0.75)).toBeCloseTo(3.5, 10);
    expect(histogramQuantile(counts, unitBounds, 1)).toBeCloseTo(4, 10);
  });

  it('is null for an empty histogram and the lower edge in an open-ended last bucket', () => {
    expect(histogramQuantile([0, 0, 0], unitBounds, 0.5)).toBeNull();
    const bound = (i: number) => (i < 2 ? i + 1 : Infinity);
    expect(histogramQuantile([0, 0, 5], bound, 0.99)).toBe(2);
  });

  it('is within a bucket of the exact percentile on the gateway’s own latency buckets', () => {
    const stats = new ExperimentStats({ registry: new PromRegistry() });
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const values: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const ms = 0.5 + 40 * rand() ** 3;
      values.push(ms);
      stats.observe('v1', { latencyMs: ms, error: false, prediction: 1 });
    }
    values.sort((a, b) => a - b);
    const [c] = experimentsFacts({
      evidence: () => ({ stats, gateways: ['g'] }),
      thresholds: THRESHOLDS,
      automatic: true,
    }).counters();
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = values[Math.ceil(q * values.length) - 1];
      const got = histogramQuantile(c.latencyCounts, c.latencyBound, q);
      // The buckets grow by 2^(1/8) ≈ 9%: the estimate lies within one bucket of the truth.
      expect(got).not.toBeNull();
      expect(Math.abs((got as number) / exact - 1)).toBeLessThan(0.1);
    }
  });
});

const THRESHOLDS = {
  minRequests: 100,
  minDurationMs: 0,
  minFeedback: 0,
  maxErrorRateIncrease: 0.05,
  maxP99Ratio: 2,
  maxMaeRatio: 1.2,
  alpha: 0.05,
};

describe('Sampler', () => {
  it('turns running totals into per-interval rates, and the MAE of the feedback so far', () => {
    const s = new Sampler({ intervalMs: 1000, windowS: 60, latencyIntervals: 1 });
    s.record(10_000, [counters('a', { requests: 100, errors: 1, predictionCount: 99, predictionSum: 990 })], {
      requests: 100,
      replicas: [{ url: 'http://r1', requests: 60 }],
    });
    s.record(
      12_000,
      [
        counters('a', {
          requests: 140,
          errors: 3,
          latencyCounts: [0, 40, 0, 0],
          predictionCount: 137,
          predictionSum: 990 + 38 * 20,
          feedbackCount: 4,
          absErrorSum: 10,
        }),
      ],
      { requests: 150, replicas: [{ url: 'http://r1', requests: 90 }] },
    );
    const view = s.series(null, () => 'production');
    expect(view.t).toEqual([12]);
    const a = view.versions[0];
    expect(a.version).toBe('a');
    expect(a.alias).toBe('production');
    expect(a.rps[0]).toBeCloseTo(20, 10); // 40 requests in 2 s
    expect(a.error_rate[0]).toBeCloseTo(2 / 40, 10);
    expect(a.mean_prediction[0]).toBeCloseTo(20, 10);
    expect(a.p50_ms[0]).toBeCloseTo(1.5, 10);
    expect(a.mae[0]).toBeCloseTo(2.5, 10);
    const rates = s.rates();
    expect(rates.gateway).toBeCloseTo(25, 10);
    expect(rates.replicas.get('http://r1')).toBeCloseTo(15, 10);
  });

  it('computes latency percentiles over the last few intervals only', () => {
    const s = new Sampler({ intervalMs: 1000, windowS: 60, latencyIntervals: 2 });
    s.record(0, [counters('a', { latencyCounts: [0, 0, 0, 0] })], NO_TRAFFIC);
    s.record(1000, [counters('a', { requests: 10, latencyCounts: [0, 0, 0, 10] })], NO_TRAFFIC);
    s.record(2000, [counters('a', { requests: 20, latencyCounts: [10, 0, 0, 10] })], NO_TRAFFIC);
    // Third interval: the slow requests of the first interval have left the two-interval window.
    s.record(3000, [counters('a', { requests: 30, latencyCounts: [20, 0, 0, 10] })], NO_TRAFFIC);
    const p99 = s.series(null, () => null).versions[0].p99_ms;
    expect(p99[0]).toBeCloseTo(3.99, 10);
    expect(p99[1]).toBeGreaterThan(3); // slow ones still in the window
    expect(p99[2]).toBeLessThan(1); // only fast ones left
  });

  it('returns only the points after `since`, and keeps no more than the window', () => {
    const s = new Sampler({ intervalMs: 1000, windowS: 5, latencyIntervals: 1 });
    for (let i = 0; i <= 20; i++) s.record(i * 1000, [counters('a', { requests: i * 10 })], NO_TRAFFIC);
    const all = s.series(null, () => null);
    expect(all.t).toEqual([16, 17, 18, 19, 20]);
    expect(all.versions[0].rps).toEqual([10, 10, 10, 10, 10]);
    const after = s.series(18, () => null);
    expect(after.t).toEqual([19, 20]);
    expect(after.versions[0].rps).toHaveLength(2);
    expect(s.series(20, () => null).t).toEqual([]);
  });

  it('gives no figure (rather than a negative rate) when a counter goes back, and aligns late versions', () => {
    const s = new Sampler({ intervalMs: 1000, windowS: 60, latencyIntervals: 1 });
    s.record(0, [counters('a', { requests: 50 })], { requests: 50, replicas: [] });
    s.record(1000, [counters('a', { requests: 60 })], { requests: 60, replicas: [] });
    // The gateway restarted its statistics: totals start again from zero.
    s.record(2000, [counters('a', { requests: 5 }), counters('b', { requests: 3 })], {
      requests: 5,
      replicas: [],
    });
    s.record(3000, [counters('a', { requests: 9 }), counters('b', { requests: 7 })], {
      requests: 9,
      replicas: [],
    });
    const view = s.series(null, () => null);
    const a = view.versions.find((v) => v.version === 'a');
    const b = view.versions.find((v) => v.version === 'b');
    expect(view.t).toEqual([1, 2, 3]);
    expect(a?.rps).toEqual([10, null, 4]);
    // b first appeared at t=2: nothing before, no rate for its first sample, then its rate.
    expect(b?.rps).toEqual([null, null, 4]);
  });

  it('drops a version from the series once it has no figure left in the window', () => {
    const s = new Sampler({ intervalMs: 1000, windowS: 3, latencyIntervals: 1 });
    s.record(0, [counters('old', { requests: 0 })], NO_TRAFFIC);
    s.record(1000, [counters('old', { requests: 10 })], NO_TRAFFIC);
    for (let i = 2; i <= 6; i++) s.record(i * 1000, [counters('new', { requests: i })], NO_TRAFFIC);
    expect(s.series(null, () => null).versions.map((v) => v.version)).toEqual(['new']);
  });
});
