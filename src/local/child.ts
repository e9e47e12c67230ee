// One long-running child of the local stack (the gateway or one backend process): spawns it, follows
// its readiness, forwards its logs, restarts it with backoff when it dies unasked (as a Deployment
// replaces a lost pod) or hangs (its liveness check fails: SIGKILL, then the same restart), and stops
// it gracefully when asked (SIGTERM, then SIGKILL after a grace time).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../log.js';
import { backoffDelay, nextConsecutive, type BackoffPolicy } from './backoff.js';
import { isReady } from './http.js';
import { LivenessCheck, type LivenessPolicy } from './liveness.js';
import { forEachLine, type LogSink } from './logs.js';
import type { ComponentRole, ComponentState, ComponentStatus } from './state.js';

export interface Launch {
  readonly file: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

export interface ManagedChildOptions {
  readonly name: string;
  readonly role: ComponentRole;
  readonly replica: number | null;
  readonly port: number;
  /** Base URL clients use (http://host:port). */
  readonly url: string;
  readonly launch: Launch;
  /** Polled after every spawn until it answers 200; null: running as soon as spawned. */
  readonly readyPath: string | null;
  readonly backoff: BackoffPolicy;
  readonly logs: LogSink;
  readonly log: Logger;
  /** Called on every change of what status() returns. */
  readonly onChange: () => void;
  /** Pause between readiness probes. */
  readonly probeIntervalMs?: number;
  /** Checked while running; a hung child is killed and restarted. Null: no liveness check. */
  readonly livenessPath?: string | null;
  readonly liveness?: LivenessPolicy;
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: string;
}

export class ChildExitedError extends Error {
  constructor(
    readonly component: string,
    readonly exit: ExitInfo,
  ) {
    super(
      `${component} exited before it was ready (${exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code}`})`,
    );
    this.name = 'ChildExitedError';
  }
}

interface ReadyWaiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly failOnExit: boolean;
}

export class ManagedChild {
  readonly name: string;
  readonly role: ComponentRole;
  readonly replica: number | null;
  readonly port: number;
  readonly url: string;
  readonly #opts: ManagedChildOptions;
  #proc: ChildProcess | null = null;
  #state: ComponentState = 'stopped';
  #restarts = 0;
  #consecutive = 0;
  #startedAtMs = 0;
  #lastExit: ExitInfo | null = null;
  /** Why the child was last restarted (`flywheel status` shows it). */
  #restartReason: string | null = null;
  /** Set when the liveness check killed the process: its exit is then reported with this reason. */
  #hungReason: string | null = null;
  #liveness: LivenessCheck | null = null;
  #restartTimer: NodeJS.Timeout | null = null;
  #stopping = false;
  #waiters: ReadyWaiter[] = [];
  #exitWaiters: (() => void)[] = [];

  constructor(opts: ManagedChildOptions) {
    this.#opts = opts;
    this.name = opts.name;
    this.role = opts.role;
    this.replica = opts.replica;
    this.port = opts.port;
    this.url = opts.url;
  }

  get pid(): number | null {
    return this.#proc?.pid ?? null;
  }

  get state(): ComponentState {
    return this.#state;
  }

  get restarts(): number {
    return this.#restarts;
  }

  status(): ComponentStatus {
    return {
      name: this.name,
      role: this.role,
      replica: this.replica,
      pid: this.pid,
      port: this.port,
      url: this.url,
      state: this.#state,
      restarts: this.#restarts,
      started_at: this.#proc !== null ? new Date(this.#startedAtMs).toISOString() : null,
      last_exit: this.#lastExit,
      restart_reason: this.#restartReason,
    };
  }

  /** Spawns the process (once; restarts after crashes are automatic). */
  start(): void {
    if (this.#proc !== null || this.#stopping) return;
    this.#spawn();
  }

  /**
   * Resolves when the child is ready. With failOnExit, an exit before readiness rejects (startup and
   * rollouts must not wait through a crash loop); otherwise a crash is waited through.
   */
  waitReady(timeoutMs: number, options: { failOnExit?: boolean } = {}): Promise<void> {
    if (this.#state === 'running') return Promise.resolve();
    if (this.#stopping) return Promise.reject(new Error(`${this.name} is stopping`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name} was not ready within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const waiter: ReadyWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
        failOnExit: options.failOnExit === true,
      };
      this.#waiters.push(waiter);
    });
  }

  /**
   * Stops for good: SIGTERM (the roles drain on it), then SIGKILL if still running after graceMs.
   * Also cancels a pending restart. Resolves when the process has exited.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer !== null) {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = null;
    }
    this.#rejectWaiters(new Error(`${this.name} was stopped`), false);
    const proc = this.#proc;
    if (proc === null) {
      this.#setState('stopped');
      return;
    }
    this.#setState('terminating');
    const exited = new Promise<void>((resolve) => this.#exitWaiters.push(resolve));
    proc.kill('SIGTERM');
    // A stopped (SIGSTOP) process would hold the SIGTERM pending forever.
    proc.kill('SIGCONT');
    let timer: NodeJS.Timeout | null = null;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    if (timer !== null) clearTimeout(timer);
    if (timedOut && this.#proc === proc) {
      this.#opts.log.warn(
        { component: this.name, childPid: proc.pid, graceMs },
        'child did not stop in time; killing',
      );
      proc.kill('SIGKILL');
      await exited;
    }
  }

  /** Kills at once (a second Ctrl-C). */
  forceKill(): void {
    this.#stopping = true;
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
    this.#proc?.kill('SIGKILL');
  }

  #spawn(): void {
    const { launch, log } = this.#opts;
    const proc = spawn(launch.file, launch.args, {
      env: launch.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C on the terminal reaches only the supervisor, which then stops
      // the children in order (gateway first, backends draining) instead of all at once.
      detached: true,
    });
    this.#proc = proc;
    this.#startedAtMs = Date.now();
    let exited = false;
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      if (exited) return;
      exited = true;
      this.#onExit(proc, code, signal);
    };
    proc.once('exit', onExit);
    proc.once('error', (err) => {
      log.error({ component: this.name, err: err.message }, 'child could not be started');
      onExit(null, null);
    });
    if (proc.stdout !== null) forEachLine(proc.stdout, (line) => this.#opts.logs(this.name, line));
    if (proc.stderr !== null) forEachLine(proc.stderr, (line) => this.#opts.logs(this.name, line));
    log.info({ component: this.name, childPid: proc.pid, port: this.port }, 'child started');
    this.#setState('starting');
    if (this.#opts.readyPath === null) this.#becomeReady(proc);
    else void this.#probe(proc, `${this.url}${this.#opts.readyPath}`);
  }

