// A cross-process, cross-host lock on the registry folder that survives crashes: a lock file created
// whole with link() (atomic on local filesystems and NFS), holding a random token, host and pid. Holders
// keep it for a few milliseconds (read, write one file, append one line), so a lock older than
// `staleMs`, or one whose holder pid is gone from this very host, belongs to a process that died; it
// is broken by renaming it away (only one breaker can win that rename).
//
// The one race left: a breaker that judged lock L stale, but lost the rename to another breaker who
// then acquired a fresh lock L', renames L' away. Its holder then finds its token gone in
// `assertHeld()` before it commits and retries, so no update is lost; only the microseconds between
// that check and the holder's rename remain exposed, and only after a holder has crashed.
import { randomBytes } from 'node:crypto';
import { readFile, rename, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlywheelError } from '../errors.js';
import { createWhole, errnoCode, uniqueSuffix } from './fs.js';

export interface LockOptions {
  /** A lock file older than this is taken to be left by a dead process. */
  readonly staleMs: number;
  /** How long to wait for a live holder before giving up. */
  readonly timeoutMs: number;
}

interface LockContent {
  readonly token: string;
  readonly host: string;
  readonly pid: number;
  readonly at: string;
}

async function readContent(file: string): Promise<Partial<LockContent>> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Partial<LockContent>) : {};
  } catch {
    // Missing, or written by a process that died between create and write.
    return {};
  }
}

async function readToken(file: string): Promise<string | undefined> {
  const { token } = await readContent(file);
  return typeof token === 'string' ? token : undefined;
}

/** True when the holder is a process of this host that no longer exists. */
function holderIsDeadHere(content: Partial<LockContent>): boolean {
  if (content.host !== os.hostname() || typeof content.pid !== 'number' || content.pid === process.pid) {
    return false;
  }
  try {
    process.kill(content.pid, 0);
    return false;
  } catch (err) {
    return errnoCode(err) === 'ESRCH';
  }
}

export class FileLock {
  readonly #file: string;
  readonly #tmpDir: string;
  readonly #options: LockOptions;
  #token: string | undefined;

  constructor(file: string, tmpDir: string, options: LockOptions) {
    this.#file = file;
    this.#tmpDir = tmpDir;
    this.#options = options;
  }

  async acquire(): Promise<void> {
    const token = randomBytes(12).toString('hex');
    const content: LockContent = {
      token,
      host: os.hostname(),
      pid: process.pid,
      at: new Date().toISOString(),
    };
    const deadline = Date.now() + this.#options.timeoutMs;
    let wait = 2;
    for (;;) {
      if (await this.#tryCreate(JSON.stringify(content))) {
        this.#token = token;
        return;
      }
      await this.#breakIfStale();
      if (Date.now() > deadline) {
        throw new FlywheelError(
          'FLY_ERR_REGISTRY_BUSY',
          `registry lock ${this.#file} is held by another process for more than ${this.#options.timeoutMs} ms`,
        );
      }
      // Jittered backoff so several waiters do not retry in step.
      await sleep(wait + Math.random() * wait);
      wait = Math.min(wait * 2, 50);
    }
  }

  /** Creates the lock file whole (see createWhole); false when the lock is held. */
  #tryCreate(body: string): Promise<boolean> {
    return createWhole(this.#file, body, path.join(this.#tmpDir, `lock-${uniqueSuffix()}`));
  }

  /** Throws when the lock was broken by another process (it judged us dead); the caller retries. */
  async assertHeld(): Promise<void> {
    if (this.#token === undefined || (await readToken(this.#file)) !== this.#token) {
      this.#token = undefined;
      throw new LockLostError();
    }
  }

  async release(): Promise<void> {
    const token = this.#token;
    this.#token = undefined;
    if (token === undefined) return;
    // Never remove a lock that is no longer ours.
    if ((await readToken(this.#file)) === token) await unlink(this.#file).catch(() => undefined);
  }

  async #breakIfStale(): Promise<void> {
    let age: number;
    try {
      age = Date.now() - (await stat(this.#file)).mtimeMs;
    } catch {
      return; // released meanwhile
    }
    // On the holder's own host a dead pid is proof; across hosts only the age is.
    if (age < this.#options.staleMs && !holderIsDeadHere(await readContent(this.#file))) return;
    // Rename, not unlink: exactly one breaker wins, and a fresh lock renamed away by mistake is
    // noticed by its holder in assertHeld() before it commits anything.
    const aside = path.join(this.#tmpDir, `broken-lock-${uniqueSuffix()}`);
    try {
      await rename(this.#file, aside);
    } catch {
      return; // another breaker won, or the holder released it
    }
    await unlink(aside).catch(() => undefined);
  }
}

/** The lock was broken by another process while held; the operation is retried from the start. */
export class LockLostError extends Error {
  constructor() {
    super('registry lock was taken over by another process');
    this.name = 'LockLostError';
  }
}
