// The registry's guarantees, in process, on a real temp folder: publication, verification of what is
// read back, aliases and their history, rollback, retention, the lock and temp cleanup.
import { spawnSync } from 'node:child_process';
import { appendFile, mkdir, readdir, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlywheelError } from '../../src/errors.js';
import { Registry, isVersionId } from '../../src/registry/index.js';
import { readRoutingHistory, updateRouting } from '../../src/registry/routing.js';
import { publishInput, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let reg: Registry;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('registry'));
  reg = new Registry(dir);
});
afterEach(() => cleanup());

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FlywheelError);
    return { code: (err as FlywheelError).code, message: (err as FlywheelError).message };
  }
  throw new Error('expected a FlywheelError');
}

async function publishN(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await reg.publish(publishInput(i))).version);
  return out;
}

const change = (reason: string) => ({ by: 'test', reason });

describe('publishing', () => {
  it('writes a whole version that lists, reads back and verifies', async () => {
    const input = publishInput(1);
    const m = await reg.publish(input);
    expect(isVersionId(m.version)).toBe(true);
    expect(m.artifact.bytes).toBe(input.artifact.byteLength);
    expect(await readdir(path.join(dir, 'versions', m.version))).toEqual(['manifest.json', 'model.bin']);
    expect(await readdir(path.join(dir, 'tmp'))).toEqual([]);
    expect(await reg.readManifest(m.version)).toEqual(m);
    const loaded = await reg.loadArtifact(m.version);
    expect(Buffer.from(loaded.bytes).equals(Buffer.from(input.artifact))).toBe(true);
    const list = await reg.listVersions();
    expect(list).toEqual([{ version: m.version, ok: true, manifest: m }]);
  });

  it('gives distinct ids that sort in creation order, even when published at once', async () => {
    const sequential = await publishN(3);
    expect([...sequential].sort()).toEqual(sequential);
    const concurrent = await Promise.all(Array.from({ length: 20 }, (_, i) => reg.publish(publishInput(i))));
    const ids = concurrent.map((m) => m.version);
    expect(new Set(ids).size).toBe(20);
    expect(ids.every((id) => id > sequential[2])).toBe(true);
    const listed = (await reg.listVersions()).map((e) => e.version);
    expect(listed).toHaveLength(23);
    expect(listed).toEqual([...listed].sort().reverse());
  });

  it('refuses to publish a manifest readers would reject (a NaN metric)', async () => {
    const bad = publishInput(1, { metrics: { r2: NaN, mae: 1, rmse: 1 } });
    expect((await codeOf(reg.publish(bad))).code).toBe('FLY_ERR_INTERNAL');
    expect(await reg.listVersions()).toEqual([]);
    expect(await readdir(path.join(dir, 'tmp'))).toEqual([]);
  });

  it('reports an unwritable registry and creates nothing', async () => {
    const file = path.join(dir, 'a-file');
    await writeFile(file, 'not a folder');
    const under = new Registry(path.join(file, 'registry'));
    const err = await codeOf(under.publish(publishInput(1)));
    expect(err.code).toBe('FLY_ERR_REGISTRY_UNWRITABLE');
    expect(err.message).toContain(path.join(file, 'registry'));
    expect(await readFile(file, 'utf8')).toBe('not a folder');
    // Reading through a regular file is a clear error; a registry that does not exist yet reads as empty.
    expect((await codeOf(under.listVersions())).code).toBe('FLY_ERR_REGISTRY_UNREADABLE');
    expect((await codeOf(new Registry(file).readAliases())).code).toBe('FLY_ERR_REGISTRY_UNREADABLE');
    expect(await new Registry(path.join(dir, 'not-yet')).listVersions()).toEqual([]);
  });
});

