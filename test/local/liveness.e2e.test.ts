// `flywheel up` notices a hung child: the real stack, one backend stopped with SIGSTOP (alive as a
// process, answering nothing). Its liveness check on /v2/health/live fails, the supervisor kills it
// (SIGKILL) and restarts it, and `flywheel status` says why. The same check watches the gateway.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    replicas: 2,
    trainArgs: '--trees 10',
    extraArgs: ['--liveness-interval', '200ms', '--liveness-timeout', '300ms', '--liveness-failures', '3'],
  });
}, 90_000);

afterAll(async () => {
  await stack?.cleanup();
}, 60_000);

describe('liveness of the children of flywheel up', () => {
  it('restarts a SIGSTOPped backend and flywheel status shows the reason', async () => {
    const before = (await stack.state()).components.find((c) => c.name === 'backend-1');
    expect(before).toMatchObject({ state: 'running', restarts: 0 });
    const hungPid = before!.pid!;
    process.kill(hungPid, 'SIGSTOP');
    try {
      const after = await waitFor(
        async () => {
          const c = (await stack.state()).components.find((x) => x.name === 'backend-1');
          return c !== undefined && c.state === 'running' && c.pid !== hungPid ? c : null;
        },
        { timeoutMs: 30_000, what: 'backend-1 restarted and running' },
      );
      expect(after.restarts).toBe(1);
    } finally {
      // The supervisor SIGKILLs it; if the test failed before that, do not leave it stopped.
      try {
        process.kill(hungPid, 'SIGKILL');
      } catch {
        // already gone: the supervisor killed it
      }
    }
    // The stopped process is gone (killed, not left behind).
    expect(() => process.kill(hungPid, 0)).toThrow();

    const table = await runCli(['status', '--registry', stack.registry]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/backend-1: restarted: liveness check failed 3 times/);
    const json = JSON.parse((await runCli(['status', '--registry', stack.registry, '--json'])).stdout) as {
      components: { name: string; restart_reason: string | null }[];
    };
    expect(json.components.find((c) => c.name === 'backend-1')?.restart_reason).toMatch(
      /^liveness check failed 3 times/,
    );
    expect(json.components.find((c) => c.name === 'backend-0')?.restart_reason ?? null).toBeNull();
    expect(stack.logs()).toMatch(/child hung; killing it/);
    // It serves again through the gateway.
    const res = await fetch(`${stack.url}/v2/health/ready`);
    expect(res.status).toBe(200);
  }, 60_000);
});
