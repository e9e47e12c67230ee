// The drift statistics and reference bins against figures worked out by hand and against numpy
// (test/drift/fixtures/psi-numpy.json, made by make_psi_fixture.py with /usr/bin/python3 and
// committed: no Python runs here).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildReference,
  distributionOf,
  quantileEdges,
  referenceProblem,
  slotOf,
} from '../../src/drift/reference.js';
import { outOfRangeShare, psi, PSI_EPSILON, STATTESTS } from '../../src/drift/stattests.js';

interface NumpyCase {
  name: string;
  bins: number;
  reference_values: number[];
  live_values: number[];
  edges: number[];
  shares: number[];
  min: number;
  max: number;
  live_counts: number[];
  psi: number;
  out_of_range: number;
}
const NUMPY = JSON.parse(readFileSync(new URL('./fixtures/psi-numpy.json', import.meta.url), 'utf8')) as {
  epsilon: number;
  cases: NumpyCase[];
};

function liveCounts(edges: readonly number[], min: number, max: number, values: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 4).fill(0);
  const cuts = Float64Array.from(edges);
  for (const v of values) counts[slotOf(cuts, min, max, v)]++;
  return counts.slice(0, edges.length + 3);
}

describe('psi', () => {
  it('is 0 for identical shares and follows Σ (a − e) ln(a / e) worked by hand', () => {
    expect(psi([0.5, 0.5], [5, 5, 0, 0])).toBe(0);
    // a = [0.75, 0.25], e = [0.5, 0.5]: 0.25 ln 1.5 + 0.25 ln 2
    expect(psi([0.5, 0.5], [3, 1, 0, 0])).toBeCloseTo(0.25 * Math.log(1.5) + 0.25 * Math.log(2), 12);
  });

  it('counts an empty live bin as the documented epsilon instead of an infinity', () => {
    const eps = PSI_EPSILON;
    expect(eps).toBe(0.0001);
    const expected = 0.5 * Math.log(2) + (eps - 0.5) * Math.log(eps / 0.5);
    expect(psi([0.5, 0.5], [4, 0, 0, 0])).toBeCloseTo(expected, 12);
    expect(Number.isFinite(psi([0.5, 0.5], [4, 0, 0, 0]))).toBe(true);
  });

  it('counts values outside the training range against a reference share of epsilon', () => {
    // a = [0.5, 0, 0, 0.5]: bin 1 empty, above-max holds half
    const eps = PSI_EPSILON;
    const expected =
      (0.5 - 0.5) * Math.log(1) + (eps - 0.5) * Math.log(eps / 0.5) + (0.5 - eps) * Math.log(0.5 / eps);
    expect(psi([0.5, 0.5], [1, 0, 0, 1])).toBeCloseTo(expected, 12);
  });

  it('is NaN with no live values (no figure rather than a made-up 0)', () => {
    expect(psi([1], [0, 0, 0])).toBeNaN();
    expect(outOfRangeShare([1], [0, 0, 0])).toBeNaN();
  });

  it('is registered by name with its default threshold, as out_of_range is', () => {
    expect(STATTESTS.psi.threshold).toBe(0.1);
    expect(STATTESTS.psi.compute).toBe(psi);
    expect(STATTESTS.out_of_range.compute([0.5, 0.5], [1, 1, 1, 1])).toBe(0.5);
  });
});

describe('quantile bins', () => {
  it('cuts at numpy-style linear quantiles, merges ties and drops an edge at the maximum', () => {
    expect(quantileEdges([1, 2, 3, 4, 5], 4)).toEqual([2, 3, 4]);
    expect(quantileEdges([0, 10], 4)).toEqual([2.5, 5, 7.5]);
    // Half the rows at the minimum (a clipped column): the edges there merge into one.
    // q = 0.75 sits at rank 5.25: 1 + 0.25 · (2 − 1)
    expect(quantileEdges([1, 1, 1, 1, 1, 1, 2, 3], 4)).toEqual([1, 1.25]);
    // A constant column has one bin and no edge.
    expect(quantileEdges([7, 7, 7], 10)).toEqual([]);
  });

  it('puts each value in the bin (edge_{i-1}, edge_i], with below, above and not-a-number after the bins', () => {
    const edges = Float64Array.of(2, 4);
    expect([1, 2, 2.5, 4, 4.1, 6].map((v) => slotOf(edges, 1, 6, v))).toEqual([0, 0, 1, 1, 2, 2]);
    expect(slotOf(edges, 1, 6, 0.99)).toBe(3);
    expect(slotOf(edges, 1, 6, -1e9)).toBe(3);
    expect(slotOf(edges, 1, 6, 1e9)).toBe(4);
    expect(slotOf(edges, 1, 6, Infinity)).toBe(4);
    expect(slotOf(edges, 1, 6, NaN)).toBe(5);
  });

  it('gives fewer bins to few rows (at least 10 rows a bin)', () => {
    const d = distributionOf(
      Float64Array.from({ length: 50 }, (_, i) => i),
      10,
    );
    expect(d?.shares.length).toBe(5);
    expect(distributionOf([NaN], 10)).toBeNull();
  });
});

describe('against numpy', () => {
  for (const c of NUMPY.cases) {
    it(c.name, () => {
      const d = distributionOf(c.reference_values, c.bins);
      expect(d).not.toBeNull();
      const ref = d!;
      expect(ref.min).toBe(c.min);
      expect(ref.max).toBe(c.max);
      expect(ref.edges.length).toBe(c.edges.length);
      ref.edges.forEach((e, i) => expect(e).toBeCloseTo(c.edges[i], 10));
      ref.shares.forEach((s, i) => expect(s).toBeCloseTo(c.shares[i], 12));
      const counts = liveCounts(ref.edges, ref.min, ref.max, c.live_values);
      expect(counts).toEqual(c.live_counts);
      expect(psi(ref.shares, counts)).toBeCloseTo(c.psi, 10);
      expect(outOfRangeShare(ref.shares, counts)).toBeCloseTo(c.out_of_range, 12);
    });
  }
});

describe('reference in a manifest', () => {
  const a = Array.from({ length: 20 }, (_, i) => i);
  const b = Array.from({ length: 20 }, (_, i) => (i < 15 ? 5 : 6));
  const ref = buildReference(['a', 'b'], [a, b], a, 2);

  it('is accepted when well formed and covers the features in order', () => {
    expect(referenceProblem(ref, ['a', 'b'])).toBeUndefined();
    expect(referenceProblem({ ...ref, prediction: null }, ['a', 'b'])).toBeUndefined();
  });

  it('is refused with a reason when it does not match or is damaged', () => {
    expect(referenceProblem(ref, ['b', 'a'])).toMatch(/feature b/);
    expect(referenceProblem(ref, ['a'])).toMatch(/cover/);
    expect(referenceProblem({ ...ref, format: 2 }, ['a', 'b'])).toMatch(/format/);
    const bad = { ...ref, features: [{ ...ref.features[0], shares: [0.9, 0.9] }, ref.features[1]] };
    expect(referenceProblem(bad, ['a', 'b'])).toMatch(/sum to 1/);
    const unsorted = {
      ...ref,
      features: [{ ...ref.features[0], edges: [3, 2], shares: [0.3, 0.3, 0.4] }, ref.features[1]],
    };
    expect(referenceProblem(unsorted, ['a', 'b'])).toMatch(/increasing/);
  });
});