describe('corrupt versions', () => {
  it('refuses an artifact with one byte flipped, naming the version; listing marks it', async () => {
    const [good, bad] = await publishN(2);
    const file = path.join(dir, 'versions', bad, 'model.bin');
    const bytes = await readFile(file);
    bytes[5] ^= 0x01;
    await writeFile(file, bytes);
    const err = await codeOf(reg.loadArtifact(bad));
    expect(err.code).toBe('FLY_ERR_VERSION_CORRUPT');
    expect(err.message).toContain(bad);
    expect((await reg.loadArtifact(good)).manifest.version).toBe(good);
    const list = await reg.listVersions({ verify: true });
    expect(list.map((e) => [e.version, e.ok])).toEqual([
      [bad, false],
      [good, true],
    ]);
    // Promoting it is refused too, and the aliases stay as they were.
    expect((await codeOf(reg.promote(bad, change('x')))).code).toBe('FLY_ERR_VERSION_CORRUPT');
    expect((await reg.readAliases()).production).toBeNull();
  });

  it('refuses a manifest that does not parse or is missing; listing still works and marks it', async () => {
    const [a, b, c] = await publishN(3);
    await writeFile(path.join(dir, 'versions', a, 'manifest.json'), '{"format": 1, "vers');
    await writeFile(
      path.join(dir, 'versions', b, 'manifest.json'),
      JSON.stringify({ format: 1, version: a }),
    );
    await import('node:fs/promises').then((fs) => fs.unlink(path.join(dir, 'versions', c, 'manifest.json')));
    for (const v of [a, b, c]) {
      const err = await codeOf(reg.readManifest(v));
      expect(err.code).toBe('FLY_ERR_VERSION_CORRUPT');
      expect(err.message).toContain(v);
    }
    const list = await reg.listVersions();
    expect(list.map((e) => e.ok)).toEqual([false, false, false]);
    expect(list.map((e) => e.version)).toEqual([c, b, a]);
  });

  it('answers not found for unknown ids and never follows a path out of the registry', async () => {
    await publishN(1);
    for (const v of ['v20990101-000000-000-00', '../versions', '..', 'x/../../etc']) {
      expect((await codeOf(reg.loadArtifact(v))).code).toBe('FLY_ERR_VERSION_NOT_FOUND');
    }
  });

  it('refuses an aliases file that is not JSON', async () => {
    await writeFile(path.join(dir, 'aliases.json'), 'garbage');
    const err = await codeOf(reg.readAliases());
    expect(err.code).toBe('FLY_ERR_REGISTRY_CORRUPT');
    expect(err.message).toContain('aliases.json');
  });
});

describe('aliases, history and rollback', () => {
  it('promotes, clears the candidate it promoted, and records every change', async () => {
    const [v1, v2] = await publishN(2);
    expect(await reg.readAliases()).toMatchObject({ production: null, candidate: null, generation: 0 });
    await reg.promote(v1, change('first'));
    await reg.setAlias('candidate', v2, change('canary'));
    const after = await reg.promote(v2, { by: 'analysis', reason: 'canary better', evidence: { r2: 0.9 } });
    expect(after).toMatchObject({ production: v2, candidate: null, generation: 3 });
    expect(await reg.readAliases()).toEqual(after);
    const h = await reg.history();
    expect(h.map((e) => [e.alias, e.from, e.to, e.action, e.generation])).toEqual([
      ['production', null, v1, 'promote', 1],
      ['candidate', null, v2, 'set', 2],
      ['production', v1, v2, 'promote', 3],
      ['candidate', v2, null, 'promote', 3],
    ]);
    expect(h[2]).toMatchObject({ by: 'analysis', reason: 'canary better', evidence: { r2: 0.9 } });
    expect(Date.parse(h[0].at)).toBeGreaterThan(0);
  });

  it('rolls back one step at a time, or to a named version', async () => {
    const [v1, v2, v3] = await publishN(3);
    expect((await codeOf(reg.rollback(change('nothing yet')))).code).toBe('FLY_ERR_ALIAS');
    for (const v of [v1, v2, v3]) await reg.promote(v, change('train'));
    expect(await reg.previousProduction()).toBe(v2);
    expect((await reg.rollback(change('bad'))).production).toBe(v2);
    // A second rollback goes further back rather than returning to the version just left.
    expect((await reg.rollback(change('still bad'))).production).toBe(v1);
    expect((await codeOf(reg.rollback(change('no more')))).code).toBe('FLY_ERR_ALIAS');
    expect((await reg.rollback({ ...change('by name'), to: v3 })).production).toBe(v3);
    expect((await codeOf(reg.rollback({ ...change('same'), to: v3 }))).code).toBe('FLY_ERR_ALIAS');
    const h = (await reg.history()).filter((e) => e.action === 'rollback');
    expect(h.map((e) => [e.from, e.to])).toEqual([
      [v3, v2],
      [v2, v1],
      [v1, v3],
    ]);
  });

  it('records a decision without changing the aliases or their generation', async () => {
    const [v1] = await publishN(1);
    await reg.promote(v1, change('first'));
    const state = await reg.recordDecision('production', { by: 'trainer', reason: 'not promoted: worse' });
    expect(state).toMatchObject({ production: v1, generation: 1 });
    expect((await reg.history()).at(-1)).toMatchObject({
      alias: 'production',
      from: v1,
      to: v1,
      action: 'decision',
      reason: 'not promoted: worse',
    });
    // Decisions do not count as production changes for rollback.
    expect(await reg.previousProduction()).toBeNull();
  });

  it('refuses an alias to a version that does not exist, leaving the aliases as they were', async () => {
    const [v1] = await publishN(1);
    await reg.promote(v1, change('first'));
    const before = await reg.readAliases();
    expect((await codeOf(reg.setAlias('candidate', 'v20990101-000000-000-00', change('x')))).code).toBe(
      'FLY_ERR_VERSION_NOT_FOUND',
    );
    expect(await reg.readAliases()).toEqual(before);
    expect(await reg.history()).toHaveLength(1);
  });

  it('skips a torn history line and starts the next entry on its own line', async () => {
    const [v1, v2] = await publishN(2);
    await reg.promote(v1, change('first'));
    await appendFile(path.join(dir, 'history.jsonl'), '{"at":"2025-01-01T00:00:00Z","alias":"produ');
    await reg.promote(v2, change('second'));
    expect((await reg.history()).map((e) => e.to)).toEqual([v1, v2]);
  });
});

