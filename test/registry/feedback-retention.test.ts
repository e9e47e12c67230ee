// Retention of the feedback log on a real registry folder: by age, by total size (oldest first, never a
// file that may still be open), and never while a training run reads the folder (the registry lock
// orders the two); a reader that died does not hold retention off.
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pruneFeedback, whileReadingFeedback, type WithLock } from '../../src/registry/feedback-retention.js';
import { readFeedbackDataset } from '../../src/registry/feedback.js';
import { Registry } from '../../src/registry/registry.js';
import { tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let withLock: WithLock;
const HOUR = 3_600_000;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('flywheel-retention-'));
  const registry = new Registry(dir);
  withLock = (fn) => registry.withLock(() => fn());
  await mkdir(path.join(dir, 'feedback'), { recursive: true });
});
afterEach(() => cleanup());

/** A feedback file of `bytes` bytes last modified `ageMs` ago. */
async function file(name: string, bytes: number, ageMs: number): Promise<string> {
  const f = path.join(dir, 'feedback', name);
  const line = `{"type":"feedback","request_id":"${name}","time":"2026-01-01T00:00:00.000Z","actual":1}\n`;
  await writeFile(f, line.padEnd(bytes, ' '));
  const t = new Date(Date.now() - ageMs);
  await utimes(f, t, t);
  return f;
}

const names = async () =>
  (await readdir(path.join(dir, 'feedback'))).filter((n) => n.endsWith('.jsonl')).sort();

describe('pruneFeedback', () => {
  it('deletes files older than the retention age, never the kept current file', async () => {
    const current = await file('gw-1.jsonl', 100, 50 * HOUR);
    await file('gw-2.jsonl', 100, 49 * HOUR);
    await file('gw-3.jsonl', 100, 1 * HOUR);
    const result = await pruneFeedback(dir, withLock, {
      maxAgeMs: 48 * HOUR,
      maxBytes: 0,
      activeMs: 2 * HOUR,
      keep: new Set([current]),
    });
    expect(result).toMatchObject({ freedBytes: 100, readerActive: false });
    expect(await names()).toEqual(['gw-1.jsonl', 'gw-3.jsonl']);
  });

  it('deletes the oldest files while the total is over the size, sparing files that may be open', async () => {
    await file('a-1.jsonl', 1000, 10 * HOUR);
    await file('b-1.jsonl', 1000, 9 * HOUR);
    await file('a-2.jsonl', 1000, 8 * HOUR);
    await file('b-2.jsonl', 1000, 60_000); // another gateway's current file
    const result = await pruneFeedback(dir, withLock, { maxAgeMs: 0, maxBytes: 2500, activeMs: HOUR });
    expect(result.deleted.map((f) => path.basename(f))).toEqual(['a-1.jsonl', 'b-1.jsonl']);
    expect(await names()).toEqual(['a-2.jsonl', 'b-2.jsonl']);
    // Over the size with only a file that may be open left: it stays.
    const again = await pruneFeedback(dir, withLock, { maxAgeMs: 0, maxBytes: 10, activeMs: HOUR });
    expect(again.deleted.map((f) => path.basename(f))).toEqual(['a-2.jsonl']);
    expect(await names()).toEqual(['b-2.jsonl']);
  });

  it('deletes nothing while a training run reads the feedback, and prunes once it is done', async () => {
    await file('gw-1.jsonl', 200, 100 * HOUR);
    const options = { maxAgeMs: HOUR, maxBytes: 0, activeMs: HOUR };
    const during = await whileReadingFeedback(dir, withLock, async () => {
      const pruned = await pruneFeedback(dir, withLock, options);
      // The reader still sees every file it listed.
      await expect(readFeedbackDataset(dir, { targetName: 'y' })).rejects.toMatchObject({
        code: 'FLY_ERR_DATA_EMPTY',
        message: expect.stringContaining('1 feedback record'),
      });
      return pruned;
    });
    expect(during).toEqual({ deleted: [], freedBytes: 0, readerActive: true });
    expect(await names()).toEqual(['gw-1.jsonl']);
    const after = await pruneFeedback(dir, withLock, options);
    expect(after.deleted).toHaveLength(1);
    expect(await names()).toEqual([]);
  });

  it('a reader marker left by a process that died does not hold retention off', async () => {
    await file('gw-1.jsonl', 200, 100 * HOUR);
    const readers = path.join(dir, 'feedback', 'readers');
    await mkdir(readers, { recursive: true });
    // pid 2^22 + 1 is above Linux's pid_max: no such process on this host.
    await writeFile(
      path.join(readers, 'dead.json'),
      JSON.stringify({
        host: os.hostname(),
        pid: 4_194_305,
        at: new Date().toISOString(),
      }),
    );
    const result = await pruneFeedback(dir, withLock, { maxAgeMs: HOUR, maxBytes: 0, activeMs: HOUR });
    expect(result.readerActive).toBe(false);
    expect(result.deleted).toHaveLength(1);
    expect(await readdir(readers)).toEqual([]);
  });
});
