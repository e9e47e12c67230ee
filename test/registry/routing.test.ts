import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlywheelError } from '../../src/errors.js';
import {
  DEFAULT_ROUTING,
  readRouting,
  readRoutingHistory,
  routingChangeProblems,
  routingPath,
  updateRouting,
} from '../../src/registry/routing.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'flywheel-routing-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('routing state', () => {
  it('defaults to all production when never written', async () => {
    expect(await readRouting(dir)).toEqual(DEFAULT_ROUTING);
    expect(await readRoutingHistory(dir)).toEqual([]);
  });

  it('writes, reads back and records each change in the history', async () => {
    const a = await updateRouting(
      dir,
      { mode: 'canary', weight: 10 },
      { by: 'test', reason: 'start canary' },
    );
    expect(a).toMatchObject({ mode: 'canary', weight: 10, generation: 1 });
    expect(a.salt).toMatch(/^[0-9a-f]{16}$/);
    const b = await updateRouting(dir, { weight: 25 }, { by: 'test', reason: 'more' });
    expect(b).toMatchObject({ mode: 'canary', weight: 25, generation: 2, salt: a.salt });
    expect(await readRouting(dir)).toEqual(b);
    const history = await readRoutingHistory(dir);
    expect(history.map((h) => [h.from, h.to, h.generation, h.reason])).toEqual([
      [{ mode: 'off', weight: 0 }, { mode: 'canary', weight: 10 }, 1, 'start canary'],
      [{ mode: 'canary', weight: 10 }, { mode: 'canary', weight: 25 }, 2, 'more'],
    ]);
  });

  it('refuses invalid changes and leaves the file untouched', async () => {
    await updateRouting(dir, { mode: 'sticky', weight: 50 }, { reason: 'x' });
    const before = await readFile(routingPath(dir), 'utf8');
    for (const bad of [
      { mode: 'blue' },
      { weight: 101 },
      { weight: -1 },
      { weight: '10' },
      { salt: '' },
      {},
      { mode: 'canary', wieght: 5 },
    ]) {
      const err = await updateRouting(dir, bad as never, { reason: 'bad' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlywheelError);
      expect((err as FlywheelError).code).toBe('FLY_ERR_BAD_REQUEST');
    }
    expect(await readFile(routingPath(dir), 'utf8')).toBe(before);
    expect(routingChangeProblems([])).toHaveLength(1);
    expect(routingChangeProblems({ mode: 'canary', wieght: 5 })).toEqual(['unknown field "wieght"']);
  });

  it('refuses a malformed file on read, and an update replaces it', async () => {
    await writeFile(routingPath(dir), '{"mode":"canary","weight":500}');
    await expect(readRouting(dir)).rejects.toMatchObject({ code: 'FLY_ERR_ROUTING_CORRUPT' });
    await writeFile(routingPath(dir), 'not json');
    await expect(readRouting(dir)).rejects.toMatchObject({ code: 'FLY_ERR_ROUTING_CORRUPT' });
    const fixed = await updateRouting(dir, { mode: 'off' }, { reason: 'repair' });
    expect(fixed.generation).toBe(1);
    expect(await readRouting(dir)).toEqual(fixed);
  });

  it('serialises concurrent writers: every change gets its own generation', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => updateRouting(dir, { weight: i * 10 }, { reason: `w${i}` })),
    );
    expect(results.map((r) => r.generation).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const history = await readRoutingHistory(dir);
    expect(history).toHaveLength(8);
    // Each entry's "from" is the previous entry's "to": no lost update.
    for (let i = 1; i < history.length; i++) expect(history[i].from).toEqual(history[i - 1].to);
  });
});
