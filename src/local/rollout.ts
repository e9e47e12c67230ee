// The local `kubectl rollout restart`: replaces the backend replicas one at a time (surge one, then
// drain one) with no failed request, and keeps the replica set the gateway reads
// (`<registry>/local/replicas.json`, written only here) in step with it.
import type { UpConfig } from '../config.js';
import type { Logger } from '../log.js';
import { writeFileAtomic } from '../registry/fs.js';
import { Registry } from '../registry/index.js';
import type { ManagedChild } from './child.js';
import { fetchGatewayView, type ReplicaView } from './gateway-view.js';
import { replicasPath } from './paths.js';
import { freePort, probePort } from './ports.js';
import { sleep } from './preflight.js';
import type { RolloutState } from './state.js';

export const READY_PATH = '/v2/health/ready';
// Backends are ready only with a production model; without one (a first version not promoted), a
// started process is the most that can be waited for, and the gateway answers 503 until one is.
export const LIVE_PATH = '/v2/health/live';

const IDLE_ROLLOUT: RolloutState = {
  generation: 0,
  status: 'idle',
  started_at: null,
  finished_at: null,
  replaced: 0,
  total: 0,
  message: null,
};

/** The replica processes and the set the gateway is told about. */
export class ReplicaSet {
  /** The current process of each replica (index = replica number). */
  slots: ManagedChild[] = [];
  /** The replicas the gateway is told about, in order. */
  inRotation: ManagedChild[] = [];
  readonly #file: string;
  #writes: Promise<void> = Promise.resolve();

  constructor(registry: string) {
    this.#file = replicasPath(registry);
  }

  /** Replaces replicas.json with the current rotation; writes are queued so the last one wins. */
  write(): Promise<void> {
    const body = `${JSON.stringify({ replicas: this.inRotation.map((c) => c.url) }, null, 2)}\n`;
    const write = this.#writes.then(() => writeFileAtomic(this.#file, body));
    this.#writes = write.catch(() => undefined);
    return write;
  }
}

/** What a rollout needs from the supervisor that runs it. */
export interface RolloutHost {
  readonly config: UpConfig;
  readonly registry: string;
  readonly log: Logger;
  readonly replicas: ReplicaSet;
  readonly readyTimeoutMs: number;
  readonly noticeTimeoutMs: number;
  /** A new, not yet started backend process for replica i on a port. */
  makeBackend(replica: number, port: number): ManagedChild;
  /** Stops a child and forgets it. */
  discard(child: ManagedChild): Promise<void>;
  /** Ports of every child alive or restarting, and the gateway's. */
  portsInUse(): Set<number>;
  /** The gateway's URL, null while there is no gateway to confirm changes. */
  gatewayUrl(): string | null;
  stopRequested(): boolean;
  /** The health path new children are waited on. */
  setReadyPath(path: string): void;
  changed(): void;
}

export class Rollout {
  readonly #host: RolloutHost;
  #state: RolloutState = IDLE_ROLLOUT;
  #pending = false;
  #task: Promise<void> | null = null;

  constructor(host: RolloutHost) {
    this.#host = host;
  }

  get state(): RolloutState {
    return this.#state;
  }

  get pending(): boolean {
    return this.#pending;
  }

  /** Settles when the running rollout (if any) has ended. */
  settled(): Promise<void> {
    return this.#task?.catch(() => undefined) ?? Promise.resolve();
  }

  /**
   * Asks for a rolling restart. One that arrives while a rollout is running queues exactly one more,
   * so every request is followed by a rollout that started after it. `canStart` false only records it.
   */
  request(canStart: boolean): void {
    this.#pending = true;
    if (!canStart || this.#task !== null) return;
    this.#task = this.#run();
  }

  async #run(): Promise<void> {
    try {
      while (this.#pending && !this.#host.stopRequested()) {
        this.#pending = false;
        await this.#once();
      }
    } finally {
      this.#task = null;
    }
  }

