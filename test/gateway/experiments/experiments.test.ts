// Experiments.route/observe/observeExchange against a real registry folder: the split follows
// routing.json and the aliases, changes written by another writer are picked up, shadow predictions are
// both logged, and the proxy's observer counts and logs each kind of answer.
import { Registry as Metrics } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/log.js';
import { Registry } from '../../../src/registry/registry.js';
import { updateRouting } from '../../../src/registry/routing.js';
import { rollbackCandidate } from '../../../src/gateway/experiments/actions.js';
import { Experiments } from '../../../src/gateway/experiments/experiments.js';
import type { AnswerRecord, ExchangeRecord } from '../../../src/gateway/plan.js';
import { publishInput, tempDir } from '../../registry/helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const open: Experiments[] = [];

const thresholds = {
  minRequests: 20,
  minDurationMs: 0,
  minFeedback: 10,
  maxErrorRateIncrease: 0.05,
  maxP99Ratio: 5,
  maxMaeRatio: 1.2,
  alpha: 0.05,
};

async function start(gatewayId: string, withThresholds = false): Promise<Experiments> {
  const config = loadConfig(
    'gateway',
    {
      registry: dir,
      gatewayId,
      // With thresholds the loop is on (so this gateway contends for the lease) but runs only when
      // the test calls runOnce.
      analysisInterval: withThresholds ? '1h' : '0',
      routingPollInterval: '30ms',
    },
    {},
  );
  const ex = await Experiments.start({
    config,
    log: createLogger({ role: 'test', level: 'silent' }),
    metrics: new Metrics(),
    ...(withThresholds ? { thresholds } : {}),
  });
  open.push(ex);
  if (withThresholds) await until(() => ex.lease?.isLeading() === true);
  return ex;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

let prod: string;
let cand: string;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('experiments'));
  const reg = new Registry(dir);
  prod = (await reg.publish(publishInput(1))).version;
  cand = (await reg.publish(publishInput(2))).version;
  await reg.promote(prod, { reason: 'first' });
  await reg.setAlias('candidate', cand, { reason: 'canary' });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
  await cleanup();
});

describe('Experiments.route', () => {
  it('routes everything to production, with no header, while routing is off', async () => {
    const ex = await start('a');
    for (let i = 0; i < 100; i++)
      expect(ex.route(`u${i}`)).toEqual({ version: null, target: 'production', shadowVersion: null });
    expect(ex.needsUserId).toBe(false);
  });

  it('follows a canary split written by another process, and drops it when the candidate goes', async () => {
    const ex = await start('a');
    await updateRouting(dir, { mode: 'canary', weight: 30 }, { reason: 'test' });
    await until(() => ex.routing.mode === 'canary');
    let candidate = 0;
    for (let i = 0; i < 5000; i++) {
      const r = ex.route(undefined);
      if (r.target === 'candidate') {
        expect(r.version).toBe(cand);
        candidate++;
      } else expect(r.version).toBeNull();
    }
    expect(Math.abs(candidate / 50 - 30)).toBeLessThan(3);
    await new Registry(dir).setAlias('candidate', null, { reason: 'gone' });
    await until(() => ex.aliases.candidate === null);
    expect(ex.route(undefined).target).toBe('production');
  });

  it('agrees with another replica on every sticky user', async () => {
    await updateRouting(dir, { mode: 'sticky', weight: 50 }, { reason: 'ab' });
    const a = await start('a');
    const b = await start('b');
    expect(a.needsUserId).toBe(true);
    let onCandidate = 0;
    for (let u = 0; u < 2000; u++) {
      const target = a.route(`user-${u}`).target;
      expect(target).toBe(b.route(`user-${u}`).target);
      if (target === 'candidate') onCandidate++;
    }
    // The candidate's share is the weight: 1000 of 2000 users expected, ±70 is more than 3 sd.
    expect(onCandidate).toBeGreaterThan(930);
    expect(onCandidate).toBeLessThan(1070);
  });

  it('mirrors the shadow share and logs both predictions under one request id', async () => {
    await updateRouting(dir, { mode: 'shadow', weight: 100 }, { reason: 'shadow' });
    const ex = await start('a');
    const route = ex.route(undefined);
    expect(route).toEqual({ version: null, target: 'production', shadowVersion: cand });
    const common = { requestId: 'r1', route, status: 200, latencyMs: 2, features: '0.5' };
    ex.observe({ ...common, answeredBy: prod, prediction: 10 });
    ex.observe({ ...common, answeredBy: cand, prediction: 12, shadow: true });
    const [fb] = await ex.feedback.recordFeedback({ request_id: 'r1', actual: 11 });
    expect(fb.predictions).toEqual([
      { version: prod, prediction: 10, shadow: false },
      { version: cand, prediction: 12, shadow: true },
    ]);
    expect(ex.stats.get(cand)!.shadow.requests).toBe(1);
    // A shadow answer is no evidence for the canary comparison.
    expect(ex.stats.get(cand)!.served.requests).toBe(0);
  });

  it('counts a failed answer as an error of the version it was routed to', async () => {
    await updateRouting(dir, { mode: 'canary', weight: 100 }, { reason: 'all' });
    const ex = await start('a');
    const route = ex.route(undefined);
    ex.observe({
      requestId: 'r',
      route,
      answeredBy: undefined,
      status: 0,
      latencyMs: 5000,
      prediction: NaN,
      features: undefined,
    });
    expect(ex.stats.get(cand)).toMatchObject({ requests: 1, errors: 1 });
    expect(ex.feedback.counts.predictions).toBe(0);
  });
});

