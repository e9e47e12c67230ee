// `flywheel status`: the local stack as `kubectl get all` shows a cluster, read from the supervisor's
// state file, checked against the live processes, with the registry's aliases beside it.
import { Cron } from 'croner';
import { Registry } from '../registry/index.js';
import { fetchGatewayView } from './gateway-view.js';
import { statePath } from './paths.js';
import {
  pidAlive,
  readState,
  type ComponentStatus,
  type RolloutState,
  type RunRecord,
  type StackState,
} from './state.js';

export interface ComponentReport extends ComponentStatus {
  /** Whether the recorded pid is a live process now. */
  readonly alive: boolean;
  /** A backend as the gateway sees it (its GET /status), null when not listed or not asked. */
  readonly gateway: { readonly state: string | null; readonly requests: number | null } | null;
}

export interface StatusReport {
  readonly registry: string;
  /** A supervisor is alive and says it is starting or running. */
  readonly running: boolean;
  readonly supervisor: (StackState['supervisor'] & { readonly alive: boolean }) | null;
  readonly components: readonly ComponentReport[];
  readonly schedule: {
    readonly cron: string;
    readonly next_run: string | null;
    readonly running_since: string | null;
  } | null;
  readonly last_runs: readonly RunRecord[];
  readonly rollout: RolloutState | null;
  readonly models:
    { readonly production: string | null; readonly candidate: string | null } | { readonly error: string };
}

export async function collectStatus(registry: string, now = Date.now()): Promise<StatusReport> {
  const [state, models] = await Promise.all([
    readState(statePath(registry)),
    new Registry(registry)
      .readAliases()
      .then((a) => ({ production: a.production, candidate: a.candidate }))
      .catch((err: Error) => ({ error: err.message })),
  ]);
  if (state === null) {
    return {
      registry,
      running: false,
      supervisor: null,
      components: [],
      schedule: null,
      last_runs: [],
      rollout: null,
      models,
    };
  }
  const supAlive = pidAlive(state.supervisor.pid);
  const live = supAlive && (state.supervisor.state === 'running' || state.supervisor.state === 'starting');
  // Which replicas take traffic is the gateway's call: ask it (briefly) rather than guess.
  const view = live ? await fetchGatewayView(state.supervisor.url, 1000) : null;
  const components = state.components.map((c): ComponentReport => {
    const alive = pidAlive(c.pid);
    // Without a live supervisor nobody keeps the file current: report what the OS says.
    const effective = live ? c.state : alive ? c.state : 'stopped';
    const seen = c.role === 'backend' ? view?.find((r) => r.url === c.url) : undefined;
    return {
      ...c,
      state: effective,
      alive,
      gateway: seen === undefined ? null : { state: seen.state, requests: seen.requests },
    };
  });
  return {
    registry,
    running: live,
    supervisor: { ...state.supervisor, alive: supAlive },
    components,
    schedule: {
      cron: state.schedule.cron,
      next_run: live ? nextRun(state.schedule.cron, now) : null,
      running_since: live ? state.schedule.running_since : null,
    },
    last_runs: state.schedule.last_runs,
    rollout: state.rollout,
    models,
  };
}

function nextRun(cron: string, now: number): string | null {
  try {
    const job = new Cron(cron, { paused: true, mode: '5-or-6-parts' });
    const next = job.nextRun(new Date(now));
    job.stop();
    return next?.toISOString() ?? null;
  } catch {
    return null;
  }
}

