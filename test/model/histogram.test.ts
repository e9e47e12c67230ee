// The histogram machinery against slow, obvious references on random seeded data: building,
// subtracting, the split search, and whole trees (histogram path, presorted path, and a brute-force
// CART that tries every threshold on the raw values).
import { describe, expect, it } from 'vitest';
import { binColumn, binDataset, binOf } from '../../src/model/binning.js';
import { TreeGrower } from '../../src/model/grower.js';
import type { FlatTree } from '../../src/model/tree.js';
import {
  buildHistogram,
  buildUnitHistogram,
  histogramLayout,
  packColumns,
  subtractHistogram,
  zeroHistogram,
  SLOTS,
} from '../../src/model/histogram.js';
import { Rng } from '../../src/model/random.js';
import { findBestSplit } from '../../src/model/split.js';

interface RandomBinned {
  columns: Uint8Array[];
  nBins: Int32Array;
  rows: number;
  weight: Float64Array;
  target: Float64Array;
}

function randomBinned(seed: number, rows: number, features: number, integerTargets: boolean): RandomBinned {
  const rng = new Rng(seed);
  const nBins = Int32Array.from({ length: features }, () => 2 + rng.nextInt(30));
  const columns = Array.from(nBins, (nb) => Uint8Array.from({ length: rows }, () => rng.nextInt(nb)));
  const weight = Float64Array.from({ length: rows }, () => rng.nextInt(4)); // 0 = not drawn
  const target = Float64Array.from({ length: rows }, () =>
    integerTargets ? rng.nextInt(20) : rng.normal(50, 10),
  );
  return { columns, nBins, rows, weight, target };
}

function drawnRows(d: RandomBinned): Int32Array {
  const r: number[] = [];
  for (let i = 0; i < d.rows; i++) if (d.weight[i] > 0) r.push(i);
  return Int32Array.from(r);
}

/** The obvious histogram: one pass per feature and bin over every row. */
function slowHistogram(d: RandomBinned, rows: Int32Array): Float64Array {
  const layout = histogramLayout(d.nBins);
  const h = new Float64Array(layout.size);
  d.columns.forEach((col, f) => {
    for (let b = 0; b < d.nBins[f]; b++) {
      for (const r of rows) {
        if (col[r] !== b) continue;
        const j = (layout.offsets[f] + b) * SLOTS;
        h[j] += 1;
        h[j + 1] += d.weight[r];
        h[j + 2] += d.weight[r] * d.target[r];
      }
    }
  });
  return h;
}

function fullRanges(d: RandomBinned): { lo: Uint8Array; hi: Uint8Array } {
  return { lo: new Uint8Array(d.nBins.length), hi: Uint8Array.from(d.nBins, (n) => n - 1) };
}

function fastHistogram(d: RandomBinned, rows: Int32Array): Float64Array {
  const layout = histogramLayout(d.nBins);
  const h = new Float64Array(layout.size).fill(7); // garbage outside: zeroHistogram must clear it
  const { lo, hi } = fullRanges(d);
  zeroHistogram(h, layout, lo, hi);
  buildHistogram(h, layout, packColumns(d.columns, d.rows), rows, 0, rows.length, d.weight, d.target);
  h[h.length - 3] = h[h.length - 2] = h[h.length - 1] = 0; // the spare bin, which nothing reads
  return h;
}

/** Weighted sum of squared errors around the weighted mean, computed the long way. */
function sse(d: RandomBinned, rows: number[]): number {
  let w = 0;
  let s = 0;
  for (const r of rows) {
    w += d.weight[r];
    s += d.weight[r] * d.target[r];
  }
  const mean = s / w;
  let e = 0;
  for (const r of rows) e += d.weight[r] * (d.target[r] - mean) ** 2;
  return e;
}

