// The supervisor's building blocks with real processes: restarts with backoff, graceful stop and its
// SIGKILL escalation, the no-overlap schedule, and state-file writes.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { ManagedChild, type ManagedChildOptions } from '../../src/local/child.js';
import { TrainingSchedule } from '../../src/local/schedule.js';
import { readState, StateWriter, type StackState } from '../../src/local/state.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const log = createLogger({ role: 'test', level: 'silent' });
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const children: ManagedChild[] = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop(2000)));
});

function child(overrides: Partial<ManagedChildOptions> & { port: number; args: string[] }): ManagedChild {
  const c = new ManagedChild({
    name: 'backend-0',
    role: 'backend',
    replica: 0,
    url: `http://127.0.0.1:${overrides.port}`,
    launch: { file: process.execPath, args: overrides.args },
    readyPath: '/v2/health/ready',
    backoff: { initialMs: 200, factor: 2, maxMs: 5000, resetAfterMs: 60_000 },
    logs: () => undefined,
    log,
    onChange: () => undefined,
    ...overrides,
  });
  children.push(c);
  return c;
}

describe('ManagedChild', () => {
  it('restarts a child killed with SIGKILL, which becomes ready again on its port', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const c = child({
      port,
      args: [fixture('ready-server.mjs'), String(port)],
      logs: (name, line) => lines.push(`${name} ${line}`),
    });
    c.start();
    await c.waitReady(10_000, { failOnExit: true });
    const first = c.pid;
    expect(c.state).toBe('running');
    process.kill(first!, 'SIGKILL');
    await waitFor(() => c.state === 'running' && c.pid !== first, {
      timeoutMs: 15_000,
      what: 'restarted child ready',
    });
    expect(c.restarts).toBe(1);
    expect(c.status().last_exit).toMatchObject({ code: null, signal: 'SIGKILL' });
    const res = await fetch(`http://127.0.0.1:${port}/v2/health/ready`);
    expect(((await res.json()) as { pid: number }).pid).toBe(c.pid);
    // Its log lines were forwarded, tagged with its name.
    expect(lines.some((l) => l.startsWith('backend-0 {') && l.includes('"listening"'))).toBe(true);
  });

  it('backs off exponentially while a child keeps crashing, and waitReady fails on the exit', async () => {
    const starts: number[] = [];
    const backoffs: number[] = [];
    const observed = new ManagedChild({
      name: 'crasher',
      role: 'backend',
      replica: 0,
      port: 1,
      url: 'http://127.0.0.1:1',
      launch: { file: process.execPath, args: [fixture('crash.mjs')] },
      readyPath: '/v2/health/ready',
      backoff: { initialMs: 200, factor: 2, maxMs: 5000, resetAfterMs: 60_000 },
      logs: () => undefined,
      log,
      onChange: () => {
        if (observed.state === 'starting') starts.push(Date.now());
        if (observed.state === 'backoff') backoffs.push(Date.now());
      },
    });
    children.push(observed);
    const failed = observed.waitReady(10_000, { failOnExit: true });
    observed.start();
    await expect(failed).rejects.toThrow(/exited before it was ready \(exit code 3\)/);
    // The wait between a crash and the next spawn doubles: 200, 400, 800 ms. Measured from each exit
    // (not between spawns) so that a slow process start on a loaded machine does not blur it.
    await waitFor(() => starts.length >= 4, { timeoutMs: 15_000, what: 'four spawns' });
    const gaps = [0, 1, 2].map((i) => starts[i + 1] - backoffs[i]);
    expect(gaps[0]).toBeGreaterThanOrEqual(190);
    expect(gaps[1]).toBeGreaterThanOrEqual(390);
    expect(gaps[2]).toBeGreaterThanOrEqual(790);
    expect(gaps[2]).toBeLessThan(5000);
    expect(observed.restarts).toBeGreaterThanOrEqual(3);
    expect(observed.state === 'backoff' || observed.state === 'starting').toBe(true);
  });

  it('stops with SIGTERM, and with SIGKILL when the child ignores SIGTERM past the grace time', async () => {
    const port = await freePort();
    const polite = child({ port, args: [fixture('ready-server.mjs'), String(port)] });
    polite.start();
    await polite.waitReady(10_000);
    await polite.stop(5000);
    expect(polite.state).toBe('stopped');
    expect(polite.status().last_exit).toMatchObject({ code: 0, signal: null });
    expect(polite.restarts).toBe(0);

    const port2 = await freePort();
    const stubborn = child({
      port: port2,
      args: [fixture('ready-server.mjs'), String(port2), '--ignore-term'],
    });
    stubborn.start();
    await stubborn.waitReady(10_000);
    const t0 = Date.now();
    await stubborn.stop(300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(stubborn.status().last_exit).toMatchObject({ signal: 'SIGKILL' });
    expect(stubborn.state).toBe('stopped');
  });
});

