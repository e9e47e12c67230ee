// `flywheel up`'s supervisor: runs the trainer on a schedule, the backend replicas and the gateway as
// child processes of the same executable, restarts the ones that crash, replaces the replicas one at a
// time on request (the local `kubectl rollout restart`), and stops everything in order on SIGTERM.
// The gateway learns the replica set from `<registry>/local/replicas.json`, which only the
// supervisor writes; `flywheel status` reads `<registry>/local/state.json`, written on every change.
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UpConfig } from '../config.js';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { writeFileAtomic } from '../registry/fs.js';
import { Registry } from '../registry/index.js';
import { splitArgs } from './args.js';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { ManagedChild, type Launch } from './child.js';
import { fetchGatewayView, type ReplicaView } from './gateway-view.js';
import { acquireUpLock, type UpLock } from './lock.js';
import { createLogSink, type LogSink } from './logs.js';
import { localDir, lockPath, replicasPath, statePath, urlOf } from './paths.js';
import { freePort, probePort, type PortProblem } from './ports.js';
import { TrainingSchedule } from './schedule.js';
import {
  pidAlive,
  readState,
  StateWriter,
  type ComponentStatus,
  type RolloutState,
  type StackState,
  type SupervisorState,
} from './state.js';
import { runTrainer } from './trainer.js';

export interface SupervisorOptions {
  /** The flywheel CLI the children run (default: dist/cli.js beside this module). */
  readonly cliPath?: string;
  readonly backoff?: BackoffPolicy;
  /** How long a new backend or the gateway may take to become ready. */
  readonly readyTimeoutMs?: number;
  /** SIGTERM to SIGKILL; longer than the backend's own drain grace period (10 s by default). */
  readonly stopGraceMs?: number;
  /** How long a rollout waits for the gateway to admit a new replica or let an old one go. */
  readonly noticeTimeoutMs?: number;
  /** Where children's log lines go (default: this process's stderr). */
  readonly logs?: LogSink;
  /** Environment of the children (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

const DEFAULT_CLI = fileURLToPath(new URL('../cli.js', import.meta.url));
const READY_PATH = '/v2/health/ready';
// Backends are ready only with a production model; without one (a first version not promoted), a
// started process is the most that can be waited for, and the gateway answers 503 until one is.
const LIVE_PATH = '/v2/health/live';

const IDLE_ROLLOUT: RolloutState = {
  generation: 0,
  status: 'idle',
  started_at: null,
  finished_at: null,
  replaced: 0,
  total: 0,
  message: null,
};

export class Supervisor {
  readonly config: UpConfig;
  readonly registry: string;
  readonly #log: Logger;
  readonly #cliPath: string;
  readonly #backoff: BackoffPolicy;
  readonly #readyTimeoutMs: number;
  readonly #stopGraceMs: number;
  readonly #noticeTimeoutMs: number;
  readonly #logs: LogSink;
  readonly #env: NodeJS.ProcessEnv;
  readonly #trainArgs: string[];
  readonly #schedule: TrainingSchedule;
  readonly #writer: StateWriter;
  readonly #startedAt = new Date().toISOString();

  #gatewayPort: number;
  #readyPath = READY_PATH;
  #state: SupervisorState = 'starting';
  #ownsState = false;
  #lock: UpLock | null = null;
  #gateway: ManagedChild | null = null;
  /** The current process of each replica (index = replica number). */
  #slots: ManagedChild[] = [];
  /** Every child alive or restarting, including a rollout's new replica before it joins a slot. */
  readonly #children = new Set<ManagedChild>();
  /** The replicas the gateway is told about, in order. */
  #inRotation: ManagedChild[] = [];
  #replicaWrites: Promise<void> = Promise.resolve();
  #rollout: RolloutState = IDLE_ROLLOUT;
  #rolloutPending = false;
  #rolloutTask: Promise<void> | null = null;
  #stopRequested = false;
  #stopTask: Promise<void> | null = null;
  #resolveDone!: () => void;
  /** Resolves when the supervisor has stopped (after stop(), or a failed start). */
  readonly done: Promise<void>;

