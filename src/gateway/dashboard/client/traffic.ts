// The Traffic section: the split and routing mode as the registry holds them, and the operator's
// actions (routing, promote, roll back), each confirmed and sent to the gateway's admin API.
import type { Overview, RoutingModeName, RoutingView } from '../api-types.js';
import { confirmAndRun, forgetToken, storedToken, type AdminAction, type AdminResult } from './admin.js';
import { byId, emptyState, fill, h } from './dom.js';
import * as fmt from './format.js';

const MODE_HELP: Record<RoutingModeName, string> = {
  off: 'All traffic goes to production.',
  canary: 'The weight is the share of requests answered by the candidate.',
  sticky: 'Users (by user_id) are split by weight and always see the same version.',
  shadow: 'Clients get production’s answer; the weight is the share also mirrored to the candidate.',
};

/** What the actions need from the page: the overview shown now, and a way to fetch a fresh one. */
export interface PageContext {
  current(): Overview | null;
  refresh(): void;
}

let page: PageContext = { current: () => null, refresh: () => undefined };

/** The operator's unsaved edits to the routing form; while set, polling does not overwrite the form. */
let trafficDirty = false;

/** Marks the form as edited (or not): Reset shows only when there is something to reset. */
function setDirty(dirty: boolean): void {
  trafficDirty = dirty;
  byId('reset-traffic').hidden = !dirty;
  byId('unsaved').hidden = !dirty;
}

export function renderTraffic(ov: Overview): void {
  const routing = ov.routing;
  const prod = ov.registry.production;
  const cand = ov.registry.candidate;
  const split = byId('split');
  if (routing === null) {
    fill(
      split,
      emptyState('Routing state unknown', 'The routing state could not be read (see the message above).'),
    );
  } else {
    fill(split, ...splitBar(routing, prod, cand));
  }
  const mode = byId<HTMLSelectElement>('mode');
  const weight = byId<HTMLInputElement>('weight');
  const weightNumber = byId<HTMLInputElement>('weight-number');
  if (!trafficDirty && routing !== null) {
    mode.value = routing.mode;
    weight.value = String(routing.weight);
    weightNumber.value = String(routing.weight);
  }
  fill(byId('mode-help'), MODE_HELP[mode.value as RoutingModeName] ?? '');
  const admin = ov.gateway.admin_enabled;
  byId('admin-off').hidden = admin;
  for (const id of ['mode', 'weight', 'weight-number', 'apply-traffic', 'promote', 'rollback']) {
    byId<HTMLInputElement | HTMLButtonElement>(id).disabled = !admin;
  }
  byId<HTMLButtonElement>('promote').disabled = !admin || cand === null;
  byId<HTMLButtonElement>('promote').title =
    cand === null ? 'There is no candidate to promote.' : `Make ${cand} production.`;
  byId<HTMLButtonElement>('rollback').disabled = !admin || cand === null;
  byId<HTMLButtonElement>('rollback').title =
    cand === null
      ? 'There is no candidate to roll back (production is rolled back with flywheel models rollback).'
      : `Drop ${cand}: all traffic back to production${prod ? ` (${prod})` : ''}.`;
}