/** kubectl's age: 45s, 3m12s, 2h5m, 3d4h. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  const d = Math.floor(h / 24);
  return `${d}d${h % 24 ? `${h % 24}h` : ''}`;
}

const STATE_LABEL: Record<string, string> = {
  starting: 'Starting',
  running: 'Running',
  backoff: 'CrashLoopBackOff',
  terminating: 'Terminating',
  stopped: 'Stopped',
  stopping: 'Stopping',
  failed: 'Failed',
};

function label(state: string): string {
  return STATE_LABEL[state] ?? state;
}

/** Columns padded to their widest cell, two spaces apart, as kubectl prints. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatStatus(report: StatusReport, now = Date.now()): string {
  const out: string[] = [];
  const sup = report.supervisor;
  if (sup === null) {
    out.push(
      `No local stack has run on registry ${report.registry} (start one with: flywheel up --registry ${report.registry}).`,
    );
  } else {
    const supState = sup.alive
      ? label(sup.state)
      : sup.state === 'stopped' || sup.state === 'failed'
        ? label(sup.state)
        : 'Gone';
    const rows: string[][] = [['NAME', 'ROLE', 'STATE', 'PID', 'PORT', 'RESTARTS', 'AGE', 'IN GATEWAY']];
    rows.push([
      'up',
      'supervisor',
      supState,
      sup.alive ? String(sup.pid) : '-',
      '-',
      '-',
      sup.alive ? formatAge(now - Date.parse(sup.started_at)) : '-',
      '',
    ]);
    for (const c of report.components) {
      const state =
        c.alive || c.state === 'backoff' || c.state === 'stopped'
          ? label(c.state)
          : `${label(c.state)} (pid gone)`;
      rows.push([
        c.name,
        c.role,
        report.running ? state : c.alive ? 'Orphaned' : 'Stopped',
        c.alive && c.pid !== null ? String(c.pid) : '-',
        String(c.port),
        String(c.restarts),
        c.alive && c.started_at !== null ? formatAge(now - Date.parse(c.started_at)) : '-',
        c.gateway === null
          ? c.role === 'backend' && report.running
            ? 'not listed'
            : ''
          : `${c.gateway.state ?? 'listed'}${c.gateway.requests !== null ? `, ${c.gateway.requests} requests` : ''}`,
      ]);
    }
    out.push(table(rows));
    // Why a child was restarted: a crash (exit code or signal) or a failed liveness check.
    const restarted = report.components.filter((c) => c.restarts > 0 && c.restart_reason);
    if (restarted.length > 0) out.push('');
    for (const c of restarted) {
      const at = c.last_exit !== null ? ` (${c.last_exit.at})` : '';
      out.push(`${c.name}: restarted: ${c.restart_reason}${at}`);
    }
    if (report.running) out.push('', `Entry point: ${sup.url}  (POST /predict, GET /model-info)`);
    else if (report.components.some((c) => c.alive)) {
      out.push('', 'The supervisor is gone but some children still run (see Orphaned): stop them by pid.');
    }
  }
  if (report.schedule !== null) {
    out.push('');
    const next = report.schedule.next_run;
    const rows = [
      ['SCHEDULE', 'NEXT RUN', 'RUNNING'],
      [
        report.schedule.cron,
        next !== null ? `${next} (in ${formatAge(Date.parse(next) - now)})` : '-',
        report.schedule.running_since !== null
          ? `since ${formatAge(now - Date.parse(report.schedule.running_since))}`
          : 'no',
      ],
    ];
    out.push(table(rows));
  }
  if (report.last_runs.length > 0) {
    out.push('', 'LAST RUNS (newest first)');
    const rows = [['STARTED', 'TRIGGER', 'OUTCOME', 'DURATION', 'VERSION', 'DETAIL']];
    for (const r of report.last_runs) {
      rows.push([
        `${formatAge(now - Date.parse(r.started_at))} ago`,
        r.trigger,
        r.outcome,
        r.outcome === 'skipped' ? '-' : `${(r.duration_ms / 1000).toFixed(1)}s`,
        r.version ?? '-',
        r.message ??
          (r.promoted === true ? 'promoted to production' : r.promoted === false ? 'not promoted' : ''),
      ]);
    }
    out.push(table(rows));
  }
  if (report.rollout !== null && report.rollout.generation > 0) {
    const r = report.rollout;
    out.push(
      '',
      `ROLLOUT  #${r.generation} ${r.status} (${r.replaced}/${r.total} replaced)${r.message !== null ? `: ${r.message}` : ''}`,
    );
  }
  out.push('', 'MODELS');
  if ('error' in report.models) out.push(`registry unreadable: ${report.models.error}`);
  else {
    out.push(
      table([
        ['ALIAS', 'VERSION'],
        ['production', report.models.production ?? '<none>'],
        ['candidate', report.models.candidate ?? '<none>'],
      ]),
    );
  }
  return `${out.join('\n')}\n`;
}
