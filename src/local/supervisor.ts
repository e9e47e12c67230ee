// `flywheel up`'s supervisor: runs the trainer on a schedule, the backend replicas and the gateway as
// child processes of the same executable, restarts the ones that crash, replaces the replicas one at a
// time on request (the local `kubectl rollout restart`), and stops everything in order on SIGTERM.
// The gateway learns the replica set from `<registry>/local/replicas.json`, which only the
// supervisor writes; `flywheel status` reads `<registry>/local/state.json`, written on every change.
import path from 'node:path';
import type { UpConfig } from '../config.js';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';
import { Registry } from '../registry/index.js';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { driftRetrainer, type DriftRetrainer } from './drift-retrain.js';
import { ManagedChild, type Launch } from './child.js';
import { Launches } from './launches.js';
import type { UpLock } from './lock.js';
import { createLogSink, type LogSink } from './logs.js';
import { statePath, urlOf } from './paths.js';
import { preflight } from './preflight.js';
import { livenessPolicy } from './liveness.js';
import { LIVE_PATH, READY_PATH, ReplicaSet, Rollout } from './rollout.js';
import { TrainingSchedule } from './schedule.js';
import { StateWriter, type ComponentStatus, type StackState, type SupervisorState } from './state.js';
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

export class Supervisor {
  readonly config: UpConfig;
  readonly registry: string;
  readonly #log: Logger;
  readonly #backoff: BackoffPolicy;
  readonly #readyTimeoutMs: number;
  readonly #stopGraceMs: number;
  readonly #noticeTimeoutMs: number;
  readonly #logs: LogSink;
  readonly #launches: Launches;
  readonly #schedule: TrainingSchedule;
  readonly #writer: StateWriter;
  readonly #driftRetrain: DriftRetrainer | null;
  readonly #startedAt = new Date().toISOString();

  #gatewayPort: number;
  #readyPath = READY_PATH;
  #state: SupervisorState = 'starting';
  #ownsState = false;
  #lock: UpLock | null = null;
  #gateway: ManagedChild | null = null;
  /** Every child alive or restarting, including a rollout's new replica before it joins a slot. */
  readonly #children = new Set<ManagedChild>();
  readonly #replicas: ReplicaSet;
  readonly #rollout: Rollout;
  #stopRequested = false;
  #stopTask: Promise<void> | null = null;
  #resolveDone!: () => void;
  /** Resolves when the supervisor has stopped (after stop(), or a failed start). */
  readonly done: Promise<void>;

  constructor(config: UpConfig, log: Logger, options: SupervisorOptions = {}) {
    this.config = config;
    this.registry = path.resolve(config.registry);
    this.#log = log;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
    this.#stopGraceMs = options.stopGraceMs ?? 15_000;
    this.#noticeTimeoutMs = options.noticeTimeoutMs ?? 10_000;
    this.#logs = options.logs ?? createLogSink(process.stderr, process.stderr.isTTY === true);
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
    this.#launches = new Launches(config, this.registry, options.cliPath, options.env);
    this.#schedule = new TrainingSchedule({
      cron: config.schedule,
      log: log.child({ component: 'schedule' }),
      onChange: () => this.#changed(),
      run: (signal) => runTrainer({ launch: this.#launches.train(), logs: this.#logs, signal }),
    });
    this.#driftRetrain = driftRetrainer(config, this.registry, this.#schedule, log, () =>
      this.#gateway === null ? null : this.url,
    );
    this.#replicas = new ReplicaSet(this.registry);
    this.#rollout = new Rollout({
      config,
      registry: this.registry,
      log,
      replicas: this.#replicas,
      readyTimeoutMs: this.#readyTimeoutMs,
      noticeTimeoutMs: this.#noticeTimeoutMs,
      makeBackend: (replica, port) => this.#makeBackend(replica, port),
      discard: (child) => this.#discard(child),
      portsInUse: () => new Set([...[...this.#children].map((c) => c.port), this.#gatewayPort]),
      gatewayUrl: () => (this.#gateway === null ? null : this.url),
      stopRequested: () => this.#stopRequested,
      setReadyPath: (p) => (this.#readyPath = p),
      changed: () => this.#changed(),
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
      this.#driftRetrain?.start();
      this.#setState('running');
      this.#log.info(
        {
          url: this.url,
          backends: this.#replicas.slots.map((c) => c.url),
          schedule: this.config.schedule,
          registry: this.registry,
        },
        `stack ready: POST ${this.url}/predict, GET ${this.url}/model-info`,
      );
      if (this.#rollout.pending) this.requestRollout();
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
    this.#rollout.request(this.#state === 'running' && !this.#stopRequested);
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
      rollout: this.#rollout.state,
      updated_at: new Date().toISOString(),
    };
  }

  // ---- startup -------------------------------------------------------------------------------

  async #preflight(): Promise<void> {
    this.#gatewayPort = await preflight({
      config: this.config,
      registry: this.registry,
      log: this.#log,
      stopGraceMs: this.#stopGraceMs,
      trainArgsCheck: this.#launches.trainArgs.length === 0 ? null : this.#launches.train(['--print-config']),
      onLocked: (lock) => {
        this.#lock = lock;
        this.#ownsState = true;
      },
    });
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
    const set = this.#replicas;
    set.slots = [];
    for (let i = 0; i < this.config.replicas; i++)
      set.slots.push(this.#makeBackend(i, this.config.backendPort + i));
    set.inRotation = [...set.slots];
    // The gateway reads this file when it starts: write it first.
    await set.write();
    for (const child of set.slots) child.start();
    await this.#allReady(set.slots);
  }

  async #startGateway(): Promise<void> {
    const gateway = this.#makeChild({
      name: 'gateway',
      role: 'gateway',
      replica: null,
      port: this.#gatewayPort,
      launch: this.#launches.gateway(this.#gatewayPort),
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

  #makeBackend(replica: number, port: number): ManagedChild {
    return this.#makeChild({
      name: `backend-${replica}`,
      role: 'backend',
      replica,
      port,
      launch: this.#launches.serve(port),
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
      livenessPath: LIVE_PATH,
      liveness: livenessPolicy(this.config),
      backoff: this.#backoff,
      logs: this.#logs,
      log: this.#log,
      onChange: () => this.#changed(),
    });
    this.#children.add(child);
    return child;
  }

  async #discard(child: ManagedChild): Promise<void> {
    await child.stop(this.#stopGraceMs);
    this.#children.delete(child);
    this.#changed();
  }

  // ---- shutdown ------------------------------------------------------------------------------

  async #shutdown(final: 'stopped' | 'failed'): Promise<void> {
    this.#stopRequested = true;
    if (this.#state !== 'stopped' && this.#state !== 'failed') {
      this.#setState('stopping');
      if (this.#children.size > 0) this.#log.info('stopping: schedule, gateway, then replicas');
      this.#driftRetrain?.stop();
      await this.#schedule.stop();
      if (this.#gateway !== null) await this.#gateway.stop(this.#stopGraceMs);
      await Promise.all(
        [...this.#children].filter((c) => c !== this.#gateway).map((c) => c.stop(this.#stopGraceMs)),
      );
      await this.#rollout.settled();
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
