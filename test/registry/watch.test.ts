// The registry watcher: emits once per real change (alias generation or version set), falls back to
// polling where watching is impossible, and reports errors without throwing.
import { writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Registry,
  watchRegistry,
  type RegistrySnapshot,
  type RegistryWatcher,
} from '../../src/registry/index.js';
import { publishInput, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let watcher: RegistryWatcher | undefined;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('watch'));
});
afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  await cleanup();
});

/** Resolves when `pred` holds for an emitted snapshot, or rejects after `ms`. */
function recorder() {
  const seen: RegistrySnapshot[] = [];
  const errors: unknown[] = [];
  const waiters: { pred: (s: RegistrySnapshot) => boolean; resolve: (s: RegistrySnapshot) => void }[] = [];
  return {
    seen,
    errors,
    onChange(s: RegistrySnapshot) {
      seen.push(s);
      for (const w of waiters.splice(0)) {
        if (w.pred(s)) w.resolve(s);
        else waiters.push(w);
      }
    },
    onError(err: unknown) {
      errors.push(err);
    },
    until(pred: (s: RegistrySnapshot) => boolean, ms = 5000): Promise<RegistrySnapshot> {
      const hit = seen.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching snapshot in ${ms} ms`)), ms);
        waiters.push({
          pred,
          resolve: (s) => {
            clearTimeout(t);
            resolve(s);
          },
        });
      });
    },
  };
}

describe('watchRegistry', () => {
  it('emits the initial state, then each alias or version change once', async () => {
    const reg = new Registry(dir);
    const rec = recorder();
    // A long poll: changes seen quickly here come from fs.watch.
    watcher = watchRegistry(dir, { pollMs: 60_000, onChange: rec.onChange, onError: rec.onError });
    await rec.until(() => true);
    expect(rec.seen[0].versions).toEqual([]);
    const m = await reg.publish(publishInput(1));
    await rec.until((s) => s.versions.includes(m.version), 3000);
    await reg.promote(m.version, { reason: 'test' });
    const promoted = await rec.until((s) => s.aliases.production === m.version, 3000);
    expect(watcher.current()).toEqual(promoted);
    // A history-only write (a decision) is not a change a reader needs to act on.
    const count = rec.seen.length;
    await reg.recordDecision('production', { reason: 'nothing changes' });
    await reg.writeFile('routing.json', '{}');
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.seen.length).toBe(count);
    expect(rec.errors).toEqual([]);
  });

  it('finds a registry created after it started, by polling', async () => {
    const root = path.join(dir, 'later');
    const rec = recorder();
    watcher = watchRegistry(root, { pollMs: 50, onChange: rec.onChange, onError: rec.onError });
    await rec.until((s) => s.versions.length === 0);
    const m = await new Registry(root).publish(publishInput(1));
    await rec.until((s) => s.versions[0] === m.version, 3000);
  });

  it('reports a corrupt aliases file without throwing, and recovers when it is fixed', async () => {
    const reg = new Registry(dir);
    const m = await reg.publish(publishInput(1));
    const rec = recorder();
    watcher = watchRegistry(dir, { pollMs: 50, onChange: rec.onChange, onError: rec.onError });
    await rec.until((s) => s.versions.length === 1);
    await writeFile(path.join(dir, 'aliases.json'), '{broken');
    const deadline = Date.now() + 3000;
    while (rec.errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(String(rec.errors[0])).toContain('aliases.json');
    await rm(path.join(dir, 'aliases.json'));
    await reg.promote(m.version, { reason: 'fixed' });
    await rec.until((s) => s.aliases.production === m.version, 3000);
  });

  it('survives a throwing listener', async () => {
    const rec = recorder();
    let calls = 0;
    watcher = watchRegistry(dir, {
      pollMs: 50,
      onChange: () => {
        calls++;
        throw new Error('listener bug');
      },
      onError: rec.onError,
    });
    const deadline = Date.now() + 3000;
    while (calls === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(1);
    expect(String(rec.errors[0])).toContain('listener bug');
  });
});
