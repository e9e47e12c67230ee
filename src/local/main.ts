// The local stack's three commands: `flywheel up` (the supervisor), `flywheel status` and
// `flywheel rollout restart` (both talk to a running supervisor through its state file and signals).
import path from 'node:path';
import type { ConfigOf, UpConfig } from '../config.js';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { statePath } from './paths.js';
import { pidAlive, readState, type StackState } from './state.js';
import { collectStatus, formatStatus } from './status.js';
import { Supervisor } from './supervisor.js';

/**
 * Runs the stack until SIGINT/SIGTERM (a second one kills the children at once); SIGHUP rolls the
 * backend replicas. Resolves once every child has exited, so the process exits 0 on its own.
 */
export async function runUp(config: UpConfig, log: Logger): Promise<void> {
  const supervisor = new Supervisor(config, log);
  let stops = 0;
  const onStop = (signal: NodeJS.Signals) => {
    stops += 1;
    if (stops === 1) {
      log.info({ signal }, 'stopping the stack (send it again to kill the children at once)');
      void supervisor.stop();
    } else {
      log.warn({ signal }, 'killing the children now');
      supervisor.forceKill();
    }
  };
  const onHangup = () => {
    log.info('SIGHUP: rolling restart of the backend replicas requested');
    supervisor.requestRollout();
  };
  // Children live in their own process groups; never leave them behind if this process dies on a bug.
  const onExit = () => supervisor.forceKill();
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  process.on('SIGHUP', onHangup);
  process.on('exit', onExit);
  try {
    await supervisor.start();
    await supervisor.done;
  } finally {
    process.off('SIGINT', onStop);
    process.off('SIGTERM', onStop);
    process.off('SIGHUP', onHangup);
    process.off('exit', onExit);
  }
}

export async function runStatus(config: ConfigOf<'status'>, out: NodeJS.WritableStream): Promise<void> {
  const report = await collectStatus(path.resolve(config.registry));
  out.write(config.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
}

/** How long `rollout restart` waits per replica (a new process starting, the old one draining). */
const PER_REPLICA_MS = 90_000;

/**
 * Asks the running supervisor for a rolling restart (SIGHUP) and follows it in the state file until
 * a rollout that started after the request has completed or failed.
 */
export async function runRolloutRestart(
  config: ConfigOf<'status'>,
  out: NodeJS.WritableStream,
): Promise<void> {
  const registry = path.resolve(config.registry);
  const file = statePath(registry);
  const before = liveSupervisor(await readState(file), registry);
  const pid = before.supervisor.pid;
  const generation = before.rollout.generation;
  process.kill(pid, 'SIGHUP');
  if (!config.json) out.write(`rollout restart requested from flywheel up (pid ${pid})\n`);
  const deadline =
    Date.now() + PER_REPLICA_MS * Math.max(1, before.components.filter((c) => c.role === 'backend').length);
  let lastMessage: string | null = null;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const r = liveSupervisor(await readState(file), registry).rollout;
    if (r.generation <= generation) continue;
    if (!config.json && r.message !== null && r.message !== lastMessage && r.status === 'progressing') {
      out.write(`  ${r.message}\n`);
    }
    lastMessage = r.message;
    if (r.status === 'complete') {
      out.write(
        config.json
          ? `${JSON.stringify(r)}\n`
          : `rollout #${r.generation} complete: ${r.replaced}/${r.total} replicas replaced\n`,
      );
      return;
    }
    if (r.status === 'failed') {
      if (config.json) out.write(`${JSON.stringify(r)}\n`);
      throw new FlywheelError(
        'FLY_ERR_ROLLOUT_FAILED',
        `rollout #${r.generation} failed: ${r.message ?? 'no reason recorded'}`,
        r,
      );
    }
  }
  throw new FlywheelError(
    'FLY_ERR_ROLLOUT_FAILED',
    `the rollout did not finish in time; see flywheel status and the flywheel up logs`,
  );
}

/** The state of a live supervisor, or FLY_ERR_STACK_NOT_RUNNING. */
function liveSupervisor(state: StackState | null, registry: string): StackState {
  if (state === null) {
    throw new FlywheelError(
      'FLY_ERR_STACK_NOT_RUNNING',
      `no local stack has run on registry ${registry} (start one with flywheel up, or pass its --registry)`,
    );
  }
  const { pid, state: s } = state.supervisor;
  if (!pidAlive(pid) || (s !== 'running' && s !== 'starting')) {
    throw new FlywheelError(
      'FLY_ERR_STACK_NOT_RUNNING',
      `the local stack on registry ${registry} is not running (supervisor pid ${pid}: ${pidAlive(pid) ? s : 'gone'})`,
    );
  }
  return state;
}
