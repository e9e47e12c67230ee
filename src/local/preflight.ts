// What `flywheel up` checks before it starts anything: the registry can be written, no other stack
// runs on it (the up lock), the ports are free, and --train-args parse. A previous stack that died hard
// may have left children holding the ports: those are stopped first, when they are provably its own.
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { UpConfig } from '../config.js';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { Registry } from '../registry/index.js';
import type { Launch } from './child.js';
import { acquireUpLock, type UpLock } from './lock.js';
import { localDir, lockPath, statePath } from './paths.js';
import { freePort, probePort, type PortProblem } from './ports.js';
import { pidAlive, readState, type StackState } from './state.js';

export interface PreflightOptions {
  readonly config: UpConfig;
  /** The registry folder, resolved. */
  readonly registry: string;
  readonly log: Logger;
  /** How long orphans of a dead stack get between SIGTERM and SIGKILL. */
  readonly stopGraceMs: number;
  /** The trainer's own parser run on --train-args (`flywheel train --print-config ...`); null when there are none. */
  readonly trainArgsCheck: Launch | null;
  /** Called as soon as the up lock is held, so that a later failure still releases it. */
  readonly onLocked: (lock: UpLock) => void;
}

/** Runs every check; resolves with the gateway port to use (a free one when --port is 0). */
export async function preflight(options: PreflightOptions): Promise<number> {
  const { config, registry, log } = options;
  await new Registry(registry).init();
  try {
    await mkdir(localDir(registry), { recursive: true });
  } catch (err) {
    throw new FlywheelError(
      'FLY_ERR_REGISTRY_UNWRITABLE',
      `registry folder ${registry} cannot be written: ${(err as Error).message}`,
    );
  }
  // Read before the lock: a previous supervisor's state tells who holds a busy port.
  const previous = await readState(statePath(registry)).catch(() => null);
  options.onLocked(await acquireUpLock(lockPath(registry), registry));
  // Holding the lock means the previous supervisor is gone; if it died hard, its children may still
  // hold the ports.
  if (previous !== null) await stopOrphans(previous, registry, log, options.stopGraceMs);
  const gatewayPort = config.port === 0 ? await freePort(config.host) : config.port;
  const wanted: { port: number; use: string }[] = [{ port: gatewayPort, use: 'gateway (--port)' }];
  for (let i = 0; i < config.replicas; i++) {
    wanted.push({ port: config.backendPort + i, use: `backend-${i} (--backend-port + ${i})` });
  }
  const [problems] = await Promise.all([
    Promise.all(wanted.map((w) => probePort(config.host, w.port))),
    options.trainArgsCheck === null ? undefined : checkTrainArgs(options.trainArgsCheck, config.trainArgs),
  ]);
  const busy = problems
    .map((p, i) => (p === null ? null : { ...p, use: wanted[i].use }))
    .filter((p): p is PortProblem & { use: string } => p !== null);
  if (busy.length > 0) {
    const lines = busy.map(
      (p) => `port ${p.port} on ${config.host} for ${p.use}: ${p.reason}${holderHint(previous, p.port)}`,
    );
    throw new FlywheelError(
      'FLY_ERR_PORT_IN_USE',
      `${lines.join('; ')}. Stop what uses it or choose other ports (--port, --backend-port)`,
      { ports: busy.map((p) => ({ port: p.port, use: p.use, reason: p.reason })) },
    );
  }
  return gatewayPort;
}

/**
 * Stops the children a dead supervisor left behind on this registry (kill -9 of `flywheel up`), so
 * that starting again just works. Only processes that are provably those children are touched: the
 * pid recorded in the state file must still run `flywheel serve|gateway --registry <this registry>`
 * (checked in /proc; where there is no /proc nothing is touched and the port check reports them).
 */
async function stopOrphans(
  previous: StackState,
  registry: string,
  log: Logger,
  stopGraceMs: number,
): Promise<void> {
  const orphans: { name: string; pid: number }[] = [];
  for (const c of previous.components) {
    if (c.pid === null || !pidAlive(c.pid)) continue;
    const role = c.role === 'gateway' ? 'gateway' : 'serve';
    if (await runsRole(c.pid, role, registry)) orphans.push({ name: c.name, pid: c.pid });
  }
  if (orphans.length === 0) return;
  log.warn(
    { orphans, previousSupervisor: previous.supervisor.pid },
    'stopping processes left by a previous flywheel up that died',
  );
  for (const o of orphans) signal(o.pid, 'SIGTERM');
  const deadline = Date.now() + stopGraceMs;
  while (Date.now() < deadline && orphans.some((o) => pidAlive(o.pid))) await sleep(50);
  for (const o of orphans) if (pidAlive(o.pid)) signal(o.pid, 'SIGKILL');
  while (orphans.some((o) => pidAlive(o.pid)) && Date.now() < deadline + 2000) await sleep(20);
}

/** Validates --train-args with the trainer's own parser (`--print-config`) so a typo fails now, not at the first tick. */
async function checkTrainArgs(launch: Launch, trainArgs: string): Promise<void> {
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const proc = spawn(launch.file, launch.args, { env: launch.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) => (err += chunk));
    proc.once('error', (e) => resolve({ code: null, stderr: e.message }));
    proc.once('close', (c) => resolve({ code: c, stderr: err }));
  });
  if (code !== 0) {
    const reason = stderr
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(0, 6)
      .join('\n  ');
    throw new FlywheelError(
      'FLY_ERR_CONFIG',
      `invalid configuration:\n  --train-args ${JSON.stringify(trainArgs)}: ${reason}`,
    );
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Whether pid runs `<cli> <role> ... --registry <registry>` (Linux /proc; false where unknown). */
async function runsRole(pid: number, role: string, registry: string): Promise<boolean> {
  let argv: string[];
  try {
    argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  } catch {
    return false;
  }
  const roleAt = argv.findIndex((a, i) => i > 0 && a === role && /cli\.js$|flywheel$/.test(argv[i - 1]));
  const registryAt = argv.indexOf('--registry');
  return roleAt > 0 && registryAt > roleAt && path.resolve(argv[registryAt + 1] ?? '') === registry;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** " (held by pid N, backend-1 of an earlier flywheel up)" when a previous state file says so. */
function holderHint(previous: StackState | null, port: number): string {
  if (previous === null) return '';
  for (const c of previous.components) {
    if (c.port === port && pidAlive(c.pid)) {
      const sup = pidAlive(previous.supervisor.pid)
        ? ''
        : ` whose supervisor (pid ${previous.supervisor.pid}) is gone`;
      return ` (probably pid ${c.pid}, ${c.name} of an earlier flywheel up${sup})`;
    }
  }
  return '';
}
