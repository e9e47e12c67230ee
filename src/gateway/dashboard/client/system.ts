// The System and Trainer sections: the gateway, its replicas joined with the local stack's processes
// (like `kubectl get all`), and the trainer's schedule with its last runs.
import type { AliasName, ComponentView, Overview, ReplicaView } from '../api-types.js';
import { aliasBadge, badge, byId, emptyState, fill, h, table } from './dom.js';
import * as fmt from './format.js';

export function renderHeader(ov: Overview, now: number): void {
  const gw = ov.gateway;
  fill(
    byId('gw-summary'),
    gw.ready
      ? badge('ready', 'ok', 'at least one backend replica is healthy')
      : badge('not ready', 'bad', 'no healthy backend replica'),
    h('span', { class: 'muted', title: `gateway ${gw.id}` }, `gateway ${gw.id}`),
    h('span', { class: 'muted' }, `v${gw.package_version}`),
    gw.started_at
      ? h('span', { class: 'muted', title: fmt.stamp(gw.started_at) }, `up ${fmt.age(gw.started_at, now)}`)
      : null,
  );
}

function portOf(url: string): number | null {
  try {
    const u = new URL(url);
    return u.port ? Number(u.port) : null;
  } catch {
    return null;
  }
}

function replicaBadge(r: ReplicaView): HTMLSpanElement {
  const kind =
    r.state === 'healthy' ? 'ok' : r.state === 'draining' || r.state === 'unknown' ? 'warn' : 'bad';
  return badge(r.state, kind, r.detail ?? undefined);
}

function processBadge(c: ComponentView): HTMLSpanElement {
  const s = c.state.toLowerCase();
  const kind =
    s === 'running' || s === 'ready' || s === 'scheduled' || s === 'idle'
      ? 'ok'
      : s === 'starting' || s === 'training' || s === 'draining'
        ? 'warn'
        : 'bad';
  return badge(c.state, kind);
}

function systemRow(cells: {
  /** `data-component` on the row: the replica's URL, or the process name. */
  id: string;
  name: string;
  kind: string;
  state: Node[];
  pid: number | null;
  port: number | null | string;
  restarts: number | null;
  age: string | null;
  ageTitle?: string;
  inFlight: number | null;
  rps: number | null;
}): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-component': cells.id },
    h(
      'th',
      { scope: 'row' },
      h('span', { class: 'name' }, cells.name),
      h('span', { class: 'kind' }, cells.kind),
    ),
    h('td', null, h('span', { class: 'states' }, ...cells.state)),
    h('td', { class: 'num' }, cells.pid === null ? fmt.DASH : String(cells.pid)),
    h('td', { class: 'num' }, cells.port === null ? fmt.DASH : String(cells.port)),
    h('td', { class: 'num' }, cells.restarts === null ? fmt.DASH : String(cells.restarts)),
    h('td', { class: 'num', title: cells.ageTitle }, cells.age ?? fmt.DASH),
    h('td', { class: 'num' }, fmt.int(cells.inFlight)),
    h('td', { class: 'num' }, fmt.num(cells.rps, 1)),
  );
}

