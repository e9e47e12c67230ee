// The analysis lease on a real registry folder: one holder among contenders that try at once; a holder
// that stops renewing stops acting (renew deadline) before anyone may take the lease over (duration);
// its actions are then refused by the guard; a released lease is taken at once.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { Lease, leaseTimingProblems, type LeaseRecord } from '../../src/registry/lease.js';
import { Registry } from '../../src/registry/registry.js';
import { waitFor } from '../helpers/wait.js';
import { publishInput, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('lease'));
});
afterEach(async () => cleanup());

const log = createLogger({ role: 'test', level: 'silent' });
// Wide gaps between deadline and duration, so a loaded machine cannot make the checks below race.
const timings = { durationMs: 4000, renewDeadlineMs: 1500, retryPeriodMs: 100 };

function lease(identity: string, registry = new Registry(dir)): Lease {
  return new Lease({ registry, name: 'analysis', identity, log, ...timings });
}

async function record(): Promise<LeaseRecord> {
  return JSON.parse(await readFile(path.join(dir, 'leases', 'analysis.json'), 'utf8')) as LeaseRecord;
}

describe('analysis lease', () => {
  it('has one holder when contenders try at the same instant', async () => {
    const contenders = ['a', 'b', 'c', 'd'].map((id) => lease(id));
    const won = await Promise.all(contenders.map((l) => l.tryAcquireOrRenew()));
    expect(won.filter(Boolean)).toHaveLength(1);
    const holder = contenders[won.indexOf(true)];
    expect((await record()).holder).toBe(holder.identity);
    expect(contenders.filter((l) => l.isLeading())).toEqual([holder]);
    // Renewals keep it; the others keep failing.
    for (let round = 0; round < 3; round++) {
      const again = await Promise.all(contenders.map((l) => l.tryAcquireOrRenew()));
      expect(again).toEqual(contenders.map((l) => l === holder));
    }
    expect((await record()).transitions).toBe(1);
  });

  it('stops a holder that cannot renew before another may take over, and fences its late actions', async () => {
    const a = lease('a');
    const b = lease('b');
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await a.guard(); // holding: actions allowed
    // a stops renewing (a hung process): it stops acting once the renew deadline passes...
    await waitFor(() => !a.isLeading(), { timeoutMs: 5000, what: 'a to stop leading' });
    await expect(a.guard()).rejects.toMatchObject({ code: 'FLY_ERR_LEASE_LOST' });
    // ...while b still may not take the lease: the record has not gone a whole duration unchanged.
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await waitFor(() => b.tryAcquireOrRenew(), {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'b to take over',
    });
    expect((await record()).holder).toBe('b');
    // a resumes: its renewal fails, and so does every action it tries.
    expect(await a.tryAcquireOrRenew()).toBe(false);
    expect(a.isLeading()).toBe(false);
    await expect(a.guard()).rejects.toMatchObject({ code: 'FLY_ERR_LEASE_LOST' });
    await b.guard();
  });

  it('refuses an alias change whose guard fails, and changes nothing', async () => {
    const registry = new Registry(dir);
    const v = (await registry.publish(publishInput(1))).version;
    const a = lease('a', registry);
    const b = lease('b', registry);
    expect(await b.tryAcquireOrRenew()).toBe(true);
    await expect(
      registry.promote(v, { reason: 'not the holder', guard: () => a.guard() }),
    ).rejects.toMatchObject({ code: 'FLY_ERR_LEASE_LOST' });
    expect((await registry.readAliases()).production).toBeNull();
    expect(await registry.history()).toEqual([]);
    await registry.promote(v, { reason: 'the holder', guard: () => b.guard() });
    expect((await registry.readAliases()).production).toBe(v);
  });

  it('hands the lease over at once when the holder stops', async () => {
    const a = lease('a');
    const b = lease('b');
    a.start();
    await waitFor(() => a.isLeading(), { timeoutMs: 5000, what: 'a to lead' });
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await a.stop();
    expect((await record()).holder).toBe('');
    expect(await b.tryAcquireOrRenew()).toBe(true);
  });

  it('refuses inconsistent timings', () => {
    expect(leaseTimingProblems({ durationMs: 1000, renewDeadlineMs: 1000, retryPeriodMs: 100 })).toHaveLength(
      1,
    );
    expect(leaseTimingProblems({ durationMs: 1000, renewDeadlineMs: 500, retryPeriodMs: 500 })).toHaveLength(
      1,
    );
    expect(
      () =>
        new Lease({
          registry: new Registry(dir),
          name: 'n',
          identity: 'i',
          log,
          durationMs: 1,
          renewDeadlineMs: 2,
          retryPeriodMs: 1,
        }),
    ).toThrow(/renew deadline/);
    // And at start, naming the flags.
    expect(() => loadConfig('gateway', { registry: dir, leaseRenewDeadline: '20s' }, {})).toThrow(
      /--lease-renew-deadline.*shorter than the lease duration/,
    );
  });
});
