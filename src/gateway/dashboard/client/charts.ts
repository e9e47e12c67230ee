// Live per-version charts: the page keeps the last few minutes of samples and draws one uPlot chart per
// figure, one line per model version. uPlot is loaded as a global by its own script tag.
import type { AliasName, SeriesMetric, SeriesView } from '../api-types.js';
import { emptyState, fill, h } from './dom.js';
import * as fmt from './format.js';

export interface MetricSpec {
  readonly metric: SeriesMetric;
  readonly title: string;
  /** The latest figure above the chart. */
  readonly format: (x: number | null) => string;
  /** Tick labels: short, since uPlot picks round values. */
  readonly tick: (x: number) => string;
  /**
   * The y axis starts at 0 and spans at least this much: a flat 0% error rate is drawn as a line at
   * the bottom of a 0–1% axis rather than in the middle of an arbitrary one.
   */
  readonly fromZero?: number;
  /** Shown instead of the chart while no version has a figure in the window. */
  readonly empty: readonly [title: string, hint: string];
}

const NO_TRAFFIC: readonly [string, string] = [
  'No traffic yet',
  'Send requests to POST /predict through this gateway; figures appear within a couple of seconds.',
];

const short = (x: number) => String(Number(x.toPrecision(3)));

export const METRICS: readonly MetricSpec[] = [
  {
    metric: 'rps',
    title: 'Requests / s',
    format: (x) => fmt.num(x, 1),
    tick: short,
    fromZero: 1,
    empty: NO_TRAFFIC,
  },
  {
    metric: 'p50_ms',
    title: 'Latency p50',
    format: fmt.ms,
    tick: (x) => `${short(x)} ms`,
    empty: NO_TRAFFIC,
  },
  {
    metric: 'p99_ms',
    title: 'Latency p99',
    format: fmt.ms,
    tick: (x) => `${short(x)} ms`,
    empty: NO_TRAFFIC,
  },
  {
    metric: 'error_rate',
    title: 'Error rate',
    format: (x) => fmt.percent(x, 2),
    tick: (x) => `${short(x * 100)}%`,
    fromZero: 0.01,
    empty: NO_TRAFFIC,
  },
  {
    metric: 'mean_prediction',
    title: 'Mean prediction',
    format: (x) => fmt.num(x, 2),
    tick: short,
    empty: NO_TRAFFIC,
  },
  {
    metric: 'mae',
    title: 'MAE (from feedback)',
    format: (x) => fmt.num(x, 3),
    tick: short,
    empty: [
      'No feedback yet',
      'POST /feedback {"request_id", "actual"} with the ground truth of answered requests; the online error appears here.',
    ],
  },
];

/** Colours follow the alias, so production stays blue across promotions; other versions share a palette. */
export function versionColor(alias: AliasName | null, index: number): string {
  if (alias === 'production') return '#2563eb';
  if (alias === 'candidate') return '#ea580c';
  const others = ['#7c3aed', '#0d9488', '#db2777', '#64748b', '#a16207'];
  return others[index % others.length];
}

export interface StoredVersion {
  alias: AliasName | null;
  values: Record<SeriesMetric, (number | null)[]>;
}

/** The samples the page has seen, trimmed to a window, with versions aligned on one time axis. */
export class SeriesStore {
  readonly t: number[] = [];
  readonly versions = new Map<string, StoredVersion>();
  private interval = 1;

  constructor(private readonly windowS: number) {}

  /** Versions in display order: production, candidate, then the others newest first. */
  ordered(): [string, StoredVersion][] {
    const rank = (a: AliasName | null) => (a === 'production' ? 0 : a === 'candidate' ? 1 : 2);
    return [...this.versions.entries()].sort(
      ([va, a], [vb, b]) => rank(a.alias) - rank(b.alias) || vb.localeCompare(va),
    );
  }

  /** The `since` to ask the server for: the newest sample time held. */
  get last(): number | null {
    return this.t.length > 0 ? this.t[this.t.length - 1] : null;
  }

  merge(series: SeriesView): void {
    this.interval = series.interval_s > 0 ? series.interval_s : 1;
    for (const v of series.versions) {
      let stored = this.versions.get(v.version);
      if (!stored) {
        stored = { alias: v.alias, values: emptyValues(this.t.length) };
        this.versions.set(v.version, stored);
      }
      stored.alias = v.alias;
    }
    const byVersion = new Map(series.versions.map((v) => [v.version, v]));
    for (let i = 0; i < series.t.length; i++) {
      const t = series.t[i];
      const last = this.last;
      if (last !== null && t <= last) continue;
      // A gap (the page lost the server for a while) gets a null point so lines do not bridge it.
      if (last !== null && t - last > 3 * this.interval) this.push(last + this.interval, () => null);
      this.push(t, (version, metric) => byVersion.get(version)?.[metric][i] ?? null);
    }
    this.trim();
  }

  private push(t: number, value: (version: string, metric: SeriesMetric) => number | null): void {
    this.t.push(t);
    for (const [version, stored] of this.versions) {
      for (const m of METRICS) stored.values[m.metric].push(value(version, m.metric));
    }
  }