describe('histograms', () => {
  it('build equals the slow per-bin count on random data', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const d = randomBinned(seed, 300, 4, true);
      const rows = drawnRows(d);
      expect(fastHistogram(d, rows)).toEqual(slowHistogram(d, rows));
    }
  });

  it('the unit-weight build equals the weighted build with weights of 1', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const d = randomBinned(seed, 300, 6, true); // two packed groups, the second half empty
      d.weight.fill(1);
      const rows = drawnRows(d);
      const layout = histogramLayout(d.nBins);
      const { lo, hi } = fullRanges(d);
      const h = new Float64Array(layout.size);
      buildUnitHistogram(h, layout, packColumns(d.columns, d.rows), rows, 0, rows.length, d.target, lo, hi);
      h.fill(0, h.length - 3);
      expect(h).toEqual(fastHistogram(d, rows));
      expect(h).toEqual(slowHistogram(d, rows));
    }
  });

  it('parent minus one child equals the other child built from its rows', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const d = randomBinned(seed, 300, 3, true);
      const rows = drawnRows(d);
      const layout = histogramLayout(d.nBins);
      const { lo, hi } = fullRanges(d);
      const parent = fastHistogram(d, rows);
      const left = rows.filter((r) => d.columns[0][r] <= 0 || r % 3 === 0);
      const right = rows.filter((r) => !(d.columns[0][r] <= 0 || r % 3 === 0));
      subtractHistogram(parent, fastHistogram(d, left), layout, lo, hi);
      // Integer targets and weights: every sum is exact, so equality is exact.
      expect(parent).toEqual(slowHistogram(d, right));
    }
  });

  it('the split search finds the largest brute-force decrease in squared error', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const minLeaf = 1 + (seed % 3);
      const d = randomBinned(seed, 120, 3, false);
      const rows = drawnRows(d);
      const layout = histogramLayout(d.nBins);
      const { lo, hi } = fullRanges(d);
      let tw = 0;
      let ts = 0;
      for (const r of rows) {
        tw += d.weight[r];
        ts += d.weight[r] * d.target[r];
      }
      const split = findBestSplit(
        fastHistogram(d, rows),
        layout,
        lo,
        hi,
        { rows: rows.length, weight: tw, sum: ts },
        Int32Array.from([0, 1, 2]),
        3,
        minLeaf,
      );
      // Brute force: every feature, every threshold, straight from the rows.
      const parentSse = sse(d, [...rows]);
      let best = 0;
      let bestAt = '';
      for (let f = 0; f < 3; f++) {
        for (let b = 0; b < d.nBins[f] - 1; b++) {
          const l = [...rows].filter((r) => d.columns[f][r] <= b);
          const r = [...rows].filter((x) => d.columns[f][x] > b);
          if (l.length < minLeaf || r.length < minLeaf) continue;
          const gain = parentSse - sse(d, l) - sse(d, r);
          if (gain > best * (1 + 1e-12)) {
            best = gain;
            bestAt = `${f}:${l.length}`;
          }
        }
      }
      expect(split, `seed ${seed}`).not.toBeNull();
      if (split === null) continue;
      expect(split.gain).toBeCloseTo(best, 6);
      expect(`${split.feature}:${split.leftRows}`).toBe(bestAt);
      // The chosen bin splits the rows exactly as the brute-force threshold does.
      const left = [...rows].filter((r) => d.columns[split.feature][r] <= split.bin);
      expect(left.length).toBe(split.leftRows);
    }
  });

  it('returns no split for a node whose target is constant', () => {
    const d = randomBinned(3, 100, 3, true);
    d.target.fill(4);
    const rows = drawnRows(d);
    const { lo, hi } = fullRanges(d);
    let tw = 0;
    for (const r of rows) tw += d.weight[r];
    const split = findBestSplit(
      fastHistogram(d, rows),
      histogramLayout(d.nBins),
      lo,
      hi,
      { rows: rows.length, weight: tw, sum: 4 * tw },
      Int32Array.from([0, 1, 2]),
      3,
      1,
    );
    expect(split).toBeNull();
  });
});

