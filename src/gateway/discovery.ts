// Where the replica set comes from. One interface — a source yields the current set of replica URLs,
// again whenever it changes — and three kinds:
//   http://host:port,...    a static list
//   dns+http://name:port    every A/AAAA record of a name (a headless Kubernetes Service), re-resolved
//   file:<path>             JSON {"replicas": [...]} re-read on change; `flywheel up` writes it
//                           atomically to tell the gateway its replicas during rolling restarts
import { promises as dnsPromises } from 'node:dns';
import fs from 'node:fs';
import path from 'node:path';
import { FlywheelError } from '../errors.js';
import type { Logger } from '../log.js';

export type ReplicaListener = (urls: readonly string[]) => void;

export interface ReplicaSource {
  readonly description: string;
  /** Begins watching; calls `onChange` with the whole set at once and whenever it changes. */
  start(onChange: ReplicaListener): Promise<void>;
  close(): void;
}

/** `http://Host:5001/` → `http://host:5001`: one spelling per replica, so sets compare reliably. */
export function normalizeReplicaUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new FlywheelError('FLY_ERR_CONFIG', `${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== 'http:') throw new FlywheelError('FLY_ERR_CONFIG', `${raw}: only http:// replicas`);
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') {
    throw new FlywheelError('FLY_ERR_CONFIG', `${raw}: give only scheme, host and port`);
  }
  return url.origin;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

export class StaticSource implements ReplicaSource {
  readonly description: string;
  readonly #urls: readonly string[];

  constructor(urls: readonly string[]) {
    this.#urls = [...new Set(urls.map(normalizeReplicaUrl))];
    this.description = `static: ${this.#urls.join(', ')}`;
  }

  async start(onChange: ReplicaListener): Promise<void> {
    onChange(this.#urls);
  }

  close(): void {}
}

export interface DnsSourceOptions {
  /** `dns+http://name:port` */
  spec: string;
  intervalMs: number;
  /** `host:port` of a resolver to ask instead of the system's (tests run their own). */
  server?: string;
  log: Logger;
}

/** Codes meaning "the name has no such records", not "the resolver failed". */
const NO_RECORDS = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME']);

export class DnsSource implements ReplicaSource {
  readonly description: string;
  readonly #host: string;
  readonly #port: string;
  readonly #options: DnsSourceOptions;
  readonly #resolver: dnsPromises.Resolver | null;
  #current: readonly string[] = [];
  #timer: NodeJS.Timeout | null = null;
  #resolving = false;
  #closed = false;

  constructor(options: DnsSourceOptions) {
    const url = new URL(options.spec.slice('dns+'.length));
    // URL keeps the brackets of an IPv6 literal; a DNS name never has them.
    this.#host = url.hostname;
    this.#port = url.port;
    this.#options = options;
    this.description = `dns: ${this.#host}:${this.#port} every ${options.intervalMs} ms${options.server ? ` via ${options.server}` : ''}`;
    if (options.server !== undefined) {
      this.#resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 2 });
      try {
        this.#resolver.setServers([options.server]);
      } catch (err) {
        throw new FlywheelError(
          'FLY_ERR_CONFIG',
          `--dns-server ${options.server}: ${(err as Error).message}`,
        );
      }
    } else {
      this.#resolver = null;
    }
  }

