// The project's one appender of JSON Lines histories kept in the registry (alias changes, routing
// changes). Callers hold the registry lock, so lines never interleave; each append is fsynced.
import { open, readFile } from 'node:fs/promises';
import { errnoCode } from './fs.js';

/** Appends entries, one JSON line each, starting on a fresh line if a crash left a torn one. */
export async function appendJsonLines(file: string, entries: readonly unknown[]): Promise<void> {
  const fh = await open(file, 'a+', 0o644);
  try {
    // A crash mid-append can leave a line without its newline; start on a fresh line.
    const { size } = await fh.stat();
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
 * Every entry, oldest first, as `parse` accepts it; lines it refuses (a torn last line) are skipped.
 * A missing file is an empty history; other read errors are thrown.
 */
export async function readJsonLines<T>(file: string, parse: (line: string) => T | undefined): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const entry = parse(line);
    if (entry !== undefined) out.push(entry);
  }
  return out;
}