function grow(d: RandomBinned, smallNodeRows: number, minSamplesLeaf: number, maxDepth = 0): FlatTree {
  const rows = drawnRows(d);
  return new TreeGrower(d).grow(
    { rows, count: rows.length, weight: d.weight, target: d.target, rng: new Rng(1) },
    { maxDepth, minSamplesLeaf, maxLeaves: 0, featuresPerSplit: d.columns.length, smallNodeRows },
  ).tree;
}

/** Slow CART on raw values: every distinct threshold of every feature, recursively. */
function slowCart(x: number[][], y: number[], rows: number[], minLeaf: number): (v: number[]) => number {
  const mean = rows.reduce((a, r) => a + y[r], 0) / rows.length;
  const err = (rs: number[]) => {
    const m = rs.reduce((a, r) => a + y[r], 0) / rs.length;
    return rs.reduce((a, r) => a + (y[r] - m) ** 2, 0);
  };
  let best = 1e-9 * (err(rows) + 1);
  let bestSplit: { f: number; t: number; l: number[]; r: number[] } | null = null;
  const parentErr = err(rows);
  for (let f = 0; f < x[0].length; f++) {
    const values = [...new Set(rows.map((r) => x[r][f]))].sort((a, b) => a - b);
    for (let i = 0; i + 1 < values.length; i++) {
      const t = (values[i] + values[i + 1]) / 2;
      const l = rows.filter((r) => x[r][f] <= t);
      const r = rows.filter((q) => x[q][f] > t);
      if (l.length < minLeaf || r.length < minLeaf) continue;
      const gain = parentErr - err(l) - err(r);
      if (gain > best) {
        best = gain;
        bestSplit = { f, t, l, r };
      }
    }
  }
  if (bestSplit === null) return () => mean;
  const { f, t } = bestSplit;
  const left = slowCart(x, y, bestSplit.l, minLeaf);
  const right = slowCart(x, y, bestSplit.r, minLeaf);
  return (v) => (v[f] <= t ? left(v) : right(v));
}

function walk(tree: FlatTree, bins: number[]): number {
  let i = 0;
  while (tree.feature[i] >= 0) i = bins[tree.feature[i]] <= tree.bin[i] ? i + 1 : tree.right[i];
  return tree.value[i];
}