describe('TrainingSchedule', () => {
  it('never overlaps runs: ticks during a run are skipped and recorded (concurrencyPolicy Forbid)', async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const schedule = new TrainingSchedule({
      cron: '* * * * * *',
      log,
      onChange: () => undefined,
      run: async () => {
        active++;
        runs++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 1600));
        active--;
        return { outcome: 'succeeded', version: `v${runs}`, promoted: true, exitCode: 0, message: null };
      },
    });
    schedule.start();
    try {
      await waitFor(
        () =>
          schedule.runs.some((r) => r.outcome === 'succeeded') &&
          schedule.runs.some((r) => r.outcome === 'skipped'),
        { timeoutMs: 10_000, what: 'a finished run and a skipped tick' },
      );
    } finally {
      await schedule.stop();
    }
    expect(maxActive).toBe(1);
    const done = schedule.runs.find((r) => r.outcome === 'succeeded')!;
    expect(done).toMatchObject({ trigger: 'schedule', promoted: true, exit_code: 0 });
    expect(done.version).toMatch(/^v\d+$/);
    expect(done.duration_ms).toBeGreaterThanOrEqual(1500);
    const skipped = schedule.runs.find((r) => r.outcome === 'skipped')!;
    expect(skipped.message).toMatch(/still going/);
  });

  it('cancels a run in progress on stop and records it as cancelled', async () => {
    let aborted = false;
    const schedule = new TrainingSchedule({
      cron: '0 0 1 1 *',
      log,
      onChange: () => undefined,
      run: (signal) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve({
              outcome: 'cancelled',
              version: null,
              promoted: null,
              exitCode: null,
              message: 'stopped',
            });
          });
        }),
    });
    schedule.start();
    const run = schedule.runNow('startup');
    expect(schedule.runningSince).not.toBeNull();
    await schedule.stop();
    expect(aborted).toBe(true);
    expect(await run).toMatchObject({ outcome: 'cancelled', trigger: 'startup' });
    expect(schedule.runningSince).toBeNull();
  });
});

describe('StateWriter', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('leaves the last snapshot on disk however many updates race', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-state-'));
    const file = path.join(dir, 'state.json');
    let n = 0;
    const snapshot = (): StackState => ({
      format: 1,
      supervisor: {
        pid: process.pid,
        state: 'running',
        started_at: new Date(0).toISOString(),
        host: '127.0.0.1',
        url: 'http://127.0.0.1:1',
      },
      components: [],
      schedule: { cron: '* * * * *', next_run: null, running_since: null, last_runs: [] },
      rollout: {
        generation: n,
        status: 'idle',
        started_at: null,
        finished_at: null,
        replaced: 0,
        total: 0,
        message: null,
      },
      updated_at: new Date().toISOString(),
    });
    const errors: unknown[] = [];
    const writer = new StateWriter(file, snapshot, (e) => errors.push(e));
    for (n = 1; n <= 50; n++) writer.update();
    n = 50;
    await writer.flush();
    expect(errors).toEqual([]);
    expect((await readState(file))?.rollout.generation).toBe(50);
    // No temp files left behind.
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('refuses a file that is not a state file, naming it', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-state-'));
    const file = path.join(dir, 'state.json');
    await writeFile(file, '{"format":1}');
    await expect(readState(file)).rejects.toThrow(`${file} is not a flywheel up state file`);
    await writeFile(file, '{oops');
    await expect(readState(file)).rejects.toThrow('is not valid JSON');
    expect(await readState(path.join(dir, 'none.json'))).toBeNull();
    expect(await readFile(file, 'utf8')).toBe('{oops');
  });
});