  async #once(): Promise<void> {
    const host = this.#host;
    const total = host.replicas.slots.length;
    const aliases = await new Registry(host.registry).readAliases().catch(() => null);
    host.setReadyPath(aliases?.production === null ? LIVE_PATH : READY_PATH);
    this.#state = {
      generation: this.#state.generation + 1,
      status: 'progressing',
      started_at: new Date().toISOString(),
      finished_at: null,
      replaced: 0,
      total,
      message: `replacing ${total} backend replica(s) one at a time`,
    };
    host.log.info({ generation: this.#state.generation, replicas: total }, 'rollout started');
    host.changed();
    try {
      for (let i = 0; i < total; i++) {
        if (host.stopRequested()) throw new Error('the stack is stopping');
        const message = await this.#replaceReplica(i);
        this.#state = { ...this.#state, replaced: i + 1, message };
        host.changed();
      }
      this.#state = {
        ...this.#state,
        status: 'complete',
        finished_at: new Date().toISOString(),
        message: `${total} replica(s) replaced`,
      };
      host.log.info({ generation: this.#state.generation }, 'rollout complete');
    } catch (err) {
      const message = (err as Error).message;
      this.#state = { ...this.#state, status: 'failed', finished_at: new Date().toISOString(), message };
      host.log.error(
        { generation: this.#state.generation, err: message },
        'rollout failed; the remaining old replicas keep serving',
      );
    }
    host.changed();
  }

  /**
   * Surge one, then drain one: the new process starts on a port of its own, joins the gateway's
   * replica set once ready, and only then is the old one taken out of the set and, once the gateway
   * has let it go, sent SIGTERM (it finishes what it has in flight).
   */
  async #replaceReplica(i: number): Promise<string> {
    const host = this.#host;
    const set = host.replicas;
    const old = set.slots[i];
    const port = await this.#rolloutPort(old.port, i);
    const fresh = host.makeBackend(i, port);
    fresh.start();
    try {
      await fresh.waitReady(host.readyTimeoutMs, { failOnExit: true });
      set.inRotation.push(fresh);
      await set.write();
      const admitted = await this.#awaitGateway(
        (view) => view.some((r) => r.url === fresh.url && r.healthy !== false),
        `admit ${fresh.url}`,
      );
      if (!admitted) throw new Error(`the gateway did not take it in within ${host.noticeTimeoutMs} ms`);
    } catch (err) {
      // Back to where this step started: the old replica never left the set.
      set.inRotation = set.inRotation.filter((c) => c !== fresh);
      await set.write().catch(() => undefined);
      await host.discard(fresh);
      throw new Error(`new ${fresh.name} on port ${port}: ${(err as Error).message}`, { cause: err });
    }
    // From here the new replica serves in the old one's place.
    set.slots[i] = fresh;
    set.inRotation = set.inRotation.filter((c) => c !== old);
    try {
      await set.write();
      // Gone from its list, or draining (no new requests; what it has in flight the backend finishes
      // on SIGTERM).
      await this.#awaitGateway(
        (view) => !view.some((r) => r.url === old.url && !r.draining),
        `release ${old.url}`,
      );
    } catch (err) {
      // The gateway still lists the old replica; stopping it anyway is safe: its health checks eject
      // it and a request that meets it closing is retried on another replica.
      host.log.error({ err: (err as Error).message, replica: old.url }, 'replica set not written');
    }
    const oldPid = old.pid;
    await host.discard(old);
    const message = `${fresh.name}: pid ${oldPid ?? '-'} on port ${old.port} replaced by pid ${fresh.pid ?? '-'} on port ${fresh.port}`;
    host.log.info(
      { component: fresh.name, oldPid, oldPort: old.port, childPid: fresh.pid, port: fresh.port },
      'replica replaced',
    );
    return message;
  }

  /** The other port of the replica's pair (backend-port + i, or + replicas + i); any free port if that one is taken. */
  async #rolloutPort(current: number, i: number): Promise<number> {
    const { config } = this.#host;
    const base = config.backendPort + i;
    const preferred = current === base ? base + config.replicas : base;
    const ours = this.#host.portsInUse();
    if (preferred <= 65535 && !ours.has(preferred) && (await probePort(config.host, preferred)) === null) {
      return preferred;
    }
    return freePort(config.host);
  }

  /**
   * Polls the gateway's /status until `done(view)`; true when it was seen. When the gateway does not
   * list its replicas there, waits a short fixed time instead (its file watch acts within that).
   */
  async #awaitGateway(done: (view: ReplicaView[]) => boolean, what: string): Promise<boolean> {
    const host = this.#host;
    const url = host.gatewayUrl();
    if (url === null) return true;
    const deadline = Date.now() + host.noticeTimeoutMs;
    while (Date.now() < deadline && !host.stopRequested()) {
      const view = await fetchGatewayView(url, 1000);
      if (view === null) {
        host.log.debug({ what }, 'gateway /status lists no replicas; waiting a fixed time instead');
        await sleep(1500);
        return true;
      }
      if (done(view)) return true;
      await sleep(100);
    }
    host.log.warn({ what, timeoutMs: host.noticeTimeoutMs }, 'gateway did not confirm in time');
    return false;
  }
}
