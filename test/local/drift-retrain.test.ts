// `flywheel up --retrain-on-drift`: the decision from a table, then a real stack (trainer, two
// backends, gateway) that starts a training run with the trigger `drift` once production's
// visits_per_week is sent at 1.8 times its training values, shown by `flywheel status`.
import { Pool } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { driftedOf, retrainDecision, type DriftFacts } from '../../src/local/drift-retrain.js';
import { generateSynthetic } from '../../src/trainer/data/synthetic.js';
import { postRows, rowBody } from '../helpers/rows.js';
import { runCli, startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

describe('retrainDecision', () => {
  const base: DriftFacts = {
    drifted: ['a'],
    lastTriggeredAt: null,
    now: 100_000,
    cooldownMs: 60_000,
    running: false,
  };
  const table: [string, Partial<DriftFacts>, boolean, RegExp][] = [
    ['drift, never triggered', {}, true, /production drifted: a/],
    ['no drift', { drifted: [] }, false, /no drift/],
    ['a run is going', { running: true }, false, /already going/],
    ['within the cooldown', { lastTriggeredAt: 50_000 }, false, /cooling down/],
    ['the cooldown is over', { lastTriggeredAt: 40_000 }, true, /drifted/],
  ];
  for (const [name, facts, start, why] of table) {
    it(name, () => {
      const d = retrainDecision({ ...base, ...facts });
      expect(d.start).toBe(start);
      expect(d.why).toMatch(why);
    });
  }
});

describe('driftedOf (the GET /drift answer, read as any client would)', () => {
  it("reads a version's drifted features, and nothing for a version not listed", () => {
    const doc = { gateways: 1, versions: { v1: { drifted: ['a', 'b'] } } };
    expect(driftedOf(doc, 'v1')).toEqual(['a', 'b']);
    expect(driftedOf(doc, 'v2')).toEqual([]);
  });

  it('refuses answers of another shape instead of guessing', () => {
    expect(() => driftedOf(null, 'v1')).toThrow(/no versions/);
    expect(() => driftedOf({ versions: { v1: { drifted: 'a' } } }, 'v1')).toThrow(/no list/);
    expect(() => driftedOf({ versions: { v1: { drifted: [1] } } }, 'v1')).toThrow(/no list/);
    expect(driftedOf({ versions: {} }, '__proto__')).toEqual([]);
  });
});

describe('flywheel up --retrain-on-drift', () => {
  let stack: Stack | undefined;
  afterAll(async () => {
    await stack?.cleanup();
  });

  it('starts one training run with the trigger drift when production drifts', async () => {
    stack = await startStack({
      replicas: 1,
      trainArgs: '--rows 2000 --trees 10',
      extraArgs: ['--retrain-on-drift', '--drift-cooldown', '1h'],
      env: { FLYWHEEL_DRIFT_MIN_REQUESTS: '100', FLYWHEEL_DRIFT_CHECK_INTERVAL: '200ms' },
    });
    const rows = generateSynthetic(300, 5);
    const pool = new Pool(stack.url, { connections: 4 });
    const answered = await postRows(
      pool,
      Array.from({ length: rows.rows }, (_, i) => rowBody(rows, i, { visits_per_week: 1.8 })),
      4,
    ).finally(() => pool.close());
    expect([...answered.keys()].every((k) => k.startsWith('200 '))).toBe(true);
    const s = stack;
    const run = await waitFor(
      async () => {
        const runs = (await s.state()).schedule.last_runs;
        return runs.find((r) => r.trigger === 'drift' && r.outcome !== 'skipped' && r.version !== null);
      },
      { timeoutMs: 60_000, what: 'a finished training run with the trigger drift' },
    );
    expect(run.outcome).toBe('succeeded');
    const runs = (await s.state()).schedule.last_runs;
    expect(runs.filter((r) => r.trigger === 'drift')).toHaveLength(1);
    expect(runs.filter((r) => r.trigger === 'startup')).toHaveLength(1);
    const line = s
      .logs()
      .split('\n')
      .find((l) => l.includes('"production drifted: starting a training run"'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ drifted: ['visits_per_week'] });

    const status = await runCli(['status', '--registry', s.registry]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`\\bdrift\\s+succeeded\\s+\\S+\\s+${run.version}`));
  }, 120_000);
});