describe('analysis loop', () => {
  /** Serves `n` requests per version with predictions off by `err(version, i)`, then feeds back the truth. */
  async function traffic(ex: Experiments, err: (version: string, i: number) => number) {
    let id = 0;
    for (const version of [prod, cand]) {
      for (let i = 0; i < 30; i++) {
        const requestId = `r${id++}`;
        const prediction = 50 + err(version, i);
        ex.observe({
          requestId,
          route: {
            version: version === cand ? cand : null,
            target: version === cand ? 'candidate' : 'production',
            shadowVersion: null,
          },
          answeredBy: version,
          status: 200,
          latencyMs: 2 + (i % 3),
          prediction,
          features: String(i),
        });
        const [fb] = await ex.feedback.recordFeedback({ request_id: requestId, actual: 50 });
        for (const p of fb.predictions) ex.stats.observeFeedback(p.version, p.prediction, fb.actual);
      }
    }
  }

  it('rolls back a candidate with a significantly worse MAE and records the figures', async () => {
    await updateRouting(dir, { mode: 'canary', weight: 10 }, { reason: 'canary' });
    const ex = await start('a', true);
    await traffic(ex, (v, i) => (v === cand ? 10 + (i % 3) : 1 + (i % 3)));
    const verdict = await ex.analysis.runOnce();
    expect(verdict!.decision).toBe('rollback');
    const reg = new Registry(dir);
    expect((await reg.readAliases()).candidate).toBeNull();
    const last = (await reg.history()).at(-1)!;
    expect(last).toMatchObject({ alias: 'candidate', from: cand, to: null, by: 'analysis:gateway:a' });
    expect(last.reason).toMatch(/^canary analysis: rollback \(MAE 11\.000 vs 2\.000/);
    expect(last.evidence).toMatchObject({
      decision: 'rollback',
      comparison: { mae: { candidate: 11, production: expect.closeTo(2, 9) } },
    });
    expect(ex.analysis.decisions).toHaveLength(1);
    expect(ex.route(undefined).target).toBe('production');
  });

  it('promotes a candidate that is as good, and refuses to act on a candidate that changed', async () => {
    await updateRouting(dir, { mode: 'canary', weight: 10 }, { reason: 'canary' });
    const ex = await start('a', true);
    await traffic(ex, (_v, i) => 1 + (i % 4));
    const v = await ex.analysis.runOnce();
    expect(v!.decision).toBe('promote');
    const reg = new Registry(dir);
    expect(await reg.readAliases()).toMatchObject({ production: cand, candidate: null });
    expect((await reg.history()).at(-2)).toMatchObject({
      alias: 'production',
      from: prod,
      to: cand,
      action: 'promote',
    });
    // Nothing left to analyse.
    expect(await ex.analysis.runOnce()).toBeNull();
    // A decision about one candidate never lands on a newer one published meanwhile.
    const third = (await reg.publish(publishInput(3))).version;
    await reg.setAlias('candidate', third, { reason: 'next canary' });
    await expect(rollbackCandidate(reg, { expected: cand, by: 't', reason: 'stale' })).rejects.toMatchObject({
      code: 'FLY_ERR_ALIAS',
    });
    expect((await reg.readAliases()).candidate).toBe(third);
  });
});

describe('Experiments.observeExchange (the /predict observer on the proxy path)', () => {
  /** What Exchange.end hands the observer, as the forwarder builds it. */
  const exchange = (requestId: string, status: number, answer: AnswerRecord | null): ExchangeRecord => ({
    requestId,
    route: { name: 'predict' },
    req: { method: 'POST', url: '/predict', rawHeaders: [] },
    body: Buffer.from('{"x":0.5}'),
    tries: 1,
    status,
    durationMs: 2,
    answer,
  });
  const answered = (version: string, prediction: string): AnswerRecord => ({
    replica: { url: 'http://127.0.0.1:1' },
    rawHeaders: ['x-model-version', version],
    answeredBy: version,
    prediction,
    features: '0.5',
  });

  it('counts served, pinned and gateway-made answers in their columns and logs only served predictions', async () => {
    const ex = await start('a');
    const route = ex.route(undefined);
    // The versions' feature names are read on first sight, off the request path.
    ex.observeExchange(route, exchange('warm-p', 200, answered(prod, '1')), false);
    ex.observeExchange(route, exchange('warm-c', 200, answered(cand, '1')), true);
    await until(() => ex.featureNames.get(prod) !== undefined && ex.featureNames.get(cand) !== undefined);

    ex.observeExchange(route, exchange('served', 200, answered(prod, '10')), false);
    ex.observeExchange(route, exchange('pinned', 200, answered(cand, '12')), true);
    // No replica answered: the gateway's own 502 is an error of the version it would have served.
    ex.observeExchange(route, exchange('failed', 502, null), false);

    const p = ex.stats.get(prod)!;
    expect(p.served.requests).toBe(3);
    expect(p.served.errors).toBe(1);
    const c = ex.stats.get(cand)!;
    expect(c.pinned.requests).toBe(2);
    expect(c.served.requests).toBe(0);

    const [fb] = await ex.feedback.recordFeedback({ request_id: 'served', actual: 11 });
    expect(fb.predictions).toEqual([{ version: prod, prediction: 10, shadow: false }]);
    // A pinned prediction is not in the join: its feedback is refused as unknown.
    for (const request_id of ['pinned', 'failed']) {
      await expect(ex.feedback.recordFeedback({ request_id, actual: 11 })).rejects.toMatchObject({
        code: 'FLY_ERR_FEEDBACK_UNKNOWN_REQUEST',
      });
    }
  });
});
