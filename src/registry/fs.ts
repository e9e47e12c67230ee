// The registry's only ways to put bytes on shared storage: new files are written in full, fsynced and
// renamed into place, and the directory holding the new name is fsynced too, so a reader (or a node
// that crashes and comes back) sees the old file or the new one, never a torn one. Everything that
// writes into the registry folder (versions, aliases, routing state, feedback) goes through here.
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Node's errors carry an errno-style `code`; this narrows `unknown` to one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Errors that mean "this folder cannot be written", as opposed to a bug or a missing file. */
export const UNWRITABLE_CODES = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'EEXIST',
  'ENOSPC',
  'EDQUOT',
]);

/** A short random suffix so temp names never collide between processes or hosts. */
export function uniqueSuffix(): string {
  return `${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * Flushes a directory's entries (a new or renamed name) to storage. Some platforms cannot open a
 * directory for fsync (Windows, a few FUSE mounts); there the rename is as durable as it gets.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}

/** Creates `file`, which must not exist yet (O_EXCL), writes all of `data` and fsyncs it. */
export async function writeNewFile(file: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(file, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `file` atomically: writes a temp file (in `tmpDir` when given, which must be on the same
 * filesystem, else beside the target as a dotfile), fsyncs it, renames it over `file` and fsyncs the
 * target's directory. The parent directory is created when missing. A crash leaves at most a stale temp.
 */
export async function writeFileAtomic(
  file: string,
  data: Uint8Array | string,
  options: { tmpDir?: string } = {},
): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmpDir = options.tmpDir ?? dir;
  if (options.tmpDir) await mkdir(tmpDir, { recursive: true });
  const tmp = path.join(tmpDir, `.${path.basename(file)}.${uniqueSuffix()}.tmp`);
  try {
    await writeNewFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
}

/** Removes a file or folder tree; missing is fine. */
export async function removeTree(target: string): Promise<void> {
  await rm(target, { recursive: true, force: true, maxRetries: 2 });
}

/**
 * Creates `file` with its content in one step, for lock files: the content goes to `tmp` (a unique
 * name on the same filesystem) and is hard-linked to the name (link fails if the name exists,
 * atomically, on NFS as on a local disk), so no process ever sees, or dies leaving, an empty file.
 * Filesystems without hard links fall back to O_EXCL create-then-write. False when the file exists.
 */
export async function createWhole(file: string, content: string, tmp: string): Promise<boolean> {
  await writeFile(tmp, content, { flag: 'wx' });
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  try {
    await writeFile(file, content, { flag: 'wx' });
    return true;
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
}
