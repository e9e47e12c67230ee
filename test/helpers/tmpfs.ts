// Small real filesystems for storage-fault tests: a tmpfs of a few hundred KiB fills up for real
// (ENOSPC) and can be remounted read-only (EROFS). Mounting needs root (or CAP_SYS_ADMIN): without it
// the test is skipped with a message, except under CI=true where it must run.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Tmpfs {
  readonly dir: string;
  remount(mode: 'ro' | 'rw'): Promise<void>;
  unmount(): Promise<void>;
}

/** Mounts a tmpfs of `size` (e.g. `256k`); null when mounting is not permitted here (and not CI). */
export async function mountTmpfs(size: string, options: { readOnly?: boolean } = {}): Promise<Tmpfs | null> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size}${options.readOnly ? ',ro' : ''}`, 'tmpfs', dir]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    if (process.env.CI === 'true') throw err;
    console.warn(`skipped: cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})`);
    return null;
  }
  return {
    dir,
    remount: async (mode) => {
      await run('mount', ['-o', `remount,${mode}`, dir]);
    },
    unmount: async () => {
      await run('umount', ['-l', dir]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