describe('the registry lock', () => {
  it('breaks a lock left by a dead process once it is stale', async () => {
    const [v1] = await publishN(1);
    const lock = path.join(dir, 'registry.lock');
    await writeFile(lock, JSON.stringify({ token: 'dead', host: 'gone', pid: 1, at: '' }));
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    expect((await reg.promote(v1, change('after a crash'))).production).toBe(v1);
    await expect(stat(lock)).rejects.toThrow(/ENOENT/);
  });

  it('breaks at once a fresh lock whose holder pid is gone from this host', async () => {
    const [v1] = await publishN(1);
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(
      path.join(dir, 'registry.lock'),
      JSON.stringify({ token: 'dead', host: os.hostname(), pid: dead, at: '' }),
    );
    const quick = new Registry(dir, { lockTimeoutMs: 1000, lockStaleMs: 60_000 });
    expect((await quick.promote(v1, change('after a kill'))).production).toBe(v1);
  });

  it('waits for a live holder and gives up with a clear error', async () => {
    const [v1] = await publishN(1);
    await writeFile(path.join(dir, 'registry.lock'), JSON.stringify({ token: 'alive' }));
    const impatient = new Registry(dir, { lockTimeoutMs: 200, lockStaleMs: 60_000 });
    const err = await codeOf(impatient.promote(v1, change('blocked')));
    expect(err.code).toBe('FLY_ERR_REGISTRY_BUSY');
    expect((await reg.readAliases()).production).toBeNull();
  });

  it('serialises concurrent alias changes: none is lost', async () => {
    const versions = await publishN(4);
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        new Registry(dir).setAlias('candidate', versions[i % 4], change(`writer ${i}`)),
      ),
    );
    const h = await reg.history();
    // Each entry starts from where the previous one left: no two writers read the same state.
    for (let i = 1; i < h.length; i++) expect(h[i].from).toBe(h[i - 1].to);
    expect((await reg.readAliases()).generation).toBe(h.length);
  });
});