  async #probe(proc: ChildProcess, readyUrl: string): Promise<void> {
    const interval = this.#opts.probeIntervalMs ?? 100;
    while (this.#proc === proc && this.#state === 'starting') {
      if (await isReady(readyUrl, 1000)) {
        if (this.#proc === proc && this.#state === 'starting') this.#becomeReady(proc);
        return;
      }
      await new Promise((r) => setTimeout(r, interval));
    }
  }

  #becomeReady(proc: ChildProcess): void {
    this.#opts.log.info({ component: this.name, childPid: proc.pid, port: this.port }, 'child ready');
    this.#setState('running');
    this.#watchLiveness(proc);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve();
  }

  #watchLiveness(proc: ChildProcess): void {
    const { livenessPath, liveness } = this.#opts;
    if (livenessPath === undefined || livenessPath === null || liveness === undefined) return;
    this.#liveness?.stop();
    this.#liveness = new LivenessCheck(`${this.url}${livenessPath}`, liveness, (reason) => {
      if (this.#proc !== proc || this.#stopping) return;
      this.#opts.log.warn({ component: this.name, childPid: proc.pid, reason }, 'child hung; killing it');
      this.#hungReason = reason;
      // SIGKILL is delivered to a stopped (SIGSTOP) process too; its exit restarts it as a crash would.
      proc.kill('SIGKILL');
    });
    this.#liveness.start();
  }

  #onExit(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#proc !== proc) return;
    this.#proc = null;
    this.#liveness?.stop();
    this.#liveness = null;
    const info: ExitInfo = { code, signal, at: new Date().toISOString() };
    this.#lastExit = info;
    const waiters = this.#exitWaiters;
    this.#exitWaiters = [];
    for (const w of waiters) w();
    if (this.#stopping) {
      this.#opts.log.info({ component: this.name, childPid: proc.pid, code, signal }, 'child stopped');
      this.#setState('stopped');
      return;
    }
    this.#rejectWaiters(new ChildExitedError(this.name, info), true);
    this.#restartReason =
      this.#hungReason ??
      (signal !== null ? `exited on signal ${signal}` : `exited with code ${code ?? 'unknown'}`);
    this.#hungReason = null;
    const uptime = Date.now() - this.#startedAtMs;
    this.#consecutive = nextConsecutive(this.#opts.backoff, this.#consecutive, uptime);
    const delay = backoffDelay(this.#opts.backoff, this.#consecutive);
    this.#restarts += 1;
    this.#opts.log.warn(
      {
        component: this.name,
        childPid: proc.pid,
        code,
        signal,
        uptimeMs: uptime,
        restartInMs: delay,
        restarts: this.#restarts,
        reason: this.#restartReason,
      },
      'child exited unexpectedly; restarting after backoff',
    );
    this.#setState('backoff');
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (!this.#stopping) this.#spawn();
    }, delay);
  }

  #rejectWaiters(err: Error, onlyFailOnExit: boolean): void {
    const keep: ReadyWaiter[] = [];
    for (const w of this.#waiters) {
      if (!onlyFailOnExit || w.failOnExit) w.reject(err);
      else keep.push(w);
    }
    this.#waiters = keep;
  }

  #setState(state: ComponentState): void {
    this.#state = state;
    this.#opts.onChange();
  }
}
