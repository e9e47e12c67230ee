// The dashboard's drift panel, its own module beside app.ts: polls the gateway's `GET /drift` and
// draws, per version, each feature's PSI against the warn and alert thresholds, and for the feature
// chosen in the select the live histogram over the training one (bins, then below min and above max).
// Everything is DOM and SVG nodes built from values, never HTML strings.
import type { DriftDocument, DriftSeriesView, VersionDriftView } from '../drift-types.js';
import { badge, byId, emptyState, fill, h, table } from './dom.js';
import { int, num, percent } from './format.js';

const POLL_MS = 2000;
const HIDDEN_POLL_MS = 10_000;
const SVG = 'http://www.w3.org/2000/svg';
const PREDICTION = '(prediction)';

let chosen: string | null = null;
let last: DriftDocument | null = null;
let drawnKey = '';

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  ...children: (SVGElement | string)[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

const LEVEL_KIND: Record<DriftSeriesView['level'], string> = {
  ok: 'ok',
  warn: 'warn',
  alert: 'bad',
  insufficient: 'muted',
};

function levelBadge(s: DriftSeriesView): HTMLSpanElement {
  const text = s.level === 'insufficient' ? 'too few requests' : s.level === 'alert' ? 'drifted' : s.level;
  return badge(text, LEVEL_KIND[s.level]);
}

/** PSI as a bar against a tick at each threshold. */
function psiBar(s: DriftSeriesView, doc: DriftDocument, scale: number): SVGSVGElement {
  const width = 220;
  const x = (v: number) => Math.min(width, (v / scale) * width);
  const color = s.level === 'alert' ? '#b91c1c' : s.level === 'warn' ? '#a16207' : '#15803d';
  const { warn, alert } = doc.thresholds;
  return svg(
    'svg',
    { width, height: 16, viewBox: `0 0 ${width} 16`, role: 'img', 'aria-label': `PSI ${num(s.psi, 3)}` },
    svg('rect', { x: 0, y: 3, width, height: 10, fill: '#e2e8f0' }),
    svg('rect', { x: 0, y: 3, width: s.psi === null ? 0 : x(s.psi), height: 10, fill: color }),
    svg('line', { x1: x(warn), x2: x(warn), y1: 0, y2: 16, stroke: '#a16207', 'stroke-width': 2 }),
    svg('line', { x1: x(alert), x2: x(alert), y1: 0, y2: 16, stroke: '#b91c1c', 'stroke-width': 2 }),
  );
}

function binLabel(s: DriftSeriesView, i: number): string {
  const k = s.edges.length + 1;
  if (i === k) return `< ${num(s.min)}`;
  if (i === k + 1) return `> ${num(s.max)}`;
  const lo = i === 0 ? s.min : s.edges[i - 1];
  const hi = i === k - 1 ? s.max : s.edges[i];
  return `${num(lo)}–${num(hi)}`;
}

/** Training shares (grey) under live shares (blue) per bin, out-of-range bins at the right end. */
function histogram(s: DriftSeriesView, label: string): SVGSVGElement {
  const n = s.live.length;
  const width = 420;
  const height = 130;
  const plot = height - 18;
  const top = Math.max(0.05, ...s.live, ...s.reference);
  const bw = width / n;
  const bars: SVGElement[] = [];
  for (let i = 0; i < n; i++) {
    const ref = (s.reference[i] / top) * plot;
    const liv = (s.live[i] / top) * plot;
    const out = i >= n - 2;
    bars.push(
      svg(
        'rect',
        { x: i * bw + 2, y: plot - ref, width: bw - 4, height: ref, fill: '#cbd5e1' },
        svg('title', {}, `${binLabel(s, i)}: training ${percent(s.reference[i])}`),
      ),
      svg(
        'rect',
        {
          x: i * bw + bw * 0.25,
          y: plot - liv,
          width: bw * 0.5,
          height: liv,
          fill: out ? '#b91c1c' : '#2563eb',
          'data-bin': i,
        },
        svg('title', {}, `${binLabel(s, i)}: live ${percent(s.live[i])}`),
      ),
    );
  }
  const k = n - 2;
  return svg(
    'svg',
    {
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label': label,
      class: 'drift-hist',
    },
    svg('line', { x1: 0, x2: width, y1: plot, y2: plot, stroke: '#94a3b8' }),
    svg('line', { x1: k * bw, x2: k * bw, y1: 0, y2: plot, stroke: '#94a3b8', 'stroke-dasharray': '3 3' }),
    ...bars,
    svg('text', { x: 2, y: height - 4, 'font-size': 11, fill: '#64748b' }, `${num(s.min)}`),
    svg(
      'text',
      { x: k * bw - 2, y: height - 4, 'font-size': 11, fill: '#64748b', 'text-anchor': 'end' },
      `${num(s.max)}`,
    ),
    svg(
      'text',
      { x: k * bw + bw, y: height - 4, 'font-size': 11, fill: '#64748b', 'text-anchor': 'middle' },
      'out of range',
    ),
  );
}

function seriesOf(v: VersionDriftView, name: string): DriftSeriesView | null {
  return name === PREDICTION ? v.prediction : (v.features[name] ?? null);
}

function versionBlock(version: string, v: VersionDriftView, doc: DriftDocument): HTMLElement {
  const head = h(
    'div',
    { class: 'card-head' },
    h('h3', null, h('code', null, version)),
    h(
      'span',
      { class: 'help' },
      `${int(v.window)} requests in the window · ${int(v.requests)} counted · reference: ${v.reference}`,
    ),
  );
  if (v.reference === 'none') {
    return h(
      'div',
      { class: 'drift-version', 'data-version': version },
      head,
      emptyState('No reference', v.note ?? ''),
    );
  }
  const entries: [string, DriftSeriesView][] = Object.entries(v.features);
  if (v.prediction !== null) entries.push([PREDICTION, v.prediction]);
  // A fixed scale keeps the thresholds where the eye expects them; larger PSIs fill the bar.
  const scale = Math.max(doc.thresholds.alert * 2, doc.thresholds.warn * 4, 0.01);
  const rows = entries.map(([name, s]) =>
    h(
      'tr',
      { 'data-feature': name, 'data-level': s.level },
      h('td', null, name === PREDICTION ? h('em', null, 'prediction') : h('code', null, name)),
      h('td', null, psiBar(s, doc, scale)),
      h('td', { class: 'num' }, num(s.psi, 3)),
      h('td', { class: 'num' }, percent(s.out_of_range)),
      h('td', null, levelBadge(s)),
    ),
  );
  const pick = chosen ?? v.drifted[0] ?? entries[0]?.[0] ?? null;
  const s = pick === null ? null : seriesOf(v, pick);
  return h(
    'div',
    { class: 'drift-version', 'data-version': version },
    head,
    v.note ? h('p', { class: 'help' }, v.note) : null,
    table(
      [
        'feature',
        `PSI (warn ${doc.thresholds.warn}, alert ${doc.thresholds.alert})`,
        'PSI',
        'out of range',
        '',
      ],
      rows,
      `drift of ${version}`,
    ),
    s === null || pick === null
      ? null
      : h(
          'figure',
          { class: 'drift-figure', 'data-histogram': pick },
          histogram(s, `${pick}: live over training, ${version}`),
          h(
            'figcaption',
            { class: 'help' },
            `${pick === PREDICTION ? 'prediction' : pick}: training (grey) and the live window (blue; red outside the training range)`,
          ),
        ),
  );
}

function render(doc: DriftDocument): void {
  const body = byId('drift-body');
  const versions = Object.entries(doc.versions);
  const key = JSON.stringify([doc.versions, doc.thresholds, chosen]);
  if (key === drawnKey) return;
  drawnKey = key;
  if (versions.length === 0) {
    fill(
      body,
      emptyState(
        'Nothing measured yet',
        `Drift appears once versions answer /predict; a verdict needs ${doc.thresholds.min_requests} requests in a window of ${doc.thresholds.window}.`,
      ),
    );
    return;
  }
  const names = new Set<string>();
  for (const [, v] of versions) {
    for (const n of Object.keys(v.features)) names.add(n);
    if (v.prediction !== null) names.add(PREDICTION);
  }
  const select = h(
    'select',
    { id: 'drift-feature', 'aria-label': 'feature whose histogram is shown' },
    h('option', { value: '' }, 'the first drifted feature'),
    ...[...names].map((n) =>
      h('option', { value: n, selected: n === chosen }, n === PREDICTION ? 'prediction' : n),
    ),
  );
  select.addEventListener('change', () => {
    chosen = select.value === '' ? null : select.value;
    if (last) render(last);
  });
  fill(
    body,
    h(
      'div',
      { class: 'drift-controls' },
      h('label', { for: 'drift-feature' }, 'Histogram of '),
      select,
      // The scope names the gateways merged ("merged across 2 gateways") or "this gateway" alone.
      h('span', { class: 'help' }, ` · ${doc.scope}`),
    ),
    ...versions.map(([version, v]) => versionBlock(version, v, doc)),
  );
}

let timer: ReturnType<typeof setTimeout> | null = null;

async function poll(): Promise<void> {
  try {
    const res = await fetch('/drift', { cache: 'no-store', headers: { accept: 'application/json' } });
    if (res.status === 404) {
      fill(
        byId('drift-body'),
        emptyState('Drift monitoring is off', 'This gateway runs with --drift-window 0.'),
      );
    } else if (res.ok) {
      last = (await res.json()) as DriftDocument;
      render(last);
    }
  } catch {
    // The main poll shows the connection banner; this panel keeps its last figures.
  } finally {
    timer = setTimeout(() => void poll(), document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && timer !== null) {
    clearTimeout(timer);
    void poll();
  }
});
void poll();
