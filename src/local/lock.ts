// One supervisor per registry: `<registry>/local/up.lock` holds the pid of the running `flywheel up`.
// Unlike the registry's short-lived lock, this one is held for the stack's whole life, so staleness is
// judged by whether its process is still alive rather than by its age.
//
// Taking over a stale lock happens under the registry lock (src/registry/lock.ts, the project's one
// lock) and moves the stale file aside with rename, as the registry lock does: two stacks started after
// a crash take turns, the second finds the first's live pid and stops. A plain first start (no lock
// file) needs no registry lock: its exclusive create cannot replace anything.
import { readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { FlywheelError } from '../errors.js';
import { createWhole, errnoCode, uniqueSuffix } from '../registry/fs.js';
import { Registry } from '../registry/registry.js';
import { pidAlive } from './state.js';

export interface UpLock {
  release(): Promise<void>;
}

export async function acquireUpLock(file: string, registry: string): Promise<UpLock> {
  const content = `${JSON.stringify({ pid: process.pid, started_at: new Date().toISOString() })}\n`;
  const held: UpLock = {
    release: async () => {
      // Only our own lock: a stale-lock breaker may have replaced it (it judged us dead).
      if ((await holderPid(file)) === process.pid) await unlink(file).catch(() => undefined);
    },
  };
  if (await tryCreate(file, content)) return held;
  await new Registry(registry).withLock(async () => {
    // Re-read under the lock: another stack may have taken it over a moment ago.
    for (;;) {
      const holder = await holderPid(file);
      if (holder !== null && holder !== process.pid && (await isSupervisor(holder))) {
        throw new FlywheelError(
          'FLY_ERR_STACK_RUNNING',
          `a local stack (flywheel up, pid ${holder}) is already running on registry ${registry}; stop it first or use another --registry`,
          { pid: holder, registry },
        );
      }
      // Left by a supervisor that died without cleaning up (kill -9, power loss): moved aside, never
      // unlinked in place, so only the stale file can go (a fresh one is only made by the create below).
      const aside = path.join(path.dirname(file), `up.lock.stale-${uniqueSuffix()}`);
      try {
        await rename(file, aside);
        await unlink(aside).catch(() => undefined);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      if (await tryCreate(file, content)) return;
      // A first start created it between the rename and the create: judge that holder instead.
    }
  });
  return held;
}

/** Creates the lock file whole, as the registry lock does, so a stack judging the holder never reads an empty file and takes it for stale. */
function tryCreate(file: string, content: string): Promise<boolean> {
  return createWhole(file, content, `${file}.${uniqueSuffix()}.tmp`);
}

async function holderPid(file: string): Promise<number | null> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { pid?: unknown };
    return typeof parsed.pid === 'number' ? parsed.pid : null;
  } catch {
    return null;
  }
}

/**
 * Whether pid is alive and, where the OS tells (Linux /proc), still a flywheel process: after a reboot
 * an unrelated process may have the old pid.
 */
async function isSupervisor(pid: number): Promise<boolean> {
  if (!pidAlive(pid)) return false;
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('cli.js') || cmdline.includes('flywheel');
  } catch {
    return true;
  }
}
