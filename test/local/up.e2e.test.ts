// End to end on `flywheel up`: the real executable runs the real trainer, backends and gateway as
// child processes on free ports of 127.0.0.1 with a temp registry, and a client sends the lab's
// requests through the gateway while replicas are killed, rolled and stopped. The tests share one
// stack and run in order (each leaves it serving).
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_PREDICT_BODY, startLoad, type LoadReport } from '../helpers/load.js';
import { runCli, startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

let stack: Stack;
const ADMIN_TOKEN = 'e2e-admin-token';

beforeAll(async () => {
  // A seconds-level schedule so scheduled runs happen during the test; few trees keep them cheap.
  stack = await startStack({
    replicas: 2,
    schedule: '*/4 * * * * *',
    trainArgs: '--trees 10',
    // Liveness restarts are slowed down here: the all-replicas-down test SIGSTOPs the backends to watch
    // the gateway's view; liveness.e2e.test.ts tests the restart of a hung child.
    extraArgs: ['--admin-token', ADMIN_TOKEN, '--liveness-failures', '60'],
  });
}, 90_000);

afterAll(async () => {
  await stack?.cleanup();
}, 60_000);

async function predict(): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(LAB_PREDICT_BODY),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function alive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The backend's `host` field is `<hostname>:<port>`, which tells the replicas apart on one machine. */
function portOf(host: string): number {
  return Number(host.slice(host.lastIndexOf(':') + 1));
}

/** The supervisor's stderr as JSON records (children's lines carry `component`). */
function logLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not a JSON line
    }
  }
  return out;
}

function expectNoFailures(report: LoadReport): void {
  expect(report.failed, `failed requests:\n${report.failures.join('\n')}`).toBe(0);
  expect(report.ok).toBeGreaterThan(0);
}