function splitBar(routing: RoutingView, prod: string | null, cand: string | null): Node[] {
  const w = routing.mode === 'off' || cand === null ? 0 : routing.weight;
  const shadow = routing.mode === 'shadow';
  const candShare = shadow ? 0 : w;
  const bar = h(
    'div',
    {
      class: 'split-bar',
      role: 'img',
      'aria-label': `production ${100 - candShare}%, candidate ${candShare}%`,
    },
    h('span', { class: 'seg prod' }),
    h('span', { class: 'seg cand' }),
  );
  // Widths through the CSSOM, which the page's content security policy allows (style attributes it does not).
  (bar.children[0] as HTMLElement).style.width = `${100 - candShare}%`;
  (bar.children[1] as HTMLElement).style.width = `${candShare}%`;
  const modeText =
    routing.mode === 'off'
      ? 'Routing off: production answers everything'
      : `${routing.mode[0].toUpperCase()}${routing.mode.slice(1)} routing, weight ${routing.weight}%`;
  const lines: Node[] = [
    h(
      'p',
      { class: 'mode-line' },
      h('strong', null, modeText),
      routing.updated_at
        ? h(
            'span',
            { class: 'muted', title: fmt.stamp(routing.updated_at) },
            ` · changed ${fmt.relative(routing.updated_at, Date.now())}`,
          )
        : null,
    ),
    bar,
    h(
      'p',
      { class: 'split-legend' },
      h(
        'span',
        null,
        h('i', { class: 'swatch cp' }),
        'production ',
        prod ? h('code', null, prod) : h('em', null, 'none'),
        ` ${100 - candShare}%`,
      ),
      h(
        'span',
        null,
        h('i', { class: 'swatch cc' }),
        'candidate ',
        cand ? h('code', null, cand) : h('em', null, 'none'),
        shadow ? ` mirrored ${w}%` : ` ${candShare}%`,
      ),
    ),
  ];
  if (prod === null) {
    lines.push(
      emptyState(
        'No model yet',
        'Nothing can answer until the trainer publishes a first version and promotes it to production.',
      ),
    );
  } else if (cand === null && routing.mode !== 'off') {
    lines.push(
      emptyState(
        'No candidate',
        'The split applies once a version is the candidate (flywheel train --promote canary); until then production answers everything.',
      ),
    );
  }
  return lines;
}

function showResult(result: AdminResult | null, summary: string): void {
  if (result === null) return;
  const el = byId('action-result');
  el.className = `action-result ${result.ok ? 'ok' : 'bad'}`;
  fill(
    el,
    h('strong', null, result.ok ? '✓ ' : '✗ '),
    result.ok
      ? `${summary}: done (HTTP ${result.status})`
      : `${summary} failed: ${result.status ? `HTTP ${result.status}, ` : ''}${result.message}`,
  );
  updateTokenButton();
  // Fetch at once so the page reflects the change without waiting for the next tick.
  page.refresh();
}

async function run(action: AdminAction): Promise<void> {
  const result = await confirmAndRun(action);
  if (result?.ok && action.path === '/admin/traffic') setDirty(false);
  showResult(result, action.summary);
}

export function setUpActions(context: PageContext): void {
  page = context;
  const form = byId<HTMLFormElement>('traffic-form');
  const mode = byId<HTMLSelectElement>('mode');
  const weight = byId<HTMLInputElement>('weight');
  const weightNumber = byId<HTMLInputElement>('weight-number');
  const markDirty = () => {
    setDirty(true);
    fill(byId('mode-help'), MODE_HELP[mode.value as RoutingModeName] ?? '');
  };
  mode.addEventListener('change', markDirty);
  weight.addEventListener('input', () => {
    weightNumber.value = weight.value;
    markDirty();
  });
  weightNumber.addEventListener('input', () => {
    weight.value = weightNumber.value;
    markDirty();
  });
  byId('reset-traffic').addEventListener('click', () => {
    setDirty(false);
    const current = page.current();
    if (current) renderTraffic(current);
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const w = Number(weightNumber.value);
    if (!Number.isFinite(w) || w < 0 || w > 100) {
      showResult(
        { ok: false, status: 0, message: 'the weight must be a number from 0 to 100' },
        'Set routing',
      );
      return;
    }
    const m = mode.value as RoutingModeName;
    void run({
      summary: `Set routing to ${m}, candidate weight ${w}%`,
      method: 'PUT',
      path: '/admin/traffic',
      body: { mode: m, weight: w },
    });
  });
  byId('promote').addEventListener('click', () => {
    const cand = page.current()?.registry.candidate ?? null;
    void run({
      summary: cand ? `Promote candidate ${cand} to production` : 'Promote the candidate',
      method: 'POST',
      path: '/admin/promote',
      body: {},
      withReason: true,
    });
  });
  byId('rollback').addEventListener('click', () => {
    const cand = page.current()?.registry.candidate ?? null;
    const prod = page.current()?.registry.production ?? null;
    void run({
      summary: cand
        ? `Roll back candidate ${cand}: all traffic to production${prod ? ` ${prod}` : ''}`
        : 'Roll back the candidate',
      method: 'POST',
      path: '/admin/rollback',
      body: {},
      withReason: true,
    });
  });
  byId('forget-token').addEventListener('click', () => {
    forgetToken();
    updateTokenButton();
  });
  updateTokenButton();
}

function updateTokenButton(): void {
  byId('forget-token').hidden = storedToken() === null;
}
