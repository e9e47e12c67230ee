// The project's one appender of JSON Lines histories kept in the registry (alias changes, routing
// changes). Callers hold the registry lock, so lines never interleave; each append is fsynced.
//
// Rotation: before an append, a history past `maxBytes`, or whose first entry is older than
// `maxAgeMs`, is renamed to `<name>-<UTC time>.jsonl` beside it and a new one is started; only the
// newest `keep` rotated segments are kept. Readers (`readJsonLines`) read the kept segments oldest first
// and then the current file, so `models history`, the rollback walk and the dashboard see one history.
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, fsyncDir } from './fs.js';

export interface Rotation {
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  /** Rotated segments kept; older ones are deleted. */
  readonly keep: number;
}

/** 16 MiB or 30 days per segment, 20 segments: years of alias changes, bounded on disk. */
export const DEFAULT_ROTATION: Rotation = Object.freeze({
  maxBytes: 16 * 1024 * 1024,
  maxAgeMs: 30 * 24 * 3600 * 1000,
  keep: 20,
});

const SEGMENT = /^(.+)-(\d{8}T\d{9}Z)\.jsonl$/;

function stemOf(file: string): string {
  return path.basename(file).replace(/\.jsonl$/, '');
}

/** Rotated segments of `file`, oldest first (their names sort by time). */
async function segments(file: string): Promise<string[]> {
  const dir = path.dirname(file);
  const stem = stemOf(file);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => SEGMENT.exec(n)?.[1] === stem)
    .sort()
    .map((n) => path.join(dir, n));
}

function stamp(ms: number): string {
  // 20261201T195400123Z: sortable as text, unique to the millisecond (rotation runs under the lock).
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

/** Time of the first entry (its `at`), or null when there is none that says. */
async function firstEntryTime(file: string): Promise<number | null> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const line = buf.subarray(0, bytesRead).toString('utf8').split('\n')[0];
    const at = (JSON.parse(line) as { at?: unknown }).at;
    const ms = typeof at === 'string' ? Date.parse(at) : NaN;
    return Number.isFinite(ms) ? ms : null;
  } catch {
    return null;
  } finally {
    await fh.close();
  }
}

async function rotateIfDue(file: string, size: number, rotation: Rotation, now: number): Promise<boolean> {
  if (size === 0) return false;
  let due = size >= rotation.maxBytes;
  if (!due) {
    const first = await firstEntryTime(file);
    due = first !== null && now - first >= rotation.maxAgeMs;
  }
  if (!due) return false;
  await rename(file, path.join(path.dirname(file), `${stemOf(file)}-${stamp(now)}.jsonl`));
  const kept = await segments(file);
  for (const old of kept.slice(0, Math.max(0, kept.length - rotation.keep))) {
    await unlink(old).catch(() => undefined);
  }
  await fsyncDir(path.dirname(file));
  return true;
}

/**
 * Appends entries, one JSON line each, starting on a fresh line if a crash left a torn one; rotates
 * the file first when it is due. The caller holds the registry lock.
 */
export async function appendJsonLines(
  file: string,
  entries: readonly unknown[],
  rotation: Rotation = DEFAULT_ROTATION,
): Promise<void> {
  let fh = await open(file, 'a+', 0o644);
  try {
    let { size } = await fh.stat();
    if (await rotateIfDue(file, size, rotation, Date.now())) {
      await fh.close();
      fh = await open(file, 'a+', 0o644);
      size = 0;
    }
    // A crash mid-append can leave a line without its newline; start on a fresh line.
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    await fh.write(prefix + entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Every entry, oldest first, over the kept rotated segments and the current file, as `parse` accepts
 * it; lines it refuses (a torn last line) are skipped. No history at all is an empty one.
 */
export async function readJsonLines<T>(file: string, parse: (line: string) => T | undefined): Promise<T[]> {
  const out: T[] = [];
  for (const f of [...(await segments(file)), file]) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch (err) {
      // The current file is missing until the first append; a segment may be pruned meanwhile.
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const entry = parse(line);
      if (entry !== undefined) out.push(entry);
    }
  }
  return out;
}
