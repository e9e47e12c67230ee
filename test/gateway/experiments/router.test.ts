import { describe, expect, it } from 'vitest';
import { pickVersion, stickyBucket } from '../../../src/gateway/experiments/router.js';

/** A seeded generator (mulberry32) so that the split tests are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const base = { salt: 'pepper' };

describe('pickVersion', () => {
  it('sends everything to production when off, whatever the weight', () => {
    const rand = seeded(1);
    for (let i = 0; i < 1000; i++) {
      expect(pickVersion({ ...base, mode: 'off', weight: 100 }, 'u', rand)).toEqual({
        target: 'production',
        shadow: false,
      });
    }
  });

  it('splits canary traffic by weight', () => {
    const rand = seeded(7);
    for (const weight of [0, 10, 50, 100]) {
      let candidate = 0;
      for (let i = 0; i < 20_000; i++) {
        if (pickVersion({ ...base, mode: 'canary', weight }, undefined, rand).target === 'candidate')
          candidate++;
      }
      // ±1 point on 20,000 draws is over 3 standard deviations at 50%.
      expect(Math.abs((candidate / 20_000) * 100 - weight)).toBeLessThan(1);
    }
  });

  it('keeps a sticky user on one side and splits users by weight', () => {
    const state = { ...base, mode: 'sticky' as const, weight: 10 };
    let candidate = 0;
    for (let u = 0; u < 10_000; u++) {
      const first = pickVersion(state, `user-${u}`, seeded(u)).target;
      // Different random draws never move a user who has an id.
      for (let k = 0; k < 5; k++)
        expect(pickVersion(state, `user-${u}`, seeded(u * 31 + k)).target).toBe(first);
      if (first === 'candidate') candidate++;
    }
    expect(Math.abs(candidate / 100 - 10)).toBeLessThan(1.5);
  });

  it('moves only users below the new weight when the sticky weight grows', () => {
    const users = Array.from({ length: 2000 }, (_, i) => `id${i}`);
    const at10 = users.filter(
      (u) => pickVersion({ ...base, mode: 'sticky', weight: 10 }, u, Math.random).target === 'candidate',
    );
    const at30 = new Set(
      users.filter(
        (u) => pickVersion({ ...base, mode: 'sticky', weight: 30 }, u, Math.random).target === 'candidate',
      ),
    );
    for (const u of at10) expect(at30.has(u)).toBe(true);
  });

  it('reshuffles users when the salt changes', () => {
    const a = Array.from({ length: 1000 }, (_, i) => stickyBucket('a', `u${i}`));
    const b = Array.from({ length: 1000 }, (_, i) => stickyBucket('b', `u${i}`));
    expect(a.filter((x, i) => x === b[i]).length).toBeLessThan(10);
    expect(stickyBucket('ab', 'c')).not.toBe(stickyBucket('a', 'bc'));
  });

  it('splits sticky requests without a user id by weight', () => {
    const rand = seeded(3);
    let candidate = 0;
    for (let i = 0; i < 20_000; i++) {
      if (pickVersion({ ...base, mode: 'sticky', weight: 20 }, undefined, rand).target === 'candidate')
        candidate++;
    }
    expect(Math.abs(candidate / 200 - 20)).toBeLessThan(1);
  });

  it('answers from production in shadow mode and mirrors the weighted share', () => {
    const rand = seeded(11);
    let mirrored = 0;
    for (let i = 0; i < 20_000; i++) {
      const choice = pickVersion({ ...base, mode: 'shadow', weight: 25 }, 'u1', rand);
      expect(choice.target).toBe('production');
      if (choice.shadow) mirrored++;
    }
    expect(Math.abs(mirrored / 200 - 25)).toBeLessThan(1);
  });
});