describe('tree growth', () => {
  it('small nodes grown from presorted lists give exactly the histogram-grown tree', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const d = randomBinned(seed, 400, 4, true); // integer sums: both paths compute identical gains
      for (const minLeaf of [1, 3]) {
        expect(grow(d, 64, minLeaf), `seed ${seed} minLeaf ${minLeaf}`).toEqual(grow(d, 0, minLeaf));
        expect(grow(d, 1000, minLeaf)).toEqual(grow(d, 0, minLeaf));
      }
    }
  });

  it('equals a brute-force CART on raw values when every value has its own bin', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const rng = new Rng(seed);
      const n = 150;
      const x = Array.from({ length: n }, () => [rng.nextInt(40), rng.nextInt(25) / 4, rng.normal()]);
      const y = x.map((v) => Math.sin(v[0] / 5) * 10 + v[1] * v[1] + rng.normal(0, 0.5));
      const columns = [0, 1, 2].map((f) => Float64Array.from(x, (v) => v[f]));
      const binned = binDataset(columns, n, { seed: 1 });
      const rows = Int32Array.from({ length: n }, (_, i) => i);
      const weight = new Float64Array(n).fill(1);
      const minLeaf = 1 + (seed % 2);
      const tree = new TreeGrower(binned).grow(
        { rows, count: n, weight, target: Float64Array.from(y), rng },
        { maxDepth: 0, minSamplesLeaf: minLeaf, maxLeaves: 0, featuresPerSplit: 3 },
      ).tree;
      const reference = slowCart(x, y, [...Array(n).keys()], minLeaf);
      for (let r = 0; r < n; r++) {
        const bins = [0, 1, 2].map((f) => binned.columns[f][r]);
        expect(walk(tree, bins)).toBeCloseTo(reference(x[r]), 9);
      }
    }
  });

  it('respects maxDepth and minSamplesLeaf', () => {
    const d = randomBinned(5, 500, 3, false);
    const depthOf = (t: FlatTree) => {
      const depth = new Int32Array(t.feature.length);
      let deepest = 0;
      for (let i = 0; i < t.feature.length; i++) {
        deepest = Math.max(deepest, depth[i]);
        if (t.feature[i] >= 0) {
          depth[i + 1] = depth[i] + 1;
          depth[t.right[i]] = depth[i] + 1;
        }
      }
      return deepest;
    };
    expect(depthOf(grow(d, 64, 1, 3))).toBe(3);
    expect(depthOf(grow(d, 0, 1, 1))).toBe(1);
    const rows = drawnRows(d);
    const grown = new TreeGrower(d).grow(
      { rows, count: rows.length, weight: d.weight, target: d.target, rng: new Rng(1) },
      {
        maxDepth: 0,
        minSamplesLeaf: 7,
        maxLeaves: 0,
        featuresPerSplit: 3,
        smallNodeRows: 0,
        recordLeafRows: true,
      },
    );
    const { tree, leafStart, leafEnd } = grown;
    let leaves = 0;
    for (let i = 0; i < tree.feature.length; i++) {
      if (tree.feature[i] >= 0) continue;
      leaves++;
      expect((leafEnd as Int32Array)[i] - (leafStart as Int32Array)[i]).toBeGreaterThanOrEqual(7);
    }
    expect(leaves).toBeGreaterThan(10);
  });

  it('grows best-first up to maxLeaves', () => {
    const d = randomBinned(9, 500, 3, false);
    const rows = drawnRows(d);
    const tree = new TreeGrower(d).grow(
      { rows, count: rows.length, weight: null, target: d.target, rng: new Rng(1) },
      { maxDepth: 0, minSamplesLeaf: 1, maxLeaves: 9, featuresPerSplit: 3 },
    ).tree;
    expect(tree.feature.filter((f) => f < 0).length).toBe(9);
  });
});

describe('binning', () => {
  it('the branch-free column binning agrees with the binary search, edges included', () => {
    const rng = new Rng(12);
    for (const edgesCount of [0, 1, 2, 7, 100, 254]) {
      const edges = Float64Array.from({ length: edgesCount }, () => rng.normal(0, 10)).sort();
      const values = Float64Array.from({ length: 2000 }, (_, i) =>
        i % 5 === 0 && edgesCount > 0 ? edges[rng.nextInt(edgesCount)] : rng.normal(0, 12),
      );
      values[0] = -Infinity;
      values[1] = Infinity;
      const out = new Uint8Array(values.length);
      binColumn(values, values.length, edges, out);
      expect([...out]).toEqual([...values].map((v) => binOf(edges, v)));
      for (let i = 0; i < values.length; i++) {
        // Bin b holds edges[b-1] < v <= edges[b]: what `v <= threshold` means at prediction.
        if (out[i] > 0) expect(values[i]).toBeGreaterThan(edges[out[i] - 1]);
        if (out[i] < edgesCount) expect(values[i]).toBeLessThanOrEqual(edges[out[i]]);
      }
    }
  });

  it('uses midpoints between distinct values when there are few, quantiles otherwise', () => {
    const few = binDataset([Float64Array.from([3, 1, 2, 2, 5])], 5, { seed: 1 });
    expect([...few.thresholds[0]]).toEqual([1.5, 2.5, 4]);
    expect([...few.columns[0]]).toEqual([2, 0, 1, 1, 3]);
    const rng = new Rng(3);
    const many = Float64Array.from({ length: 10_000 }, () => rng.next());
    const binned = binDataset([many], many.length, { seed: 1 });
    expect(binned.thresholds[0].length).toBe(254);
    const counts = new Array<number>(255).fill(0);
    for (const b of binned.columns[0]) counts[b]++;
    // Quantile bins: each holds about 10,000 / 255 rows.
    expect(Math.min(...counts)).toBeGreaterThan(20);
    expect(Math.max(...counts)).toBeLessThan(60);
  });
});
