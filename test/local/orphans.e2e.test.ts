// A `flywheel up` killed with SIGKILL cannot stop its children; the next `flywheel up` on the same
// registry finds them through the state file and stops them, instead of failing on busy ports.
import { afterEach, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const stacks: Stack[] = [];
const orphanPids: number[] = [];
afterEach(async () => {
  for (const s of stacks.splice(0).reverse()) await s.cleanup();
  // Should the feature be broken, do not leave the orphans running after the test.
  for (const pid of orphanPids.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

function alive(pid: number | null): boolean {
  try {
    return pid !== null && process.kill(pid, 0);
  } catch {
    return false;
  }
}

it('a new flywheel up stops the children a SIGKILLed one left behind, and serves on the same ports', async () => {
  const first = await startStack({ replicas: 1 });
  stacks.push(first);
  const orphans = (await first.state()).components;
  for (const c of orphans) if (c.pid !== null) orphanPids.push(c.pid);
  first.proc.kill('SIGKILL');
  await waitFor(() => first.proc.exitCode !== null || first.proc.signalCode !== null, { timeoutMs: 10_000 });
  // Children live in their own process groups: they outlive the supervisor.
  for (const c of orphans) expect(alive(c.pid)).toBe(true);

  const second = await startStack({
    replicas: 1,
    registry: first.registry,
    port: first.port,
    backendPort: first.backendPort,
  });
  stacks.push(second);
  for (const c of orphans) expect(alive(c.pid)).toBe(false);
  expect(second.logs()).toContain('stopping processes left by a previous flywheel up that died');
  const res = await fetch(`${second.url}/model-info`);
  expect(res.status).toBe(200);
  const now = (await second.state()).components;
  expect(now.map((c) => c.port).sort()).toEqual(orphans.map((c) => c.port).sort());
  expect(now.map((c) => c.pid)).not.toContain(orphans[0].pid);
});