  async start(onChange: ReplicaListener): Promise<void> {
    await this.#refresh(onChange);
    if (this.#closed) return;
    this.#timer = setInterval(() => void this.#refresh(onChange), this.#options.intervalMs);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /**
   * The addresses of the name. With a configured server: its A and AAAA records (c-ares, the name as
   * given). Otherwise getaddrinfo, which applies resolv.conf's search domains, so a short Kubernetes
   * Service name works as it does for any other program in the pod.
   */
  async #addresses(): Promise<string[]> {
    if (this.#resolver === null) {
      try {
        const found = await dnsPromises.lookup(this.#host, { all: true });
        return found.map((a) => a.address);
      } catch (err) {
        if (NO_RECORDS.has((err as { code?: string }).code ?? '')) return [];
        throw err;
      }
    }
    const resolver = this.#resolver;
    const family = (p: Promise<string[]>) =>
      p.catch((err: { code?: string }) => {
        if (NO_RECORDS.has(err.code ?? '')) return [];
        throw err;
      });
    const [v4, v6] = await Promise.all([
      family(resolver.resolve4(this.#host)),
      family(resolver.resolve6(this.#host)),
    ]);
    return [...v4, ...v6];
  }

  async #refresh(onChange: ReplicaListener): Promise<void> {
    if (this.#resolving || this.#closed) return;
    this.#resolving = true;
    try {
      const addresses = await this.#addresses();
      const urls = [...new Set(addresses)]
        .map((a) => (a.includes(':') ? `http://[${a}]:${this.#port}` : `http://${a}:${this.#port}`))
        .map(normalizeReplicaUrl)
        .sort();
      if (this.#closed || sameSet(urls, this.#current)) return;
      this.#options.log.info({ name: this.#host, replicas: urls }, 'dns replicas changed');
      this.#current = urls;
      onChange(urls);
    } catch (err) {
      // A resolver failure is not an empty answer: keep the replicas we have rather than drain them all.
      this.#options.log.warn(
        { name: this.#host, err: (err as Error).message, kept: this.#current.length },
        'dns resolution failed; keeping the current replicas',
      );
    } finally {
      this.#resolving = false;
    }
  }
}

export interface FileSourceOptions {
  file: string;
  pollMs: number;
  log: Logger;
}

/** The file `flywheel up` writes: `{ "replicas": ["http://127.0.0.1:5001", ...] }`. */
export function parseReplicaFile(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message}`, { cause: err });
  }
  const replicas = (doc as { replicas?: unknown } | null)?.replicas;
  if (!Array.isArray(replicas) || !replicas.every((r) => typeof r === 'string')) {
    throw new Error('expected {"replicas": ["http://host:port", ...]}');
  }
  return [...new Set(replicas.map(normalizeReplicaUrl))].sort();
}

export class FileSource implements ReplicaSource {
  readonly description: string;
  readonly #options: FileSourceOptions;
  #current: readonly string[] | null = null;
  #watcher: fs.FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  #reading = false;
  #again = false;
  #closed = false;
  #lastProblem = '';

  constructor(options: FileSourceOptions) {
    this.#options = { ...options, file: path.resolve(options.file) };
    this.description = `file: ${this.#options.file} (watched, polled every ${options.pollMs} ms)`;
  }

  async start(onChange: ReplicaListener): Promise<void> {
    const file = this.#options.file;
    // Watch the folder, not the file: an atomic rename replaces the file's inode and a watch on the
    // old inode would go quiet.
    try {
      this.#watcher = fs.watch(path.dirname(file), (_event, name) => {
        if (name === null || name === path.basename(file)) void this.#read(onChange);
      });
      this.#watcher.on('error', (err) => {
        this.#options.log.warn({ file, err: err.message }, 'replica file watch failed; polling only');
        this.#watcher?.close();
        this.#watcher = null;
      });
      this.#watcher.unref();
    } catch (err) {
      this.#options.log.warn(
        { file, err: (err as Error).message },
        'cannot watch replica file; polling only',
      );
    }
    this.#timer = setInterval(() => void this.#read(onChange), this.#options.pollMs);
    this.#timer.unref();
    await this.#read(onChange);
  }

  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  async #read(onChange: ReplicaListener): Promise<void> {
    if (this.#closed) return;
    if (this.#reading) {
      // A change while reading: read once more afterwards so the last write is never missed.
      this.#again = true;
      return;
    }
    this.#reading = true;
    try {
      do {
        this.#again = false;
        await this.#readOnce(onChange);
      } while (this.#again && !this.#closed);
    } finally {
      this.#reading = false;
    }
  }

  async #readOnce(onChange: ReplicaListener): Promise<void> {
    const file = this.#options.file;
    let urls: string[];
    try {
      urls = parseReplicaFile(await fs.promises.readFile(file, 'utf8'));
    } catch (err) {
      const missing = (err as { code?: string }).code === 'ENOENT';
      const problem = missing ? 'replica file does not exist (yet): no replicas' : (err as Error).message;
      if (problem !== this.#lastProblem) {
        this.#lastProblem = problem;
        this.#options.log.warn({ file, problem }, 'replica file unusable');
      }
      if (!missing) return; // a bad write keeps the last good set
      urls = [];
    }
    this.#lastProblem = '';
    if (this.#closed || (this.#current !== null && sameSet(urls, this.#current))) return;
    this.#options.log.info({ file, replicas: urls }, 'file replicas changed');
    this.#current = urls;
    onChange(urls);
  }
}

/** Several sources at once (e.g. a static replica plus a DNS name): the union of their sets. */
export class MergedSource implements ReplicaSource {
  readonly description: string;
  readonly #sources: readonly ReplicaSource[];
  readonly #sets: (readonly string[])[];

  constructor(sources: readonly ReplicaSource[]) {
    this.#sources = sources;
    this.#sets = sources.map(() => []);
    this.description = sources.map((s) => s.description).join('; ');
  }

  async start(onChange: ReplicaListener): Promise<void> {
    let started = false;
    const emit = () => {
      if (started) onChange([...new Set(this.#sets.flat())]);
    };
    await Promise.all(
      this.#sources.map((source, i) =>
        source.start((urls) => {
          this.#sets[i] = urls;
          emit();
        }),
      ),
    );
    started = true;
    emit();
  }

  close(): void {
    for (const s of this.#sources) s.close();
  }
}

export interface SourceSettings {
  backends: readonly string[];
  dnsInterval: number;
  dnsServer?: string;
  filePollInterval: number;
}

/** Turns `--backends` entries into one source. */
export function createReplicaSource(settings: SourceSettings, log: Logger): ReplicaSource {
  const urls: string[] = [];
  const sources: ReplicaSource[] = [];
  for (const entry of settings.backends) {
    if (entry.startsWith('file:')) {
      sources.push(
        new FileSource({ file: entry.slice('file:'.length), pollMs: settings.filePollInterval, log }),
      );
    } else if (entry.startsWith('dns+')) {
      sources.push(
        new DnsSource({ spec: entry, intervalMs: settings.dnsInterval, server: settings.dnsServer, log }),
      );
    } else {
      urls.push(entry);
    }
  }
  if (urls.length > 0) sources.unshift(new StaticSource(urls));
  if (sources.length === 0) {
    throw new FlywheelError(
      'FLY_ERR_CONFIG',
      'no backends: pass --backends (FLYWHEEL_BACKENDS) with http://host:port, dns+http://name:port or file:<path>',
    );
  }
  return sources.length === 1 ? sources[0] : new MergedSource(sources);
}
