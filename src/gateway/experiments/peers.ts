// Several gateways, one set of figures: each gateway writes a snapshot of its per-version figures
// (figures.ts, mergeable by addition) to `<registry>/gateways/<id>.json` about once a second, atomically
// (Registry.writeFile), and reads the others' on the same tick. A file untouched for longer than the
// peer expiry stops counting (its gateway died or lost the registry); a file that does not parse or
// does not have the expected shape is skipped with a warning, never merged. `/metrics` stays per
// process: only the JSON reports and the analysis use the merge.
//
// The file also says what the gateway is (host, pid, the replicas it balances): the dashboard's picture
// of a deployment where no `flywheel up` state exists (Kubernetes). A drift snapshot (plain bin counts,
// mergeable the same way) rides along under `drift` when the gateway provides one.
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../log.js';
import { errnoCode } from '../../registry/fs.js';
import type { Registry } from '../../registry/registry.js';
import { versionFromWire, type VersionStats, type VersionWire } from './figures.js';
import { Repeater } from '../../repeat.js';

export const PEERS_DIR = 'gateways';
const FORMAT = 1;
/** Files of gateways gone this long are deleted (pods get new names on every rollout). */
const FORGET_AFTER_MS = 24 * 3600 * 1000;

export interface ReplicaSummary {
  readonly url: string;
  readonly state: string;
}

/** What a gateway publishes besides its figures. */
export interface PeerDescription {
  readonly replicas: readonly ReplicaSummary[];
  /** A mergeable drift snapshot (plain counts), when the gateway keeps one. */
  readonly drift?: unknown;
}

export interface PeerFile {
  readonly format: 1;
  readonly gateway: string;
  readonly host: string;
  readonly pid: number;
  readonly started_at: string;
  readonly written_at: string;
  readonly replicas: readonly ReplicaSummary[];
  readonly versions: readonly VersionWire[];
  readonly drift?: unknown;
}

/** Another gateway as last read from its file. */
export interface Peer {
  readonly gateway: string;
  readonly host: string;
  readonly pid: number;
  readonly startedAt: string;
  /** How old its file was when read, ms. */
  readonly ageMs: number;
  readonly replicas: readonly ReplicaSummary[];
  readonly versions: readonly VersionStats[];
  readonly drift: unknown;
}

/** A gateway id as a file name: anything outside [A-Za-z0-9._-] becomes '_' (the file holds the real id). */
export function peerFileName(gatewayId: string): string {
  const safe = gatewayId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
  return `${safe === '' || safe.startsWith('.') ? `_${safe}` : safe}.json`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A peer from its file's text; throws an Error saying what is wrong. */
export function parsePeerFile(text: string, ageMs: number): Peer {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('not valid JSON (torn or foreign file)');
  }
  if (!isRecord(v) || v.format !== FORMAT) throw new Error(`not a format ${FORMAT} gateway figures file`);
  if (typeof v.gateway !== 'string' || v.gateway === '') throw new Error('no gateway id');
  if (!Array.isArray(v.versions)) throw new Error('versions must be a list');
  const replicas: ReplicaSummary[] = [];
  if (Array.isArray(v.replicas)) {
    for (const r of v.replicas) {
      if (isRecord(r) && typeof r.url === 'string' && typeof r.state === 'string') {
        replicas.push({ url: r.url.slice(0, 500), state: r.state.slice(0, 40) });
      }
    }
  }
  return {
    gateway: v.gateway.slice(0, 200),
    host: typeof v.host === 'string' ? v.host.slice(0, 200) : '',
    pid: typeof v.pid === 'number' ? v.pid : 0,
    startedAt: typeof v.started_at === 'string' ? v.started_at : '',
    ageMs,
    replicas,
    versions: v.versions.map(versionFromWire),
    drift: v.drift,
  };
}

export interface PeersOptions {
  readonly registry: Registry;
  readonly gatewayId: string;
  /** How often this gateway writes its file and reads the others'. */
  readonly intervalMs: number;
  /** A file untouched for longer than this no longer counts. */
  readonly expiryMs: number;
  readonly log: Logger;
  /** This gateway's figures, in wire form, taken on every tick. */
  figures(): VersionWire[];
  describe(): PeerDescription;
}

