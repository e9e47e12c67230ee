// `flywheel status` from a state file: what it says when the supervisor is gone but a child is not,
// checked against real pids (this test process is alive; an exited child's pid is not).
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { statePath } from '../../src/local/paths.js';
import { writeState, type StackState } from '../../src/local/state.js';
import { collectStatus, formatStatus } from '../../src/local/status.js';

let registry = '';
beforeEach(async () => {
  registry = await mkdtemp(path.join(os.tmpdir(), 'flywheel-status-'));
});
afterEach(async () => {
  await rm(registry, { recursive: true, force: true });
});

function deadPid(): number {
  const res = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(res.stdout);
}

function stateWith(supervisorPid: number, childPid: number): StackState {
  const at = new Date(Date.now() - 65_000).toISOString();
  return {
    format: 1,
    supervisor: {
      pid: supervisorPid,
      state: 'running',
      started_at: at,
      host: '127.0.0.1',
      url: 'http://127.0.0.1:30080',
    },
    components: [
      {
        name: 'backend-0',
        role: 'backend',
        replica: 0,
        pid: childPid,
        port: 5001,
        url: 'http://127.0.0.1:5001',
        state: 'running',
        restarts: 2,
        started_at: at,
        last_exit: null,
      },
    ],
    schedule: {
      cron: '*/2 * * * *',
      next_run: null,
      running_since: null,
      last_runs: [
        {
          started_at: at,
          duration_ms: 1234,
          outcome: 'failed',
          trigger: 'schedule',
          version: null,
          promoted: null,
          exit_code: 1,
          message: 'flywheel train: data file not found [FLY_ERR_DATA_NOT_FOUND]',
        },
      ],
    },
    rollout: {
      generation: 0,
      status: 'idle',
      started_at: null,
      finished_at: null,
      replaced: 0,
      total: 0,
      message: null,
    },
    updated_at: at,
  };
}

describe('flywheel status', () => {
  it('shows a live stack with ages, restarts, the next run and the last runs', async () => {
    await writeState(statePath(registry), stateWith(process.pid, process.pid));
    const report = await collectStatus(registry);
    expect(report.running).toBe(true);
    expect(report.schedule?.next_run).not.toBeNull();
    const text = formatStatus(report);
    expect(text).toMatch(new RegExp(`up\\s+supervisor\\s+Running\\s+${process.pid}\\s+-\\s+-\\s+1m5s`));
    expect(text).toMatch(
      new RegExp(`backend-0\\s+backend\\s+Running\\s+${process.pid}\\s+5001\\s+2\\s+1m5s`),
    );
    expect(text).toMatch(/\*\/2 \* \* \* \*\s+\S+ \(in \d+(s|m)/);
    expect(text).toMatch(/1m5s ago\s+schedule\s+failed\s+1\.2s\s+-\s+flywheel train: data file not found/);
    expect(text).toMatch(/production\s+<none>/);
  });

  it('reports a supervisor that died (kill -9) and the children it left running', async () => {
    const gone = deadPid();
    await writeState(statePath(registry), stateWith(gone, process.pid));
    const report = await collectStatus(registry);
    expect(report.running).toBe(false);
    expect(report.supervisor?.alive).toBe(false);
    expect(report.components[0].alive).toBe(true);
    const text = formatStatus(report);
    expect(text).toMatch(/up\s+supervisor\s+Gone/);
    expect(text).toMatch(/backend-0\s+backend\s+Orphaned/);
    expect(text).toContain('The supervisor is gone but some children still run');
  });

  it('says when no stack has run on the registry', async () => {
    const report = await collectStatus(registry);
    expect(report).toMatchObject({ running: false, supervisor: null, components: [] });
    expect(formatStatus(report)).toContain(`No local stack has run on registry ${registry}`);
  });
});