describe('retention and cleanup', () => {
  it('keeps the newest N plus every alias target and the previous production', async () => {
    const v = await publishN(7); // oldest first
    await reg.promote(v[0], change('a'));
    await reg.promote(v[1], change('b')); // previous production: v[0]
    await reg.setAlias('candidate', v[2], change('c'));
    const deleted = await reg.prune(2);
    expect(deleted.sort()).toEqual([v[3], v[4]]);
    expect((await reg.listVersions()).map((e) => e.version)).toEqual([v[6], v[5], v[2], v[1], v[0]]);
    expect(await readdir(path.join(dir, 'tmp'))).toEqual([]);
    expect((await readdir(path.join(dir, 'ids'))).sort()).toEqual([v[0], v[1], v[2], v[5], v[6]]);
    expect((await codeOf(reg.prune(0))).code).toBe('FLY_ERR_USAGE');
  });

  it('removes only temps and reservations old enough to be dead', async () => {
    await reg.init();
    const old = new Date(Date.now() - 3_600_000);
    const stale = path.join(dir, 'tmp', 'publish-dead');
    const fresh = path.join(dir, 'tmp', 'publish-alive');
    const orphan = path.join(dir, 'ids', 'v20200101-000000-000-00');
    for (const d of [stale, fresh, orphan]) await mkdir(d);
    await writeFile(path.join(stale, 'model.bin'), 'half');
    for (const p of [path.join(stale, 'model.bin'), stale, orphan]) await utimes(p, old, old);
    const [v1] = await publishN(1);
    const removed = await reg.cleanStaleTemps(60_000);
    expect(removed.sort()).toEqual(['ids/v20200101-000000-000-00', 'tmp/publish-dead']);
    expect(await readdir(path.join(dir, 'tmp'))).toEqual(['publish-alive']);
    expect(await readdir(path.join(dir, 'ids'))).toEqual([v1]);
  });

  it('writes shared files atomically inside the registry only', async () => {
    await reg.writeFile('routing.json', '{"a":1}');
    expect(await readFile(path.join(dir, 'routing.json'), 'utf8')).toBe('{"a":1}');
    expect((await codeOf(reg.writeFile('../escape.json', '{}'))).code).toBe('FLY_ERR_USAGE');
  });
});

describe('history rotation', () => {
  it('rotates history.jsonl by size, keeps the newest segments, and readers follow the rotation', async () => {
    const { dir, cleanup } = await tempDir('rotation');
    try {
      const registry = new Registry(dir, {
        historyRotation: { maxBytes: 150, maxAgeMs: 3_600_000, keep: 3 },
      });
      const versions: string[] = [];
      for (let i = 0; i < 4; i++) versions.push((await registry.publish(publishInput(i))).version);
      // Promote each in turn, several rounds: far more history than one 150-byte file holds.
      let changes = 0;
      for (let round = 0; round < 3; round++) {
        for (const v of versions) {
          await registry.promote(v, { reason: `round ${round}` });
          changes++;
        }
      }
      const names = await readdir(dir);
      const segments = names.filter((n) => /^history-\d{8}T\d{9}Z\.jsonl$/.test(n)).sort();
      expect(segments.length).toBe(3); // older ones pruned
      const history = await registry.history();
      // Oldest first across the segments and the current file, nothing twice, in time order.
      expect(history.length).toBeGreaterThan(3);
      expect(history.length).toBeLessThan(changes);
      expect(history.at(-1)).toMatchObject({ alias: 'production', to: versions[3], reason: 'round 2' });
      const gens = history.map((h) => h.generation);
      expect(gens).toEqual([...gens].sort((a, b) => a! - b!));
      expect(new Set(gens).size).toBe(gens.length);
      // The rollback walk reads the rotated segments too: it finds the production before the current.
      expect(await registry.previousProduction()).toBe(versions[2]);
      const after = await registry.rollback({ reason: 'walk back' });
      expect(after.production).toBe(versions[2]);
    } finally {
      await cleanup();
    }
  });

  it('rotates the routing history with the same appender, and readRoutingHistory follows it', async () => {
    const { dir, cleanup } = await tempDir('routing-rotation');
    try {
      await updateRouting(dir, { mode: 'canary', weight: 5 }, { reason: 'first' });
      // A segment left by an earlier rotation, as the appender names them.
      await rename(
        path.join(dir, 'routing-history.jsonl'),
        path.join(dir, 'routing-history-20260101T000000000Z.jsonl'),
      );
      await updateRouting(dir, { weight: 20 }, { reason: 'second' });
      expect((await readRoutingHistory(dir)).map((h) => h.reason)).toEqual(['first', 'second']);
    } finally {
      await cleanup();
    }
  });
});