export class Peers {
  readonly #o: PeersOptions;
  readonly #ownFile: string;
  readonly #dir: string;
  readonly #startedAt = new Date().toISOString();
  #peers: readonly Peer[] = [];
  /** Warned-about files, by name and mtime: one warning per bad version of a file. */
  readonly #warned = new Map<string, number>();
  #writeError = '';
  readonly #repeater: Repeater;
  /** Ticks done; tests and reports use it to know a fresh read happened. */
  ticks = 0;

  constructor(options: PeersOptions) {
    this.#o = options;
    this.#ownFile = peerFileName(options.gatewayId);
    this.#dir = path.join(options.registry.root, PEERS_DIR);
    this.#repeater = new Repeater(() => this.tick(), options.intervalMs);
  }

  /** The other live gateways, as of the last tick. */
  get peers(): readonly Peer[] {
    return this.#peers;
  }

  start(): void {
    this.#repeater.start();
  }

  /**
   * Stops publishing. The file stays: a stopped gateway's figures count until they expire, like a
   * killed one's, so one rule says when evidence leaves the merge.
   */
  async stop(): Promise<void> {
    await this.#repeater.stop();
  }

  /** Publishes this gateway's figures and reads the others'. Never throws. */
  async tick(): Promise<void> {
    await this.#publish();
    try {
      this.#peers = await this.#readPeers();
    } catch (err) {
      // The folder cannot be listed: keep the last peers until their files would have expired.
      this.#o.log.warn({ err: (err as Error).message }, 'gateway figures folder unreadable');
      this.#peers = this.#peers.filter((p) => p.ageMs + this.#o.intervalMs < this.#o.expiryMs);
    }
    this.ticks += 1;
  }

  async #publish(): Promise<void> {
    const description = this.#o.describe();
    const file: PeerFile = {
      format: FORMAT,
      gateway: this.#o.gatewayId,
      host: os.hostname(),
      pid: process.pid,
      started_at: this.#startedAt,
      written_at: new Date().toISOString(),
      replicas: description.replicas,
      versions: this.#o.figures(),
      ...(description.drift === undefined ? {} : { drift: description.drift }),
    };
    const text = JSON.stringify(file);
    try {
      await this.#o.registry.writeFile(path.join(PEERS_DIR, this.#ownFile), text);
      if (this.#writeError !== '') this.#o.log.info('gateway figures published again');
      this.#writeError = '';
    } catch (err) {
      const text = (err as Error).message;
      if (text !== this.#writeError) {
        this.#o.log.warn(
          { err: text },
          'cannot publish gateway figures; other gateways will stop counting them',
        );
      }
      this.#writeError = text;
    }
  }

  async #readPeers(): Promise<Peer[]> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    const now = Date.now();
    const out: Peer[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name === this.#ownFile || name.startsWith('.')) continue;
      const file = path.join(this.#dir, name);
      try {
        const st = await stat(file);
        const age = now - st.mtimeMs;
        if (age > this.#o.expiryMs) {
          if (age > FORGET_AFTER_MS) await unlink(file).catch(() => undefined);
          continue;
        }
        const peer = parsePeerFile(await readFile(file, 'utf8'), Math.max(0, age));
        if (peer.gateway === this.#o.gatewayId) continue; // a stale copy of this gateway's own figures
        out.push(peer);
        this.#warned.delete(name);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue; // removed between the listing and the read
        const mtime = await stat(file).then(
          (s) => s.mtimeMs,
          () => 0,
        );
        if (this.#warned.get(name) !== mtime) {
          this.#o.log.warn(
            { file: path.join(PEERS_DIR, name), err: (err as Error).message },
            'gateway figures file skipped: not merged',
          );
          this.#warned.set(name, mtime);
        }
      }
    }
    return out.sort((a, b) => a.gateway.localeCompare(b.gateway));
  }
}
