// Reference values from SciPy 1.17 (stats.t.sf, stats.ttest_ind(equal_var=False)) and closed forms.
import { describe, expect, it } from 'vitest';
import {
  incompleteBeta,
  logGamma,
  studentTCdf,
  studentTUpperTail,
  Welford,
  welchTest,
} from '../../../src/gateway/experiments/welch.js';

describe('log-gamma and incomplete beta', () => {
  it('matches factorials and closed forms', () => {
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(logGamma(101)).toBeCloseTo(363.73937555556347, 9);
    // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1 − x)^b
    expect(incompleteBeta(0.3, 1, 1)).toBeCloseTo(0.3, 12);
    expect(incompleteBeta(0.7, 3, 1)).toBeCloseTo(0.343, 12);
    expect(incompleteBeta(0.2, 1, 4)).toBeCloseTo(1 - 0.8 ** 4, 12);
    expect(incompleteBeta(0, 2, 3)).toBe(0);
    expect(incompleteBeta(1, 2, 3)).toBe(1);
  });
});

describe('Student t distribution', () => {
  it('equals the Cauchy CDF at 1 degree of freedom and its closed form at 2', () => {
    for (const t of [-30, -2.5, -0.3, 0, 0.7, 4, 100]) {
      expect(studentTCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 12);
      expect(studentTCdf(t, 2)).toBeCloseTo(0.5 + t / (2 * Math.sqrt(2 + t * t)), 12);
    }
  });

  it('matches SciPy upper tails, including far tails and fractional degrees of freedom', () => {
    const cases: [number, number, number][] = [
      [2.0, 10, 0.03669401738537018],
      [2.228138852, 10, 0.025],
      [10, 5, 8.547378787148181e-5],
      [0.5, 3.7, 0.3226678166599659],
      [-1.5, 7.3, 0.912218453598457],
      [6, 2.5, 0.0076408649427614495],
      [3, 1e5, 0.0013502304420323617],
    ];
    for (const [t, df, want] of cases) {
      const got = studentTUpperTail(t, df);
      expect(Math.abs(got - want) / want, `t=${t} df=${df}`).toBeLessThan(1e-8);
    }
    // 40σ with 30 df: relative precision holds deep in the tail.
    expect(studentTUpperTail(40, 30) / 6.863022597203209e-28).toBeCloseTo(1, 6);
  });

  it('tends to the normal for huge degrees of freedom', () => {
    expect(studentTUpperTail(1.959963984540054, 1e9)).toBeCloseTo(0.025, 6);
    expect(studentTUpperTail(0, 1e9)).toBeCloseTo(0.5, 6);
    expect(studentTUpperTail(Infinity, 3)).toBe(0);
    expect(Number.isNaN(studentTUpperTail(1, 0))).toBe(true);
  });
});

describe('Welch t-test', () => {
  const a = [1.2, 3.4, 2.2, 5.1, 4.4, 3.3, 2.8];
  const b = [2.1, 2.5, 2.0, 2.9, 3.1, 2.2, 2.6, 2.4, 2.8];
  const moments = (xs: number[]) => {
    const w = new Welford();
    for (const x of xs) w.add(x);
    return { n: w.n, mean: w.mean, variance: w.variance };
  };

  it('computes running mean and sample variance', () => {
    const m = moments(a);
    expect(m.mean).toBeCloseTo(3.2, 12);
    expect(m.variance).toBeCloseTo(1.71, 12);
  });

  it('matches scipy.stats.ttest_ind(equal_var=False)', () => {
    const r = welchTest(moments(a), moments(b));
    expect(r).not.toBeNull();
    expect(r!.t).toBeCloseTo(1.3511139180463907, 10);
    expect(r!.df).toBeCloseTo(6.77398499599687, 10);
    expect(r!.p_two_sided).toBeCloseTo(0.22004307292597394, 9);
    expect(r!.p_greater).toBeCloseTo(0.11002153646298697, 9);
    const reverse = welchTest(moments(b), moments(a));
    expect(reverse!.p_greater).toBeCloseTo(1 - 0.11002153646298697, 9);
  });

  it('handles too few values and constant samples', () => {
    expect(welchTest({ n: 1, mean: 1, variance: 0 }, moments(b))).toBeNull();
    const same = welchTest({ n: 5, mean: 2, variance: 0 }, { n: 5, mean: 2, variance: 0 });
    expect(same!.p_two_sided).toBe(1);
    const apart = welchTest({ n: 5, mean: 3, variance: 0 }, { n: 5, mean: 2, variance: 0 });
    expect(apart!.p_greater).toBe(0);
  });
});