export function renderSystem(ov: Overview, now: number): void {
  const components = ov.stack?.components ?? [];
  const used = new Set<ComponentView>();
  const gwProc = components.find((c) => c.role === 'gateway');
  if (gwProc) used.add(gwProc);
  const rows: HTMLTableRowElement[] = [
    systemRow({
      id: 'gateway',
      name: gwProc?.name ?? 'gateway',
      kind: 'gateway',
      state: [ov.gateway.ready ? badge('ready', 'ok') : badge('not ready', 'bad')],
      pid: gwProc?.pid ?? null,
      port: gwProc?.port ?? null,
      restarts: gwProc ? gwProc.restarts : null,
      age: fmt.age(gwProc?.started_at ?? ov.gateway.started_at, now),
      ageTitle: fmt.stamp(gwProc?.started_at ?? ov.gateway.started_at),
      inFlight: ov.gateway.in_flight,
      rps: ov.gateway.requests_per_s,
    }),
  ];
  for (const r of ov.replicas) {
    const port = portOf(r.url);
    const proc = components.find(
      (c) => c.role === 'backend' && c.port !== null && c.port === port && !used.has(c),
    );
    if (proc) used.add(proc);
    rows.push(
      systemRow({
        id: r.url,
        name: proc?.name ?? r.url,
        kind: 'backend',
        state: [
          replicaBadge(r),
          proc && proc.state.toLowerCase() !== 'running' ? processBadge(proc) : null,
        ].filter((x): x is HTMLSpanElement => x !== null),
        pid: proc?.pid ?? null,
        port: proc?.port ?? port,
        restarts: proc ? proc.restarts : null,
        age: proc ? fmt.age(proc.started_at, now) : null,
        ageTitle: fmt.stamp(proc?.started_at),
        inFlight: r.in_flight,
        rps: r.requests_per_s,
      }),
    );
  }
  // Other gateways on the registry (Kubernetes: the other pods), and replicas only they balance.
  const known = new Set(ov.replicas.map((r) => r.url));
  for (const peer of ov.peers) {
    rows.push(
      systemRow({
        id: `gateway:${peer.id}`,
        name: peer.id,
        kind: 'gateway',
        state: [badge('live', 'ok', `on ${peer.host}; figures ${fmt.num(peer.age_s, 1)} s old`)],
        pid: null,
        port: null,
        restarts: null,
        age: null,
        inFlight: null,
        rps: null,
      }),
    );
    for (const r of peer.replicas) {
      if (known.has(r.url)) continue;
      known.add(r.url);
      rows.push(
        systemRow({
          id: r.url,
          name: r.url,
          kind: `backend (via ${peer.id})`,
          state: [badge(r.state, r.state === 'healthy' ? 'ok' : 'warn')],
          pid: null,
          port: portOf(r.url),
          restarts: null,
          age: null,
          inFlight: null,
          rps: null,
        }),
      );
    }
  }
  for (const c of components) {
    if (used.has(c)) continue;
    rows.push(
      systemRow({
        id: c.name,
        name: c.name,
        kind: c.role,
        state: [processBadge(c)],
        pid: c.pid,
        port: c.port,
        restarts: c.restarts,
        age: fmt.age(c.started_at, now),
        ageTitle: fmt.stamp(c.started_at),
        inFlight: null,
        rps: null,
      }),
    );
  }
  const body = byId('system-body');
  const children: Node[] = [
    table(
      [
        'Component',
        'State',
        { text: 'PID', class: 'num' },
        { text: 'Port', class: 'num' },
        { text: 'Restarts', class: 'num' },
        { text: 'Age', class: 'num' },
        { text: 'In flight', class: 'num' },
        { text: 'Req/s', class: 'num' },
      ],
      rows,
      'components',
    ),
  ];
  const healthy = ov.replicas.filter((r) => r.state === 'healthy').length;
  children.push(
    h(
      'p',
      { class: 'facts muted below' },
      h(
        'span',
        null,
        `${ov.replicas.length} replica${ov.replicas.length === 1 ? '' : 's'}, ${healthy} healthy`,
      ),
      ov.gateway.balance ? h('span', null, `balancing: ${ov.gateway.balance}`) : null,
      ov.gateway.discovery
        ? h(
            'span',
            { class: 'detail-line', title: ov.gateway.discovery },
            `replicas from ${ov.gateway.discovery}`,
          )
        : null,
    ),
  );
  if (ov.replicas.length === 0) {
    children.push(
      emptyState(
        'No backend replica',
        'The gateway knows no replica yet: check --backends (or the DNS name it resolves).',
      ),
    );
  }
  fill(body, ...children);
}

function outcomeBadge(outcome: string): HTMLSpanElement {
  const kind =
    outcome === 'succeeded' ? 'ok' : outcome === 'running' || outcome === 'skipped' ? 'warn' : 'bad';
  return badge(outcome, kind);
}

/** The aliases that name a version now, so a run's outcome reads against where its version is. */
function aliasesOf(version: string | null, ov: Overview): AliasName[] {
  if (version === null) return [];
  return (['production', 'candidate'] as const).filter((a) => ov.registry[a] === version);
}

export function renderTrainer(ov: Overview, now: number): void {
  const stack = ov.stack;
  const body = byId('trainer-body');
  if (stack === null) {
    fill(
      body,
      emptyState(
        'The trainer runs elsewhere',
        'This gateway is not part of a local stack (flywheel up). In Kubernetes the trainer is a CronJob: kubectl get cronjob,jobs.',
      ),
    );
    return;
  }
  const head = h(
    'p',
    { class: 'facts' },
    h('span', null, 'Schedule ', h('code', null, stack.schedule ?? fmt.DASH)),
    h(
      'span',
      { title: fmt.stamp(stack.next_run) },
      'Next run ',
      h('strong', null, fmt.relative(stack.next_run, now)),
    ),
  );
  if (stack.runs.length === 0) {
    fill(
      body,
      head,
      emptyState(
        'No training run yet',
        'The first scheduled run will appear here with its outcome and the version it produced.',
      ),
    );
    return;
  }
  const rows = stack.runs
    .slice(0, 8)
    .map((r) =>
      h(
        'tr',
        null,
        h('td', { title: fmt.stamp(r.started_at) }, fmt.relative(r.started_at, now)),
        h('td', { class: 'num' }, fmt.seconds(r.duration_s)),
        h('td', null, outcomeBadge(r.outcome)),
        h(
          'td',
          null,
          r.version ? h('code', null, r.version) : fmt.DASH,
          ...aliasesOf(r.version, ov).flatMap((a) => [' ', aliasBadge(a)]),
        ),
        h('td', { class: 'detail wrap', title: r.detail ?? undefined }, r.detail ?? ''),
      ),
    );
  fill(
    body,
    head,
    table(['Started', { text: 'Took', class: 'num' }, 'Outcome', 'Version', 'Detail'], rows, 'training runs'),
  );
}