  constructor(config: UpConfig, log: Logger, options: SupervisorOptions = {}) {
    this.config = config;
    this.registry = path.resolve(config.registry);
    this.#log = log;
    this.#cliPath = options.cliPath ?? DEFAULT_CLI;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
    this.#stopGraceMs = options.stopGraceMs ?? 15_000;
    this.#noticeTimeoutMs = options.noticeTimeoutMs ?? 10_000;
    this.#logs = options.logs ?? createLogSink(process.stderr, process.stderr.isTTY === true);
    this.#env = options.env ?? process.env;
    this.#gatewayPort = config.port;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    // Configuration problems are found here, before anything touches the disk or the network.
    const last = config.backendPort + config.replicas - 1;
    if (last > 65535) {
      throw new FlywheelError(
        'FLY_ERR_CONFIG',
        `invalid configuration:\n  --backend-port: ${config.backendPort} + ${config.replicas} replicas goes past port 65535`,
      );
    }
    if (config.port >= config.backendPort && config.port <= last) {
      throw new FlywheelError(
        'FLY_ERR_CONFIG',
        `invalid configuration:\n  --port: the gateway port ${config.port} is one of the backend ports ${config.backendPort}-${last}`,
      );
    }
    this.#trainArgs = splitArgs(config.trainArgs);
    this.#schedule = new TrainingSchedule({
      cron: config.schedule,
      log: log.child({ component: 'schedule' }),
      onChange: () => this.#changed(),
      run: (signal) =>
        runTrainer({ launch: this.#launch('train', this.#trainerArgs()), logs: this.#logs, signal }),
    });
    this.#writer = new StateWriter(
      statePath(this.registry),
      () => this.snapshot(),
      (err) => log.warn({ err: (err as Error).message }, 'state file not written'),
    );
  }

  /** The gateway's URL (the stack's entry point). */
  get url(): string {
    return urlOf(this.config.host, this.#gatewayPort);
  }

  get state(): SupervisorState {
    return this.#state;
  }

  /**
   * Checks everything that can be checked up front (registry writable, ports free, trainer args),
   * trains a first version when there is no production model, starts the replicas and waits until they
   * are ready, then the gateway, then the schedule. On failure, what was started is stopped again and
   * the error is thrown.
   */
  async start(): Promise<void> {
    try {
      await this.#preflight();
      if (this.#stopRequested) return;
      this.#changed();
      await this.#firstTraining();
      if (this.#stopRequested) return;
      await this.#startBackends();
      if (this.#stopRequested) return;
      await this.#startGateway();
      if (this.#stopRequested) return;
      this.#schedule.start();
      this.#setState('running');
      this.#log.info(
        {
          url: this.url,
          backends: this.#slots.map((c) => c.url),
          schedule: this.config.schedule,
          registry: this.registry,
        },
        `stack ready: POST ${this.url}/predict, GET ${this.url}/model-info`,
      );
      if (this.#rolloutPending) this.requestRollout();
    } catch (err) {
      this.#stopTask ??= this.#shutdown('failed');
      await this.#stopTask;
      throw err;
    }
  }

  /** Stops the schedule, then the gateway, then the replicas (they drain); resolves when all exited. */
  stop(): Promise<void> {
    this.#stopTask ??= this.#shutdown('stopped');
    return this.#stopTask;
  }

  /** A second Ctrl-C: kill every child now. */
  forceKill(): void {
    this.#stopRequested = true;
    for (const child of this.#children) child.forceKill();
  }

  /**
   * Asks for a rolling restart of the backend replicas (SIGHUP). One that arrives while a rollout is
   * running queues exactly one more, so every request is followed by a rollout that started after it.
   */
  requestRollout(): void {
    this.#rolloutPending = true;
    if (this.#state !== 'running' || this.#stopRequested || this.#rolloutTask !== null) return;
    this.#rolloutTask = this.#runRollouts();
  }

  snapshot(): StackState {
    const components: ComponentStatus[] = [];
    if (this.#gateway !== null) components.push(this.#gateway.status());
    const backends = [...this.#children].filter((c) => c.role === 'backend').map((c) => c.status());
    backends.sort(
      (a, b) => (a.replica ?? 0) - (b.replica ?? 0) || (a.started_at ?? '').localeCompare(b.started_at ?? ''),
    );
    components.push(...backends);
    return {
      format: 1,
      supervisor: {
        pid: process.pid,
        state: this.#state,
        started_at: this.#startedAt,
        host: this.config.host,
        url: this.url,
      },
      components,
      schedule: {
        cron: this.config.schedule,
        next_run: this.#schedule.nextRun()?.toISOString() ?? null,
        running_since: this.#schedule.runningSince,
        last_runs: this.#schedule.runs,
      },
      rollout: this.#rollout,
      updated_at: new Date().toISOString(),
    };
  }

  // ---- startup -------------------------------------------------------------------------------

  async #preflight(): Promise<void> {
    const registry = new Registry(this.registry);
    await registry.init();
    try {
      await mkdir(localDir(this.registry), { recursive: true });
    } catch (err) {
      throw new FlywheelError(
        'FLY_ERR_REGISTRY_UNWRITABLE',
        `registry folder ${this.registry} cannot be written: ${(err as Error).message}`,
      );
    }
    // Read before the lock: a previous supervisor's state tells who holds a busy port.
    const previous = await readState(statePath(this.registry)).catch(() => null);
    this.#lock = await acquireUpLock(lockPath(this.registry), this.registry);
    this.#ownsState = true;
    // Holding the lock means the previous supervisor is gone; if it died hard, its children may still
    // hold the ports.
    if (previous !== null) await this.#stopOrphans(previous);
    if (this.#gatewayPort === 0) this.#gatewayPort = await freePort(this.config.host);
    const wanted: { port: number; use: string }[] = [{ port: this.#gatewayPort, use: 'gateway (--port)' }];
    for (let i = 0; i < this.config.replicas; i++) {
      wanted.push({ port: this.config.backendPort + i, use: `backend-${i} (--backend-port + ${i})` });
    }
    const [problems] = await Promise.all([
      Promise.all(wanted.map((w) => probePort(this.config.host, w.port))),
      this.#checkTrainArgs(),
    ]);
    const busy = problems
      .map((p, i) => (p === null ? null : { ...p, use: wanted[i].use }))
      .filter((p): p is PortProblem & { use: string } => p !== null);
    if (busy.length > 0) {
      const lines = busy.map(
        (p) =>
          `port ${p.port} on ${this.config.host} for ${p.use}: ${p.reason}${holderHint(previous, p.port)}`,
      );
      throw new FlywheelError(
        'FLY_ERR_PORT_IN_USE',
        `${lines.join('; ')}. Stop what uses it or choose other ports (--port, --backend-port)`,
        { ports: busy.map((p) => ({ port: p.port, use: p.use, reason: p.reason })) },
      );
    }
  }

  /**
   * Stops the children a dead supervisor left behind on this registry (kill -9 of `flywheel up`), so
   * that starting again just works. Only processes that are provably those children are touched: the
   * pid recorded in the state file must still run `flywheel serve|gateway --registry <this registry>`
   * (checked in /proc; where there is no /proc nothing is touched and the port check reports them).
   */
  async #stopOrphans(previous: StackState): Promise<void> {
    const orphans: { name: string; pid: number }[] = [];
    for (const c of previous.components) {
      if (c.pid === null || !pidAlive(c.pid)) continue;
      const role = c.role === 'gateway' ? 'gateway' : 'serve';
      if (await runsRole(c.pid, role, this.registry)) orphans.push({ name: c.name, pid: c.pid });
    }
    if (orphans.length === 0) return;
    this.#log.warn(
      { orphans, previousSupervisor: previous.supervisor.pid },
      'stopping processes left by a previous flywheel up that died',
    );
    for (const o of orphans) signal(o.pid, 'SIGTERM');
    const deadline = Date.now() + this.#stopGraceMs;
    while (Date.now() < deadline && orphans.some((o) => pidAlive(o.pid))) await sleep(50);
    for (const o of orphans) if (pidAlive(o.pid)) signal(o.pid, 'SIGKILL');
    while (orphans.some((o) => pidAlive(o.pid)) && Date.now() < deadline + 2000) await sleep(20);
  }

  /** Validates --train-args with the trainer's own parser (`--print-config`) so a typo fails now, not at the first tick. */
  async #checkTrainArgs(): Promise<void> {
    if (this.#trainArgs.length === 0) return;
    const launch = this.#launch('train', ['--print-config', ...this.#trainerArgs()]);
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
        `invalid configuration:\n  --train-args ${JSON.stringify(this.config.trainArgs)}: ${reason}`,
      );
    }
  }

  async #firstTraining(): Promise<void> {
    const aliases = await new Registry(this.registry).readAliases();
    if (aliases.production !== null) {
      this.#log.info({ production: aliases.production }, 'production model found; no first training');
      return;
    }
    this.#log.info('no production model yet: training a first version');
    const run = await this.#schedule.runNow('startup');
    if (this.#stopRequested) return;
    if (run.outcome !== 'succeeded') {
      throw new FlywheelError(
        'FLY_ERR_START_FAILED',
        `the first training run failed: ${run.message ?? `exit code ${run.exit_code}`}`,
        { run },
      );
    }
    const after = await new Registry(this.registry).readAliases();
    if (after.production === null) {
      this.#readyPath = LIVE_PATH;
      this.#log.warn(
        { version: run.version },
        'the first version was not promoted to production (see --train-args --promote); backends answer 503 until one is',
      );
    }
  }

  async #startBackends(): Promise<void> {
    this.#slots = [];
    for (let i = 0; i < this.config.replicas; i++)
      this.#slots.push(this.#makeBackend(i, this.config.backendPort + i));
    this.#inRotation = [...this.#slots];
    // The gateway reads this file when it starts: write it first.
    await this.#writeReplicas();
    for (const child of this.#slots) child.start();
    await this.#allReady(this.#slots);
  }

  async #startGateway(): Promise<void> {
    const args = [
      '--registry',
      this.registry,
      '--host',
      this.config.host,
      '--port',
      String(this.#gatewayPort),
      '--backends',
      `file:${replicasPath(this.registry)}`,
      '--log-level',
      this.config.logLevel,
    ];
    const env =
      this.config.adminToken !== undefined
        ? { ...this.#env, FLYWHEEL_ADMIN_TOKEN: this.config.adminToken }
        : this.#env;
    const gateway = this.#makeChild({
      name: 'gateway',
      role: 'gateway',
      replica: null,
      port: this.#gatewayPort,
      // A token in argv would show in `ps`; the gateway reads FLYWHEEL_ADMIN_TOKEN.
      launch: { ...this.#launch('gateway', args), env },
    });
    this.#gateway = gateway;
    gateway.start();
    await this.#allReady([gateway]);
  }

  async #allReady(children: readonly ManagedChild[]): Promise<void> {
    try {
      await Promise.all(children.map((c) => c.waitReady(this.#readyTimeoutMs, { failOnExit: true })));
    } catch (err) {
      if (this.#stopRequested) return;
      throw new FlywheelError(
        'FLY_ERR_START_FAILED',
        `${(err as Error).message} (its log lines above say why)`,
      );
    }
  }

  // ---- children --------------------------------------------------------------------------------

  #launch(role: 'train' | 'serve' | 'gateway', args: readonly string[]): Launch {
    return { file: process.execPath, args: [this.#cliPath, role, ...args], env: this.#env };
  }

  #trainerArgs(): string[] {
    return ['--registry', this.registry, '--json', '--log-level', this.config.logLevel, ...this.#trainArgs];
  }

  #makeBackend(replica: number, port: number): ManagedChild {
    const args = [
      '--registry',
      this.registry,
      '--host',
      this.config.host,
      '--port',
      String(port),
      '--log-level',
      this.config.logLevel,
    ];
    return this.#makeChild({
      name: `backend-${replica}`,
      role: 'backend',
      replica,
      port,
      launch: this.#launch('serve', args),
    });
  }

  #makeChild(
    spec: Pick<ManagedChild, 'name' | 'role' | 'replica' | 'port'> & { launch: Launch },
  ): ManagedChild {
    // Checked here, synchronously before the spawn, so a child can never be created after stop()
    // took its list of children to stop.
    if (this.#stopRequested) throw new Error('the stack is stopping');
    const child = new ManagedChild({
      ...spec,
      url: urlOf(this.config.host, spec.port),
      readyPath: this.#readyPath,
      backoff: this.#backoff,
      logs: this.#logs,
      log: this.#log,
      onChange: () => this.#changed(),
    });
    this.#children.add(child);
    return child;
  }

  /** Replaces replicas.json with the current rotation; writes are queued so the last one wins. */
  #writeReplicas(): Promise<void> {
    const body = `${JSON.stringify({ replicas: this.#inRotation.map((c) => c.url) }, null, 2)}\n`;
    const file = replicasPath(this.registry);
    const write = this.#replicaWrites.then(() => writeFileAtomic(file, body));
    this.#replicaWrites = write.catch(() => undefined);
    return write;
  }

  // ---- rolling restart -----------------------------------------------------------------------

  async #runRollouts(): Promise<void> {
    try {
      while (this.#rolloutPending && !this.#stopRequested) {
        this.#rolloutPending = false;
        await this.#rolloutOnce();
      }
    } finally {
      this.#rolloutTask = null;
    }
  }

  async #rolloutOnce(): Promise<void> {
    const total = this.#slots.length;
    const aliases = await new Registry(this.registry).readAliases().catch(() => null);
    this.#readyPath = aliases?.production === null ? LIVE_PATH : READY_PATH;
    this.#rollout = {
      generation: this.#rollout.generation + 1,
      status: 'progressing',
      started_at: new Date().toISOString(),
      finished_at: null,
      replaced: 0,
      total,
      message: `replacing ${total} backend replica(s) one at a time`,
    };
    this.#log.info({ generation: this.#rollout.generation, replicas: total }, 'rollout started');
    this.#changed();
    try {
      for (let i = 0; i < total; i++) {
        if (this.#stopRequested) throw new Error('the stack is stopping');
        const message = await this.#replaceReplica(i);
        this.#rollout = { ...this.#rollout, replaced: i + 1, message };
        this.#changed();
      }
      this.#rollout = {
        ...this.#rollout,
        status: 'complete',
        finished_at: new Date().toISOString(),
        message: `${total} replica(s) replaced`,
      };
      this.#log.info({ generation: this.#rollout.generation }, 'rollout complete');
    } catch (err) {
      const message = (err as Error).message;
      this.#rollout = { ...this.#rollout, status: 'failed', finished_at: new Date().toISOString(), message };
      this.#log.error(
        { generation: this.#rollout.generation, err: message },
        'rollout failed; the remaining old replicas keep serving',
      );
    }
    this.#changed();
  }

  /**
   * Surge one, then drain one: the new process starts on a port of its own, joins the gateway's
   * replica set once ready, and only then is the old one taken out of the set and, once the gateway
   * has let it go, sent SIGTERM (it finishes what it has in flight).
   */
  async #replaceReplica(i: number): Promise<string> {
    const old = this.#slots[i];
    const port = await this.#rolloutPort(old.port, i);
    const fresh = this.#makeBackend(i, port);
    fresh.start();
    try {
      await fresh.waitReady(this.#readyTimeoutMs, { failOnExit: true });
      this.#inRotation.push(fresh);
      await this.#writeReplicas();
      const admitted = await this.#awaitGateway(
        (view) => view.some((r) => r.url === fresh.url && r.healthy !== false),
        `admit ${fresh.url}`,
      );
      if (!admitted) throw new Error(`the gateway did not take it in within ${this.#noticeTimeoutMs} ms`);
    } catch (err) {
      // Back to where this step started: the old replica never left the set.
      this.#inRotation = this.#inRotation.filter((c) => c !== fresh);
      await this.#writeReplicas().catch(() => undefined);
      await this.#discard(fresh);
      throw new Error(`new ${fresh.name} on port ${port}: ${(err as Error).message}`, { cause: err });
    }
    // From here the new replica serves in the old one's place.
    this.#slots[i] = fresh;
    this.#inRotation = this.#inRotation.filter((c) => c !== old);
    try {
      await this.#writeReplicas();
      // Gone from its list, or draining (no new requests; what it has in flight the backend finishes
      // on SIGTERM).
      await this.#awaitGateway(
        (view) => !view.some((r) => r.url === old.url && !r.draining),
        `release ${old.url}`,
      );
    } catch (err) {
      // The gateway still lists the old replica; stopping it anyway is safe: its health checks eject
      // it and a request that meets it closing is retried on another replica.
      this.#log.error({ err: (err as Error).message, replica: old.url }, 'replica set not written');
    }
    const oldPid = old.pid;
    await this.#discard(old);
    const message = `${fresh.name}: pid ${oldPid ?? '-'} on port ${old.port} replaced by pid ${fresh.pid ?? '-'} on port ${fresh.port}`;
    this.#log.info(
      { component: fresh.name, oldPid, oldPort: old.port, childPid: fresh.pid, port: fresh.port },
      'replica replaced',
    );
    return message;
  }

  async #discard(child: ManagedChild): Promise<void> {
    await child.stop(this.#stopGraceMs);
    this.#children.delete(child);
    this.#changed();
  }

  /** The other port of the replica's pair (backend-port + i, or + replicas + i); any free port if that one is taken. */
  async #rolloutPort(current: number, i: number): Promise<number> {
    const base = this.config.backendPort + i;
    const preferred = current === base ? base + this.config.replicas : base;
    const ours = new Set([...this.#children].map((c) => c.port));
    ours.add(this.#gatewayPort);
    if (
      preferred <= 65535 &&
      !ours.has(preferred) &&
      (await probePort(this.config.host, preferred)) === null
    ) {
      return preferred;
    }
    return freePort(this.config.host);
  }

  /**
   * Polls the gateway's /status until `done(view)`; true when it was seen. When the gateway does not
   * list its replicas there, waits a short fixed time instead (its file watch acts within that).
   */
  async #awaitGateway(done: (view: ReplicaView[]) => boolean, what: string): Promise<boolean> {
    if (this.#gateway === null) return true;
    const deadline = Date.now() + this.#noticeTimeoutMs;
    while (Date.now() < deadline && !this.#stopRequested) {
      const view = await fetchGatewayView(this.url, 1000);
      if (view === null) {
        this.#log.debug({ what }, 'gateway /status lists no replicas; waiting a fixed time instead');
        await sleep(1500);
        return true;
      }
      if (done(view)) return true;
      await sleep(100);
    }
    this.#log.warn({ what, timeoutMs: this.#noticeTimeoutMs }, 'gateway did not confirm in time');
    return false;
  }

  // ---- shutdown ------------------------------------------------------------------------------

  async #shutdown(final: 'stopped' | 'failed'): Promise<void> {
    this.#stopRequested = true;
    if (this.#state !== 'stopped' && this.#state !== 'failed') {
      this.#setState('stopping');
      if (this.#children.size > 0) this.#log.info('stopping: schedule, gateway, then replicas');
      await this.#schedule.stop();
      if (this.#gateway !== null) await this.#gateway.stop(this.#stopGraceMs);
      await Promise.all(
        [...this.#children].filter((c) => c !== this.#gateway).map((c) => c.stop(this.#stopGraceMs)),
      );
      await this.#rolloutTask?.catch(() => undefined);
      this.#setState(final);
      await this.#writer.flush();
      await this.#lock?.release();
      this.#lock = null;
      if (final === 'stopped')
        this.#log.info({ registry: this.registry }, 'stopped; the registry is left as it is');
    }
    this.#resolveDone();
  }

  #setState(state: SupervisorState): void {
    this.#state = state;
    this.#changed();
  }

  #changed(): void {
    if (this.#ownsState) this.#writer.update();
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

function sleep(ms: number): Promise<void> {
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
