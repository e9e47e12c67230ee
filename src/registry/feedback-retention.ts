// Retention of the feedback log: files older than an age, and the oldest files while all of them take
// more than a size, are deleted — never while a training run reads the folder.
//
// A reader (the trainer's `feedback` source) registers itself with a marker file in
// `feedback/readers/`, created under the registry lock (src/registry/lock.ts, the project's one lock)
// and removed when it is done; the pruner takes the same lock, and prunes nothing while a live marker
// exists. So a run either registered before the pruner looked (nothing is deleted) or lists the folder
// after the pruner finished (it never meets a file that disappears under it). A marker is live while
// its holder touches it (every READER_TOUCH_MS) and, on the holder's own host, while its pid exists:
// a crashed trainer blocks pruning for READER_STALE_MS at most.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errnoCode } from './fs.js';
import { FEEDBACK_DIR } from './feedback-log.js';

const READERS_DIR = 'readers';
const READER_TOUCH_MS = 10_000;
const READER_STALE_MS = 60_000;

/** The registry lock, as `Registry.withLock` gives it (passed in: the registry module imports this one). */
export type WithLock = <T>(fn: () => Promise<T>) => Promise<T>;

export interface PruneOptions {
  /** Files not modified for this long are deleted; 0 keeps files whatever their age. */
  readonly maxAgeMs: number;
  /** Oldest files are deleted while all of them take more than this; 0: no limit. */
  readonly maxBytes: number;
  /**
   * Files modified within this long may still be open in a gateway (its current file): never deleted
   * for size, only for age. The rotation age plus a margin.
   */
  readonly activeMs: number;
  /** Never deleted (this gateway's current file). */
  readonly keep?: ReadonlySet<string>;
}

export interface PruneResult {
  readonly deleted: readonly string[];
  readonly freedBytes: number;
  /** Nothing was deleted because a training run is reading the folder. */
  readonly readerActive: boolean;
}

function readersDir(registryDir: string): string {
  return path.join(registryDir, FEEDBACK_DIR, READERS_DIR);
}

async function liveReaders(registryDir: string): Promise<number> {
  const dir = readersDir(registryDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 0;
    throw err;
  }
  let live = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    const st = await stat(file).catch(() => null);
    if (st === null) continue;
    if (Date.now() - st.mtimeMs > READER_STALE_MS || (await deadHere(file))) {
      await unlink(file).catch(() => undefined);
      continue;
    }
    live++;
  }
  return live;
}

/** True when the marker's holder was a process of this host that no longer exists. */
async function deadHere(file: string): Promise<boolean> {
  try {
    const { host, pid } = JSON.parse(await readFile(file, 'utf8')) as { host?: unknown; pid?: unknown };
    if (host !== os.hostname() || typeof pid !== 'number' || pid === process.pid) return false;
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return errnoCode(err) === 'ESRCH';
  }
}

/**
 * Runs `read` while pruning is held off: registers a reader marker under the registry lock, keeps it
 * fresh while `read` runs, removes it after.
 */
export async function whileReadingFeedback<T>(
  registryDir: string,
  withLock: WithLock,
  read: () => Promise<T>,
): Promise<T> {
  const dir = readersDir(registryDir);
  const marker = path.join(dir, `${randomBytes(8).toString('hex')}.json`);
  const body = JSON.stringify({ host: os.hostname(), pid: process.pid, at: new Date().toISOString() });
  await withLock(async () => {
    await mkdir(dir, { recursive: true });
    await writeFile(marker, body, { flag: 'wx' });
  });
  const touch = setInterval(() => {
    const now = new Date();
    utimes(marker, now, now).catch(() => undefined);
  }, READER_TOUCH_MS);
  touch.unref();
  try {
    return await read();
  } finally {
    clearInterval(touch);
    await unlink(marker).catch(() => undefined);
  }
}

/** Deletes feedback files by age and total size (see PruneOptions), under the registry lock. */
export async function pruneFeedback(
  registryDir: string,
  withLock: WithLock,
  options: PruneOptions,
): Promise<PruneResult> {
  if (options.maxAgeMs <= 0 && options.maxBytes <= 0)
    return { deleted: [], freedBytes: 0, readerActive: false };
  const dir = path.join(registryDir, FEEDBACK_DIR);
  return withLock(async () => {
    if ((await liveReaders(registryDir)) > 0) return { deleted: [], freedBytes: 0, readerActive: true };
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.jsonl'));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return { deleted: [], freedBytes: 0, readerActive: false };
      throw err;
    }
    const files: { file: string; size: number; mtimeMs: number }[] = [];
    for (const name of names) {
      const file = path.join(dir, name);
      const st = await stat(file).catch(() => null);
      if (st !== null) files.push({ file, size: st.size, mtimeMs: st.mtimeMs });
    }
    files.sort((a, b) => a.mtimeMs - b.mtimeMs);
    const now = Date.now();
    let total = files.reduce((sum, f) => sum + f.size, 0);
    const deleted: string[] = [];
    let freedBytes = 0;
    for (const f of files) {
      if (options.keep?.has(f.file)) continue;
      const old = options.maxAgeMs > 0 && now - f.mtimeMs > options.maxAgeMs;
      const over = options.maxBytes > 0 && total > options.maxBytes && now - f.mtimeMs > options.activeMs;
      if (!old && !over) continue;
      try {
        await unlink(f.file);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      deleted.push(f.file);
      freedBytes += f.size;
      total -= f.size;
    }
    return { deleted, freedBytes, readerActive: false };
  });
}
