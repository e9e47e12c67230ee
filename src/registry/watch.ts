// Tells a reader (backend, gateway) when an alias or the set of versions changed. fs.watch makes it
// fast on a local disk; a periodic re-read makes it correct where watch events never arrive (NFS, a
// Kubernetes PVC). Only real changes are emitted, and nothing ever throws into the caller.
import path from 'node:path';
import { watch, type FSWatcher } from 'node:fs';
import { Registry } from './registry.js';
import type { AliasState } from './types.js';

export interface RegistrySnapshot {
  readonly aliases: AliasState;
  /** Version ids present, newest first. */
  readonly versions: readonly string[];
}

export interface WatchOptions {
  /** Re-read interval: the upper bound on how late a change is seen when watch events are lost. */
  readonly pollMs: number;
  readonly onChange: (snapshot: RegistrySnapshot) => void;
  readonly onError?: (err: unknown) => void;
}

export interface RegistryWatcher {
  close(): Promise<void>;
  /** The last snapshot emitted, undefined before the first read completes. */
  current(): RegistrySnapshot | undefined;
}

/** Events arrive in bursts (temp file, rename, fsync); one re-read after a short pause covers them. */
const DEBOUNCE_MS = 15;

function snapshotKey(s: RegistrySnapshot): string {
  return JSON.stringify([s.aliases.generation, s.aliases.production, s.aliases.candidate, s.versions]);
}

export function watchRegistry(root: string, opts: WatchOptions): RegistryWatcher {
  const registry = new Registry(root);
  const { paths } = registry;
  let closed = false;
  let last: RegistrySnapshot | undefined;
  let lastKey: string | undefined;
  let reading: Promise<void> | undefined;
  let again = false;
  let debounce: NodeJS.Timeout | undefined;
  const watchers = new Map<string, FSWatcher>();

  const report = (err: unknown) => {
    try {
      opts.onError?.(err);
    } catch {
      // An error handler that throws must not take the watcher (or the process) down.
    }
  };

  const readOnce = async () => {
    const [aliases, versions] = await Promise.all([registry.readAliases(), registry.versionIds()]);
    const snap: RegistrySnapshot = { aliases, versions };
    const key = snapshotKey(snap);
    if (closed || key === lastKey) return;
    lastKey = key;
    last = snap;
    try {
      opts.onChange(snap);
    } catch (err) {
      report(err);
    }
  };

  // One read at a time; a request during a read schedules exactly one more after it.
  const refresh = () => {
    if (closed) return;
    if (reading) {
      again = true;
      return;
    }
    reading = (async () => {
      do {
        again = false;
        try {
          attach();
          await readOnce();
        } catch (err) {
          report(err);
        }
      } while (again && !closed);
    })().finally(() => {
      reading = undefined;
    });
  };

  const onEvent = () => {
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(refresh, DEBOUNCE_MS);
    debounce.unref();
  };
  // In the root only aliases.json and versions/ matter. The registry lock, the lease, routing.json and
  // the gateways' figures change there every second or two; re-reading for them put a steady stream
  // of file reads on the libuv threadpool of every gateway and backend.
  const relevant = new Set([path.basename(paths.aliases), path.basename(paths.versions)]);
  const onRootEvent = (_event: string, filename: string | Buffer | null) => {
    if (filename === null || relevant.has(filename.toString())) onEvent();
  };

  // The root sees aliases.json being replaced and versions/ appearing; versions/ sees new versions.
  // Folders that do not exist yet are attached on a later poll.
  function attach() {
    for (const dir of [paths.root, paths.versions]) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, dir === paths.root ? onRootEvent : onEvent);
        w.on('error', () => {
          // e.g. the folder was removed, or the filesystem does not support watching: polling covers it.
          w.close();
          watchers.delete(dir);
        });
        watchers.set(dir, w);
      } catch {
        // Missing folder or no watch support: polling covers it.
      }
    }
  }

  const timer = setInterval(refresh, opts.pollMs);
  timer.unref();
  refresh();

  return {
    current: () => last,
    async close() {
      closed = true;
      clearInterval(timer);
      if (debounce) clearTimeout(debounce);
      for (const w of watchers.values()) w.close();
      watchers.clear();
      await reading;
    },
  };
}
