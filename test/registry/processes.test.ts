// The registry's guarantees with real `flywheel train` processes on one folder: concurrent trainers
// never share an id or lose an alias change, and trainers killed with SIGKILL at any moment never
// leave a version a reader can see half-written; the next run cleans what they left.
import { mkdir, readdir, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlywheelError } from '../../src/errors.js';
import { decodeArtifact } from '../../src/model/index.js';
import { Registry } from '../../src/registry/index.js';
import type { TrainSummary } from '../../src/trainer/main.js';
import { runFlywheel, startFlywheel, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('processes'));
});
afterEach(() => cleanup());

const tinyTrain = (reg: string, ...extra: string[]) => [
  'train',
  '--registry',
  reg,
  '--rows',
  '200',
  '--trees',
  '5',
  '--threads',
  '1',
  ...extra,
];

/**
 * Every listed version must be whole: manifest valid, sha256 right, artifact decodable. A version may
 * vanish between listing and loading (retention by a concurrent trainer); it must never be torn.
 */
async function assertAllWhole(registry: Registry): Promise<string[]> {
  const entries = await registry.listVersions({ verify: true });
  for (const e of entries) {
    expect(e.ok, `${e.version}: ${e.ok ? '' : e.error}`).toBe(true);
    try {
      decodeArtifact((await registry.loadArtifact(e.version)).bytes);
    } catch (err) {
      if (!(err instanceof FlywheelError && err.code === 'FLY_ERR_VERSION_NOT_FOUND')) throw err;
    }
  }
  return entries.map((e) => e.version);
}

describe('concurrent trainers', () => {
  it('5 trainers started at once publish 5 complete, distinct versions and a consistent history', async () => {
    const reg = path.join(dir, 'registry');
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        runFlywheel(tinyTrain(reg, '--seed', String(i + 1), '--json', '--log-level', 'warn')),
      ),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const summaries = results.map((r) => JSON.parse(r.stdout) as TrainSummary);
    const versions = summaries.map((s) => s.version);
    expect(new Set(versions).size).toBe(5);

    const registry = new Registry(reg);
    const listed = await assertAllWhole(registry);
    expect([...listed].sort()).toEqual([...versions].sort());
    expect(await readdir(path.join(reg, 'tmp'))).toEqual([]);

    // Alias changes were serialised: each production change starts where the previous one ended,
    // and the generation counts them all.
    const history = await registry.history();
    const changes = history.filter((h) => h.from !== h.to);
    for (let i = 1; i < changes.length; i++) expect(changes[i].from).toBe(changes[i - 1].to);
    const aliases = await registry.readAliases();
    expect(aliases.generation).toBe(changes.length);
    expect(aliases.production).toBe(changes.at(-1)?.to);
    // Every trainer's decision is on record.
    expect(new Set(history.map((h) => (h.evidence as { version: string }).version))).toEqual(
      new Set(versions),
    );
  });
});

describe('trainers killed with SIGKILL', () => {
  it('never leave a partial version visible, and the next run cleans what they left', async () => {
    const reg = path.join(dir, 'registry');
    const registry = new Registry(reg);
    // A whole run first: its duration bounds the random kill times.
    const t0 = Date.now();
    const first = await runFlywheel(tinyTrain(reg, '--log-level', 'warn'));
    expect(first.code, first.stderr).toBe(0);
    const runMs = Date.now() - t0;

    // A reader polls the registry all along: whatever it lists must load.
    const readerFailures: string[] = [];
    let reading = true;
    const reader = (async () => {
      while (reading) {
        try {
          await assertAllWhole(registry);
        } catch (err) {
          readerFailures.push(String(err));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    let killed = 0;
    const finished: string[] = [];
    let round = 0;
    // Half the kills land at a random moment of the run, half just as publishing starts (after the
    // holdout metrics are logged), where a torn version would be born if publishing were not atomic.
    while (killed < 20 && round < 60) {
      await Promise.all(
        Array.from({ length: 3 }, async () => {
          const n = round++;
          // A small --keep: retention runs (and is killed) too.
          const { child, done } = startFlywheel(tinyTrain(reg, '--seed', String(n), '--json', '--keep', '5'));
          if (n % 2 === 0) {
            setTimeout(() => child.kill('SIGKILL'), Math.random() * runMs * 1.1);
          } else {
            let sent = false;
            child.stderr?.on('data', (s: string) => {
              if (!sent && s.includes('"holdout metrics"')) {
                sent = true;
                setTimeout(() => child.kill('SIGKILL'), Math.random() * 15);
              }
            });
          }
          const r = await done;
          if (r.signal === 'SIGKILL') killed++;
          else if (r.code === 0) finished.push((JSON.parse(r.stdout) as TrainSummary).version);
          else throw new Error(`trainer failed: ${r.stderr}`);
        }),
      );
    }
    reading = false;
    await reader;
    expect(killed).toBeGreaterThanOrEqual(20);
    expect(readerFailures).toEqual([]);
    const after = await assertAllWhole(registry);
    // A trainer that finished has its version listed, unless five newer ones let retention prune it.
    for (const v of finished) {
      if (!after.includes(v)) expect(after.filter((x) => x > v).length).toBeGreaterThanOrEqual(5);
    }

    // Whatever the killed trainers left in tmp/ and ids/ is younger than the stale age, so a new run
    // keeps it; aged by an hour, the next run removes it, but never a fresh temp of a live writer.
    const hourAgo = new Date(Date.now() - 3_600_000);
    const leftovers = await readdir(path.join(reg, 'tmp'));
    for (const name of leftovers) await utimes(path.join(reg, 'tmp', name), hourAgo, hourAgo);
    const orphanIds = (await readdir(path.join(reg, 'ids'))).filter((id) => !after.includes(id));
    for (const id of orphanIds) await utimes(path.join(reg, 'ids', id), hourAgo, hourAgo);
    const oldTemp = path.join(reg, 'tmp', 'publish-dead-writer');
    await mkdir(oldTemp);
    await utimes(oldTemp, hourAgo, hourAgo);
    const liveTemp = path.join(reg, 'tmp', 'publish-live-writer');
    await mkdir(liveTemp);

    const next = await runFlywheel(tinyTrain(reg, '--json'));
    expect(next.code, next.stderr).toBe(0);
    expect(await readdir(path.join(reg, 'tmp'))).toEqual(['publish-live-writer']);
    const finalIds = await assertAllWhole(registry);
    expect((await readdir(path.join(reg, 'ids'))).sort()).toEqual([...finalIds].sort());
    expect((await stat(liveTemp)).isDirectory()).toBe(true);
    // A trainer killed while holding the registry lock does not block the next one: it is on this
    // host and its pid is gone, so the lock is broken at once rather than after the stale timeout.
    await expect(stat(path.join(reg, 'registry.lock'))).rejects.toThrow(/ENOENT/);
  });
});