describe('flywheel up', () => {
  it("answers the lab's two requests through the gateway, from both replicas", async () => {
    const first = await predict();
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      engagement_score: expect.any(Number),
      prediction: expect.any(Number),
      model_version: expect.stringMatching(/^v\d{8}-/),
      features_used: ['avg_session_duration', 'visits_per_week', 'response_rate', 'feature_usage_depth'],
      host: expect.any(String),
    });
    const info = await fetch(`${stack.url}/model-info`);
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({
      status: expect.any(String),
      last_training_time: expect.any(String),
      features: expect.any(Array),
      model_type: 'random-forest',
      host: expect.any(String),
    });
    const ports = new Set<number>();
    for (let i = 0; i < 20 && ports.size < 2; i++) ports.add(portOf(String((await predict()).body.host)));
    const backends = await stack.backends();
    expect([...ports].sort()).toEqual(backends.map((b) => b.port).sort());
  });

  it('a scheduled training run changes the model_version seen through the gateway, with no failed request', async () => {
    const before = String((await predict()).body.model_version);
    const load = startLoad({ url: `${stack.url}/predict`, body: LAB_PREDICT_BODY });
    try {
      await waitFor(() => Object.keys(load.report().tally.model_version).some((v) => v > before), {
        timeoutMs: 30_000,
        what: 'a newer model_version through the gateway',
      });
    } finally {
      const report = await load.stop();
      expectNoFailures(report);
    }
    const newest = String((await predict()).body.model_version);
    expect(newest > before).toBe(true);
    // The supervisor records the run when the trainer process has exited, which can come a moment
    // after the backends already serve the version it promoted.
    await waitFor(
      async () =>
        (await stack.state()).schedule.last_runs.some(
          (r) => r.trigger === 'schedule' && r.outcome === 'succeeded' && r.version === newest,
        ),
      { timeoutMs: 15_000, what: `a recorded scheduled run that produced ${newest}` },
    );
  });

  it('kill -9 of one backend under load: no failed request, and the replica is restarted and takes traffic', async () => {
    const victim = (await stack.backends()).find((b) => b.name === 'backend-1')!;
    const load = startLoad({ url: `${stack.url}/predict`, body: LAB_PREDICT_BODY });
    try {
      await waitFor(() => load.report().ok >= 20, { timeoutMs: 10_000, what: 'load to flow' });
      const killedAt = Date.now();
      process.kill(victim.pid!, 'SIGKILL');
      const restarted = await waitFor(
        async () =>
          (await stack.state()).components.find(
            (c) => c.name === 'backend-1' && c.state === 'running' && c.pid !== victim.pid,
          ),
        { timeoutMs: 20_000, what: 'backend-1 restarted and ready' },
      );
      expect(restarted.restarts).toBe(victim.restarts + 1);
      expect(restarted.port).toBe(victim.port);
      const servedBefore =
        Object.entries(load.report().tally.host).find(([h]) => portOf(h) === victim.port)?.[1] ?? 0;
      await waitFor(
        () =>
          (Object.entries(load.report().tally.host).find(([h]) => portOf(h) === victim.port)?.[1] ?? 0) >
          servedBefore + 5,
        { timeoutMs: 15_000, what: 'the restarted replica to take traffic' },
      );
      // Keep the client going for several seconds in all.
      await waitFor(() => Date.now() - killedAt >= 5000, { timeoutMs: 10_000 });
    } finally {
      expectNoFailures(await load.stop());
    }
    expect(alive(victim.pid)).toBe(false);
  });

  it("rolling restart under load: no failed request, every replica's process replaced", async () => {
    const before = await stack.backends();
    expect(before).toHaveLength(2);
    const load = startLoad({ url: `${stack.url}/predict`, body: LAB_PREDICT_BODY });
    let after: Awaited<ReturnType<Stack['backends']>> = [];
    try {
      await waitFor(() => load.report().ok >= 20, { timeoutMs: 10_000, what: 'load to flow' });
      const res = await runCli(['rollout', 'restart', '--registry', stack.registry], { timeoutMs: 90_000 });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/rollout #\d+ complete: 2\/2 replicas replaced/);
      after = await stack.backends();
      // The new replicas take traffic on their new ports.
      await waitFor(
        () =>
          after.every(
            (b) =>
              (Object.entries(load.report().tally.host).find(([h]) => portOf(h) === b.port)?.[1] ?? 0) > 0,
          ),
        { timeoutMs: 15_000, what: 'both new replicas to answer' },
      );
    } finally {
      expectNoFailures(await load.stop());
    }
    expect(after).toHaveLength(2);
    for (const old of before) {
      expect(after.map((b) => b.pid)).not.toContain(old.pid);
      expect(alive(old.pid)).toBe(false);
    }
    expect(after.map((b) => b.port).sort()).not.toEqual(before.map((b) => b.port).sort());
    expect((await stack.state()).rollout).toMatchObject({ status: 'complete' });

    // The order, from the gateway's and the backends' own logs: the replica set the gateway follows
    // grows by the new replica before it shrinks by the old one (never below 2), and an old replica
    // is stopped only after the gateway has dropped it.
    const lines = logLines(stack.logs());
    const sets = lines
      .filter((l) => l.component === 'gateway' && l.msg === 'file replicas changed')
      .map((l) => ({ time: l.time as number, replicas: l.replicas as string[] }));
    const rolloutSets = sets.slice(sets.findIndex((x) => x.replicas.length === 3) - 1);
    expect(rolloutSets.map((x) => x.replicas.length)).toEqual([2, 3, 2, 3, 2]);
    for (const old of before) {
      const dropped = rolloutSets.find((x, i) => i > 0 && !x.replicas.includes(old.url))!;
      expect(dropped).toBeDefined();
      const stopped = lines.find(
        (l) => l.component === old.name && l.msg === 'backend stopped' && l.pid === old.pid,
      );
      expect(stopped, `${old.name} pid ${old.pid} logged its stop`).toBeDefined();
      expect(stopped!.time as number).toBeGreaterThanOrEqual(dropped.time);
    }
  });

  it('all replicas down: 503 with a JSON error, and recovery when one returns', async () => {
    const backends = await stack.backends();
    // SIGSTOP: the processes hang without exiting; with --liveness-failures 60 the supervisor leaves
    // them alone for the length of this test.
    for (const b of backends) process.kill(b.pid!, 'SIGSTOP');
    try {
      await waitFor(async () => (await fetch(`${stack.url}/v2/health/ready`)).status === 503, {
        timeoutMs: 30_000,
        what: 'the gateway to see no healthy replica',
      });
      const down = await predict();
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ error: expect.any(String), code: 'FLY_ERR_NO_UPSTREAM' });
      process.kill(backends[0].pid!, 'SIGCONT');
      const back = await waitFor(
        async () => {
          const r = await predict();
          return r.status === 200 ? r : null;
        },
        { timeoutMs: 30_000, what: 'a 200 after one replica returned' },
      );
      expect(portOf(String(back.body.host))).toBe(backends[0].port);
    } finally {
      for (const b of backends) process.kill(b.pid!, 'SIGCONT');
    }
  });

  it('flywheel status shows every component, the schedule, the last runs and the aliases', async () => {
    // The previous test left backend-1 stopped for a while: wait until the gateway has it back.
    await waitFor(
      async () => {
        const r = JSON.parse((await runCli(['status', '--registry', stack.registry, '--json'])).stdout) as {
          components: { role: string; gateway: { state: string } | null }[];
        };
        return r.components.filter((c) => c.role === 'backend').every((c) => c.gateway?.state === 'healthy');
      },
      { timeoutMs: 20_000, what: 'the gateway to see both replicas healthy' },
    );
    const table = await runCli(['status', '--registry', stack.registry]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+ROLE\s+STATE\s+PID\s+PORT\s+RESTARTS\s+AGE/);
    const state = await stack.state();
    for (const c of state.components) {
      // Backends also show how the gateway sees them (its GET /status).
      const gateway = c.role === 'backend' ? 'healthy, \\d+ requests' : '';
      expect(table.stdout).toMatch(
        new RegExp(
          `${c.name}\\s+${c.role}\\s+Running\\s+${c.pid}\\s+${c.port}\\s+${c.restarts}\\s+\\S+\\s*${gateway}\\n`,
        ),
      );
    }
    expect(table.stdout).toContain('*/4 * * * * *');
    expect(table.stdout).toMatch(/schedule\s+succeeded/);
    expect(table.stdout).toMatch(/startup\s+succeeded/);
    const json = await runCli(['status', '--registry', stack.registry, '--json']);
    const report = JSON.parse(json.stdout) as {
      running: boolean;
      components: { name: string; alive: boolean }[];
      models: { production: string };
    };
    expect(report.running).toBe(true);
    expect(report.components.map((c) => [c.name, c.alive])).toEqual([
      ['gateway', true],
      ['backend-0', true],
      ['backend-1', true],
    ]);
    expect(report.models.production).toMatch(/^v\d{8}-/);
    expect(table.stdout).toMatch(/production\s+v\d{8}-/);
  });

  it('hands the admin token to the gateway through its environment, not its command line', async () => {
    const gateway = (await stack.state()).components.find((c) => c.role === 'gateway')!;
    // A token in argv would be visible to every user in `ps`; the environment is private to the owner.
    expect(readFileSync(`/proc/${gateway.pid}/environ`, 'utf8').split('\0')).toContain(
      `FLYWHEEL_ADMIN_TOKEN=${ADMIN_TOKEN}`,
    );
    expect(readFileSync(`/proc/${gateway.pid}/cmdline`, 'utf8')).not.toContain(ADMIN_TOKEN);
  });

  it('refuses a second flywheel up on the same registry (FLY_ERR_STACK_RUNNING)', async () => {
    const res = await runCli([
      'up',
      '--registry',
      stack.registry,
      '--port',
      '0',
      '--backend-port',
      '1',
      '--replicas',
      '1',
    ]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('[FLY_ERR_STACK_RUNNING]');
    expect(res.stderr).toContain(`pid ${stack.proc.pid}`);
  });

  it('SIGTERM stops every child gracefully, exits 0 and leaves the registry intact', async () => {
    const state = await stack.state();
    const pids = state.components.map((c) => c.pid);
    const exit = await stack.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(alive(pid)).toBe(false);
    const after = await stack.state();
    expect(after.supervisor.state).toBe('stopped');
    expect(after.components.every((c) => c.state === 'stopped')).toBe(true);
    expect(existsSync(path.join(stack.registry, 'local', 'up.lock'))).toBe(false);
    expect((await readdir(path.join(stack.registry, 'versions'))).length).toBeGreaterThan(1);
    // Backends log that they drained and exited on SIGTERM.
    expect(stack.logs().match(/"msg":"backend stopped"/g)?.length).toBeGreaterThanOrEqual(2);
    const models = await runCli(['status', '--registry', stack.registry, '--json']);
    expect(JSON.parse(models.stdout)).toMatchObject({
      running: false,
      models: { production: expect.stringMatching(/^v/) },
    });
    const rollout = await runCli(['rollout', 'restart', '--registry', stack.registry]);
    expect(rollout.code).not.toBe(0);
    expect(rollout.stderr).toContain('[FLY_ERR_STACK_NOT_RUNNING]');
  });
});
