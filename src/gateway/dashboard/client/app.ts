// The dashboard page: polls the gateway's overview every second, renders each section from it with DOM
// nodes (no HTML strings), keeps the live charts, and runs the operator's actions.
import type { Overview } from '../api-types.js';
import { ChartGrid, SeriesStore } from './charts.js';
import { aliasBadge, byId, fill, h } from './dom.js';
import { renderAnalysis, renderHistory, renderVersions } from './registry.js';
import { renderHeader, renderSystem, renderTrainer } from './system.js';
import { renderTraffic, setUpActions } from './traffic.js';

const POLL_MS = 1000;
/** Slower polling while the tab is hidden: nobody is looking, the gateway has better things to do. */
const HIDDEN_POLL_MS = 5000;
const CHART_WINDOW_S = 300;
/** Sections whose data did not change are still redrawn this often, so `12 s ago` keeps moving. */
const REFRESH_MS = 5000;

const store = new SeriesStore(CHART_WINDOW_S);
let charts: ChartGrid | null = null;
let current: Overview | null = null;
/** Per-section fingerprint of the data last drawn, to skip redrawing what did not change. */
const drawn = new Map<string, string>();
let lastFullRedraw = 0;

function section(name: string, data: unknown, draw: () => void, force: boolean): void {
  const key = JSON.stringify(data);
  if (!force && drawn.get(name) === key) return;
  drawn.set(name, key);
  draw();
}

function render(ov: Overview): void {
  const now = Date.now();
  const force = now - lastFullRedraw > REFRESH_MS;
  if (force) lastFullRedraw = now;
  section('header', [ov.gateway, ov.routing], () => renderHeader(ov, now), force);
  section('banner', ov.problems, () => renderProblems(ov.problems), false);
  section('system', [ov.gateway, ov.replicas, ov.stack?.components], () => renderSystem(ov, now), force);
  section(
    'trainer',
    [ov.stack, ov.registry.production, ov.registry.candidate],
    () => renderTrainer(ov, now),
    force,
  );
  section(
    'traffic',
    [ov.routing, ov.registry.production, ov.registry.candidate, ov.gateway.admin_enabled],
    () => renderTraffic(ov),
    false,
  );
  section('analysis', [ov.analysis, ov.registry.candidate], () => renderAnalysis(ov.analysis, ov), false);
  section('versions', ov.registry, () => renderVersions(ov, now), force);
  section('history', ov.registry.history, () => renderHistory(ov, now), force);
  store.merge(ov.series);
  charts?.update(store);
  renderLegend();
}

function renderProblems(problems: readonly string[]): void {
  const el = byId('problems');
  el.hidden = problems.length === 0;
  fill(el, ...problems.map((p) => h('div', null, p)));
}

function setConnection(ok: boolean, detail: string): void {
  const live = byId('live');
  live.classList.toggle('ok', ok);
  live.classList.toggle('bad', !ok);
  fill(live, ok ? 'live' : 'disconnected');
  live.title = detail;
  const banner = byId('connection');
  banner.hidden = ok;
  fill(
    banner,
    ok
      ? ''
      : `Cannot reach the gateway (${detail}); retrying every ${POLL_MS / 1000} s. The figures below are stale.`,
  );
}

function renderLegend(): void {
  const versions = store.ordered();
  section(
    'legend',
    versions.map(([v, s]) => [v, s.alias]),
    () => {
      fill(
        byId('chart-legend'),
        ...versions.map(([version, s], i) =>
          h(
            'span',
            { class: 'legend-item' },
            h('i', {
              class: `swatch ${s.alias === 'production' ? 'cp' : s.alias === 'candidate' ? 'cc' : `c${i % 5}`}`,
            }),
            h('code', null, version),
            s.alias ? aliasBadge(s.alias) : null,
          ),
        ),
      );
    },
    false,
  );
}

// --- polling -------------------------------------------------------------------------------------------

let timer: ReturnType<typeof setTimeout> | null = null;
let inFlight = false;

async function poll(schedule = true): Promise<void> {
  if (inFlight) return;
  inFlight = true;
  try {
    const since = store.last;
    const res = await fetch(`/dashboard/api/overview${since === null ? '' : `?since=${since}`}`, {
      cache: 'no-store',
      headers: { accept: 'application/json' },
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    current = (await res.json()) as Overview;
    render(current);
    setConnection(true, `updated ${new Date().toLocaleTimeString()}`);
    document.body.dataset.updatedAt = current.generated_at;
  } catch (err) {
    setConnection(false, (err as Error).message);
  } finally {
    inFlight = false;
    if (schedule) {
      timer = setTimeout(() => void poll(), document.hidden ? HIDDEN_POLL_MS : POLL_MS);
    }
  }
}

function start(): void {
  charts = new ChartGrid(byId('charts'));
  setUpActions({ current: () => current, refresh: () => void poll(false) });
  document.addEventListener('visibilitychange', () => {
    // Back in view: catch up now rather than at the end of the slow hidden interval.
    if (!document.hidden && timer !== null) {
      clearTimeout(timer);
      void poll();
    }
  });
  void poll();
}

start();
