// One supervisor per registry: `<registry>/local/up.lock` holds the pid of the running `flywheel up`.
// Unlike the registry's short-lived lock, this one is held for the stack's whole life, so staleness is
// judged by whether its process is still alive rather than by its age.
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { FlywheelError } from '../errors.js';
import { errnoCode } from '../registry/fs.js';
import { pidAlive } from './state.js';

export interface UpLock {
  release(): Promise<void>;
}

export async function acquireUpLock(file: string, registry: string): Promise<UpLock> {
  const content = `${JSON.stringify({ pid: process.pid, started_at: new Date().toISOString() })}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, content, { flag: 'wx' });
      return {
        release: async () => {
          // Only our own lock: a stale-lock breaker may have replaced it (it judged us dead).
          if ((await holderPid(file)) === process.pid) await unlink(file).catch(() => undefined);
        },
      };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    const holder = await holderPid(file);
    if (holder !== null && holder !== process.pid && (await isSupervisor(holder))) {
      throw new FlywheelError(
        'FLY_ERR_STACK_RUNNING',
        `a local stack (flywheel up, pid ${holder}) is already running on registry ${registry}; stop it first or use another --registry`,
        { pid: holder, registry },
      );
    }
    // Left by a supervisor that died without cleaning up (kill -9, power loss): take it over.
    await unlink(file).catch(() => undefined);
  }
  throw new FlywheelError(
    'FLY_ERR_STACK_RUNNING',
    `could not take the lock ${file}; another flywheel up is starting`,
  );
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