  private trim(): void {
    const newest = this.last;
    if (newest === null) return;
    let drop = 0;
    while (drop < this.t.length && this.t[drop] < newest - this.windowS) drop++;
    if (drop > 0) {
      this.t.splice(0, drop);
      for (const stored of this.versions.values()) {
        for (const m of METRICS) stored.values[m.metric].splice(0, drop);
      }
    }
    // A version with no figure left in the window is gone from the charts.
    for (const [version, stored] of this.versions) {
      if (METRICS.every((m) => stored.values[m.metric].every((x) => x === null))) {
        this.versions.delete(version);
      }
    }
  }
}

function emptyValues(n: number): Record<SeriesMetric, (number | null)[]> {
  const out = {} as Record<SeriesMetric, (number | null)[]>;
  for (const m of METRICS) out[m.metric] = new Array<number | null>(n).fill(null);
  return out;
}

interface Panel {
  readonly spec: MetricSpec;
  readonly root: HTMLElement;
  readonly latest: HTMLElement;
  readonly plotBox: HTMLElement;
  readonly empty: HTMLElement;
  plot: uPlot | null;
  /** The version list the plot was built for; a change rebuilds it. */
  key: string;
}

const CHART_HEIGHT = 150;

/** One panel per metric in `container`; `update` redraws them from the store. */
export class ChartGrid {
  private readonly panels: Panel[] = [];
  private readonly resize: ResizeObserver;

  constructor(private readonly container: HTMLElement) {
    for (const spec of METRICS) {
      const latest = h('div', { class: 'latest' });
      const plotBox = h('div', { class: 'plot' });
      const empty = h('div', { class: 'plot-empty' }, emptyState(spec.empty[0], spec.empty[1]));
      const root = h(
        'figure',
        { class: 'chart', 'data-metric': spec.metric },
        h('figcaption', null, h('span', { class: 'chart-title' }, spec.title), latest),
        plotBox,
        empty,
      );
      container.append(root);
      this.panels.push({ spec, root, latest, plotBox, empty, plot: null, key: '' });
    }
    this.resize = new ResizeObserver(() => {
      for (const p of this.panels) p.plot?.setSize({ width: plotWidth(p.plotBox), height: CHART_HEIGHT });
    });
    this.resize.observe(container);
  }

  update(store: SeriesStore): void {
    // How many samples the charts hold: lets a test (or a curious operator) see them move.
    this.container.dataset.points = String(store.t.length);
    const versions = store.ordered();
    const key = versions.map(([v, s]) => `${v}:${s.alias ?? ''}`).join('|');
    for (const panel of this.panels) {
      const m = panel.spec.metric;
      const hasData = versions.some(([, s]) => s.values[m].some((x) => x !== null));
      panel.root.classList.toggle('no-data', !hasData);
      fill(
        panel.latest,
        ...(hasData ? versions : []).map(([version, s], i) =>
          h(
            'span',
            { class: 'latest-value', title: version },
            h('i', { class: `swatch c${colorIndex(s.alias, i)}` }),
            panel.spec.format(lastValue(s.values[m])),
          ),
        ),
      );
      if (!hasData) continue;
      const data: uPlot.AlignedData = [store.t, ...versions.map(([, s]) => s.values[m])];
      if (panel.plot === null || panel.key !== key) {
        panel.plot?.destroy();
        panel.plotBox.replaceChildren();
        panel.plot = new uPlot(plotOptions(panel, versions), data, panel.plotBox);
        panel.key = key;
      } else {
        panel.plot.setData(data);
      }
    }
  }
}

function colorIndex(alias: AliasName | null, i: number): string {
  return alias === 'production' ? 'p' : alias === 'candidate' ? 'c' : String(i % 5);
}

function lastValue(values: readonly (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}

function plotWidth(box: HTMLElement): number {
  return Math.max(120, Math.floor(box.clientWidth));
}

const CLOCK = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});

function clock(t: number): string {
  return CLOCK.format(new Date(t * 1000));
}

function plotOptions(panel: Panel, versions: [string, StoredVersion][]): uPlot.Options {
  const fromZero = panel.spec.fromZero;
  const axis: uPlot.Axis = {
    stroke: '#64748b',
    grid: { stroke: '#e2e8f0', width: 1 },
    ticks: { stroke: '#e2e8f0', width: 1 },
    font: '11px system-ui, sans-serif',
  };
  return {
    width: plotWidth(panel.plotBox),
    height: CHART_HEIGHT,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      ...(fromZero === undefined
        ? {}
        : { y: { range: (_u, _min, max): uPlot.Range.MinMax => [0, Math.max(max, fromZero) * 1.1] } }),
    },
    axes: [
      { ...axis, space: 70, values: (_u, splits) => splits.map(clock) },
      {
        ...axis,
        // Wide enough for the longest label, so none is clipped.
        size: (_u, values) => 24 + 7 * Math.max(2, ...(values ?? []).map((v) => v.length)),
        values: (_u, splits) => splits.map((x) => panel.spec.tick(x)),
      },
    ],
    series: [
      {},
      ...versions.map(([version, s], i) => ({
        label: version,
        stroke: versionColor(s.alias, i),
        width: 2,
      })),
    ],
  };
}
